/**
 * The statements of the generated differential suite (test/pg-differential.test.ts): every function of
 * Sluice's function tables (planner/functions.ts, expr/aggregates.ts, planner/table-functions.ts) gets
 * cases built from its signatures over pools of edge values (NULL, 0, negative, huge, empty string, emoji,
 * leap days, DST changes), run in several time zones. A fixed seed makes the list the same on every run,
 * so a case is named by its text and can be listed as a known difference.
 *
 * A function of the tables that has no signature here must be in NOT_COMPARED with the reason, so a new
 * function cannot slip past the suite (the test checks the tables against both lists).
 */
import { Rng } from '../../bench/compare/generate.ts'

/** Literal pools, one per argument kind; NULL comes first so every function sees it in every position. */
export const POOLS = {
  text: ['NULL', "''", "'abc'", "'Hello wORLD'", "'a👍b🎉c'", "'straße ǆ'", "'  pad me  '", "'a,b,,c'", "'x'"],
  int: ['NULL', '0', '1', '-1', '3', '-3', '2147483647', '10'],
  /** Small integers, for counts that make rows (generate_series) or repeat work. */
  small: ['NULL', '0', '1', '-2', '5', '3'],
  bigint: ['NULL', '0::bigint', '-7::bigint', '9007199254740991::bigint', '4000000000::bigint'],
  float: ['NULL', '0::float8', "'-0'::float8", '1.5::float8', '-2.5::float8', '1e300::float8', "'Infinity'::float8", "'-Infinity'::float8", "'NaN'::float8", '0.1::float8', '2::float8'],
  numeric: ['NULL', '0.0', '2.5', '-2.5', '1.005', '12345678901234567.89', '0.1', '-0.5', '100'],
  timestamp: [
    'NULL',
    "TIMESTAMP '2024-02-29 12:34:56.789'",
    "TIMESTAMP '2024-03-31 02:30:00'",
    "TIMESTAMP '1999-12-31 23:59:59.999999'",
    "TIMESTAMP '2000-01-01 00:00:00'",
    "TIMESTAMP '1970-01-01 00:00:00'",
    "TIMESTAMP '2024-10-27 02:30:00'",
    "TIMESTAMP '2023-01-01 00:00:00'",
  ],
  timestamptz: [
    'NULL',
    "TIMESTAMPTZ '2024-03-31 00:59:59+00'",
    "TIMESTAMPTZ '2024-03-31 01:00:00+00'",
    "TIMESTAMPTZ '2024-10-27 00:30:00+00'",
    "TIMESTAMPTZ '2024-11-03 06:30:00+00'",
    "TIMESTAMPTZ '2024-02-29 23:30:00-03:30'",
    "TIMESTAMPTZ '1969-07-20 20:17:40+00'",
    "TIMESTAMPTZ '2000-01-01 00:00:00+00'",
  ],
  time: ['NULL', "TIME '00:00'", "TIME '23:59:59.999999'", "TIME '12:34:56.789'", "TIME '24:00:00'", "'1:05 pm'::time", "TIME '02:30:00'"],
  date: ['NULL', "DATE '2024-02-29'", "DATE '2023-02-28'", "DATE '2000-01-01'", "DATE '1970-01-01'", "DATE '2024-12-31'"],
  interval: ['NULL', "INTERVAL '1 day'", "INTERVAL '1 mon 2 days 03:04:05'", "INTERVAL '-1 year'", "INTERVAL '36 hours'", "INTERVAL '0'", "INTERVAL '1 day -1 second'", "INTERVAL '45 days 30:00:00'"],
  json: ['NULL', `'{"a": 1, "b": [1, 2, {"c": "x"}]}'::json`, `'[1, "two", null, true]'::json`, `'"str"'::json`, "'null'::json", "'42'::json", "'{}'::json"],
  jsonb: ['NULL', `'{"a": 1, "b": [1, 2, {"c": "x"}]}'::jsonb`, `'[1, "two", null, true]'::jsonb`, `'"str"'::jsonb`, "'null'::jsonb", "'42'::jsonb", "'{}'::jsonb"],
  bytea: ['NULL', "'\\x00ff10'::bytea", "''::bytea", "'\\xdeadbeef'::bytea", "'abc'::bytea"],
  textarr: ['NULL', "ARRAY['a', NULL, 'b']", "ARRAY['x']", "'{}'::text[]", "ARRAY['a', 'b', 'a']"],
  intarr: ['NULL', 'ARRAY[1, 2, 3]', "'{}'::int[]", 'ARRAY[3, NULL, 3]', 'ARRAY[10]'],
  bool: ['NULL', 'true', 'false'],
  field: ["'year'", "'month'", "'week'", "'day'", "'hour'", "'minute'", "'second'", "'quarter'", "'dow'", "'isodow'", "'doy'", "'epoch'", "'millisecond'", "'decade'", "'century'", "'millennium'", "'isoyear'", "'microseconds'", 'NULL'],
  truncField: ["'year'", "'month'", "'week'", "'day'", "'hour'", "'minute'", "'second'", "'quarter'", "'decade'", "'century'", "'millennium'", "'milliseconds'", 'NULL'],
  zone: ["'UTC'", "'Europe/Berlin'", "'America/St_Johns'", "'Asia/Kolkata'", "'+05'", "'America/New_York'", 'NULL'],
  timeFormat: ["'YYYY-MM-DD HH24:MI:SS'", "'Day DD Mon YYYY'", "'IYYY-IW-ID'", "'HH12:MI:SS AM'", "'Q WW DDD J'", "'FMMonth FMDD, YYYY'", "'US MS'", "'YYYY-MM-DD\"T\"HH24:MI:SSOF'", "''", 'NULL'],
  numberFormat: ["'999,999.99'", "'FM9990.00'", "'S9999'", "'0000'", "'9.99EEEE'", "'FM999'", "'99.9PR'", 'NULL'],
  pattern: ["'b+'", "'(a)(b)?'", "'^\\w+'", "'[0-9]+'", "'(?i)A'", "'[,]'", "''", "'.'", 'NULL'],
  flags: ["'g'", "'i'", "'gi'", "''", 'NULL'],
  encoding: ["'hex'", "'base64'", "'escape'", "'rot13'", 'NULL'],
  typeName: ["'int'", "'text'", "'numeric'", 'NULL'],
} as const

