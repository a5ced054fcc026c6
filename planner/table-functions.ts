/**
 * Set-returning functions of pull queries, in FROM (`generate_series(1, 3) g`, `pg_get_keywords()`,
 * `pg_options_to_table(reloptions)`) and in a select list (`unnest(indkey), generate_subscripts(indkey, 1)`,
 * run in lockstep as PostgreSQL 10+ does). The planner asks for the result columns of a call; the executor
 * asks for its rows. Pure functions over values: what psql, pg_dump, SQLAlchemy and pgjdbc send.
 */
import { readFileSync } from 'node:fs'
import { type TimeZone, UTC_ZONE } from '../common/time-zone.ts'
import { timestampSeries } from '../expr/time-functions.ts'
import { regexpMatches, regexpSplit } from '../expr/regexp-functions.ts'
import { join } from 'node:path'
import { SluiceError, SqlState } from '../common/errors.ts'
import { Types, isInterval, type Row, type SqlType, type Value } from '../common/types.ts'
import { T } from './pg-catalog.ts'
import { jsonbObjectKeys } from '../expr/json-functions.ts'

export type TableFunction = 'generate_series' | 'unnest' | 'generate_subscripts' | 'pg_get_keywords' | 'pg_options_to_table' | '_pg_expandarray' | 'jsonb_object_keys' | 'regexp_matches' | 'regexp_split_to_table'

export const TABLE_FUNCTIONS: ReadonlySet<string> = new Set<TableFunction>(['generate_series', 'unnest', 'generate_subscripts', 'pg_get_keywords', 'pg_options_to_table', '_pg_expandarray', 'jsonb_object_keys', 'regexp_matches', 'regexp_split_to_table'])

export const isTableFunction = (name: string): name is TableFunction => TABLE_FUNCTIONS.has(name)

export interface ResultColumn {
  readonly name: string
  readonly type: SqlType
}

/** `pg_get_keywords()`: `(word text, catcode "char", barelabel bool, catdesc text, baredesc text)`. */
export const KEYWORD_COLUMNS: readonly ResultColumn[] = [
  { name: 'word', type: Types.text },
  { name: 'catcode', type: T.char },
  { name: 'barelabel', type: Types.bool },
  { name: 'catdesc', type: Types.text },
  { name: 'baredesc', type: Types.text },
]

/** `pg_options_to_table(text[])`: each `name=value` of a reloptions-like array as a row. */
export const OPTION_COLUMNS: readonly ResultColumn[] = [
  { name: 'option_name', type: Types.text },
  { name: 'option_value', type: Types.text },
]

const CATEGORY: Record<string, string> = {
  U: 'unreserved',
  C: 'unreserved (cannot be function or type name)',
  T: 'reserved (can be function or type name)',
  R: 'reserved',
}

/**
 * PostgreSQL 15's keyword list (the SQL Key Words appendix, as `pg_get_keywords()` lists it): one line per
 * word with its category code and whether it can be a bare column label. Read once, on first use.
 */
let keywords: Row[] | null = null
function keywordRows(): Row[] {
  if (keywords !== null) return keywords
  const text = readFileSync(join(import.meta.dirname, 'pg-keywords.tsv'), 'utf8')
  keywords = text
    .split('\n')
    .filter((l) => l !== '')
    .map((line) => {
      const [word, code, bare] = line.split('\t') as [string, string, string]
      const barelabel = bare === 't'
      return [word, code, barelabel, CATEGORY[code] ?? 'unreserved', barelabel ? 'can be bare label' : 'requires AS']
    })
  return keywords
}

let needQuotes: Set<string> | null = null
/** Keywords that an identifier must be quoted to be (every category but unreserved), as quote_ident decides. */
export function isQuotedKeyword(word: string): boolean {
  needQuotes ??= new Set(keywordRows().filter((r) => r[1] !== 'U').map((r) => r[0] as string))
  return needQuotes.has(word)
}

/**
 * The rows of one call; every argument already evaluated. `onRow` is called for each row of a series as it
 * is made, so that a query's budget (executor/query-budget.ts) stops `generate_series(1, 1e10)` early.
 */
export function tableFunctionRows(fn: TableFunction, args: readonly Value[], onRow?: () => void, zone?: TimeZone): Row[] {
  switch (fn) {
    case 'unnest': {
      const arr = args[0]
      return Array.isArray(arr) ? arr.map((v) => [v ?? null]) : []
    }
    case '_pg_expandarray': {
      const arr = args[0]
      return Array.isArray(arr) ? arr.map((v, i) => [[v ?? null, i + 1]]) : []
    }
    case 'generate_series':
      if (isInterval(args[2])) return temporalSeries(args, zone, onRow)
      return series(args, onRow).map((i) => [i])
    case 'generate_subscripts': {
      // One dimension: the subscripts 1..n of dimension 1; any other dimension has none (NULL, no rows).
      const [arr, dim, reverse] = args
      if (!Array.isArray(arr) || dim !== 1 || arr.length === 0) return []
      const out: Row[] = arr.map((_, i) => [i + 1])
      return reverse === true ? out.reverse() : out
    }
    case 'pg_get_keywords':
      return keywordRows()
    case 'pg_options_to_table': {
      const arr = args[0]
      if (!Array.isArray(arr)) return []
      return arr.filter((o): o is string => typeof o === 'string').map((o) => {
        const eq = o.indexOf('=')
        return eq < 0 ? [o, null] : [o.slice(0, eq), o.slice(eq + 1)]
      })
    }
    case 'jsonb_object_keys':
      return typeof args[0] === 'string' ? jsonbObjectKeys(args[0]).map((k) => [k]) : []
    case 'regexp_matches':
    case 'regexp_split_to_table': {
      const [text, pattern, flags] = args
      if (typeof text !== 'string' || typeof pattern !== 'string' || flags === null) return []
      const f = typeof flags === 'string' ? flags : undefined
      if (fn === 'regexp_matches') return regexpMatches(text, pattern, f, onRow).map((m) => [m])
      return (regexpSplit(text, pattern, f, 'regexp_split_to_table', onRow) ?? []).map((t) => [t])
    }
  }
}

function series(args: readonly Value[], onRow?: () => void): number[] {
  const [from, to, step = 1] = args as (number | null)[]
  if (from === null || to === null || step === null || from === undefined || to === undefined) return []
  if (step === 0) throw new SluiceError('execution', SqlState.invalidParameterValue, 'step size cannot equal zero')
  const out: number[] = []
  for (let i = from; step > 0 ? i <= to : i >= to; i += step) {
    onRow?.()
    out.push(i)
  }
  return out
}

/** generate_series over timestamps; a fourth argument `true` (added by the planner) marks timestamptz. */
function temporalSeries(args: readonly Value[], zone: TimeZone | undefined, onRow?: () => void): Row[] {
  const [from, to, step, withZone] = args
  if (typeof from !== 'number' || typeof to !== 'number' || !isInterval(step)) return []
  const out: Row[] = []
  for (const ts of timestampSeries(from, to, step, withZone === true ? (zone ?? UTC_ZONE) : undefined)) {
    onRow?.()
    out.push([ts])
  }
  return out
}
