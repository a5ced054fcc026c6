package dev.sluice.clients;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.sql.Array;
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Types;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * The whole DatabaseMetaData walk a JDBC tool can make (DBeaver's and Metabase's schema sync, DataGrip's
 * introspection), run the same way against Sluice and PostgreSQL so that test/jdbc-walk.test.ts can compare
 * the two: every method of java.sql.DatabaseMetaData is called, those without arguments through reflection
 * (capabilities, keyword lists, getCatalogs, getTypeInfo, ...), those with int arguments with the standard
 * constants, and those taking catalog/schema/table patterns once with null / "%" patterns and once for every
 * table given on the command line. Every row and every column of each ResultSet is read (getObject, arrays
 * expanded), as a tool does when it fills its tree.
 *
 * Each call prints one JSON line {"check": "call", "call": label, "method": name, ...}: for a ResultSet its
 * "rows" and "columns" (the labels), for a scalar its "value", for a failure "error" and "sqlstate". A last
 * line {"check": "done", "uncovered": [...]} names any method of the interface the walk did not call.
 *
 * Usage: java -cp jdbc-check.jar:lib/* dev.sluice.clients.MetadataWalk HOST PORT USER DATABASE SCHEMA TABLE[,TABLE...]
 */
public final class MetadataWalk {
  private MetadataWalk() {}

  @FunctionalInterface
  private interface Call {
    Object run() throws SQLException;
  }

  private static final TreeSet<String> called = new TreeSet<>();

  public static void main(String[] args) throws Exception {
    if (args.length != 6) {
      System.err.println("usage: MetadataWalk HOST PORT USER DATABASE SCHEMA TABLE[,TABLE...]");
      System.exit(2);
    }
    String url = "jdbc:postgresql://" + args[0] + ":" + args[1] + "/" + args[3] + "?user=" + args[2] + "&ApplicationName=metadata-walk&connectTimeout=10&socketTimeout=60";
    String schema = args[4];
    List<String> tables = Arrays.asList(args[5].split(","));
    try (Connection c = DriverManager.getConnection(url)) {
      DatabaseMetaData md = c.getMetaData();
      reflective(md);
      patterns(md, schema, tables);
    }
    TreeSet<String> uncovered = new TreeSet<>();
    for (Method m : DatabaseMetaData.class.getMethods()) {
      if (!called.contains(m.getName())) uncovered.add(m.getName());
    }
    JdbcCheck.emit("done", Map.of("uncovered", new ArrayList<>(uncovered)));
  }

  /** Methods without arguments, and those taking only int constants (result set types, isolation levels). */
  private static void reflective(DatabaseMetaData md) {
    Method[] methods = DatabaseMetaData.class.getMethods();
    Arrays.sort(methods, (a, b) -> a.getName().compareTo(b.getName()));
    for (Method m : methods) {
      Class<?>[] p = m.getParameterTypes();
      if (p.length == 0) {
        call(m.getName(), m.getName(), () -> invoke(m, md));
      } else if (Arrays.stream(p).allMatch(t -> t == int.class)) {
        for (Object[] a : intArguments(m.getName(), p.length)) {
          call(m.getName() + Arrays.toString(a), m.getName(), () -> invoke(m, md, a));
        }
      }
    }
    call("isWrapperFor", "isWrapperFor", () -> md.isWrapperFor(DatabaseMetaData.class));
    call("unwrap", "unwrap", () -> md.unwrap(DatabaseMetaData.class).getClass().getName());
  }