export type Kind = keyof typeof POOLS

/** Each function's signatures: the argument kinds of one call, as its name's PostgreSQL overloads take them. */
export const SIGNATURES: Readonly<Record<string, readonly (readonly Kind[])[]>> = {
  // strings
  lower: [['text']],
  upper: [['text']],
  length: [['text']],
  char_length: [['text']],
  character_length: [['text']],
  octet_length: [['text']],
  btrim: [['text'], ['text', 'text']],
  trim: [['text']],
  ltrim: [['text'], ['text', 'text']],
  rtrim: [['text'], ['text', 'text']],
  md5: [['text']],
  replace: [['text', 'text', 'text']],
  starts_with: [['text', 'text']],
  substr: [['text', 'int'], ['text', 'int', 'int']],
  substring: [['text', 'int'], ['text', 'int', 'int'], ['text', 'pattern']],
  concat: [['text', 'int', 'text'], ['text', 'float', 'bool']],
  split_part: [['text', 'text', 'int']],
  left: [['text', 'int']],
  right: [['text', 'int']],
  lpad: [['text', 'int'], ['text', 'int', 'text']],
  rpad: [['text', 'int'], ['text', 'int', 'text']],
  repeat: [['text', 'small'], ['text', 'int']],
  reverse: [['text']],
  initcap: [['text']],
  strpos: [['text', 'text']],
  position: [['text', 'text']],
  translate: [['text', 'text', 'text']],
  concat_ws: [['text', 'text', 'text', 'int']],
  string_to_array: [['text', 'text'], ['text', 'text', 'text']],
  encode: [['bytea', 'encoding']],
  decode: [['text', 'encoding']],
  quote_ident: [['text']],
  quote_literal: [['text']],
  quote_nullable: [['text']],
  format: [['text'], ['text', 'text', 'int']],
  similar_to_escape: [['text'], ['text', 'text']],
  // regular expressions
  regexp_match: [['text', 'pattern'], ['text', 'pattern', 'flags']],
  regexp_replace: [['text', 'pattern', 'text'], ['text', 'pattern', 'text', 'flags']],
  regexp_split_to_array: [['text', 'pattern'], ['text', 'pattern', 'flags']],
  regexp_like: [['text', 'pattern'], ['text', 'pattern', 'flags']],
  regexp_count: [['text', 'pattern'], ['text', 'pattern', 'int']],
  regexp_instr: [['text', 'pattern'], ['text', 'pattern', 'int']],
  regexp_substr: [['text', 'pattern'], ['text', 'pattern', 'int']],
  // numbers
  abs: [['int'], ['float'], ['numeric']],
  floor: [['float'], ['numeric']],
  ceil: [['float'], ['numeric']],
  ceiling: [['float'], ['numeric']],
  sign: [['float'], ['numeric']],
  sqrt: [['float'], ['numeric']],
  ln: [['float'], ['numeric']],
  exp: [['float'], ['numeric']],
  round: [['float'], ['numeric'], ['numeric', 'int']],
  trunc: [['float'], ['numeric'], ['numeric', 'int']],
  power: [['float', 'float'], ['int', 'int']],
  mod: [['int', 'int'], ['bigint', 'bigint']],
  width_bucket: [['float', 'float', 'float', 'int']],
  log: [['float'], ['numeric'], ['numeric', 'numeric']],
  log10: [['float'], ['numeric']],
  div: [['numeric', 'numeric']],
  greatest: [['int', 'int', 'int'], ['text', 'text'], ['float', 'numeric']],
  least: [['int', 'int', 'int'], ['text', 'text'], ['timestamp', 'timestamp']],
  coalesce: [['int', 'int'], ['text', 'text', 'text'], ['timestamptz', 'timestamptz']],
  nullif: [['int', 'int'], ['text', 'text']],
  to_number: [['text', 'numberFormat']],
  // time
  date_trunc: [['truncField', 'timestamp'], ['truncField', 'timestamptz'], ['truncField', 'timestamptz', 'zone'], ['truncField', 'interval']],
  date_part: [['field', 'timestamp'], ['field', 'timestamptz'], ['field', 'date'], ['field', 'interval'], ['field', 'time']],
  extract: [['field', 'timestamp'], ['field', 'timestamptz'], ['field', 'interval'], ['field', 'time']],
  to_timestamp: [['float'], ['text', 'timeFormat']],
  timezone: [['zone', 'timestamp'], ['zone', 'timestamptz']],
  date_bin: [['interval', 'timestamp', 'timestamp'], ['interval', 'timestamptz', 'timestamptz']],
  age: [['timestamp', 'timestamp'], ['timestamptz', 'timestamptz']],
  make_date: [['int', 'int', 'int']],
  make_timestamp: [['int', 'int', 'int', 'int', 'int', 'float']],
  make_timestamptz: [['int', 'int', 'int', 'int', 'int', 'float'], ['int', 'int', 'int', 'int', 'int', 'float', 'zone']],
  make_interval: [['int', 'int', 'int', 'int', 'int', 'int', 'float']],
  justify_hours: [['interval']],
  justify_days: [['interval']],
  justify_interval: [['interval']],
  isfinite: [['timestamp'], ['timestamptz'], ['date'], ['interval']],
  to_char: [['timestamp', 'timeFormat'], ['timestamptz', 'timeFormat'], ['interval', 'timeFormat'], ['numeric', 'numberFormat'], ['int', 'numberFormat']],
  to_date: [['text', 'timeFormat']],
  // JSON
  json_typeof: [['json']],
  jsonb_typeof: [['jsonb']],
  json_array_length: [['json']],
  jsonb_array_length: [['jsonb']],
  json_extract_path: [['json', 'text'], ['json', 'text', 'text']],
  json_extract_path_text: [['json', 'text'], ['json', 'text', 'text']],
  jsonb_extract_path: [['jsonb', 'text'], ['jsonb', 'text', 'text']],
  jsonb_extract_path_text: [['jsonb', 'text'], ['jsonb', 'text', 'text']],
  json_build_object: [['text', 'int', 'text', 'timestamptz'], ['text', 'float']],
  jsonb_build_object: [['text', 'int', 'text', 'bool'], ['text', 'jsonb']],
  to_json: [['text'], ['timestamptz'], ['float'], ['textarr']],
  to_jsonb: [['text'], ['timestamp'], ['numeric'], ['intarr']],
  // arrays
  array_to_string: [['textarr', 'text'], ['intarr', 'text', 'text']],
  array_upper: [['intarr', 'int']],
  array_lower: [['intarr', 'int']],
  array_length: [['textarr', 'int']],
  cardinality: [['intarr']],
  array_remove: [['intarr', 'int'], ['textarr', 'text']],
  // session
  pg_typeof: [['int'], ['float'], ['timestamptz'], ['jsonb'], ['textarr'], ['time']],
  max: [['int'], ['text'], ['timestamptz'], ['interval'], ['time']],
  current_setting: [['text']],
  // aggregates: over a VALUES list of the kind (see aggregateStatement)
  count: [['int'], ['text']],
  sum: [['int'], ['float'], ['numeric'], ['interval']],
  avg: [['int'], ['float'], ['numeric'], ['interval']],
  min: [['int'], ['text'], ['timestamptz'], ['date']],
  bool_or: [['bool']],
  bool_and: [['bool']],
  every: [['bool']],
  string_agg: [['text', 'text']],
  array_agg: [['int'], ['text']],
  stddev: [['float'], ['int']],
  stddev_samp: [['float']],
  stddev_pop: [['float']],
  variance: [['float'], ['int']],
  var_samp: [['float']],
  var_pop: [['float']],
  regr_count: [['float', 'float']],
  covar_pop: [['float', 'float']],
  covar_samp: [['float', 'float']],
  corr: [['float', 'float']],
  regr_avgx: [['float', 'float']],
  regr_avgy: [['float', 'float']],
  regr_sxx: [['float', 'float']],
  regr_syy: [['float', 'float']],
  regr_sxy: [['float', 'float']],
  regr_slope: [['float', 'float']],
  regr_intercept: [['float', 'float']],
  regr_r2: [['float', 'float']],
  // set-returning: the rows are aggregated into one text (see tableStatement)
  generate_series: [['small', 'small'], ['small', 'small', 'small'], ['timestamptz', 'timestamptz', 'interval'], ['timestamp', 'timestamp', 'interval']],
  unnest: [['textarr'], ['intarr']],
  generate_subscripts: [['intarr', 'small']],
  jsonb_object_keys: [['jsonb']],
  regexp_matches: [['text', 'pattern'], ['text', 'pattern', 'flags']],
  regexp_split_to_table: [['text', 'pattern']],
}

