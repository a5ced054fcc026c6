/**
 * DDL: CREATE, ALTER and DROP of streams, materialized views, sinks and triggers. The engine deploys them
 * into the running loop; what already exists (IF NOT EXISTS) or does not (IF EXISTS) is skipped with a
 * NOTICE, as in PostgreSQL.
 */
import { SqlState, assertNever, type SqlStateCode } from '../common/errors.ts'
import type * as ast from '../parser/ast.ts'
import type { Engine } from '../executor/engine.ts'
import type { Outcome } from './backend.ts'

/** The statements that change the catalog. */
export type DdlStatement = Extract<ast.Statement, { kind: 'create_stream' | 'create_view' | 'create_sink' | 'create_trigger' | 'alter_stream' | 'alter_trigger' | 'alter_view' | 'drop' }>

/** What DDL needs of its session. */
export interface DdlHost {
  readonly engine: Engine
  notice(message: string, sqlstate: SqlStateCode): void
  /** SET sluice.progress_notices = on. */
  progressNotices(): boolean
  /** Waits for a view to catch up with its stream, with NOTICEs of how far it is. */
  waitForCatchUp(view: string): Promise<void>
}

export async function runDdl(s: DdlStatement, text: string, host: DdlHost): Promise<Outcome> {
  switch (s.kind) {
    case 'create_stream': {
      const r = await host.engine.createStream(s, text)
      if (r === 'exists') host.notice(`relation "${s.name.parts.at(-1)}" already exists, skipping`, SqlState.duplicateTable)
      return { kind: 'command', tag: 'CREATE STREAM' }
    }
    case 'create_view': {
      const r = await host.engine.createView(s, text)
      if (r === 'exists') host.notice(`relation "${s.name.parts.at(-1)}" already exists, skipping`, SqlState.duplicateTable)
      // SET sluice.progress_notices = on: the CREATE waits for the catch-up, telling how far it is.
      if (r === 'created' && host.progressNotices()) await host.waitForCatchUp(s.name.parts.at(-1) ?? '')
      return { kind: 'command', tag: 'CREATE MATERIALIZED VIEW' }
    }
    case 'create_sink': {
      const r = await host.engine.createSink(s, text)
      if (r === 'exists') host.notice(`sink "${s.name.parts.at(-1)}" already exists, skipping`, SqlState.duplicateObject)
      return { kind: 'command', tag: 'CREATE SINK' }
    }
    case 'alter_stream':
      if (s.action === 'reset_watermark') await host.engine.resetWatermark(s.name.parts.at(-1) ?? '', s.resetTo, s.name.span)
      else await host.engine.closeStream(s.name.parts.at(-1) ?? '', s.name.span)
      return { kind: 'command', tag: 'ALTER STREAM' }
    case 'create_trigger': {
      const r = await host.engine.createTrigger(s, text)
      if (r === 'exists') host.notice(`trigger "${s.name.parts.at(-1)}" already exists, skipping`, SqlState.duplicateObject)
      return { kind: 'command', tag: 'CREATE TRIGGER' }
    }
    case 'alter_trigger':
      await host.engine.alterTrigger(s, text)
      return { kind: 'command', tag: 'ALTER TRIGGER' }
    case 'alter_view':
      await host.engine.alterView(s, text)
      return { kind: 'command', tag: 'ALTER MATERIALIZED VIEW' }
    case 'drop':
      return drop(s, host)
    default:
      return assertNever(s, 'DDL statement')
  }
}

async function drop(s: ast.Drop, host: DdlHost): Promise<Outcome> {
  if (s.objectKind === 'trigger') {
    for (const n of s.names) {
      const name = n.parts[n.parts.length - 1]!
      if (!(await host.engine.dropTrigger(name, s.ifExists, n.span))) host.notice(`trigger "${name}" does not exist, skipping`, SqlState.successfulCompletion)
    }
    return { kind: 'command', tag: 'DROP TRIGGER' }
  }
  if (s.objectKind === 'sink') {
    for (const n of s.names) {
      const name = n.parts[n.parts.length - 1]!
      if (!(await host.engine.dropSink(name, s.ifExists, n.span))) host.notice(`sink "${name}" does not exist, skipping`, SqlState.successfulCompletion)
    }
    return { kind: 'command', tag: 'DROP SINK' }
  }
  for (const n of s.names) {
    const name = n.parts[n.parts.length - 1]!
    const dropped = await host.engine.drop(s.objectKind, name, s.ifExists, s.cascade, n.span)
    if (!dropped) host.notice(`${s.objectKind === 'stream' ? 'stream' : 'materialized view'} "${name}" does not exist, skipping`, SqlState.successfulCompletion)
  }
  return { kind: 'command', tag: s.objectKind === 'stream' ? 'DROP STREAM' : 'DROP MATERIALIZED VIEW' }
}
