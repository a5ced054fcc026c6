/**
 * libpg-query `TypeName` -> `TypeRef`. PostgreSQL's grammar already canonicalizes the SQL-standard spellings
 * (`double precision` -> `pg_catalog.float8`, `character varying(20)` -> `pg_catalog.varchar(20)`), so this
 * drops the `pg_catalog` qualifier and unpacks modifiers; interval field qualifiers (`INTERVAL '30' MINUTE`)
 * come back separately because they belong to the literal, not to the type.
 */
import type * as pg from 'libpg-query'
import { unsupported, type Span } from '../../common/errors.ts'
import type { TypeRef } from '../ast.ts'
import { isPunct, isWord } from '../lexer.ts'
import { at, closeBrackets, stringsOf, tokenIndexAt, type TranslateContext } from './context.ts'

/** Interval field masks (PostgreSQL's INTERVAL_MASK bits) and the qualifier each stands for. */
const INTERVAL_FIELDS: ReadonlyMap<number, string> = new Map([
  [1 << 2, 'year'],
  [1 << 1, 'month'],
  [1 << 3, 'day'],
  [1 << 10, 'hour'],
  [1 << 11, 'minute'],
  [1 << 12, 'second'],
  [(1 << 2) | (1 << 1), 'year to month'],
  [(1 << 3) | (1 << 10), 'day to hour'],
  [(1 << 3) | (1 << 10) | (1 << 11), 'day to minute'],
  [(1 << 3) | (1 << 10) | (1 << 11) | (1 << 12), 'day to second'],
  [(1 << 10) | (1 << 11), 'hour to minute'],
  [(1 << 10) | (1 << 11) | (1 << 12), 'hour to second'],
  [(1 << 11) | (1 << 12), 'minute to second'],
])
/** INTERVAL_FULL_RANGE: no field qualifier. */
const INTERVAL_FULL_RANGE = 0x7fff

export interface TranslatedType {
  readonly type: TypeRef
  /** `minute`, `day to second`: the interval qualifier, when one was written. */
  readonly intervalUnit?: string
}

/** Translates a type name; interval qualifiers are returned apart (see `TranslatedType`). */
export function translateType(t: pg.TypeName, ctx: TranslateContext): TranslatedType {
  const start = at(ctx, t.location) ?? ctx.fallback.start
  const span: Span = { start, end: typeEnd(ctx, start) }
  if (t.setof === true) throw unsupported('SETOF types are not supported', span)
  if (t.pct_type === true) throw unsupported('%TYPE references are not supported', span)
  const names = stringsOf(t.names)
  if (names[0] === 'pg_catalog' && names.length > 1) names.shift()
  const name = names.join('.')
  const typmods = (t.typmods ?? []).map((m) => typmodValue(m, span))
  const isArray = (t.arrayBounds ?? []).length > 0
  if (name !== 'interval' || typmods.length === 0) return { type: { kind: 'type_ref', name, modifiers: typmods, isArray, span } }
  const [mask, precision] = typmods as [number, number | undefined]
  const unit = mask === INTERVAL_FULL_RANGE ? undefined : INTERVAL_FIELDS.get(mask)
  if (mask !== INTERVAL_FULL_RANGE && unit === undefined) throw unsupported('this interval qualifier is not supported', span)
  const type: TypeRef = { kind: 'type_ref', name, modifiers: precision === undefined ? [] : [precision], isArray, span }
  return unit === undefined ? { type } : { type, intervalUnit: unit }
}

/** A type used where an interval qualifier cannot be kept (a cast rather than a literal). */
export function translatePlainType(t: pg.TypeName, ctx: TranslateContext): TypeRef {
  const { type, intervalUnit } = translateType(t, ctx)
  if (intervalUnit !== undefined) throw unsupported('interval field qualifiers are only supported on interval literals', type.span)
  return type
}

function typmodValue(node: pg.Node, span: Span): number {
  if ('A_Const' in node && node.A_Const.ival !== undefined) return node.A_Const.ival.ival ?? 0
  throw unsupported('type modifiers must be integer constants', span)
}

/** Words that continue a multi-word type name: `double precision`, `timestamp with time zone`, `int array`. */
const TYPE_CONTINUATIONS = new Set(['precision', 'varying', 'with', 'without', 'time', 'zone', 'array', 'varchar', 'character', 'char'])

/**
 * Where a type written at `start` ends: its name (possibly qualified or several words), modifiers in
 * parentheses and array brackets. libpg-query does not say, and error carets only need a good guess.
 */
export function typeEnd(ctx: TranslateContext, start: number): number {
  const tokens = ctx.tokens
  let i = tokenIndexAt(tokens, start)
  if (i >= tokens.length) return start + 1
  let end = tokens[i]!.end
  i++
  for (; i < tokens.length; i++) {
    const t = tokens[i]!
    const next = tokens[i + 1]
    if (isPunct(t, '.') && next !== undefined && (next.kind === 'word' || next.kind === 'quoted_ident')) {
      end = next.end
      i++
    } else if (t.kind === 'word' && TYPE_CONTINUATIONS.has(t.value) && !(isWord(t, 'with') && !isWord(next, 'time'))) {
      end = t.end
    } else if (isPunct(t, '(') || isPunct(t, '[')) {
      end = closeBrackets(tokens, t.start, t.end)
      i = tokenIndexAt(tokens, end) - 1
    } else {
      break
    }
  }
  return end
}
