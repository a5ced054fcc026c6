import { parseStatements } from '../parser/index.ts'

/**
 * Parsed statements by SQL text: drivers send the same statement text over and over (node-postgres parses
 * an unnamed statement for every query). ASTs are never changed after parsing, so they are shared. Small.
 */
const PARSE_CACHE_ENTRIES = 512
const PARSE_CACHE_MAX_SQL = 8192
const parsedBySql = new Map<string, ReturnType<typeof parseStatements>>()
export function parseCached(sql: string): ReturnType<typeof parseStatements> {
  if (sql.length > PARSE_CACHE_MAX_SQL) return parseStatements(sql)
  const hit = parsedBySql.get(sql)
  if (hit !== undefined) {
    // Most recently used last, so the oldest is dropped first.
    parsedBySql.delete(sql)
    parsedBySql.set(sql, hit)
    return hit
  }
  const parsed = parseStatements(sql)
  parsedBySql.set(sql, parsed)
  if (parsedBySql.size > PARSE_CACHE_ENTRIES) parsedBySql.delete(parsedBySql.keys().next().value!)
  return parsed
}
