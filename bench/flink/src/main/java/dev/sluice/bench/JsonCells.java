package dev.sluice.bench;

import java.math.BigDecimal;
import java.time.Instant;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.util.List;

/**
 * One result row as the contract's JSON array: timestamps as epoch ms, numbers as JSON numbers, text as
 * strings, null as null. TIMESTAMP values (window bounds) are read as UTC, the session time zone the driver
 * sets, so they come back as the epoch ms they were computed from.
 */
final class JsonCells {
  private JsonCells() {}

  static String line(List<Object> row) {
    StringBuilder sb = new StringBuilder("[");
    for (int i = 0; i < row.size(); i++) {
      if (i > 0) {
        sb.append(',');
      }
      cell(sb, row.get(i));
    }
    return sb.append(']').toString();
  }

  private static void cell(StringBuilder sb, Object v) {
    if (v == null) {
      sb.append("null");
    } else if (v instanceof LocalDateTime t) {
      sb.append(t.toInstant(ZoneOffset.UTC).toEpochMilli());
    } else if (v instanceof Instant t) {
      sb.append(t.toEpochMilli());
    } else if (v instanceof BigDecimal d) {
      sb.append(d.toPlainString());
    } else if (v instanceof Double d) {
      number(sb, d);
    } else if (v instanceof Float f) {
      number(sb, f.doubleValue());
    } else if (v instanceof Number || v instanceof Boolean) {
      sb.append(v);
    } else {
      string(sb, v.toString());
    }
  }

  private static void number(StringBuilder sb, double d) {
    if (Double.isNaN(d) || Double.isInfinite(d)) {
      sb.append("null");
    } else if (d == Math.rint(d) && Math.abs(d) < 1e15) {
      sb.append((long) d);
    } else {
      sb.append(d);
    }
  }

  private static void string(StringBuilder sb, String s) {
    sb.append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"' -> sb.append("\\\"");
        case '\\' -> sb.append("\\\\");
        case '\n' -> sb.append("\\n");
        case '\r' -> sb.append("\\r");
        case '\t' -> sb.append("\\t");
        default -> {
          if (c < 0x20) {
            sb.append(String.format("\\u%04x", (int) c));
          } else {
            sb.append(c);
          }
        }
      }
    }
    sb.append('"');
  }
}
