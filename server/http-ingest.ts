/**
 * The answer to one HTTP ingest batch (`POST /streams/<name>`, one JSON object per line): every line is
 * decoded as the stream will decode it, so the client learns at once which events were refused and why.
 *
 *   200 {"inserted": 2, "rejected": 1, "errors": [{"line": 3, "reason": "..."}]}   some or all accepted
 *   422 {"inserted": 0, "rejected": 3, "errors": [...]}                            every event refused
 *   400 {"error": "...", "sqlstate": "22P02", ...}                                 not JSON lines at all
 *
 * Refused events (200, 422) are appended all the same and become dead letters (sluice_dead_letters) with
 * the reason given here; a 400 body is not appended. `errors` lists the first MAX_REPORTED_ERRORS, with
 * 1-based line numbers in the body.
 */
import { SqlState, toSluiceError } from '../common/errors.ts'
import type { Engine } from '../executor/engine.ts'
import { keyTag, type IngestAnswer } from '../executor/ingest-keys.ts'

export const MAX_REPORTED_ERRORS = 10

/** An Idempotency-Key header value: 1 to 255 visible ASCII characters. */
export const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/

export interface BodyLine {
  /** 1-based line number in the body. */
  readonly line: number
  readonly record: Buffer
}

/** The body's non-blank lines, as bytes (a CR before the newline dropped); they are checked as UTF-8 later. */
export function splitLines(body: Buffer): BodyLine[] {
  const out: BodyLine[] = []
  let start = 0
  let line = 1
  while (start <= body.length) {
    let end = body.indexOf(10, start)
    if (end < 0) end = body.length
    let stop = end
    if (stop > start && body[stop - 1] === 13) stop--
    const record = body.subarray(start, stop)
    if (record.some((b) => b !== 32 && b !== 9)) out.push({ line, record })
    start = end + 1
    line++
  }
  return out
}

/** Whether a line could be meant as a JSON object: its first non-blank byte is `{`. */
const looksLikeObject = (record: Buffer): boolean => {
  for (const b of record) {
    if (b === 32 || b === 9) continue
    return b === 123
  }
  return false
}

/**
 * Decodes, appends and answers one batch. Never throws: failures are answers with a status. With an
 * Idempotency-Key, the key and the answer are committed with the batch's records (ingest-keys.ts), so a
 * crash cannot keep the one without the other.
 */
export async function ingestBatch(engine: Engine, stream: string, body: Buffer, idempotencyKey?: string): Promise<IngestAnswer> {
  const lines = splitLines(body)
  const records = lines.map((l) => l.record)
  try {
    const refused = engine.checkRecords(stream, records)
    const errors = refused.slice(0, MAX_REPORTED_ERRORS).map((r) => ({ line: lines[r.index]!.line, reason: r.reason }))
    const rejected = refused.length
    if (rejected > 0 && rejected === lines.length && !records.some(looksLikeObject)) {
      return {
        status: 400,
        body: { error: 'the body is not newline-delimited JSON: no line holds a JSON object', sqlstate: SqlState.invalidTextRepresentation, inserted: 0, rejected, errors },
      }
    }
    const inserted = lines.length - rejected
    const answer = { status: inserted === 0 && rejected > 0 ? 422 : 200, body: { inserted, rejected, errors } }
    await engine.insertJson(stream, records, idempotencyKey === undefined ? undefined : keyTag(idempotencyKey, answer))
    return { ...answer, appended: true }
  } catch (err) {
    const e = toSluiceError(err)
    return { status: e.sqlstate === SqlState.undefinedTable ? 404 : e.category === 'internal' ? 500 : 400, body: { error: e.message, sqlstate: e.sqlstate } }
  }
}
