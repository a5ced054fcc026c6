/**
 * The cases of the generated differential suite (test/pg-differential.test.ts) where Sluice differs from
 * PostgreSQL, each with its reason; docs/sql-reference.md, "Differences from PostgreSQL", says the same.
 * A case fixed in Sluice must be taken off the list (the suite fails while it is on it).
 */

/** Why a case differs. */
export const REASONS = {
  UNTYPED: "an untyped NULL or string literal as the argument of a function with several signatures: PostgreSQL refuses it (42725 ambiguous, 42804 type unknown) or picks another signature; Sluice picks one or answers 42883",
  NEGATIVE_ZERO: "json_build_object writes a double precision -0 as 0 (JSON.stringify drops the sign); PostgreSQL writes -0",
  AGGREGATE_OVERFLOW: "the statistical aggregates do not check their sums for overflow: PostgreSQL raises 22003 where Sluice answers Infinity or NaN",
  INTERVAL_SUM: "sum and avg over interval are not supported (42883)",
  MAKE_INTERVAL_WRAP: "make_interval with a field near 2^31: PostgreSQL 15 overflows its 32-bit fields without an error; Sluice keeps the value",
  REGEXP_SUBSTR_START: "regexp_substr with a start past the end and an empty pattern: PostgreSQL answers NULL, Sluice the empty string",
  TO_CHAR_INTERVAL: "to_char(interval, ...) with a zone template field (OF) or an empty template: PostgreSQL raises 22007 or answers NULL",
  TO_CHAR_SIGN: "to_char(number, 'S9999') puts the sign before the padding; PostgreSQL puts it next to the digits",
  YEAR_ZERO: "to_date with no year in the input: PostgreSQL gives year 0, shown as 0001-01-01 BC; Sluice 0001-01-01",
  DATE_RANGE: "date + integer past PostgreSQL's last date (5874897 AD) is 22008 there; Sluice answers a date beyond it",
} as const

