package dev.sluice.oracle;

import io.trino.testing.MaterializedResult;
import io.trino.testing.MaterializedRow;
import io.trino.testing.StandaloneQueryRunner;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;

import static io.trino.testing.TestingSession.testSessionBuilder;

/**
 * Reads one SQL statement per line from stdin (newlines inside a statement written as spaces) and answers
 * each with lines of JSON: {"row":[...]} per result row, then {"done":n} or {"error":"..."}. One query
 * runner serves every statement, so the start-up cost is paid once per run.
 */
public final class TrinoOracle {
    private TrinoOracle() {}

    public static void main(String[] args) throws Exception {
        PrintStream out = new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), true, StandardCharsets.UTF_8);
        // Trino logs to stdout through its own logging; the protocol lines are told apart by a prefix.
        try (StandaloneQueryRunner runner = new StandaloneQueryRunner(testSessionBuilder().build())) {
            out.println("@ready");
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
            String line;
            while ((line = in.readLine()) != null) {
                if (line.isBlank()) continue;
                try {
                    MaterializedResult result = runner.execute(line);
                    for (MaterializedRow row : result.getMaterializedRows()) out.println("@row " + json(row.getFields()));
                    out.println("@done " + result.getRowCount());
                } catch (RuntimeException e) {
                    String message = e.getMessage() == null ? e.toString() : e.getMessage();
                    out.println("@error " + quote(message.replace('\n', ' ')));
                }
            }
        }
        System.exit(0);
    }

    private static String json(List<Object> fields) {
        StringBuilder b = new StringBuilder("[");
        for (int i = 0; i < fields.size(); i++) {
            if (i > 0) b.append(',');
            b.append(value(fields.get(i)));
        }
        return b.append(']').toString();
    }

    private static String value(Object v) {
        if (v == null) return "null";
        if (v instanceof Number || v instanceof Boolean) return v.toString();
        if (v instanceof List<?> list) {
            StringBuilder b = new StringBuilder("[");
            for (int i = 0; i < list.size(); i++) {
                if (i > 0) b.append(',');
                b.append(value(list.get(i)));
            }
            return b.append(']').toString();
        }
        return quote(v.toString());
    }

    private static String quote(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') b.append('\\').append(c);
            else if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
            else b.append(c);
        }
        return b.append('"').toString();
    }
}
