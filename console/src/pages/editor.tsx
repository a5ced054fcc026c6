/**
 * The SQL editor: runs any statement (several, separated by semicolons) as the logged-in user; shows each
 * result as a table, an error with its position marked in the text, and EXPLAIN as a graph of operators.
 * Deploying, altering and dropping views, triggers and sinks is running their statements here; the server
 * refuses them to a read-only user (42501), which the page shows like any other error.
 */
import { useRef, useState } from 'preact/hooks'
import { type ApiError, type PlanNode, type RunAnswer, explain, runSql } from '../api.ts'
import type { Me } from '../api.ts'
import { ErrorBox, Table } from '../table.tsx'
import { PlanGraph } from './plan-graph.tsx'

const EXAMPLE = `-- Ctrl+Enter runs; EXPLAIN draws the plan of one statement.
SELECT name, status, events_per_second, last_error FROM sluice_queries;`

export function EditorPage(props: { me: Me; initial?: string }) {
  const [sql, setSql] = useState(props.initial ?? localStorage.getItem('sluice.sql') ?? EXAMPLE)
  const [answer, setAnswer] = useState<RunAnswer | null>(null)
  const [plans, setPlans] = useState<PlanNode[] | null>(null)
  const [error, setError] = useState<ApiError | null>(null)
  const [busy, setBusy] = useState(false)
  const area = useRef<HTMLTextAreaElement>(null)

  const showError = (e: ApiError | undefined) => {
    setError(e ?? null)
    if (e?.position !== undefined && area.current) {
      const start = utf16Index(sql, e.position - 1)
      area.current.focus()
      area.current.setSelectionRange(start, tokenEnd(sql, start))
    }
  }
  const run = async () => {
    setBusy(true)
    localStorage.setItem('sluice.sql', sql)
    try {
      const a = await runSql(sql)
      setAnswer(a)
      setPlans(null)
      showError(a.error)
    } finally {
      setBusy(false)
    }
  }
  const draw = async () => {
    setBusy(true)
    try {
      const a = await explain(sql.trim().replace(/;\s*$/, ''))
      setPlans(a.plans ?? null)
      setAnswer(null)
      showError(a.error)
    } finally {
      setBusy(false)
    }
  }
  return (
    <div class="editor">
      <textarea
        ref={area}
        id="sql"
        spellcheck={false}
        value={sql}
        onInput={(e) => setSql(e.currentTarget.value)}
        onKeyDown={(e) => {
          if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
            e.preventDefault()
            void run()
          }
        }}
      />
      <div class="toolbar">
        <button id="run" onClick={() => void run()} disabled={busy}>Run</button>
        <button id="explain" onClick={() => void draw()} disabled={busy}>Explain</button>
        {props.me.role === 'readonly' && <span class="muted">Read-only: statements that change something are refused.</span>}
      </div>
      {error && (
        <div id="sql-error">
          <ErrorBox error={error} />
          {error.position !== undefined && <Marked sql={sql} position={error.position} />}
        </div>
      )}
      {answer?.results.map((r) => (
        <div class="result">
          <div class="tag">{r.tag}{r.truncated ? ' (first rows only)' : ''}</div>
          {r.columns && <Table columns={r.columns} rows={r.rows} />}
        </div>
      ))}
      {plans && plans.map((p) => <PlanGraph root={p} />)}
    </div>
  )
}

/** The statement's text with the error's place marked, as psql's `LINE n: ... ^` does. */
function Marked(props: { sql: string; position: number }) {
  const start = utf16Index(props.sql, props.position - 1)
  const end = tokenEnd(props.sql, start)
  return (
    <pre class="marked">
      {props.sql.slice(0, start)}
      <mark id="error-mark">{props.sql.slice(start, end) || ' '}</mark>
      {props.sql.slice(end)}
    </pre>
  )
}

/** The UTF-16 index of the `chars`-th character (the server counts characters, JavaScript UTF-16 units). */
function utf16Index(s: string, chars: number): number {
  let i = 0
  for (let n = 0; n < chars && i < s.length; n++) i += (s.codePointAt(i) ?? 0) > 0xffff ? 2 : 1
  return i
}

/** The end of the word or quoted token starting at `start`, for marking it. */
function tokenEnd(s: string, start: number): number {
  const m = /^("[^"]*"?|'[^']*'?|[\w$.]+|\S)/.exec(s.slice(start))
  return start + (m?.[0].length ?? 0)
}
