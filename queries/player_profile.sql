-- The player profile: one row per player, updated with every event, as the real-time CRM keeps it.
-- Campaign rules and enrichment join it by player_id (see revenue_per_level.sql).
-- Reads the game_events stream of game_ends_per_minute.sql.

CREATE MATERIALIZED VIEW player_profile AS
SELECT player_id,
       count(*) FILTER (WHERE type = 'login')                     AS logins,
       count(*) FILTER (WHERE type = 'fight' AND result = 'loss') AS fights_lost,
       coalesce(bool_or(type = 'transaction'), false)             AS payer,
       last_value(level) FILTER (WHERE type = 'game_start')       AS current_level,
       max(ts)                                                    AS last_seen
FROM game_events
GROUP BY player_id;
