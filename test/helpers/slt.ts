/**
 * A small runner for sqllogictest-style golden files (`test/sql/*.slt`), executed against a real Sluice
 * server over node-postgres with every value read back in Postgres' text format.
 *
 *   statement ok                 the next statement must succeed
 *   statement error <SQLSTATE> [message part]
 *   query <column letters> [rowsort]
 *   SELECT ...
 *   ----
 *   expected rows, one per line, columns separated by a tab, NULL for null
 *
 * Records are separated by blank lines; lines starting with `#` are comments.
 */
import pg from 'pg'

export interface SltRecord {
  readonly line: number
  readonly kind: 'statement_ok' | 'statement_error' | 'query'
  readonly sql: string
  readonly errorCode?: string
  readonly errorText?: string
  readonly rowsort?: boolean
  readonly expected?: string[]
}

export function parseSlt(text: string): SltRecord[] {
  const lines = text.split('\n')
  const out: SltRecord[] = []
  let i = 0
  while (i < lines.length) {
    const line = lines[i]!.trim()
    if (line === '' || line.startsWith('#')) {
      i++
      continue
    }
    const start = i + 1
    const header = line.split(/\s+/)
    i++
    const sqlLines: string[] = []
    while (i < lines.length && lines[i]!.trim() !== '' && lines[i]!.trim() !== '----') sqlLines.push(lines[i++]!)
    const sql = sqlLines.join('\n')
    if (header[0] === 'statement' && header[1] === 'ok') out.push({ line: start, kind: 'statement_ok', sql })
    else if (header[0] === 'statement' && header[1] === 'error') out.push({ line: start, kind: 'statement_error', sql, errorCode: header[2], errorText: header.slice(3).join(' ') || undefined })
    else if (header[0] === 'query') {
      const expected: string[] = []
      if (lines[i]?.trim() === '----') {
        i++
        while (i < lines.length && lines[i]!.trim() !== '') expected.push(lines[i++]!.replace(/\s+$/, ''))
      }
      out.push({ line: start, kind: 'query', sql, rowsort: header.includes('rowsort'), expected })
    } else throw new Error(`line ${start}: unknown record "${line}"`)
  }
  return out
}

const asText = { getTypeParser: () => (v: string) => v } as unknown as pg.CustomTypesConfig

export async function runSlt(client: pg.Client, file: string, text: string): Promise<string[]> {
  const failures: string[] = []
  for (const r of parseSlt(text)) {
    const where = `${file}:${r.line}`
    try {
      const res = await client.query({ text: r.sql, types: asText, rowMode: 'array' })
      if (r.kind === 'statement_error') failures.push(`${where}: expected error ${r.errorCode}, but the statement succeeded`)
      if (r.kind === 'query') {
        let rows = (res.rows as (string | null)[][]).map((row) => row.map((v) => (v === null ? 'NULL' : v)).join('\t'))
        let expected = r.expected ?? []
        if (r.rowsort) {
          rows = [...rows].sort()
          expected = [...expected].sort()
        }
        if (JSON.stringify(rows) !== JSON.stringify(expected)) failures.push(`${where}: rows differ\n  expected:\n    ${expected.join('\n    ')}\n  actual:\n    ${rows.join('\n    ')}`)
      }
    } catch (err) {
      const e = err as pg.DatabaseError
      if (r.kind !== 'statement_error') failures.push(`${where}: ${e.code ?? ''} ${e.message}`)
      else if (e.code !== r.errorCode) failures.push(`${where}: expected error ${r.errorCode}, got ${e.code}: ${e.message}`)
      else if (r.errorText && !e.message.includes(r.errorText)) failures.push(`${where}: error message "${e.message}" lacks "${r.errorText}"`)
    }
  }
  return failures
}
