package dev.sluice.clients;

import java.sql.Array;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Savepoint;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Type conformance of pgjdbc, run the same way against Sluice and PostgreSQL (test/drivers.test.ts compares
 * the two outputs): a PreparedStatement returning every type, arrays included, executed 10 times (pgjdbc
 * switches to a named statement and binary results at the fifth); setArray with bigint[] and text[] for
 * `= ANY(?)`; SAVEPOINT / ROLLBACK TO through Connection.setSavepoint and autosave=always; timestamptz in the
 * session's TimeZone (pgjdbc sends the JVM's zone at startup).
 *
 * Usage: java -cp jdbc-check.jar:lib/* dev.sluice.clients.DriversCheck HOST PORT USER DATABASE
 * Expects drv_items (id bigint, name text, tags text[], ids bigint[], ts timestamptz), as the test writes it.
 */
public final class DriversCheck {
  private static final int ITERATIONS = 10;

  /**
   * Every type Sluice has, scalar and array. The jsonb literal is written in PostgreSQL's canonical form
   * (keys sorted, ", " and ": "): Sluice prints jsonb as it was given, PostgreSQL normalizes it.
   */
  static final String EVERY_TYPE = "SELECT 7::int2 AS i2, (-70000)::int4 AS i4, 1099511627776::int8 AS i8, 1.5::float4 AS f4, 0.1::float8 AS f8,"
      + " 12.5::numeric AS n, true AS b, 'hé'::text AS t, '2026-03-29 01:00:00.25+00'::timestamptz AS tz, '2026-01-02'::date AS d,"
      + " '1 day 02:00:03'::interval AS iv, '\\x00ff'::bytea AS by, '{a,NULL,\"b c\",\"\"}'::text[] AS at, '{1,NULL,1099511627776}'::int8[] AS ai8,"
      + " '{1,2}'::int4[] AS ai4, '{7}'::int2[] AS ai2, '{0.5,NULL}'::float8[] AS af8, '{1.5}'::float4[] AS af4, '{12.5,0}'::numeric[] AS an,"
      + " '{t,f,NULL}'::bool[] AS ab, '{2026-01-02 03:04:05+00}'::timestamptz[] AS atz, '{2026-01-02}'::date[] AS ad, '{}'::int8[] AS empty_i8,"
      + " '{}'::text[] AS empty_t, NULL::text[] AS null_arr, '2026-01-02 03:04:05.5'::timestamp AS ts_ntz, '{\"2026-01-02 03:04:05\"}'::timestamp[] AS ats,"
      + " '{\"b\":[1,2.50,null],\"a\":\"x\"}'::json AS j, '{\"a\": \"x\", \"b\": [1, 2.50, null]}'::jsonb AS jb, tags, ids, ts FROM drv_items WHERE id = ?";

  private DriversCheck() {}

  @FunctionalInterface
  private interface Step {
    Map<String, Object> run(Connection c) throws SQLException;
  }

  public static void main(String[] args) throws Exception {
    if (args.length != 4) {
      System.err.println("usage: DriversCheck HOST PORT USER DATABASE");
      System.exit(2);
    }
    String url = "jdbc:postgresql://" + args[0] + ":" + args[1] + "/" + args[3] + "?user=" + args[2] + "&ApplicationName=drivers-check&connectTimeout=10&socketTimeout=30";
    step(url, "every_type_prepared", DriversCheck::everyTypePrepared);
    step(url, "set_array", DriversCheck::setArray);
    step(url, "savepoints", DriversCheck::savepoints);
    step(url + "&autosave=always", "autosave", DriversCheck::autosave);
    step(url, "timezone", DriversCheck::timezone);
    JdbcCheck.emit("done", Map.of());
  }

  private static void step(String url, String name, Step s) {
    Map<String, Object> result;
    try (Connection c = DriverManager.getConnection(url)) {
      result = s.run(c);
    } catch (SQLException | RuntimeException e) {
      result = new LinkedHashMap<>();
      result.put("error", String.valueOf(e.getMessage()));
      result.put("sqlstate", e instanceof SQLException q ? q.getSQLState() : null);
      result.put("exception", e.getClass().getName());
    }
    JdbcCheck.emit(name, result);
  }

  /** A cell as JDBC tools read it: getString, and for arrays the elements of getArray. */
  private static Object cell(ResultSet rs, int i) throws SQLException {
    ResultSetMetaData md = rs.getMetaData();
    if (md.getColumnTypeName(i).startsWith("_")) {
      Array a = rs.getArray(i);
      if (a == null) return null;
      Object[] elements = (Object[]) a.getArray();
      List<Object> out = new ArrayList<>();
      for (Object e : elements) out.add(e == null ? null : e.toString());
      return Map.of("base_type", a.getBaseTypeName(), "elements", out);
    }
    if (md.getColumnTypeName(i).equals("bytea")) {
      // getString of a binary bytea is the Java array's identity; the bytes are what matter.
      byte[] b = rs.getBytes(i);
      if (b == null) return null;
      StringBuilder hex = new StringBuilder("\\x");
      for (byte x : b) hex.append(String.format("%02x", x));
      return hex.toString();
    }
    return rs.getString(i);
  }

  private static List<Object> row(ResultSet rs) throws SQLException {
    List<Object> out = new ArrayList<>();
    for (int i = 1; i <= rs.getMetaData().getColumnCount(); i++) out.add(cell(rs, i));
    return out;
  }

