/**
 * libpg-query statement nodes -> `Statement`, for everything PostgreSQL's grammar parses: queries, INSERT,
 * DROP of views, SHOW / SET / RESET, transaction control and the utility commands clients send on their
 * own (`DISCARD ALL`, `DEALLOCATE`). Streaming statements never get here: `dispatch.ts` routes them to
 * our own parsers first.
 */
import type * as pg from 'libpg-query'
import { unsupported, type Span } from '../../common/errors.ts'
import type * as ast from '../ast.ts'
import { at, dottedNameSpan, need, spanOf, stringsOf, tagOf, type TranslateContext } from './context.ts'
import { translateQuery } from './select.ts'
import { transactionModes, translateSet, translateShow } from './settings.ts'

export function translateStatement(node: pg.Node, ctx: TranslateContext, span: Span): ast.Statement {
  if ('SelectStmt' in node) return { kind: 'query', query: translateQuery(node.SelectStmt, ctx), span }
  if ('InsertStmt' in node) return insert(node.InsertStmt, ctx, span)
  if ('DropStmt' in node) return drop(node.DropStmt, ctx, span)
  if ('VariableShowStmt' in node) return translateShow(node.VariableShowStmt, span)
  if ('VariableSetStmt' in node) return translateSet(node.VariableSetStmt, span)
  if ('TransactionStmt' in node) return transaction(node.TransactionStmt, span)
  if ('DiscardStmt' in node) return { kind: 'utility', tag: `DISCARD ${(node.DiscardStmt.target ?? 'DISCARD_ALL').replace('DISCARD_', '')}`, span }
  if ('DeallocateStmt' in node) return deallocate(node.DeallocateStmt, span)
  if ('CheckPointStmt' in node) return { kind: 'utility', tag: 'CHECKPOINT', span }
  // pg_dump locks what it dumps; a stream only grows and a view is read as of one moment, so it is a no-op.
  if ('LockStmt' in node) return { kind: 'utility', tag: 'LOCK TABLE', span }
  if ('ListenStmt' in node) return { kind: 'listen', channel: need(node.ListenStmt.conditionname, 'ListenStmt.conditionname'), span }
  if ('UnlistenStmt' in node) return { kind: 'unlisten', channel: node.UnlistenStmt.conditionname ?? null, span }
  if ('NotifyStmt' in node) return { kind: 'notify', channel: need(node.NotifyStmt.conditionname, 'NotifyStmt.conditionname'), payload: node.NotifyStmt.payload ?? '', span }
  if ('ViewStmt' in node) {
    throw unsupported('plain views are not supported', span, 'Use CREATE MATERIALIZED VIEW: Sluice keeps every view up to date as events arrive.')
  }
  if ('CreateStmt' in node) throw unsupported('CREATE TABLE is not supported', span, 'Use CREATE STREAM to declare a stream of events.')
  if ('CreateTableAsStmt' in node) throw unsupported('CREATE TABLE AS is not supported', span, 'Use CREATE MATERIALIZED VIEW ... AS SELECT.')
  throw unsupported(`${commandName(tagOf(node))} is not supported`, span)
}

/** `UpdateStmt` -> `UPDATE`, `CreateFunctionStmt` -> `CREATE FUNCTION`: a readable name for the command. */
function commandName(tag: string): string {
  return tag
    .replace(/Stmt$/, '')
    .replace(/([a-z])([A-Z])/g, '$1 $2')
    .toUpperCase()
}

function insert(i: pg.InsertStmt, ctx: TranslateContext, span: Span): ast.Insert {
  if (i.withClause !== undefined) throw unsupported('WITH queries (common table expressions) are not supported', span)
  if (i.onConflictClause !== undefined) throw unsupported('ON CONFLICT is not supported: streams are append-only', span)
  if (i.returningClause !== undefined) throw unsupported('INSERT ... RETURNING is not supported', span)
  if (i.override !== undefined && i.override !== 'OVERRIDING_NOT_SET') throw unsupported('OVERRIDING is not supported', span)
  const relation = need(i.relation, 'InsertStmt.relation')
  const parts = [relation.catalogname, relation.schemaname, relation.relname].filter((p): p is string => p !== undefined)
  const table: ast.QualifiedName = { parts, span: dottedNameSpan(ctx, at(ctx, relation.location), parts.length) }
  if (relation.alias !== undefined) throw unsupported('aliases on INSERT targets are not supported', table.span)
  const columns = i.cols === undefined ? undefined : i.cols.map((c) => columnName(c, ctx))
  const source = i.selectStmt
  if (source === undefined) throw unsupported('INSERT ... DEFAULT VALUES is not supported', span)
  if (!('SelectStmt' in source)) throw unsupported('this INSERT source is not supported', span)
  return { kind: 'insert', table, ...(columns === undefined ? {} : { columns }), source: translateQuery(source.SelectStmt, ctx), span }
}

