package dev.sluice.bench;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * The Flink SQL of every workload of bench/compare/README.md: the source DDL over the JSON lines file,
 * any helper views, and the query whose final result the driver writes. Each query is the Flink
 * rendering of Sluice's text in queries/*.sql, or of the Nexmark benchmark's Flink query of the same
 * number adapted to the flat nexmark.jsonl columns (no `extra` column exists there).
 */
final class Workloads {
  private Workloads() {}

  /** What one workload needs: its input file, the statements that set it up, and the query. */
  record Workload(String name, String inputFile, List<String> setup, String query) {}

  /**
   * Where the source table reads: the input file (filesystem connector) or, with a broker address, the
   * Kafka topic that holds the same lines, read from its earliest offsets up to the offsets it had when the
   * job started (a bounded read: the job ends there, and the end of input closes every window as it does
   * for the file). {@code topics} maps the file's name (game_events.jsonl, nexmark.jsonl) to its topic.
   */
  record Source(String kafka, Map<String, String> topics) {
    static final Source FILE = new Source(null, Map.of());
  }

  /** The WITH options of the source table over {@code file}. */
  private static String connectorOptions(Path file, Source source) {
    if (source.kafka() == null) {
      return "'connector' = 'filesystem', 'path' = '%s', 'format' = 'json'".formatted(sqlString(file));
    }
    String topic = source.topics().get(file.getFileName().toString());
    if (topic == null) {
      throw new IllegalArgumentException("no --topic for " + file.getFileName());
    }
    return ("'connector' = 'kafka', 'topic' = '%s', 'properties.bootstrap.servers' = '%s',"
        + " 'properties.group.id' = 'flink-bench', 'scan.startup.mode' = 'earliest-offset',"
        + " 'scan.bounded.mode' = 'latest-offset', 'format' = 'json'")
        .formatted(topic.replace("'", "''"), source.kafka().replace("'", "''"));
  }

  /** Game events: timestamps are epoch ms, the event time is derived from them (same watermark as Sluice). */
  private static String gameEventsDdl(Path file, Source source) {
    return """
        CREATE TABLE game_events (
          player_id BIGINT,
          game      STRING,
          `type`    STRING,
          `result`  STRING,
          `level`   INT,
          amount    DECIMAL(12, 2),
          ts        BIGINT,
          rt AS TO_TIMESTAMP_LTZ(ts, 3),
          WATERMARK FOR rt AS rt - INTERVAL '5' SECOND
        ) WITH (%s)
        """.formatted(connectorOptions(file, source));
  }

  /**
   * The flat Nexmark stream. The event time is a TIMESTAMP(3) in UTC (as in the Nexmark benchmark's DDL) so
   * that q7's comparison of a bid's time with a window end type-checks; the 4 s watermark delay is the
   * Nexmark benchmark's. The file is in time order, so the delay changes no answer.
   */
  private static String nexmarkDdl(Path file, Source source) {
    return """
        CREATE TABLE nexmark (
          event_type      INT,
          p_id            BIGINT,
          p_name          STRING,
          p_email         STRING,
          p_credit_card   STRING,
          p_city          STRING,
          p_state         STRING,
          a_id            BIGINT,
          a_item_name     STRING,
          a_description   STRING,
          a_initial_bid   BIGINT,
          a_reserve       BIGINT,
          a_expires       BIGINT,
          a_seller        BIGINT,
          a_category      BIGINT,
          b_auction       BIGINT,
          b_bidder        BIGINT,
          b_price         BIGINT,
          b_channel       STRING,
          b_url           STRING,
          ts              BIGINT,
          `dateTime` AS CAST(TO_TIMESTAMP_LTZ(ts, 3) AS TIMESTAMP(3)),
          WATERMARK FOR `dateTime` AS `dateTime` - INTERVAL '4' SECOND
        ) WITH (%s)
        """.formatted(connectorOptions(file, source));
  }

  /** The Nexmark benchmark's person/auction/bid views, over the flat columns. */
  private static final List<String> NEXMARK_VIEWS = List.of(
      """
      CREATE VIEW person AS
      SELECT p_id AS id, p_name AS name, p_email AS emailAddress, p_credit_card AS creditCard,
             p_city AS city, p_state AS state, `dateTime`
      FROM nexmark WHERE event_type = 0
      """,
      """
      CREATE VIEW auction AS
      SELECT a_id AS id, a_item_name AS itemName, a_description AS description,
             a_initial_bid AS initialBid, a_reserve AS reserve, `dateTime`, a_expires AS expires,
             a_seller AS seller, a_category AS category
      FROM nexmark WHERE event_type = 1
      """,
      """
      CREATE VIEW bid AS
      SELECT b_auction AS auction, b_bidder AS bidder, b_price AS price, b_channel AS channel,
             b_url AS url, `dateTime`
      FROM nexmark WHERE event_type = 2
      """);

