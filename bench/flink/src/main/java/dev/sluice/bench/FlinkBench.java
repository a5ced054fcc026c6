package dev.sluice.bench;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.runtime.jobgraph.JobGraph;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.runtime.minicluster.MiniClusterConfiguration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.table.api.EnvironmentSettings;
import org.apache.flink.table.api.Table;
import org.apache.flink.table.api.bridge.java.StreamTableEnvironment;

/**
 * The Flink driver of the Sluice-vs-Flink benchmark (bench/compare/README.md).
 *
 * <p>{@code --workload <name> --data <dir> --out <file> [--source kafka --kafka host:port --topic
 * <file>=<topic>]}: starts a local MiniCluster (parallelism 1, RocksDB
 * state, no checkpoints), plans the workload's SQL over the JSON lines file (or the Kafka topic holding its
 * lines; the file still gives the event count), then runs it with the clock
 * going from job submission to the job's end, when the sink has applied the whole changelog. It writes the
 * final rows to the out file and prints the one DRIVER_RESULT line; any failure exits 1 with a message.
 */
public final class FlinkBench {
  private FlinkBench() {}

  public static void main(String[] args) {
    int status;
    try {
      run(parseArgs(args));
      status = 0;
    } catch (UsageError e) {
      System.err.println("flink-bench: " + e.getMessage());
      System.err.println("usage: java -jar flink-bench.jar --workload <name> --data <dir> --out <file>"
          + " [--source file|log|kafka --kafka host:port --topic <file>=<topic>]");
      status = 2;
    } catch (Throwable e) {
      System.err.println("flink-bench: failed: " + rootMessage(e));
      e.printStackTrace(System.err);
      status = 1;
    }
    System.out.flush();
    System.err.flush();
    // Flink leaves non-daemon threads behind (RPC, I/O pools); end the JVM explicitly.
    Runtime.getRuntime().halt(status);
  }

  private record Args(String workload, Path data, Path out, Workloads.Source source) {}

  private static final class UsageError extends Exception {
    UsageError(String message) {
      super(message);
    }
  }

  private static Args parseArgs(String[] args) throws UsageError {
    Map<String, String> opts = new HashMap<>();
    for (int i = 0; i < args.length; i++) {
      String a = args[i];
      if (!List.of("--workload", "--data", "--out", "--source", "--kafka", "--topic").contains(a)) {
        throw new UsageError("unknown argument '" + a + "'");
      }
      if (i + 1 >= args.length) {
        throw new UsageError(a + " needs a value");
      }
      String v = args[++i];
      // --topic comes once per input file: file=topic.
      opts.merge(a, v, (x, y) -> x + "," + y);
    }
    for (String k : List.of("--workload", "--data", "--out")) {
      if (!opts.containsKey(k)) {
        throw new UsageError("missing " + k);
      }
    }
    String source = opts.getOrDefault("--source", "file");
    Workloads.Source src;
    if (source.equals("file") || source.equals("log")) {
      // The log is Sluice's own ingest path; Flink reads the file then.
      src = Workloads.Source.FILE;
    } else if (source.equals("kafka")) {
      if (!opts.containsKey("--kafka") || !opts.containsKey("--topic")) {
        throw new UsageError("--source kafka needs --kafka host:port and --topic <file>=<topic>");
      }
      Map<String, String> topics = new HashMap<>();
      for (String t : opts.get("--topic").split(",")) {
        int eq = t.indexOf('=');
        if (eq <= 0) {
          throw new UsageError("--topic is <file>=<topic>, not " + t);
        }
        topics.put(t.substring(0, eq), t.substring(eq + 1));
      }
      src = new Workloads.Source(opts.get("--kafka"), topics);
    } else {
      throw new UsageError("--source is file, log or kafka, not " + source);
    }
    return new Args(opts.get("--workload"), Path.of(opts.get("--data")), Path.of(opts.get("--out")), src);
  }

  /** The engine's settings: one slot, parallelism 1, RocksDB state, checkpoints off, UTC session time. */
  static Configuration flinkConfig() {
    Map<String, String> m = new HashMap<>();
    m.put("state.backend.type", "rocksdb");
    m.put("parallelism.default", "1");
    m.put("taskmanager.numberOfTaskSlots", "1");
    m.put("taskmanager.memory.managed.size", "256m");
    m.put("taskmanager.memory.network.min", "64m");
    m.put("taskmanager.memory.network.max", "64m");
    m.put("pipeline.object-reuse", "true");
    m.put("table.local-time-zone", "UTC");
    m.put("rest.bind-port", "0");
    // Experiments: -Dflink.<key>=<value> on the java command line overrides or adds a Flink option.
    for (String name : System.getProperties().stringPropertyNames()) {
      if (name.startsWith("flink.")) {
        m.put(name.substring("flink.".length()), System.getProperty(name));
      }
    }
    return Configuration.fromMap(m);
  }

