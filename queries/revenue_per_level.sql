-- Revenue per level per 30 minutes, where the level of a transaction is the one set by the player's
-- last game start before it. The level is a keyed view; each transaction looks it up as of itself
-- (after every earlier event of the stream, before any later one).
-- Reads the game_events stream of game_ends_per_minute.sql.

CREATE MATERIALIZED VIEW player_level AS
SELECT player_id, last_value(level) FILTER (WHERE type = 'game_start') AS level
FROM game_events
GROUP BY player_id;

CREATE MATERIALIZED VIEW revenue_per_level AS
SELECT window_start, window_end, p.level, sum(e.amount) AS revenue, count(*) AS transactions
FROM TUMBLE(game_events, ts, INTERVAL '30 minutes') e
JOIN player_level p USING (player_id)
WHERE e.type = 'transaction'
GROUP BY window_start, window_end, p.level;