  private static List<Object[]> intArguments(String name, int arity) {
    List<Object[]> out = new ArrayList<>();
    switch (name) {
      case "supportsTransactionIsolationLevel" -> {
        for (int level : new int[] {Connection.TRANSACTION_NONE, Connection.TRANSACTION_READ_UNCOMMITTED, Connection.TRANSACTION_READ_COMMITTED,
            Connection.TRANSACTION_REPEATABLE_READ, Connection.TRANSACTION_SERIALIZABLE}) out.add(new Object[] {level});
      }
      case "supportsResultSetHoldability" -> {
        out.add(new Object[] {ResultSet.HOLD_CURSORS_OVER_COMMIT});
        out.add(new Object[] {ResultSet.CLOSE_CURSORS_AT_COMMIT});
      }
      case "supportsConvert" -> {
        out.add(new Object[] {Types.INTEGER, Types.VARCHAR});
        out.add(new Object[] {Types.VARCHAR, Types.BIGINT});
      }
      default -> {
        for (int type : new int[] {ResultSet.TYPE_FORWARD_ONLY, ResultSet.TYPE_SCROLL_INSENSITIVE, ResultSet.TYPE_SCROLL_SENSITIVE}) {
          out.add(arity == 1 ? new Object[] {type} : new Object[] {type, ResultSet.CONCUR_READ_ONLY});
        }
      }
    }
    return out;
  }

  private static Object invoke(Method m, DatabaseMetaData md, Object... a) throws SQLException {
    try {
      return m.invoke(md, a);
    } catch (InvocationTargetException e) {
      if (e.getCause() instanceof SQLException s) throw s;
      throw new RuntimeException(e.getCause());
    } catch (IllegalAccessException e) {
      throw new RuntimeException(e);
    }
  }

  /** The methods taking catalog/schema/table patterns: wildcards first, then each table by name. */
  private static void patterns(DatabaseMetaData md, String schema, List<String> tables) {
    String[] nulls = {null, "%"};
    for (String p : nulls) {
      String s = p == null ? "null" : "%";
      call("getSchemas(null," + s + ")", "getSchemas", () -> md.getSchemas(null, p));
      call("getTables(null," + s + "," + s + ",null)", "getTables", () -> md.getTables(null, p, p, null));
      call("getColumns(null," + s + "," + s + "," + s + ")", "getColumns", () -> md.getColumns(null, p, p, p));
      call("getProcedures(null," + s + "," + s + ")", "getProcedures", () -> md.getProcedures(null, p, p));
      call("getProcedureColumns(null," + s + "," + s + "," + s + ")", "getProcedureColumns", () -> md.getProcedureColumns(null, p, p, p));
      call("getFunctions(null," + s + "," + s + ")", "getFunctions", () -> md.getFunctions(null, p, p));
      call("getFunctionColumns(null," + s + "," + s + "," + s + ")", "getFunctionColumns", () -> md.getFunctionColumns(null, p, p, p));
      call("getUDTs(null," + s + "," + s + ",null)", "getUDTs", () -> md.getUDTs(null, p, p, null));
      call("getSuperTypes(null," + s + "," + s + ")", "getSuperTypes", () -> md.getSuperTypes(null, p, p));
      call("getSuperTables(null," + s + "," + s + ")", "getSuperTables", () -> md.getSuperTables(null, p, p));
      call("getAttributes(null," + s + "," + s + "," + s + ")", "getAttributes", () -> md.getAttributes(null, p, p, p));
      call("getTablePrivileges(null," + s + "," + s + ")", "getTablePrivileges", () -> md.getTablePrivileges(null, p, p));
      call("getPseudoColumns(null," + s + "," + s + "," + s + ")", "getPseudoColumns", () -> md.getPseudoColumns(null, p, p, p));
    }
    // Keys without a table: every foreign key of the database (DBeaver's and Metabase's schema sync).
    call("getImportedKeys(null,null,null)", "getImportedKeys", () -> md.getImportedKeys(null, null, null));
    call("getExportedKeys(null,null,null)", "getExportedKeys", () -> md.getExportedKeys(null, null, null));
    call("getCrossReference(null,null,null,null,null,null)", "getCrossReference", () -> md.getCrossReference(null, null, null, null, null, null));
    call("getPrimaryKeys(null,null,null)", "getPrimaryKeys", () -> md.getPrimaryKeys(null, null, null));
    call("getTables(null," + schema + ",%,TABLE+VIEW+MATERIALIZED VIEW)", "getTables",
        () -> md.getTables(null, schema, "%", new String[] {"TABLE", "VIEW", "MATERIALIZED VIEW"}));
    call("getUDTs(null," + schema + ",%,DISTINCT+STRUCT)", "getUDTs", () -> md.getUDTs(null, schema, "%", new int[] {Types.DISTINCT, Types.STRUCT}));
    for (String t : tables) {
      String a = "(null," + schema + "," + t;
      call("getTables" + a + ",null)", "getTables", () -> md.getTables(null, schema, t, null));
      call("getColumns" + a + ",%)", "getColumns", () -> md.getColumns(null, schema, t, "%"));
      call("getColumns" + a + ",null)", "getColumns", () -> md.getColumns(null, schema, t, null));
      call("getPrimaryKeys" + a + ")", "getPrimaryKeys", () -> md.getPrimaryKeys(null, schema, t));
      call("getImportedKeys" + a + ")", "getImportedKeys", () -> md.getImportedKeys(null, schema, t));
      call("getExportedKeys" + a + ")", "getExportedKeys", () -> md.getExportedKeys(null, schema, t));
      for (String other : tables) {
        call("getCrossReference" + a + ",null," + schema + "," + other + ")", "getCrossReference", () -> md.getCrossReference(null, schema, t, null, schema, other));
      }
      for (boolean unique : new boolean[] {false, true}) {
        call("getIndexInfo" + a + "," + unique + ",true)", "getIndexInfo", () -> md.getIndexInfo(null, schema, t, unique, true));
      }
      for (int scope : new int[] {DatabaseMetaData.bestRowTemporary, DatabaseMetaData.bestRowTransaction, DatabaseMetaData.bestRowSession}) {
        call("getBestRowIdentifier" + a + "," + scope + ",true)", "getBestRowIdentifier", () -> md.getBestRowIdentifier(null, schema, t, scope, true));
      }
      call("getVersionColumns" + a + ")", "getVersionColumns", () -> md.getVersionColumns(null, schema, t));
      call("getColumnPrivileges" + a + ",%)", "getColumnPrivileges", () -> md.getColumnPrivileges(null, schema, t, "%"));
      call("getTablePrivileges" + a + ")", "getTablePrivileges", () -> md.getTablePrivileges(null, schema, t));
      call("getPseudoColumns" + a + ",%)", "getPseudoColumns", () -> md.getPseudoColumns(null, schema, t, "%"));
      call("getSuperTables" + a + ")", "getSuperTables", () -> md.getSuperTables(null, schema, t));
      call("getAttributes" + a + ",%)", "getAttributes", () -> md.getAttributes(null, schema, t, "%"));
    }
  }

