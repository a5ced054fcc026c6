/**
 * SHOW: Sluice's own listings (streams, views, queries) and settings, one at a time or ALL, with the
 * result columns PostgreSQL's clients expect.
 */
import { SqlState, planError } from '../common/errors.ts'
import { Types, type Row } from '../common/types.ts'
import type { Engine } from '../executor/engine.ts'
import { systemTableRows } from '../executor/system-table-rows.ts'
import { type ResultColumn, column } from './backend.ts'
import { type Settings, canonicalName } from './settings.ts'

export function showColumns(name: string): ResultColumn[] {
  switch (name) {
    case 'streams':
      return [column('name', Types.text), column('partitions', Types.int4), column('columns', Types.text)]
    case 'materialized views':
    case 'views':
      return [column('name', Types.text), column('source', Types.text), column('status', Types.text)]
    case 'queries':
      return [column('name', Types.text), column('status', Types.text), column('events_in', Types.int8), column('lag', Types.int8), column('last_error', Types.text)]
    case 'all':
      return [column('name', Types.text), column('setting', Types.text), column('description', Types.text)]
    default:
      // PostgreSQL names the column by the setting's own spelling: SHOW timezone gives "TimeZone".
      return [column(canonicalName(name.toLowerCase()), Types.text)]
  }
}

export async function showRows(engine: Engine, settings: Settings, name: string, revealSecrets: boolean): Promise<Row[]> {
  switch (name) {
    case 'streams':
      return engine.catalog.streams().map((s) => [s.name, s.partitions, s.columns.map((c) => c.name).join(', ')])
    case 'materialized views':
    case 'views':
      return engine.catalog.userViews().map((v) => [v.name, v.plan.source.name, engine.query(v.name)?.status ?? 'unknown'])
    case 'queries':
      return (await systemTableRows(engine, 'sluice_queries', revealSecrets)).map((r) => [r[0]!, r[2]!, r[3]!, r[5]!, r[9] ?? null])
    case 'all':
      return [...settings.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, v, ''])
    default: {
      const v = settings.get(name.toLowerCase())
      if (v === undefined) {
        if (name === 'server_version') return [['15.0']]
        throw planError(SqlState.undefinedObject, `unrecognized configuration parameter "${name}"`)
      }
      return [[v]]
    }
  }
}
