package dev.sluice.clients;

import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.postgresql.PGStatement;

/**
 * What a JDBC tool (DBeaver, DataGrip, a Spring service) does first against a Postgres server, run by
 * pgjdbc against Sluice: browse schemas, tables, columns, primary keys and types through
 * DatabaseMetaData; run one PreparedStatement more often than prepareThreshold (5), so the driver
 * switches to a named server-side statement and binary transfer; and stream a result with setFetchSize
 * inside a transaction (Execute with a row limit, PortalSuspended). Each step prints one JSON line
 * {"check": name, ...}; a failing step prints {"check": name, "error": ..., "sqlstate": ...} and the
 * others still run, so test/clients.test.ts sees every result at once.
 *
 * Usage: java -cp jdbc-check.jar:lib/* dev.sluice.clients.JdbcCheck HOST PORT [EXTRA_URL_PARAMETERS]
 */
public final class JdbcCheck {
  /** Iterations of each prepared statement: past pgjdbc's default prepareThreshold of 5. */
  private static final int ITERATIONS = 8;

  private JdbcCheck() {}

  @FunctionalInterface
  private interface Step {
    Map<String, Object> run(Connection c) throws SQLException;
  }

  public static void main(String[] args) throws Exception {
    if (args.length != 2 && args.length != 3) {
      System.err.println("usage: JdbcCheck HOST PORT [EXTRA_URL_PARAMETERS]");
      System.exit(2);
    }
    String url = "jdbc:postgresql://" + args[0] + ":" + args[1] + "/sluice?user=analyst&ApplicationName=jdbc-check&connectTimeout=10&socketTimeout=30";
    // For diagnosis only (e.g. "stringtype=unspecified" or "prepareThreshold=0"); the test passes none.
    if (args.length == 3) url += "&" + args[2];
    // One connection per step, so that a step that breaks its connection does not hide the others.
    step(url, "connect", c -> {
      DatabaseMetaData md = c.getMetaData();
      return Map.of("product", md.getDatabaseProductName(), "version", md.getDatabaseProductVersion(), "driver", md.getDriverVersion());
    });
    step(url, "schemas", JdbcCheck::schemas);
    step(url, "tables", JdbcCheck::tables);
    step(url, "columns", JdbcCheck::columns);
    step(url, "primary_keys", JdbcCheck::primaryKeys);
    step(url, "type_info", JdbcCheck::typeInfo);
    step(url, "prepared_params", JdbcCheck::preparedParams);
    step(url, "prepared_view", JdbcCheck::preparedView);
    step(url, "fetch_size", JdbcCheck::fetchSize);
    step(url, "result_metadata", JdbcCheck::resultMetadata);
    // BI tools (DBeaver, DataGrip) ask for the keywords to highlight: pgjdbc reads pg_get_keywords().
    step(url, "sql_keywords", c -> Map.of("keywords", c.getMetaData().getSQLKeywords()));
    step(url, "index_info", JdbcCheck::indexInfo);
    step(url, "metadata_calls", JdbcCheck::metadataCalls);
    final String target = url;
    step(url, "fetch_subscribe", c -> fetchSubscribe(c, target));
    emit("done", Map.of());
  }

  private static void step(String url, String name, Step s) {
    Map<String, Object> result;
    try (Connection c = DriverManager.getConnection(url)) {
      result = s.run(c);
    } catch (StepFailure e) {
      result = errorOf(e.cause);
      result.put("iteration", e.iteration);
    } catch (SQLException | RuntimeException e) {
      result = errorOf(e);
    }
    emit(name, result);
  }

  /** A failure inside a loop, with the iteration it happened in (pgjdbc changes protocol at the fifth). */
  private static final class StepFailure extends RuntimeException {
    final Exception cause;
    final int iteration;

    StepFailure(Exception cause, int iteration) {
      super(cause);
      this.cause = cause;
      this.iteration = iteration;
    }
  }