  /** Runs one call and prints its line; a ResultSet is read to the end, every column of every row. */
  private static void call(String label, String method, Call c) {
    called.add(method);
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("call", label);
    out.put("method", method);
    long start = System.nanoTime();
    try {
      Object v = c.run();
      if (v instanceof ResultSet rs) {
        try (rs) {
          ResultSetMetaData rmd = rs.getMetaData();
          List<Object> columns = new ArrayList<>();
          for (int i = 1; i <= rmd.getColumnCount(); i++) columns.add(rmd.getColumnLabel(i));
          int rows = 0;
          while (rs.next()) {
            for (int i = 1; i <= rmd.getColumnCount(); i++) read(rs, i);
            rows++;
          }
          out.put("rows", rows);
          out.put("columns", columns);
        }
      } else {
        out.put("value", v == null || v instanceof Boolean || v instanceof Number || v instanceof String ? v : v.getClass().getName() + ":" + v);
      }
    } catch (SQLException e) {
      out.put("error", String.valueOf(e.getMessage()));
      out.put("sqlstate", e.getSQLState());
    } catch (RuntimeException e) {
      out.put("error", e.toString());
      out.put("sqlstate", null);
    }
    out.put("ms", (System.nanoTime() - start) / 1_000_000);
    JdbcCheck.emit("call", out);
  }

  /** A cell as a tool reads it: the Java object, and an array's elements. */
  private static void read(ResultSet rs, int i) throws SQLException {
    Object v = rs.getObject(i);
    if (v instanceof Array a) {
      Object elements = a.getArray();
      if (elements instanceof Object[] arr) for (Object e : arr) String.valueOf(e);
    } else if (v != null) {
      String.valueOf(v);
    }
  }
}
