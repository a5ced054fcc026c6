-- Game ends per minute, per game: the first workload of the rule-based event aggregation system.
-- Each event carries the player, the game, its type and an event time; a window closes once the
-- watermark (the largest event time seen, minus 5 seconds) has passed its end.

CREATE STREAM game_events (
  player_id BIGINT NOT NULL,
  game      TEXT,
  type      TEXT,
  result    TEXT,
  level     INT,
  amount    NUMERIC,
  ts        TIMESTAMPTZ NOT NULL,
  WATERMARK FOR ts AS ts - INTERVAL '5 seconds'
) WITH (topic = 'raw', format = 'json', key = 'player_id');

CREATE MATERIALIZED VIEW game_ends_per_minute AS
SELECT window_start, window_end, game, count(*) AS ends
FROM TUMBLE(game_events, ts, INTERVAL '1 minute')
WHERE type = 'game_end'
GROUP BY window_start, window_end, game;