/** Binary operators, compared over the same pools (`SELECT (a) op (b)`). */
export const OPERATOR_SIGNATURES: Readonly<Record<string, readonly (readonly Kind[])[]>> = {
  '||': [['jsonb', 'jsonb'], ['bytea', 'bytea'], ['text', 'text'], ['textarr', 'textarr'], ['json', 'json'], ['text', 'int']],
  '+': [['int', 'int'], ['float', 'float'], ['timestamp', 'interval'], ['timestamptz', 'interval'], ['date', 'int'], ['interval', 'interval'], ['time', 'interval'], ['interval', 'time'], ['date', 'time']],
  '-': [['int', 'int'], ['float', 'float'], ['timestamptz', 'timestamptz'], ['timestamp', 'interval'], ['timestamptz', 'interval'], ['date', 'int'], ['time', 'interval'], ['time', 'time']],
  '*': [['int', 'int'], ['float', 'float'], ['interval', 'float']],
  '/': [['int', 'int'], ['float', 'float'], ['interval', 'float']],
  '%': [['int', 'int']],
  '^': [['float', 'float']],
  '<': [['float', 'float'], ['text', 'text'], ['timestamptz', 'timestamptz']],
  '=': [['float', 'float'], ['jsonb', 'jsonb'], ['interval', 'interval'], ['time', 'time']],
  // time without time zone: arithmetic with intervals, differences, a date plus a time
  '<=': [['time', 'time']],
}