const BY_REASON: Readonly<Record<keyof typeof REASONS, readonly string[]>> = {
  UNTYPED: [
    "[America/St_Johns] SELECT cardinality(NULL) AS v",
    "[America/St_Johns] SELECT date_part('millisecond', NULL) AS v",
    "[America/St_Johns] SELECT date_part('year', NULL) AS v",
    "[America/St_Johns] SELECT date_trunc('year', NULL) AS v",
    "[America/St_Johns] SELECT isfinite(NULL) AS v",
    "[America/St_Johns] SELECT string_agg(x::text, '|') AS v FROM generate_subscripts(NULL, 0) AS t(x)",
    "[America/St_Johns] SELECT to_char(NULL, '0000') AS v",
    "[America/St_Johns] SELECT to_char(NULL, 'HH12:MI:SS AM') AS v",
    "[America/St_Johns] SELECT to_json('  pad me  ') AS v",
    "[America/St_Johns] SELECT to_json('') AS v",
    "[America/St_Johns] SELECT to_json(NULL) AS v",
    "[America/St_Johns] SELECT to_jsonb('a👍b🎉c') AS v",
    "[America/St_Johns] SELECT to_jsonb(NULL) AS v",
    "[Asia/Kolkata] SELECT array_length(NULL, -3) AS v",
    "[Asia/Kolkata] SELECT array_to_string(NULL, 'a,b,,c') AS v",
    "[Asia/Kolkata] SELECT array_to_string(NULL, 'a👍b🎉c', 'a👍b🎉c') AS v",
    "[Asia/Kolkata] SELECT date_bin(INTERVAL '1 day', NULL, TIMESTAMP '2024-10-27 02:30:00') AS v",
    "[Asia/Kolkata] SELECT date_part('dow', NULL) AS v",
    "[Asia/Kolkata] SELECT date_part('millisecond', NULL) AS v",
    "[Asia/Kolkata] SELECT date_trunc('year', NULL) AS v",
    "[Asia/Kolkata] SELECT isfinite(NULL) AS v",
    "[Asia/Kolkata] SELECT string_agg(x::text, '|') AS v FROM unnest(NULL) AS t(x)",
    "[Asia/Kolkata] SELECT to_char(NULL, 'HH12:MI:SS AM') AS v",
    "[Asia/Kolkata] SELECT to_json('straße ǆ') AS v",
    "[Asia/Kolkata] SELECT to_json(NULL) AS v",
    "[Asia/Kolkata] SELECT to_jsonb('straße ǆ') AS v",
    "[Asia/Kolkata] SELECT to_jsonb(NULL) AS v",
    "[Asia/Kolkata] SELECT trunc(NULL) AS v",
    "[Europe/Berlin] SELECT array_upper(NULL, 10) AS v",
    "[Europe/Berlin] SELECT date_part('millisecond', NULL) AS v",
    "[Europe/Berlin] SELECT date_trunc('millennium', NULL) AS v",
    "[Europe/Berlin] SELECT date_trunc('week', NULL) AS v",
    "[Europe/Berlin] SELECT date_trunc('year', NULL) AS v",
    "[Europe/Berlin] SELECT isfinite(NULL) AS v",
    "[Europe/Berlin] SELECT string_agg(x::text, '|') AS v FROM unnest(NULL) AS t(x)",
    "[Europe/Berlin] SELECT to_char(NULL, 'FMMonth FMDD, YYYY') AS v",
    "[Europe/Berlin] SELECT to_char(NULL, 'HH12:MI:SS AM') AS v",
    "[Europe/Berlin] SELECT to_json('straße ǆ') AS v",
    "[Europe/Berlin] SELECT to_json(NULL) AS v",
    "[Europe/Berlin] SELECT to_jsonb(NULL) AS v",
    "[UTC] SELECT array_lower(NULL, 3) AS v",
    "[UTC] SELECT array_remove(NULL, 'a👍b🎉c') AS v",
    "[UTC] SELECT array_remove(NULL, 3) AS v",
    "[UTC] SELECT date_part('millisecond', NULL) AS v",
    "[UTC] SELECT date_part('minute', NULL) AS v",
    "[UTC] SELECT date_trunc('year', NULL) AS v",
    "[UTC] SELECT isfinite(NULL) AS v",
    "[UTC] SELECT to_char(NULL, 'HH12:MI:SS AM') AS v",
    "[UTC] SELECT to_json(NULL) AS v",
    "[UTC] SELECT to_jsonb('Hello wORLD') AS v",
    "[UTC] SELECT to_jsonb('a,b,,c') AS v",
    "[UTC] SELECT trunc(NULL) AS v",
  ],
  NEGATIVE_ZERO: [
    "[Europe/Berlin] SELECT json_build_object('a,b,,c', '-0'::float8) AS v",
    "[UTC] SELECT json_build_object('a👍b🎉c', '-0'::float8) AS v",
  ],
  AGGREGATE_OVERFLOW: [
    "[UTC] SELECT corr(c0, c1) AS v FROM (VALUES ('-0'::float8, 2::float8), (NULL, NULL), ('-Infinity'::float8, 2::float8), ('-0'::float8, 1e300::float8)) AS t(c0, c1)",
    "[UTC] SELECT covar_pop(c0, c1) AS v FROM (VALUES ('-0'::float8, 0::float8), (NULL, NULL), (1.5::float8, 1e300::float8), (2::float8, 'Infinity'::float8)) AS t(c0, c1)",
    "[UTC] SELECT regr_intercept(c0, c1) AS v FROM (VALUES (0.1::float8, 0.1::float8), (NULL, NULL), (1e300::float8, 2::float8), ('NaN'::float8, '-0'::float8)) AS t(c0, c1)",
    "[UTC] SELECT regr_intercept(c0, c1) AS v FROM (VALUES (2::float8, 1.5::float8), (1e300::float8, 1.5::float8)) AS t(c0, c1)",
    "[UTC] SELECT regr_r2(c0, c1) AS v FROM (VALUES (0.1::float8, 1e300::float8), (0.1::float8, 1.5::float8)) AS t(c0, c1)",
    "[UTC] SELECT regr_slope(c0, c1) AS v FROM (VALUES ('-0'::float8, '-0'::float8), (1e300::float8, 0.1::float8)) AS t(c0, c1)",
    "[UTC] SELECT regr_syy(c0, c1) AS v FROM (VALUES (0::float8, '-0'::float8), (1e300::float8, 'NaN'::float8)) AS t(c0, c1)",
    "[UTC] SELECT stddev_samp(c0) AS v FROM (VALUES (1e300::float8), ('-0'::float8)) AS t(c0)",
    "[UTC] SELECT variance(c0) AS v FROM (VALUES (2::float8), (1e300::float8)) AS t(c0)",
  ],
  INTERVAL_SUM: [
    "[UTC] SELECT avg(c0) AS v FROM (VALUES (INTERVAL '-1 year'), (INTERVAL '36 hours')) AS t(c0)",
    "[UTC] SELECT avg(c0) AS v FROM (VALUES (INTERVAL '0'), (NULL), (INTERVAL '1 day'), (INTERVAL '1 day -1 second')) AS t(c0)",
    "[UTC] SELECT avg(c0) AS v FROM (VALUES (NULL::interval)) AS t(c0)",
    "[UTC] SELECT sum(c0) AS v FROM (VALUES (INTERVAL '1 day'), (NULL), (INTERVAL '1 day'), (INTERVAL '36 hours')) AS t(c0)",
    "[UTC] SELECT sum(c0) AS v FROM (VALUES (INTERVAL '45 days 30:00:00'), (INTERVAL '45 days 30:00:00')) AS t(c0)",
    "[UTC] SELECT sum(c0) AS v FROM (VALUES (NULL::interval)) AS t(c0)",
  ],
  MAKE_INTERVAL_WRAP: [
    "[Europe/Berlin] SELECT make_interval(2147483647, -3, -3, 3, 1, 10, 2::float8) AS v",
    "[Europe/Berlin] SELECT make_interval(2147483647, 0, 3, -1, 1, 0, 0::float8) AS v",
  ],
  REGEXP_SUBSTR_START: [
    "[UTC] SELECT regexp_count('x', '', 2147483647) AS v",
  ],
  TO_CHAR_INTERVAL: [
    "[UTC] SELECT to_char(INTERVAL '1 mon 2 days 03:04:05', 'Day DD Mon YYYY') AS v",
  ],
  TO_CHAR_SIGN: [
    "[Asia/Kolkata] SELECT to_char(NULL, 'S9999') AS v",
  ],
  YEAR_ZERO: [
    "[America/St_Johns] SELECT to_date('a,b,,c', '') AS v",
    "[UTC] SELECT to_date('Hello wORLD', '') AS v",
  ],
  DATE_RANGE: [
    "[America/St_Johns] SELECT (DATE '2024-12-31') - (2147483647) AS v",
    "[Asia/Kolkata] SELECT (DATE '1970-01-01') + (2147483647) AS v",
    "[Asia/Kolkata] SELECT (DATE '2024-02-29') + (2147483647) AS v",
  ],
}

export const KNOWN_DIFFERENCES: Readonly<Record<string, string>> = Object.fromEntries(
  Object.entries(BY_REASON).flatMap(([reason, cases]) => cases.map((c) => [c, REASONS[reason as keyof typeof REASONS]])),
)