  private static final Map<String, String> GAME_QUERIES = Map.of(
      "game_ends_per_minute",
      """
      SELECT window_start, window_end, game, count(*) AS ends
      FROM TABLE(TUMBLE(TABLE game_events, DESCRIPTOR(rt), INTERVAL '1' MINUTE))
      WHERE `type` = 'game_end'
      GROUP BY window_start, window_end, game
      """,
      // bool_or(x) over non-null x is "some row has x": a filtered count > 0 says the same, never null.
      "player_profile",
      """
      SELECT player_id,
             count(*) FILTER (WHERE `type` = 'login')                        AS logins,
             count(*) FILTER (WHERE `type` = 'fight' AND `result` = 'loss')  AS fights_lost,
             count(*) FILTER (WHERE `type` = 'transaction') > 0              AS payer,
             last_value(`level`) FILTER (WHERE `type` = 'game_start')        AS current_level,
             max(ts)                                                         AS last_seen
      FROM game_events
      GROUP BY player_id
      """,
      "revenue_per_level",
      """
      SELECT window_start, window_end, `level`, sum(amount) AS revenue, count(*) AS transactions
      FROM TABLE(TUMBLE(TABLE transaction_level, DESCRIPTOR(rt), INTERVAL '30' MINUTE))
      GROUP BY window_start, window_end, `level`
      """,
      // Flink wants each pattern variable once: L becomes L1, L2, L3 and OTHER becomes O1, O2, with the
      // same conditions, so FIRST(L.ts) is L1.ts, LAST(L.ts) is L3.ts and count(L.*) adds up the three.
      "losing_streak",
      """
      SELECT player_id, first_loss, third_loss, losses
      FROM game_events MATCH_RECOGNIZE (
        PARTITION BY player_id
        ORDER BY rt
        MEASURES L1.ts AS first_loss,
                 L3.ts AS third_loss,
                 COUNT(L1.ts) + COUNT(L2.ts) + COUNT(L3.ts) AS losses
        ONE ROW PER MATCH
        AFTER MATCH SKIP PAST LAST ROW
        PATTERN (L1 O1*? L2 O2*? L3) WITHIN INTERVAL '1' HOUR
        DEFINE L1 AS `type` = 'fight' AND `result` = 'loss',
               L2 AS `type` = 'fight' AND `result` = 'loss',
               L3 AS `type` = 'fight' AND `result` = 'loss',
               O1 AS `type` <> 'fight',
               O2 AS `type` <> 'fight'
      ) AS streaks
      """);

  /**
   * revenue_per_level's level: a versioned view of each player's latest game_start (deduplication keeps the
   * newest row per player, which makes player_id its key and rt its version time), joined as of each
   * transaction's event time. The join is inner, so transactions before a player's first game_start drop.
   */
  private static final List<String> REVENUE_VIEWS = List.of(
      """
      CREATE VIEW player_level AS
      SELECT player_id, `level`, rt FROM (
        SELECT player_id, `level`, rt,
               ROW_NUMBER() OVER (PARTITION BY player_id ORDER BY rt DESC) AS rn
        FROM game_events WHERE `type` = 'game_start'
      ) WHERE rn = 1
      """,
      """
      CREATE VIEW transaction_level AS
      SELECT e.rt, e.amount, p.`level`
      FROM game_events AS e
      JOIN player_level FOR SYSTEM_TIME AS OF e.rt AS p ON e.player_id = p.player_id
      WHERE e.`type` = 'transaction'
      """);