/** Functions of the tables the suite does not compare, with why (the answer is not PostgreSQL's to give). */
export const NOT_COMPARED: Readonly<Record<string, string>> = {
  ...Object.fromEntries(['random', 'now', 'current_timestamp', 'statement_timestamp', 'clock_timestamp', 'current_date', 'gen_random_uuid'].map((f) => [f, 'volatile: the clock or a random source'])),
  ...Object.fromEntries(['current_user', 'session_user', 'user', 'current_database', 'current_catalog', 'current_schema', 'version', 'pg_backend_pid', 'getdatabaseencoding', 'current_schemas'].map((f) => [f, 'names the server or session (test/session-functions-oracle.test.ts)'])),
  ...Object.fromEntries(['pg_notify', 'pg_cancel_backend', 'pg_terminate_backend', 'set_config'].map((f) => [f, 'acts on the session (test/listen.test.ts, test/statement-governance.test.ts, test/session-functions-oracle.test.ts)'])),
  pg_export_snapshot: 'names a snapshot of the server (test/pg-dump-parallel.test.ts)',
  ...Object.fromEntries(
    [
      'format_type', 'pg_get_userbyid', 'pg_encoding_to_char', 'pg_table_is_visible', 'pg_type_is_visible', 'pg_function_is_visible', 'pg_get_expr', 'obj_description', 'col_description',
      'shobj_description', 'pg_get_indexdef', 'pg_get_constraintdef', 'pg_get_ruledef', 'pg_get_triggerdef', 'pg_get_functiondef', 'pg_get_function_result', 'pg_get_function_arguments',
      'pg_get_function_identity_arguments', 'pg_get_statisticsobjdef_columns', 'pg_get_viewdef', 'pg_relation_is_publishable', 'pg_relation_size', 'pg_total_relation_size', 'pg_table_size',
      'pg_indexes_size', 'pg_database_size', 'pg_size_pretty', 'pg_is_in_recovery', 'has_table_privilege', 'has_schema_privilege', 'has_database_privilege', 'has_column_privilege',
      'pg_get_serial_sequence', 'pg_char_to_encoding', 'pg_operator_is_visible', 'pg_opclass_is_visible', 'pg_opfamily_is_visible', 'pg_collation_is_visible', 'pg_conversion_is_visible',
      'pg_statistics_obj_is_visible', 'pg_ts_config_is_visible', 'pg_ts_dict_is_visible', 'pg_ts_parser_is_visible', 'pg_ts_template_is_visible', 'pg_tablespace_location', 'pg_has_role',
      'acldefault', 'pg_get_statisticsobjdef', 'pg_get_keywords', 'pg_options_to_table', '_pg_expandarray',
    ].map((f) => [f, 'catalog introspection for clients: answers about Sluice\'s catalog (test/psql-catalog.test.ts, test/jdbc-walk.test.ts)']),
  ),
  max_by: 'Sluice extension, not in PostgreSQL',
  min_by: 'Sluice extension, not in PostgreSQL',
  first_value: 'as an aggregate a Sluice extension (PostgreSQL has it as a window function only)',
  last_value: 'as an aggregate a Sluice extension (PostgreSQL has it as a window function only)',
  approx_count_distinct: 'Sluice extension (a sketch), not in PostgreSQL',
  approx_percentile: 'Sluice extension (a sketch), not in PostgreSQL',
}