function columnName(node: pg.Node, ctx: TranslateContext): string {
  if (!('ResTarget' in node) || node.ResTarget.name === undefined) throw unsupported('unexpected INSERT column', ctx.fallback)
  if (node.ResTarget.indirection !== undefined) throw unsupported('assigning to subfields or array elements is not supported', spanOf(ctx, at(ctx, node.ResTarget.location)))
  return node.ResTarget.name
}

const DROPPABLE: Partial<Record<NonNullable<pg.DropStmt['removeType']>, ast.Drop['objectKind']>> = {
  OBJECT_MATVIEW: 'view',
  OBJECT_VIEW: 'view',
}

/** DROP MATERIALIZED VIEW / DROP VIEW; DROP STREAM, SINK and TRIGGER are ours (see `streaming/drop.ts`). */
function drop(d: pg.DropStmt, ctx: TranslateContext, span: Span): ast.Drop {
  const objectKind = DROPPABLE[d.removeType ?? 'OBJECT_TABLE']
  if (objectKind === undefined) {
    const what = (d.removeType ?? 'OBJECT_TABLE').replace('OBJECT_', '').toLowerCase()
    const hint = what === 'table' ? 'Streams are dropped with DROP STREAM.' : undefined
    throw unsupported(`DROP ${what.toUpperCase()} is not supported`, span, hint)
  }
  if (d.concurrent === true) throw unsupported('DROP ... CONCURRENTLY is not supported', span)
  const names = (d.objects ?? []).map((o): ast.QualifiedName => {
    const parts = 'List' in o ? stringsOf(o.List.items) : stringsOf([o])
    return { parts, span: nameSpan(ctx, parts, span) }
  })
  return { kind: 'drop', objectKind, names, ifExists: d.missing_ok === true, cascade: d.behavior === 'DROP_CASCADE', span }
}

/** libpg-query gives DROP's names no location; find each as a token sequence in the statement. */
function nameSpan(ctx: TranslateContext, parts: readonly string[], within: Span): Span {
  const tokens = ctx.tokens.filter((t) => t.start >= within.start && t.end <= within.end)
  for (let i = 0; i < tokens.length; i++) {
    if (parts.every((p, k) => tokens[i + 2 * k]?.value === p && (k === 0 || tokens[i + 2 * k - 1]?.value === '.'))) {
      return { start: tokens[i]!.start, end: tokens[i + 2 * parts.length - 2]!.end }
    }
  }
  return within
}

function transaction(t: pg.TransactionStmt, span: Span): ast.Transaction {
  if (t.chain === true) throw unsupported('AND CHAIN is not supported', span)
  switch (t.kind) {
    case 'TRANS_STMT_BEGIN':
    case 'TRANS_STMT_START': {
      const modes = transactionModes(t.options, span)
      return { kind: 'transaction', op: 'begin', ...(modes.length === 0 ? {} : { modes }), span }
    }
    case 'TRANS_STMT_COMMIT':
      return { kind: 'transaction', op: 'commit', span }
    case 'TRANS_STMT_ROLLBACK':
      return { kind: 'transaction', op: 'rollback', span }
    case 'TRANS_STMT_SAVEPOINT':
      return { kind: 'transaction', op: 'savepoint', savepoint: t.savepoint_name ?? '', span }
    case 'TRANS_STMT_RELEASE':
      return { kind: 'transaction', op: 'release', savepoint: t.savepoint_name ?? '', span }
    case 'TRANS_STMT_ROLLBACK_TO':
      return { kind: 'transaction', op: 'rollback_to', savepoint: t.savepoint_name ?? '', span }
    default:
      throw unsupported(`${(t.kind ?? '').replace('TRANS_STMT_', '').replace(/_/g, ' ')} is not supported`, span)
  }
}

function deallocate(d: pg.DeallocateStmt, span: Span): ast.Utility {
  if (d.isall === true || d.name === undefined) return { kind: 'utility', tag: 'DEALLOCATE ALL', span }
  return { kind: 'utility', tag: 'DEALLOCATE', target: d.name, span }
}
