/**
 * `pg_get_viewdef`: a materialized view's query as its CREATE statement wrote it. As in PostgreSQL, a
 * relation the session's search_path does not reach is written with its schema (`public.game_events`):
 * pg_dump sets search_path to '' and recreates the view from this text, which must then find its relations.
 */
import { parseStatements } from '../parser/index.ts'

/**
 * The query of `CREATE MATERIALIZED VIEW name [WITH (...)] AS query`, with ` ` before and `;` after as
 * PostgreSQL's pg_get_viewdef prints it; names in `qualify` that the query writes without a schema get
 * `public.` in front.
 */
export function viewDefinition(sql: string, qualify: ReadonlySet<string>): string {
  let parsed
  try {
    parsed = parseStatements(sql)[0]?.statement
  } catch {
    parsed = undefined
  }
  if (parsed === undefined || parsed.kind !== 'create_view') return ` ${plainBody(sql)};`
  const start = sql.indexOf(parsed.queryText)
  if (start < 0) return ` ${parsed.queryText};`
  const inserts = qualify.size === 0 ? [] : unqualifiedNames(parsed.query, qualify).filter((o) => o >= start && o < start + parsed.queryText.length)
  let body = parsed.queryText
  for (const offset of inserts.sort((a, b) => b - a)) body = `${body.slice(0, offset - start)}public.${body.slice(offset - start)}`
  return ` ${body};`
}

/** Start offsets of the FROM relations named without a schema that are in `names`. */
function unqualifiedNames(node: unknown, names: ReadonlySet<string>): number[] {
  const out: number[] = []
  const walk = (n: unknown): void => {
    if (n === null || typeof n !== 'object') return
    if (Array.isArray(n)) {
      n.forEach(walk)
      return
    }
    const o = n as { kind?: string; name?: { parts?: readonly string[]; span?: { start: number } } }
    if (o.kind === 'table_ref' && o.name?.parts?.length === 1 && names.has(o.name.parts[0]!) && o.name.span !== undefined) out.push(o.name.span.start)
    for (const v of Object.values(n)) walk(v)
  }
  walk(node)
  // A CTE read twice is inlined twice, with the same source offsets.
  return [...new Set(out)]
}

function plainBody(sql: string): string {
  const m = /\bAS\s+([\s\S]*)$/i.exec(sql)
  return (m ? m[1]! : sql).trim().replace(/;\s*$/, '')
}
