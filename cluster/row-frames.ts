/**
 * How view rows travel between the nodes of a cluster (the internal read endpoint, server/http-cluster.ts,
 * and its client, pull.ts): a stream of frames, each a kind byte, a 4-byte length and a body. A row's body
 * is the state store's row codec (executor/state/codec.ts), so numeric, timestamps, intervals, jsonb,
 * bytea and NULL arrive as they left. The stream ends with an end frame; a stream cut short (the peer died)
 * is an error, never a shorter answer.
 */
import { SluiceError, SqlState, type SqlStateCode } from '../common/errors.ts'
import type { Row } from '../common/types.ts'
import { rowCodec } from '../executor/state/codec.ts'

const ROW = 0x52 // 'R'
const ERROR = 0x45 // 'E'
const END = 0x5a // 'Z'
const HEADER = 5

function frame(kind: number, body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(HEADER + body.length)
  out[0] = kind
  out.writeUInt32BE(body.length, 1)
  body.copy(out, HEADER)
  return out
}

export const rowFrame = (row: Row): Buffer => frame(ROW, rowCodec.encode(row as Row & unknown[]))
export const endFrame = (): Buffer => frame(END, Buffer.alloc(0))
export function errorFrame(err: unknown): Buffer {
  const e = err instanceof SluiceError ? { sqlstate: err.sqlstate, message: err.message } : { sqlstate: SqlState.internalError, message: (err as Error)?.message ?? String(err) }
  return frame(ERROR, Buffer.from(JSON.stringify(e), 'utf8'))
}

/** Rows from a stream of frames (chunks as they arrive); throws the peer's error, or on a cut-short stream. */
export async function* readRowFrames(chunks: AsyncIterable<Uint8Array>, peer: string): AsyncGenerator<Row> {
  let buf = Buffer.alloc(0)
  for await (const chunk of chunks) {
    buf = buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([buf, chunk])
    let at = 0
    while (buf.length - at >= HEADER) {
      const len = buf.readUInt32BE(at + 1)
      if (buf.length - at < HEADER + len) break
      const kind = buf[at]!
      const body = buf.subarray(at + HEADER, at + HEADER + len)
      at += HEADER + len
      if (kind === ROW) yield rowCodec.decode(body) as Row
      else if (kind === END) return
      else if (kind === ERROR) {
        const e = JSON.parse(body.toString('utf8')) as { sqlstate: SqlStateCode; message: string }
        throw new SluiceError('execution', e.sqlstate, `node ${peer}: ${e.message}`)
      } else throw new SluiceError('execution', SqlState.protocolViolation, `node ${peer} sent a frame of unknown kind ${kind}`)
    }
    buf = buf.subarray(at)
  }
  throw new SluiceError('execution', SqlState.connectionFailure, `node ${peer} ended its rows before the end (it may have stopped); the answer would be partial`)
}