export const ZONES = ['UTC', 'Europe/Berlin', 'America/St_Johns', 'Asia/Kolkata'] as const

export interface DiffCase {
  /** The time zone of the session it runs in. */
  readonly zone: string
  readonly sql: string
  /** The function it exercises. */
  readonly fn: string
}

/** The name a case is listed by: its zone and statement. */
export const caseName = (c: Pick<DiffCase, 'zone' | 'sql'>): string => `[${c.zone}] ${c.sql}`

/** FNV-1a of a text, to seed a signature's generator. */
function hash(text: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193)
  return h >>> 0
}

/** Casts to and from time, compared like the functions (`SELECT CAST(x AS time)`). */
export const CASTS: readonly (readonly [Kind, string])[] = [
  ['timestamp', 'time'],
  ['timestamptz', 'time'],
  ['interval', 'time'],
  ['text', 'time'],
  ['time', 'interval'],
  ['time', 'text'],
]

const ZONE_SENSITIVE: ReadonlySet<Kind> = new Set<Kind>(['timestamptz', 'zone'])

/** A call of a set-returning function, its rows (in the order the function makes them) gathered into one text. */
function tableStatement(fn: string, args: readonly string[]): string {
  return `SELECT string_agg(x::text, '|') AS v FROM ${fn}(${args.join(', ')}) AS t(x)`
}

/** An aggregate over a VALUES list whose rows hold one value of each argument. */
function aggregateStatement(fn: string, kinds: readonly Kind[], rows: readonly (readonly string[])[]): string {
  const cols = kinds.map((_, i) => `c${i}`)
  const values = rows.map((r) => `(${r.join(', ')})`).join(', ')
  return `SELECT ${fn}(${cols.join(', ')}) AS v FROM (VALUES ${values}) AS t(${cols.join(', ')})`
}