  private static Map<String, Object> errorOf(Exception e) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("error", String.valueOf(e.getMessage()));
    m.put("sqlstate", e instanceof SQLException s ? s.getSQLState() : null);
    m.put("exception", e.getClass().getName());
    return m;
  }

  /**
   * The other DatabaseMetaData calls DBeaver and DataGrip make while browsing: each must run (rows counted).
   * MetadataWalk (test/jdbc-walk.test.ts) calls every method, getImportedKeys and its kin included.
   */
  private static Map<String, Object> metadataCalls(Connection c) throws SQLException {
    DatabaseMetaData md = c.getMetaData();
    Map<String, Object> out = new LinkedHashMap<>();
    Map<String, MetaCall> calls = new LinkedHashMap<>();
    calls.put("getCatalogs", md::getCatalogs);
    calls.put("getTableTypes", md::getTableTypes);
    calls.put("getProcedures", () -> md.getProcedures(null, "public", "%"));
    calls.put("getFunctions", () -> md.getFunctions(null, "public", "%"));
    calls.put("getFunctionColumns", () -> md.getFunctionColumns(null, "public", "%", "%"));
    calls.put("getUDTs", () -> md.getUDTs(null, "public", "%", null));
    calls.put("getTablePrivileges", () -> md.getTablePrivileges(null, "public", "client_players"));
    calls.put("getColumnPrivileges", () -> md.getColumnPrivileges(null, "public", "client_players", "%"));
    calls.put("getBestRowIdentifier", () -> md.getBestRowIdentifier(null, "public", "client_players", DatabaseMetaData.bestRowSession, true));
    calls.put("getVersionColumns", () -> md.getVersionColumns(null, "public", "client_players"));
    calls.put("getClientInfoProperties", md::getClientInfoProperties);
    for (Map.Entry<String, MetaCall> e : calls.entrySet()) {
      try (ResultSet rs = e.getValue().call()) {
        int n = 0;
        while (rs.next()) n++;
        out.put(e.getKey(), n);
      } catch (SQLException | RuntimeException ex) {
        out.put(e.getKey(), "error: " + ex.getMessage());
      }
    }
    out.put("getNumericFunctions", md.getNumericFunctions());
    out.put("getStringFunctions", md.getStringFunctions());
    out.put("getSystemFunctions", md.getSystemFunctions());
    out.put("getTimeDateFunctions", md.getTimeDateFunctions());
    return Map.of("calls", out);
  }

  private interface MetaCall {
    ResultSet call() throws SQLException;
  }

  private static Map<String, Object> indexInfo(Connection c) throws SQLException {
    List<Object> out = new ArrayList<>();
    try (ResultSet rs = c.getMetaData().getIndexInfo(null, "public", "client_players", false, false)) {
      while (rs.next()) out.add(Map.of("name", rs.getString("INDEX_NAME"), "column", rs.getString("COLUMN_NAME"), "non_unique", rs.getBoolean("NON_UNIQUE")));
    }
    return Map.of("indexes", out);
  }

  private static Map<String, Object> schemas(Connection c) throws SQLException {
    List<Object> names = new ArrayList<>();
    try (ResultSet rs = c.getMetaData().getSchemas()) {
      while (rs.next()) names.add(rs.getString("TABLE_SCHEM"));
    }
    return Map.of("schemas", names);
  }

  private static Map<String, Object> tables(Connection c) throws SQLException {
    List<Object> out = new ArrayList<>();
    try (ResultSet rs = c.getMetaData().getTables(null, "public", "client%", null)) {
      while (rs.next()) out.add(Map.of("name", rs.getString("TABLE_NAME"), "type", String.valueOf(rs.getString("TABLE_TYPE"))));
    }
    return Map.of("tables", out);
  }

  private static Map<String, Object> columns(Connection c) throws SQLException {
    List<Object> out = new ArrayList<>();
    try (ResultSet rs = c.getMetaData().getColumns(null, "public", "client_players", "%")) {
      while (rs.next()) {
        Map<String, Object> col = new LinkedHashMap<>();
        col.put("name", rs.getString("COLUMN_NAME"));
        col.put("type_name", rs.getString("TYPE_NAME"));
        col.put("data_type", rs.getInt("DATA_TYPE"));
        col.put("position", rs.getInt("ORDINAL_POSITION"));
        col.put("nullable", rs.getString("IS_NULLABLE"));
        out.add(col);
      }
    }
    return Map.of("columns", out);
  }

  private static Map<String, Object> primaryKeys(Connection c) throws SQLException {
    List<Object> out = new ArrayList<>();
    try (ResultSet rs = c.getMetaData().getPrimaryKeys(null, "public", "client_players")) {
      while (rs.next()) out.add(Map.of("column", rs.getString("COLUMN_NAME"), "seq", rs.getInt("KEY_SEQ"), "name", String.valueOf(rs.getString("PK_NAME"))));
    }
    return Map.of("keys", out);
  }

  private static Map<String, Object> typeInfo(Connection c) throws SQLException {
    List<Object> names = new ArrayList<>();
    try (ResultSet rs = c.getMetaData().getTypeInfo()) {
      while (rs.next()) names.add(rs.getString("TYPE_NAME"));
    }
    return Map.of("types", names);
  }

  private static ResultSet executeAt(PreparedStatement ps, int iteration) {
    try {
      return ps.executeQuery();
    } catch (SQLException | RuntimeException e) {
      throw new StepFailure(e, iteration);
    }
  }

  /** int, bigint, text, double, boolean and timestamp parameters round-tripped ITERATIONS times. */
  private static Map<String, Object> preparedParams(Connection c) throws SQLException {
    List<Object> mismatches = new ArrayList<>();
    List<Object> serverPrepared = new ArrayList<>();
    String sql = "SELECT CAST(? AS int) AS i, CAST(? AS bigint) AS b, CAST(? AS text) AS t, CAST(? AS double precision) AS d, CAST(? AS boolean) AS z, CAST(? AS timestamptz) AS ts";
    try (PreparedStatement ps = c.prepareStatement(sql)) {
      for (int k = 0; k < ITERATIONS; k++) {
        int i = 100 + k - (k % 2 == 0 ? 0 : 300);
        long b = 10_000_000_000L + k;
        String t = "text " + k + " é ✓";
        double d = k + 0.25;
        boolean z = k % 2 == 0;
        Timestamp ts = Timestamp.from(Instant.parse("2026-11-23T10:00:00.123456Z").plusSeconds(k));
        ps.setInt(1, i);
        ps.setLong(2, b);
        ps.setString(3, t);
        ps.setDouble(4, d);
        ps.setBoolean(5, z);
        ps.setTimestamp(6, ts);
        try (ResultSet rs = executeAt(ps, k)) {
          if (!rs.next()) {
            mismatches.add(Map.of("iteration", k, "problem", "no row"));
            continue;
          }
          Map<String, Object> got = new LinkedHashMap<>();
          got.put("i", rs.getInt("i"));
          got.put("b", rs.getLong("b"));
          got.put("t", rs.getString("t"));
          got.put("d", rs.getDouble("d"));
          got.put("z", rs.getBoolean("z"));
          Timestamp gotTs = rs.getTimestamp("ts");
          got.put("ts", gotTs == null ? null : gotTs.toInstant().toString());
          Map<String, Object> want = new LinkedHashMap<>();
          want.put("i", i);
          want.put("b", b);
          want.put("t", t);
          want.put("d", d);
          want.put("z", z);
          want.put("ts", ts.toInstant().toString());
          if (!got.equals(want) || rs.next()) mismatches.add(Map.of("iteration", k, "got", got, "want", want));
        }
        serverPrepared.add(ps.unwrap(PGStatement.class).isUseServerPrepare());
      }
    }
    return Map.of("iterations", ITERATIONS, "mismatches", mismatches, "server_prepared", serverPrepared);
  }

  /** A point query on a keyed view with a bigint parameter, past the prepare threshold. */
  private static Map<String, Object> preparedView(Connection c) throws SQLException {
    List<Object> results = new ArrayList<>();
    try (PreparedStatement ps = c.prepareStatement("SELECT player_id, games, best FROM client_players WHERE player_id = ?")) {
      for (int k = 0; k < ITERATIONS; k++) {
        long id = k % 4 + 1;
        ps.setLong(1, id);
        List<Object> rows = new ArrayList<>();
        try (ResultSet rs = executeAt(ps, k)) {
          while (rs.next()) rows.add(Arrays.asList(rs.getLong("player_id"), rs.getLong("games"), rs.getObject("best")));
        }
        results.add(Map.of("player_id", id, "rows", rows));
      }
    }
    return Map.of("results", results);
  }

  /** setFetchSize inside a transaction: pgjdbc fetches through a portal in batches of 3 rows. */
  private static Map<String, Object> fetchSize(Connection c) throws SQLException {
    c.setAutoCommit(false);
    List<Object> ids = new ArrayList<>();
    try (Statement st = c.createStatement()) {
      st.setFetchSize(3);
      try (ResultSet rs = st.executeQuery("SELECT player_id, games FROM client_players ORDER BY player_id")) {
        while (rs.next()) ids.add(rs.getLong("player_id"));
      }
    }
    c.commit();
    c.setAutoCommit(true);
    return Map.of("ids", ids);
  }

  /** ResultSetMetaData of a query on the stream: table names and nullability come from the catalog. */
  private static Map<String, Object> resultMetadata(Connection c) throws SQLException {
    List<Object> columns = new ArrayList<>();
    try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT player_id, game, 1 AS one FROM client_events LIMIT 1")) {
      java.sql.ResultSetMetaData md = rs.getMetaData();
      for (int i = 1; i <= md.getColumnCount(); i++) {
        columns.add(Arrays.asList(md.getColumnName(i), md.getTableName(i), md.isNullable(i)));
      }
    }
    return Map.of("columns", columns);
  }

  /**
   * setFetchSize on SUBSCRIBE: the portal never ends, pgjdbc fetches it a row at a time. The snapshot comes
   * first; an INSERT on another connection then arrives as a change row while the ResultSet is open. The
   * step uses a stream of its own, so the other clients' views keep their rows.
   */
  private static Map<String, Object> fetchSubscribe(Connection c, String url) throws SQLException {
    try (Connection other = DriverManager.getConnection(url); Statement ddl = other.createStatement()) {
      ddl.execute("CREATE STREAM IF NOT EXISTS jdbc_sub (k TEXT, ts TIMESTAMPTZ NOT NULL)");
      ddl.execute("CREATE MATERIALIZED VIEW IF NOT EXISTS jdbc_sub_counts AS SELECT k, count(*) AS n FROM jdbc_sub GROUP BY k");
      ddl.executeUpdate("INSERT INTO jdbc_sub VALUES ('before', now())");
      // A pull query waits until the view has what was inserted before it: the snapshot will hold it.
      try (ResultSet rs = ddl.executeQuery("SELECT count(*) FROM jdbc_sub_counts")) {
        rs.next();
      }
    }
    c.setAutoCommit(false);
    List<Object> snapshot = new ArrayList<>();
    List<Object> change = null;
    try (Statement st = c.createStatement()) {
      st.setFetchSize(1);
      try (ResultSet rs = st.executeQuery("SUBSCRIBE jdbc_sub_counts")) {
        try (Connection other = DriverManager.getConnection(url); Statement ins = other.createStatement()) {
          ins.executeUpdate("INSERT INTO jdbc_sub VALUES ('after', now())");
        }
        while (rs.next()) {
          List<Object> row = Arrays.asList(rs.getLong("sluice_diff"), rs.getString("k"), rs.getLong("n"));
          if ("after".equals(rs.getString("k"))) {
            change = row;
            break;
          }
          snapshot.add(row);
        }
      }
    }
    c.rollback();
    c.setAutoCommit(true);
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("snapshot", snapshot);
    out.put("change", change);
    return out;
  }

  // ---- JSON out ----------------------------------------------------------------------------------

  static void emit(String check, Map<String, Object> fields) {
    Map<String, Object> line = new LinkedHashMap<>();
    line.put("check", check);
    line.putAll(fields);
    StringBuilder sb = new StringBuilder();
    json(sb, line);
    System.out.println(sb);
    System.out.flush();
  }

  private static void json(StringBuilder sb, Object v) {
    if (v == null) {
      sb.append("null");
    } else if (v instanceof String s) {
      quote(sb, s);
    } else if (v instanceof Double d) {
      sb.append(d.isNaN() || d.isInfinite() ? "\"" + d + "\"" : Double.toString(d));
    } else if (v instanceof Number || v instanceof Boolean) {
      sb.append(v);
    } else if (v instanceof Map<?, ?> m) {
      sb.append('{');
      boolean first = true;
      for (Map.Entry<?, ?> e : m.entrySet()) {
        if (!first) sb.append(',');
        first = false;
        quote(sb, Objects.toString(e.getKey()));
        sb.append(':');
        json(sb, e.getValue());
      }
      sb.append('}');
    } else if (v instanceof List<?> l) {
      sb.append('[');
      for (int i = 0; i < l.size(); i++) {
        if (i > 0) sb.append(',');
        json(sb, l.get(i));
      }
      sb.append(']');
    } else {
      quote(sb, v.toString());
    }
  }

  private static void quote(StringBuilder sb, String s) {
    sb.append('"');
    for (int i = 0; i < s.length(); i++) {
      char ch = s.charAt(i);
      switch (ch) {
        case '"' -> sb.append("\\\"");
        case '\\' -> sb.append("\\\\");
        case '\n' -> sb.append("\\n");
        case '\r' -> sb.append("\\r");
        case '\t' -> sb.append("\\t");
        default -> {
          if (ch < 0x20) sb.append(String.format("\\u%04x", (int) ch));
          else sb.append(ch);
        }
      }
    }
    sb.append('"');
  }
}
