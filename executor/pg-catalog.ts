/**
 * Runs the relational pull plans of planner/pull-plan.ts against the running engine: fetches every base
 * relation the plan reads once (a view's state, a stream's retained events, a system table, or a catalog
 * table generated from the catalog by planner/pg-catalog.ts), then evaluates the plan in memory.
 */
import type { Row, Value } from '../common/types.ts'
import type { EvalContext } from '../planner/runtime.ts'
import type { PullSource } from '../planner/pull-plan.ts'
import { catalogLookup, catalogRows } from '../planner/pg-catalog.ts'
import type { Engine } from './engine.ts'
import { relationKey, runRelational } from './pull.ts'
import { systemTableRows } from './system-tables.ts'

type RelationalSource = Extract<PullSource, { kind: 'relational' }>

export async function runRelationalQuery(engine: Engine, source: RelationalSource, params: readonly Value[], ctx: EvalContext): Promise<Row[]> {
  const data = new Map<string, Row[]>()
  for (const r of source.relations) {
    const key = relationKey(r)
    if (data.has(key)) continue
    data.set(key, await fetchRelation(engine, r.source, r.name, ctx))
  }
  return runRelational(source.root, data, params, ctx, catalogLookup(engine.catalog, ctx.settings?.get('search_path')))
}

async function fetchRelation(engine: Engine, source: RelationalSource['relations'][number]['source'], name: string, ctx: EvalContext): Promise<Row[]> {
  switch (source) {
    case 'catalog':
      return catalogRows(name, engine.catalog, { user: ctx.user, database: ctx.database, ...(ctx.settings ? { settings: ctx.settings.entries() } : {}) })
    case 'system':
      return systemTableRows(engine, name)
    case 'view': {
      await engine.waitCaughtUp(name)
      const out: Row[] = []
      for await (const r of engine.viewRows(name)) out.push(r)
      return out
    }
    case 'stream': {
      const out: Row[] = []
      for await (const r of engine.streamRows(name)) out.push(r)
      return out
    }
  }
}