  private static void run(Args args) throws Exception {
    Workloads.Workload w;
    try {
      w = Workloads.of(args.workload(), args.data(), args.source());
    } catch (IllegalArgumentException e) {
      throw new UsageError(e.getMessage());
    }
    Path input = Path.of(w.inputFile());
    if (!Files.isRegularFile(input)) {
      throw new UsageError("input file " + input + " does not exist");
    }
    long events = countLines(input);

    Configuration config = flinkConfig();
    MiniCluster cluster = new MiniCluster(new MiniClusterConfiguration.Builder()
        .setConfiguration(config)
        .setNumTaskManagers(1)
        .setNumSlotsPerTaskManager(1)
        .build());
    cluster.start();
    try {
      StreamExecutionEnvironment env = new StreamExecutionEnvironment(config);
      env.setParallelism(1);
      StreamTableEnvironment tEnv = StreamTableEnvironment.create(env, EnvironmentSettings.inStreamingMode());
      for (String stmt : w.setup()) {
        tEnv.executeSql(stmt);
      }
      Table result = tEnv.sqlQuery(w.query());
      tEnv.toChangelogStream(result).sinkTo(new ResultStore.StoreSink()).setParallelism(1).name("result");
      JobGraph job = env.getStreamGraph().getJobGraph();

      long cpuStart = processCpuNanos();
      long start = System.nanoTime();
      cluster.executeJobBlocking(job);
      double seconds = (System.nanoTime() - start) / 1e9;
      double cpuSeconds = (processCpuNanos() - cpuStart) / 1e9;

      List<List<Object>> rows = ResultStore.rows();
      writeOut(args.out(), rows);
      System.out.println(String.format(Locale.ROOT,
          "DRIVER_RESULT workload=%s events=%d seconds=%.3f eps=%.0f rows=%d peak_rss_mib=%.1f cpu_seconds=%.3f source=%s",
          w.name(), events, seconds, events / seconds, rows.size(), peakRssMib(), cpuSeconds,
          args.source().kafka() == null ? "file" : "kafka"));
    } finally {
      cluster.closeAsync();
    }
  }

  /** CPU time of the whole process (every thread: task, source, JIT, GC), in nanoseconds. */
  private static long processCpuNanos() {
    return ((com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime();
  }

  private static void writeOut(Path out, List<List<Object>> rows) throws IOException {
    Path parent = out.toAbsolutePath().getParent();
    if (parent != null) {
      Files.createDirectories(parent);
    }
    try (BufferedWriter bw = Files.newBufferedWriter(out, StandardCharsets.UTF_8)) {
      for (List<Object> row : rows) {
        bw.write(JsonCells.line(row));
        bw.write('\n');
      }
    }
  }

  /** Lines in the file (a last line without a newline counts): the contract's event count. */
  static long countLines(Path file) throws IOException {
    long lines = 0;
    int last = '\n';
    byte[] buf = new byte[1 << 16];
    try (InputStream in = Files.newInputStream(file)) {
      int n;
      while ((n = in.read(buf)) > 0) {
        for (int i = 0; i < n; i++) {
          if (buf[i] == '\n') {
            lines++;
          }
        }
        last = buf[n - 1];
      }
    }
    return last == '\n' ? lines : lines + 1;
  }

  /** The process's peak resident set (VmHWM) in MiB, or -1 where /proc is missing. */
  static double peakRssMib() {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
        if (line.startsWith("VmHWM:")) {
          String kb = line.substring(6).trim().split("\\s+")[0];
          return Long.parseLong(kb) / 1024.0;
        }
      }
    } catch (IOException | RuntimeException e) {
      // fall through
    }
    return -1;
  }

  private static String rootMessage(Throwable e) {
    Throwable t = e;
    while (t.getCause() != null && t.getCause() != t) {
      t = t.getCause();
    }
    return t == e ? String.valueOf(e) : e + " (cause: " + t + ")";
  }
}
