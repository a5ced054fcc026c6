/**
 * Runs the relational pull plans of planner/pull-plan.ts against the running engine: fetches every base
 * relation the plan reads once (a view's state, a stream's retained events, a system table, or a catalog
 * table generated from the catalog by planner/pg-catalog.ts), then evaluates the plan in memory. The rows
 * fetched count against the query's memory budget, and the reads yield like the rest of the query.
 */
import type { Row, Value } from '../common/types.ts'
import type { EvalContext } from '../expr/runtime.ts'
import type { PullSource, RelNode } from '../planner/pull-plan.ts'
import { CATALOG_TABLES, catalogLookup, catalogRows } from '../planner/pg-catalog.ts'
import { ROUTINE_TABLES, routineRows } from '../planner/pg-catalog-routines.ts'
import type { Engine } from './engine.ts'
import { type NodeStats, relationKey, runRelational } from './pull.ts'
import { QueryGuard, rowBytes } from './query-budget.ts'
import { systemTableRows } from './system-table-rows.ts'

type RelationalSource = Extract<PullSource, { kind: 'relational' }>

const STAT_ACTIVITY = 'pg_catalog.pg_stat_activity'

export async function runRelationalQuery(
  engine: Engine,
  source: RelationalSource,
  params: readonly Value[],
  ctx: EvalContext,
  guard: QueryGuard = QueryGuard.unlimited(),
  stats?: Map<RelNode, NodeStats>,
): Promise<Row[]> {
  const data = new Map<string, Row[]>()
  for (const r of source.relations) {
    const key = relationKey(r)
    if (data.has(key)) continue
    data.set(key, await fetchRelation(engine, r.source, r.name, ctx, guard))
  }
  return runRelational(source.root, data, params, ctx, catalogLookup(engine.catalog, ctx.settings?.get('search_path')), guard, stats)
}

async function fetchRelation(engine: Engine, source: RelationalSource['relations'][number]['source'], name: string, ctx: EvalContext, guard: QueryGuard): Promise<Row[]> {
  switch (source) {
    case 'catalog': {
      // The sessions of the server, when the session's context knows them (server/sessions.ts).
      const activity = (ctx as { activity?: () => Record<string, Value>[] }).activity
      if (name === STAT_ACTIVITY && activity !== undefined) return charged(activity().map((a) => CATALOG_TABLES[STAT_ACTIVITY]!.map((c) => a[c.name] ?? null)), guard)
      // Built-in functions and operators, from the planner's resolution rules rather than the catalog.
      if (ROUTINE_TABLES.has(name)) return charged(routineRows(name), guard)
      return charged(catalogRows(name, engine.catalog, { user: ctx.user, database: ctx.database, ...(ctx.settings ? { settings: ctx.settings.entries() } : {}) }), guard)
    }
    case 'system':
      return charged(await systemTableRows(engine, name, ctx.revealSecrets === true), guard)
    case 'view': {
      await engine.waitCaughtUp(name)
      return collect(engine.viewRows(name), guard)
    }
    case 'stream':
      // A transaction's snapshot, when the session has one (server/transaction-snapshot.ts).
      return collect(engine.streamRows(name, (ctx as { streamEnds?: (stream: string) => readonly number[] | undefined }).streamEnds?.(name)), guard)
  }
}

function charged(rows: Row[], guard: QueryGuard): Row[] {
  for (const r of rows) guard.charge(rowBytes(r))
  return rows
}

async function collect(rows: AsyncIterable<Row>, guard: QueryGuard): Promise<Row[]> {
  const out: Row[] = []
  for await (const r of rows) {
    guard.charge(rowBytes(r))
    out.push(r)
    if (guard.tick()) await guard.pause()
  }
  return out
}
