package dev.sluice.bench;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.flink.api.connector.sink2.Sink;
import org.apache.flink.api.connector.sink2.SinkWriter;
import org.apache.flink.api.connector.sink2.WriterInitContext;
import org.apache.flink.types.Row;
import org.apache.flink.types.RowKind;

/**
 * The final result of the query, kept in this JVM: the job runs in a MiniCluster inside the driver's own
 * process, so its sink can hand rows to the driver through a static store without any network round trip.
 * The store applies Flink's changelog as a multiset of rows: INSERT and UPDATE_AFTER add one copy,
 * UPDATE_BEFORE and DELETE take one away, which leaves the last state of an updating result and every row
 * of an append-only one.
 */
final class ResultStore {
  private ResultStore() {}

  private static final Map<List<Object>, Integer> ROWS = new HashMap<>();

  static synchronized void apply(Row row) {
    List<Object> key = new ArrayList<>(row.getArity());
    for (int i = 0; i < row.getArity(); i++) {
      key.add(row.getField(i));
    }
    RowKind kind = row.getKind();
    if (kind == RowKind.INSERT || kind == RowKind.UPDATE_AFTER) {
      ROWS.merge(key, 1, Integer::sum);
    } else {
      Integer n = ROWS.get(key);
      if (n == null) {
        throw new IllegalStateException("changelog retracts a row it never added: " + row);
      }
      if (n == 1) {
        ROWS.remove(key);
      } else {
        ROWS.put(key, n - 1);
      }
    }
  }

  /** The rows of the result, each repeated as often as it occurs. */
  static synchronized List<List<Object>> rows() {
    List<List<Object>> out = new ArrayList<>();
    ROWS.forEach((row, n) -> {
      for (int i = 0; i < n; i++) {
        out.add(row);
      }
    });
    return out;
  }

  /** The sink that feeds the store (run it at parallelism 1). */
  static final class StoreSink implements Sink<Row> {
    private static final long serialVersionUID = 1L;

    @Override
    public SinkWriter<Row> createWriter(WriterInitContext context) {
      return new SinkWriter<>() {
        @Override
        public void write(Row row, Context ctx) {
          apply(row);
        }

        @Override
        public void flush(boolean endOfInput) {}

        @Override
        public void close() {}
      };
    }
  }
}
