-- Relational pull queries compared row for row with PostgreSQL (test/psql-catalog.test.ts): window functions,
-- joins, set-returning functions in the select list, array slices, regclass. Deterministic data only.

-- name: windows
SELECT g, g % 3 AS k, row_number() OVER (PARTITION BY g % 3 ORDER BY g DESC) AS rn, rank() OVER (ORDER BY g % 3) AS r, dense_rank() OVER (ORDER BY g % 3) AS dr, lag(g) OVER (ORDER BY g) AS prev, lead(g, 2, -1) OVER (PARTITION BY g % 3 ORDER BY g) AS next2, count(*) OVER (PARTITION BY g % 3) AS n, sum(g) OVER (ORDER BY g % 3) AS running, ntile(4) OVER (ORDER BY g) AS q, first_value(g) OVER (PARTITION BY g % 2 ORDER BY g DESC) AS fv, percent_rank() OVER (ORDER BY g % 3) AS pr, cume_dist() OVER (ORDER BY g % 3) AS cd FROM generate_series(1, 10) AS g ORDER BY g

-- name: regclass
SELECT 'ends'::regclass AS r, CAST('ends'::regclass AS oid) = c.oid AS same FROM pg_catalog.pg_class c WHERE c.relname = 'ends'

-- name: using_full
SELECT a.x, b.x AS bx, y FROM (SELECT 1 AS x, 'a' AS y UNION ALL SELECT 2, 'b') a FULL JOIN (SELECT 2 AS x UNION ALL SELECT 3) b ON a.x = b.x ORDER BY 1, 2

-- name: using
SELECT x, a.y, b.z FROM (SELECT 1 AS x, 'a' AS y UNION ALL SELECT 2, 'b') a JOIN (SELECT 2 AS x, 'z' AS z UNION ALL SELECT 3, 'w') b USING (x)

-- name: slices
SELECT (ARRAY[1,2,3,4])[2:3] AS a, (ARRAY[1,2,3,4])[:2] AS b, (ARRAY[1,2,3,4])[3:] AS c, substring('abcdef' from 0 for 3) AS s, 6 & 3 AS band, 6 | 3 AS bor

-- name: srf
SELECT (information_schema._pg_expandarray(ARRAY[10,20,30])).n AS n, (information_schema._pg_expandarray(ARRAY[10,20,30])).x AS x

-- name: grouped_correlated_subquery
SELECT k, count(*) AS n, (SELECT count(*) FROM generate_series(1, 10) AS h WHERE h % 3 = k AND h > t2.lim) AS above FROM (SELECT g % 3 AS k, 4 AS lim FROM generate_series(1, 10) AS g) t2 GROUP BY k, lim ORDER BY 1

-- name: nested_correlated_subquery
SELECT g, (SELECT max(h) FROM generate_series(1, 5) AS h WHERE h < g AND EXISTS (SELECT 1 FROM generate_series(1, 5) AS i WHERE i = h AND i % 2 = g % 2)) AS m FROM generate_series(1, 5) AS g ORDER BY g

-- name: values
VALUES (1, 'one'), (2, NULL), (3, 'three')

-- name: values_in_from
SELECT v.column2, count(*) OVER () AS n FROM (VALUES (1, 'a'), (2, 'b')) AS v WHERE v.column1 > 1 UNION ALL SELECT 'z', 0

-- name: keywords
SELECT * FROM pg_catalog.pg_get_keywords() ORDER BY word

-- name: keyword_categories
SELECT catcode, catdesc, barelabel, baredesc, count(*) AS n FROM pg_get_keywords() GROUP BY catcode, catdesc, barelabel, baredesc ORDER BY 1, 3

-- name: srf_lockstep
SELECT unnest(ARRAY[10,20,30]) AS attnum, generate_subscripts(ARRAY[10,20,30], 1) AS ord, unnest(ARRAY['a','b']) AS short

-- name: generate_subscripts_from
SELECT s, (ARRAY['x','y','z'])[s] AS v FROM generate_subscripts(ARRAY['x','y','z'], 1) AS s UNION ALL SELECT s, 'r' FROM generate_subscripts(ARRAY['x','y'], 1, true) s

-- name: aggregate_order
SELECT array_agg(g ORDER BY g DESC) AS a, string_agg(g::text, ',' ORDER BY g DESC) AS s FROM generate_series(1, 5) g

-- name: subquery_column_aliases
SELECT name AS "Column", pg_catalog.format_type(tp, tpm) AS "Type" FROM (VALUES ('game', '25'::pg_catalog.oid, -1), ('n', '20'::pg_catalog.oid, -1)) s(name, tp, tpm)

-- name: settings
SELECT current_setting('search_path') AS p, current_setting('no.such_setting', true) AS missing, pg_catalog.set_config('sluice_test.x', 'on', false) AS set, current_setting('sluice_test.x') AS got, set_config('sluice_test.y', 'local', true) AS local

-- name: quoting
SELECT quote_ident('select') AS a, quote_ident('Mixed') AS b, quote_ident('plain') AS c, quote_literal('it''s') AS d, quote_literal(E'back\\slash') AS e, format('%s|%I|%L|%L|%%|%2$s', 'x', 'user', NULL, 'o''k') AS f

-- name: options
SELECT option_name, option_value FROM pg_options_to_table(ARRAY['fillfactor=70', 'autovacuum_enabled=false']) ORDER BY 1

-- name: serial_and_misc
SELECT pg_get_serial_sequence('game_events', 'player_id') AS seq, array_remove(ARRAY['a','b','a'], 'a') AS removed, 'int4'::regtype::text AS t, current_schemas(true) AS schemas

-- name: regnamespace
SELECT 'pg_catalog'::regnamespace::oid = n.oid AS same, n.nspname FROM pg_catalog.pg_namespace n WHERE n.oid = 'public'::regnamespace

-- name: recursive_union_all
WITH RECURSIVE t(n, f) AS (SELECT 1, 1::bigint UNION ALL SELECT n + 1, f * (n + 1) FROM t WHERE n < 10) SELECT n, f FROM t ORDER BY n

-- name: recursive_union_cycle
WITH RECURSIVE r(x) AS (VALUES (1) UNION SELECT (x * 3) % 7 FROM r) SELECT x, count(*) OVER () AS n FROM r ORDER BY x

-- name: recursive_closure_join
WITH RECURSIVE edges(a, b) AS (VALUES (1, 2), (2, 3), (3, 4), (2, 5), (5, 3)), reach(src, dst) AS (SELECT a, b FROM edges UNION SELECT r.src, e.b FROM reach r JOIN edges e ON e.a = r.dst) SELECT src, dst FROM reach ORDER BY 1, 2