export function generateCases(opts: { aggregates: ReadonlySet<string>; tableFunctions: ReadonlySet<string>; seed?: number; perSignature?: number }): DiffCase[] {
  // Each signature draws from its own generator (seeded by the seed and its name), so adding a function or
  // a signature leaves every other case as it was and the listed differences keep their names.
  let rng = new Rng(0)
  const pick = <T>(xs: readonly T[]): T => xs[rng.int(xs.length)]!
  const per = opts.perSignature ?? 4
  const out: DiffCase[] = []
  const seen = new Set<string>()
  const add = (c: DiffCase): void => {
    const key = caseName(c)
    if (seen.has(key)) return
    seen.add(key)
    out.push(c)
  }
  for (const [kind, to] of CASTS) {
    const values = kind === 'text' ? ["'13:05'", "'1:05:00.5 PM'", "'2024-03-31 23:59:59.9999999'", "'25:00'", "'allballs'", "'12:00+02'", "'nonsense'", "'24:00:00'", 'NULL'] : POOLS[kind]
    for (const v of values) {
      const sql = `SELECT CAST(${v} AS ${to}) AS v`
      if (ZONE_SENSITIVE.has(kind)) for (const zone of ZONES) add({ fn: `::${to}`, zone, sql })
      else add({ fn: `::${to}`, zone: 'UTC', sql })
    }
  }
  for (const [op, signatures] of Object.entries(OPERATOR_SIGNATURES)) {
    for (const kinds of signatures) {
      rng = new Rng(hash(`${opts.seed ?? 20_2024}:${kinds[0]} ${op} ${kinds[1]}`))
      const zoned = kinds.some((k) => ZONE_SENSITIVE.has(k))
      const calls = [kinds.map((k, i) => (i === 0 ? 'NULL' : pick(POOLS[k].filter((v) => v !== 'NULL'))))]
      for (let i = 0; i < per + 2; i++) calls.push(kinds.map((k) => pick(POOLS[k].filter((v) => v !== 'NULL'))))
      for (const [a, b] of calls) {
        const sql = `SELECT (${a}) ${op} (${b}) AS v`
        if (zoned) for (const zone of ZONES) add({ fn: op, zone, sql })
        else add({ fn: op, zone: pick(ZONES), sql })
      }
    }
  }
  for (const [fn, signatures] of Object.entries(SIGNATURES)) {
    for (const kinds of signatures) {
      rng = new Rng(hash(`${opts.seed ?? 20_2024}:${fn}(${kinds.join(',')})`))
      const calls: string[][] = []
      // One call with NULL in each position that can hold it (the others drawn), then drawn calls.
      kinds.forEach((_, pos) => {
        if (!(POOLS[kinds[pos]!] as readonly string[]).includes('NULL')) return
        calls.push(kinds.map((k, i) => (i === pos ? 'NULL' : pick(POOLS[k].filter((v) => v !== 'NULL')))))
      })
      for (let i = 0; i < per; i++) calls.push(kinds.map((k) => pick(POOLS[k].filter((v) => v !== 'NULL'))))
      const zoned = kinds.some((k) => ZONE_SENSITIVE.has(k))
      if (opts.aggregates.has(fn)) {
        // Four rows (three drawn, one of NULLs), two drawn rows, and one typed NULL row (an empty input).
        const draw = (): string[] => kinds.map((k) => pick(POOLS[k].filter((v) => v !== 'NULL')))
        add({ fn, zone: zoned ? pick(ZONES) : 'UTC', sql: aggregateStatement(fn, kinds, [draw(), kinds.map(() => 'NULL'), draw(), draw()]) })
        add({ fn, zone: 'UTC', sql: aggregateStatement(fn, kinds, [draw(), draw()]) })
        add({ fn, zone: 'UTC', sql: aggregateStatement(fn, kinds, [kinds.map((k) => `NULL::${castName(k)}`)]) })
        continue
      }
      for (const args of calls) {
        const sql = opts.tableFunctions.has(fn) ? tableStatement(fn, args) : `SELECT ${fn}(${args.join(', ')}) AS v`
        // A call over zoned values runs in every zone; others in one drawn zone (their answer must not depend on it).
        if (zoned) for (const zone of ZONES) add({ fn, zone, sql })
        else add({ fn, zone: pick(ZONES), sql })
      }
    }
  }
  return out
}

/** The type name a NULL of this kind is cast to so a VALUES column of NULLs has a type. */
function castName(k: Kind): string {
  const names: Partial<Record<Kind, string>> = { int: 'int', bigint: 'bigint', float: 'float8', numeric: 'numeric', text: 'text', timestamptz: 'timestamptz', timestamp: 'timestamp', date: 'date', interval: 'interval', bool: 'bool' }
  return names[k] ?? 'text'
}