  /** The Nexmark benchmark's Flink queries (nexmark-flink/src/main/resources/queries), minus `extra`. */
  private static final Map<String, String> NEXMARK_QUERIES = Map.of(
      "nexmark_q0",
      "SELECT auction, bidder, price, `dateTime` FROM bid",
      "nexmark_q1",
      "SELECT auction, bidder, 0.908 * price AS price, `dateTime` FROM bid",
      "nexmark_q2",
      "SELECT auction, price FROM bid WHERE MOD(auction, 123) = 0",
      "nexmark_q5",
      """
      SELECT AuctionBids.auction, AuctionBids.num
      FROM (
        SELECT auction, count(*) AS num, window_start AS starttime, window_end AS endtime
        FROM TABLE(HOP(TABLE bid, DESCRIPTOR(`dateTime`), INTERVAL '2' SECOND, INTERVAL '10' SECOND))
        GROUP BY auction, window_start, window_end
      ) AS AuctionBids
      JOIN (
        SELECT max(CountBids.num) AS maxn, CountBids.starttime, CountBids.endtime
        FROM (
          SELECT count(*) AS num, window_start AS starttime, window_end AS endtime
          FROM TABLE(HOP(TABLE bid, DESCRIPTOR(`dateTime`), INTERVAL '2' SECOND, INTERVAL '10' SECOND))
          GROUP BY auction, window_start, window_end
        ) AS CountBids
        GROUP BY CountBids.starttime, CountBids.endtime
      ) AS MaxBids
      ON AuctionBids.starttime = MaxBids.starttime AND
         AuctionBids.endtime = MaxBids.endtime AND
         AuctionBids.num >= MaxBids.maxn
      """,
      "nexmark_q7",
      """
      SELECT B.auction, B.price, B.bidder, B.`dateTime`
      FROM bid B
      JOIN (
        SELECT MAX(price) AS maxprice, window_end AS `dateTime`
        FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(`dateTime`), INTERVAL '10' SECOND))
        GROUP BY window_start, window_end
      ) B1
      ON B.price = B1.maxprice
      WHERE B.`dateTime` BETWEEN B1.`dateTime` - INTERVAL '10' SECOND AND B1.`dateTime`
      """,
      "nexmark_q8",
      """
      SELECT P.id, P.name, P.starttime
      FROM (
        SELECT id, name, window_start AS starttime, window_end AS endtime
        FROM TABLE(TUMBLE(TABLE person, DESCRIPTOR(`dateTime`), INTERVAL '10' SECOND))
        GROUP BY id, name, window_start, window_end
      ) P
      JOIN (
        SELECT seller, window_start AS starttime, window_end AS endtime
        FROM TABLE(TUMBLE(TABLE auction, DESCRIPTOR(`dateTime`), INTERVAL '10' SECOND))
        GROUP BY seller, window_start, window_end
      ) A
      ON P.id = A.seller AND P.starttime = A.starttime AND P.endtime = A.endtime
      """,
      "nexmark_q11",
      """
      SELECT B.bidder,
             count(*) AS bid_count,
             SESSION_START(B.`dateTime`, INTERVAL '10' SECOND) AS starttime,
             SESSION_END(B.`dateTime`, INTERVAL '10' SECOND) AS endtime
      FROM bid B
      GROUP BY B.bidder, SESSION(B.`dateTime`, INTERVAL '10' SECOND)
      """);

  /** Every workload name, in the contract's order. */
  static final List<String> NAMES = List.of(
      "game_ends_per_minute", "revenue_per_level", "player_profile", "losing_streak",
      "nexmark_q0", "nexmark_q1", "nexmark_q2", "nexmark_q5", "nexmark_q7", "nexmark_q8", "nexmark_q11");

  /** The workload called name over the files in dataDir (or their topics); throws IllegalArgumentException for an unknown name. */
  static Workload of(String name, Path dataDir, Source source) {
    if (GAME_QUERIES.containsKey(name)) {
      Path file = dataDir.resolve("game_events.jsonl");
      List<String> setup = name.equals("revenue_per_level")
          ? concat(List.of(gameEventsDdl(file, source)), REVENUE_VIEWS)
          : List.of(gameEventsDdl(file, source));
      return new Workload(name, file.toString(), setup, GAME_QUERIES.get(name));
    }
    if (NEXMARK_QUERIES.containsKey(name)) {
      Path file = dataDir.resolve("nexmark.jsonl");
      return new Workload(name, file.toString(), concat(List.of(nexmarkDdl(file, source)), NEXMARK_VIEWS),
          NEXMARK_QUERIES.get(name));
    }
    throw new IllegalArgumentException("unknown workload '" + name + "'; known: " + String.join(", ", NAMES));
  }

  private static List<String> concat(List<String> a, List<String> b) {
    return java.util.stream.Stream.concat(a.stream(), b.stream()).toList();
  }

  /** A path as the inside of a SQL string literal. */
  private static String sqlString(Path file) {
    return file.toAbsolutePath().toString().replace("'", "''");
  }
}
