-- The origin CRM case: a player loses a third fight in a row, all within an hour.
-- One row per streak, as soon as the watermark has passed the third loss (a win in between breaks it).
-- Reads the game_events stream of game_ends_per_minute.sql.

CREATE MATERIALIZED VIEW losing_streak AS
SELECT player_id, first_loss, third_loss, losses
FROM game_events MATCH_RECOGNIZE (
  PARTITION BY player_id
  ORDER BY ts
  MEASURES FIRST(L.ts) AS first_loss,
           LAST(L.ts)  AS third_loss,
           count(L.*)  AS losses
  ONE ROW PER MATCH
  AFTER MATCH SKIP PAST LAST ROW
  PATTERN (L OTHER*? L OTHER*? L) WITHIN INTERVAL '1 hour'
  DEFINE L     AS type = 'fight' AND result = 'loss',
         OTHER AS type <> 'fight'
) AS streaks;
