/**
 * SHOW, SET and RESET, as clients send them: `SHOW TRANSACTION ISOLATION LEVEL` (pgjdbc),
 * `SET extra_float_digits = 3` (pgjdbc, psycopg), `SET TIME ZONE 'UTC'`, `SET LOCAL search_path TO a, b`,
 * `SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL ...` (pgjdbc's setTransactionIsolation).
 * PostgreSQL's grammar already maps the special forms onto variable names (`TIME ZONE` -> `timezone`).
 */
import type * as pg from 'libpg-query'
import { unsupported, type Span } from '../../common/errors.ts'
import type * as ast from '../ast.ts'
import { need } from './context.ts'

export function translateShow(s: pg.VariableShowStmt, span: Span): ast.Show {
  return { kind: 'show', name: (s.name ?? 'all').toLowerCase(), span }
}

/** The name of SetVariable for `SET TRANSACTION SNAPSHOT`. */
export const TRANSACTION_SNAPSHOT = 'transaction snapshot'

export function translateSet(s: pg.VariableSetStmt, span: Span): ast.SetVariable {
  const local = s.is_local === true
  const name = (s.name ?? '').toLowerCase()
  switch (s.kind ?? 'VAR_SET_VALUE') {
    case 'VAR_SET_VALUE':
      return { kind: 'set', name, value: (s.args ?? []).map((a) => settingValue(a, span)).join(', '), local, span }
    case 'VAR_SET_DEFAULT':
    case 'VAR_RESET':
      return { kind: 'set', name, value: null, local, span }
    case 'VAR_RESET_ALL':
      return { kind: 'set', name: 'all', value: null, local, span }
    case 'VAR_SET_MULTI':
      return transactionCharacteristics(s, local, span)
    case 'VAR_SET_CURRENT':
      throw unsupported('SET ... FROM CURRENT is not supported', span)
  }
}

/** A setting's value as text, the way PostgreSQL would show it back. */
function settingValue(node: pg.Node, span: Span): string {
  if ('A_Const' in node) {
    const c = node.A_Const
    if (c.sval !== undefined) return c.sval.sval ?? ''
    if (c.ival !== undefined) return String(c.ival.ival ?? 0)
    if (c.fval !== undefined) return c.fval.fval ?? '0'
    if (c.boolval !== undefined) return c.boolval.boolval === true ? 'on' : 'off'
  }
  throw unsupported('this form of setting value is not supported', span)
}

/**
 * `SET TRANSACTION ISOLATION LEVEL x` sets `transaction_isolation`; `SET SESSION CHARACTERISTICS AS
 * TRANSACTION ...` sets the `default_` variant, exactly as PostgreSQL does.
 */
function transactionCharacteristics(s: pg.VariableSetStmt, local: boolean, span: Span): ast.SetVariable {
  // `SET TRANSACTION SNAPSHOT 'id'` (pg_dump -j's workers): no setting, the name has a space so that no
  // SET of a setting can be taken for it (server/transaction-snapshot.ts).
  if (s.name === 'TRANSACTION SNAPSHOT' && s.args?.length === 1) return { kind: 'set', name: TRANSACTION_SNAPSHOT, value: settingValue(s.args[0]!, span), local, span }
  const prefix = s.name === 'SESSION CHARACTERISTICS' ? 'default_' : s.name === 'TRANSACTION' ? '' : undefined
  const items = s.args ?? []
  if (prefix === undefined || items.length === 0 || !items.every((i) => 'DefElem' in i)) {
    throw unsupported('this form of SET TRANSACTION is not supported', span)
  }
  // `SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY` (pg_dump): one setting per characteristic.
  const settings = items.map((i) => {
    const d = (i as { DefElem: pg.DefElem }).DefElem
    const arg = need(d.arg, 'DefElem.arg')
    const flag = d.defname === 'transaction_read_only' || d.defname === 'transaction_deferrable'
    const value = flag && 'A_Const' in arg ? ((arg.A_Const.ival?.ival ?? 0) !== 0 ? 'on' : 'off') : settingValue(arg, span)
    return { name: `${prefix}${d.defname ?? ''}`, value }
  })
  const [first, ...more] = settings
  return { kind: 'set', name: first!.name, value: first!.value, local, ...(more.length > 0 ? { more } : {}), span }
}

/** BEGIN's modes as lower-case text: `isolation level serializable`, `read only`, `deferrable`. */
export function transactionModes(options: readonly pg.Node[] | undefined, span: Span): string[] {
  return (options ?? []).map((o) => {
    if (!('DefElem' in o)) throw unsupported('unexpected transaction mode', span)
    const arg = o.DefElem.arg
    const on = arg !== undefined && 'A_Const' in arg && (arg.A_Const.ival?.ival ?? 0) !== 0
    switch (o.DefElem.defname) {
      case 'transaction_isolation':
        return `isolation level ${settingValue(need(arg, 'DefElem.arg'), span).toLowerCase()}`
      case 'transaction_read_only':
        return on ? 'read only' : 'read write'
      case 'transaction_deferrable':
        return on ? 'deferrable' : 'not deferrable'
      default:
        throw unsupported(`transaction mode ${o.DefElem.defname ?? ''} is not supported`, span)
    }
  })
}