  /** Every type, 10 times: the text results of the first executions and the binary ones after must agree. */
  private static Map<String, Object> everyTypePrepared(Connection c) throws SQLException {
    List<Object> rows = new ArrayList<>();
    List<String> types = new ArrayList<>();
    try (PreparedStatement ps = c.prepareStatement(EVERY_TYPE)) {
      for (int i = 0; i < ITERATIONS; i++) {
        ps.setLong(1, 1);
        try (ResultSet rs = ps.executeQuery()) {
          if (!rs.next()) throw new SQLException("no row at iteration " + i);
          rows.add(row(rs));
          if (i == 0) for (int k = 1; k <= rs.getMetaData().getColumnCount(); k++) types.add(rs.getMetaData().getColumnTypeName(k));
        }
      }
    }
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("types", types);
    m.put("first", rows.get(0));
    m.put("all_same", rows.stream().allMatch(r -> r.equals(rows.get(0))));
    m.put("last", rows.get(rows.size() - 1));
    return m;
  }

  private static List<Object> column(ResultSet rs) throws SQLException {
    List<Object> out = new ArrayList<>();
    while (rs.next()) out.add(rs.getObject(1));
    return out;
  }

  /** setArray(bigint[]) and setArray(text[]) for `= ANY(?)`, and arrays echoed back, past the binary switch. */
  private static Map<String, Object> setArray(Connection c) throws SQLException {
    List<Object> ids = new ArrayList<>();
    List<Object> names = new ArrayList<>();
    List<Object> echoed = new ArrayList<>();
    try (PreparedStatement byId = c.prepareStatement("SELECT id FROM drv_items WHERE id = ANY(?) ORDER BY id");
        PreparedStatement byName = c.prepareStatement("SELECT name FROM drv_items WHERE name = ANY(?) ORDER BY name");
        PreparedStatement echo = c.prepareStatement("SELECT ?::bigint[] AS a, ?::text[] AS b")) {
      for (int i = 0; i < ITERATIONS; i++) {
        byId.setArray(1, c.createArrayOf("bigint", new Long[] {1L, 3L, 99L}));
        try (ResultSet rs = byId.executeQuery()) {
          ids.add(column(rs));
        }
        byName.setArray(1, c.createArrayOf("text", new String[] {"a", "c", "zz"}));
        try (ResultSet rs = byName.executeQuery()) {
          names.add(column(rs));
        }
        echo.setArray(1, c.createArrayOf("bigint", new Long[] {1L, null, 1099511627776L}));
        echo.setArray(2, c.createArrayOf("text", new String[] {"x", null, "y z", ""}));
        try (ResultSet rs = echo.executeQuery()) {
          rs.next();
          echoed.add(row(rs));
        }
      }
    }
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("ids", ids);
    m.put("names", names);
    m.put("echoed", echoed);
    return m;
  }

  /** Connection.setSavepoint / rollback(savepoint) / releaseSavepoint around a failing statement. */
  private static Map<String, Object> savepoints(Connection c) throws SQLException {
    Map<String, Object> m = new LinkedHashMap<>();
    c.setAutoCommit(false);
    try (Statement s = c.createStatement()) {
      s.executeQuery("SELECT 1").close();
      Savepoint sp = c.setSavepoint("before_failure");
      try {
        s.executeQuery("SELECT 1/0").close();
        m.put("failure", null);
      } catch (SQLException e) {
        m.put("failure", e.getSQLState());
      }
      c.rollback(sp);
      try (ResultSet rs = s.executeQuery("SELECT 2")) {
        rs.next();
        m.put("after_rollback_to", rs.getInt(1));
      }
      Savepoint second = c.setSavepoint();
      c.releaseSavepoint(second);
      try {
        c.rollback(second);
        m.put("rollback_released", null);
      } catch (SQLException e) {
        m.put("rollback_released", e.getSQLState());
      }
      c.rollback();
    }
    return m;
  }

  /** autosave=always: pgjdbc wraps each statement in a savepoint, so a failure leaves the transaction usable. */
  private static Map<String, Object> autosave(Connection c) throws SQLException {
    Map<String, Object> m = new LinkedHashMap<>();
    c.setAutoCommit(false);
    try (PreparedStatement ok = c.prepareStatement("SELECT count(*) FROM drv_items WHERE id > ?");
        PreparedStatement bad = c.prepareStatement("SELECT 1 / ?")) {
      List<Object> counts = new ArrayList<>();
      List<Object> failures = new ArrayList<>();
      for (int i = 0; i < 6; i++) {
        bad.setInt(1, 0);
        try {
          bad.executeQuery().close();
          failures.add(null);
        } catch (SQLException e) {
          failures.add(e.getSQLState());
        }
        ok.setLong(1, 1);
        try (ResultSet rs = ok.executeQuery()) {
          rs.next();
          counts.add(rs.getLong(1));
        }
      }
      m.put("failures", failures);
      m.put("counts", counts);
    }
    c.commit();
    return m;
  }

  /** The JVM's zone goes to the server at startup; timestamptz text follows it, in text and binary results. */
  private static Map<String, Object> timezone(Connection c) throws SQLException {
    Map<String, Object> m = new LinkedHashMap<>();
    try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("SHOW TimeZone")) {
      rs.next();
      m.put("show", rs.getString(1));
    }
    List<Object> shown = new ArrayList<>();
    try (PreparedStatement ps = c.prepareStatement("SELECT ts FROM drv_items WHERE id = ?")) {
      for (int i = 0; i < ITERATIONS; i++) {
        ps.setLong(1, 2);
        try (ResultSet rs = ps.executeQuery()) {
          rs.next();
          shown.add(rs.getString(1) + " | " + rs.getTimestamp(1).toInstant());
        }
      }
    }
    m.put("values", shown);
    return m;
  }
}
