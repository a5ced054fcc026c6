/**
 * Protocol fuzzing against a real `sluice serve` process: thousands of random and mutated frontend
 * messages (bad startup packets; Parse/Bind/Describe/Execute/Close/Sync/Query/CopyData frames with
 * truncated, huge or negative lengths, wrong type bytes, bodies cut short or padded, bit flips, random
 * bytes) over hundreds of raw sockets, while one healthy node-postgres session keeps querying a view.
 *
 * The oracle never decodes message bodies the way the server does. It knows which frames it left intact
 * and which mutations are malformed by construction (a body cut short or padded, for a message whose
 * decoding consumes exactly its body), and it walks the bytes it sent with the framing rule alone (type
 * byte, length word) to see where frames really start. From that it predicts, per connection: the
 * probe query at the end is answered; or a FATAL 08P01 ends the connection; or the stream ends inside a
 * frame, so the server waits until we hang up and then closes. A frame the oracle cannot classify (bit
 * flips, random bytes) may go either way, but never to a hang, a crash or a FATAL with another SQLSTATE.
 *
 * Deterministic by seed: FUZZ_SEED picks the run, FUZZ_CASE runs one connection of it; a failure prints
 * both with the bytes sent.
 */
import { connect, type Socket } from 'node:net'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import type pg from 'pg'
import { serialize } from 'pg-protocol'
import { eventually, removeDir, startSluice, type SluiceProcess } from './helpers/sluice-process.ts'

const SEED = process.env['FUZZ_SEED'] ? Number(process.env['FUZZ_SEED']) : 0x5eed2026
const ONLY_CASE = process.env['FUZZ_CASE'] ? Number(process.env['FUZZ_CASE']) : null
const CONNECTIONS = 640
const MIN_MESSAGES = 10_000
/** Connections in flight at once. */
const PARALLEL = 8
/** Longest a connection may take to be answered or closed before it counts as hung. */
const CASE_TIMEOUT_MS = 8_000
/** Quiet time after which a connection whose last frame is incomplete hangs up (the server waits for more). */
const QUIET_MS = 150

/** The server's limits: the startup packet's as in Postgres, messages after login `--max-message-bytes` (default 64 MiB). */
const MAX_MESSAGE_LENGTH = 64 * 1024 * 1024
const MAX_STARTUP_LENGTH = 10_000
const SSL_REQUEST = 80877103
const CANCEL_REQUEST = 80877102

/** Frontend message types after startup that PostgreSQL accepts at all (F, function call, Sluice may refuse). */
const KNOWN_TYPES = new Set([...'BCdcfDEHFPpQSX'].map((c) => c.charCodeAt(0)))
/** Types whose decoding consumes exactly the body, so any body cut short or padded is malformed. */
const STRICT_TYPES = new Set([...'QPBDECSHcf'].map((c) => c.charCodeAt(0)))
/** A type byte Sluice must reject outright (Password outside authentication included, as in Postgres). */
const REJECTED_TYPES = new Set([...'p'].map((c) => c.charCodeAt(0)))

// ---- deterministic randomness ---------------------------------------------------------------------

type Rng = () => number

/** mulberry32: small, fast, and the same on every machine. */
function rngOf(seed: number): Rng {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
const int = (r: Rng, lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1))
const pick = <T>(r: Rng, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!
const randomBytes = (r: Rng, n: number): Buffer => Buffer.from(Array.from({ length: n }, () => int(r, 0, 255)))

// ---- building a connection's bytes ----------------------------------------------------------------

/** SQL that reads only (the healthy session checks the view's rows, so nothing here may change them). */
const QUERIES = [
  'SELECT 1',
  'SELECT game, n FROM fuzz_totals ORDER BY game',
  'SELECT n FROM fuzz_totals WHERE game = $1',
  'SELECT $1::int + 1',
  'SELEC 1',
  'SELECT * FROM no_such_view',
  'SELECT 1/0',
  '',
  'SELECT 1; SELECT 2',
  'BEGIN',
  'ROLLBACK',
  'SHOW server_version',
  'LISTEN fuzz_channel',
  "NOTIFY fuzz_channel, 'x'",
  'SELECT count(*) FROM fuzz_events',
]

/** One frame as built, with what the oracle knows about it. */
interface Piece {
  bytes: Buffer
  /** 'intact': a well-formed message; 'malformed': broken by construction; 'unknown': may be either. */
  verdict: 'intact' | 'malformed' | 'unknown'
  what: string
}

function validMessage(r: Rng): Piece {
  const names = ['', 's1', 's2']
  const portals = ['', 'p1']
  const sql = pick(r, QUERIES)
  const params = (sql.match(/\$\d/g) ?? []).length
  const values = (): (string | null)[] => Array.from({ length: params || int(r, 0, 1) }, () => pick(r, ['1', 'chess', null, '42']))
  const kind = int(r, 0, 11)
  const intact = (bytes: Buffer, what: string): Piece => ({ bytes, verdict: 'intact', what })
  switch (kind) {
    case 0:
      return intact(serialize.query(sql), `Query ${JSON.stringify(sql)}`)
    case 1:
      return intact(serialize.parse({ name: pick(r, names), text: sql, types: params > 0 && r() < 0.5 ? [23] : [] }), `Parse ${JSON.stringify(sql)}`)
    case 2:
      return intact(serialize.bind({ portal: pick(r, portals), statement: pick(r, names), values: values() }), 'Bind')
    case 3:
      return intact(serialize.describe({ type: pick(r, ['S', 'P'] as const), name: pick(r, [...names, ...portals]) }), 'Describe')
    case 4:
      return intact(serialize.execute({ portal: pick(r, portals), rows: pick(r, [0, 1, 5]) }), 'Execute')
    case 5:
      return intact(serialize.close({ type: pick(r, ['S', 'P'] as const), name: pick(r, [...names, ...portals]) }), 'Close')
    case 6:
    case 7:
      return intact(serialize.sync(), 'Sync')
    case 8:
      return intact(serialize.flush(), 'Flush')
    case 9:
      return intact(serialize.copyData(randomBytes(r, int(r, 0, 40))), 'CopyData')
    case 10:
      return intact(serialize.copyDone(), 'CopyDone')
    default:
      return intact(serialize.copyFail('fuzz'), 'CopyFail')
  }
}

/** A well-formed extended-protocol round trip, so that mutations land amid real work. */
function pipeline(r: Rng): Piece[] {
  const sql = pick(r, QUERIES.slice(0, 4))
  const params = (sql.match(/\$\d/g) ?? []).length
  const values = Array.from({ length: params }, () => (sql.includes('int') ? String(int(r, 0, 99)) : pick(r, ['chess', 'go'])))
  return [
    { bytes: serialize.parse({ text: sql }), verdict: 'intact', what: `Parse ${JSON.stringify(sql)}` },
    { bytes: serialize.bind({ values }), verdict: 'intact', what: 'Bind' },
    { bytes: serialize.describe({ type: 'P' }), verdict: 'intact', what: 'Describe P' },
    { bytes: serialize.execute({ rows: 0 }), verdict: 'intact', what: 'Execute' },
    { bytes: serialize.sync(), verdict: 'intact', what: 'Sync' },
  ]
}

const withLength = (type: number, body: Buffer): Buffer => {
  const out = Buffer.alloc(5 + body.length)
  out[0] = type
  out.writeInt32BE(4 + body.length, 1)
  body.copy(out, 5)
  return out
}

/** Breaks or scrambles one frame; the verdict says what the oracle may rely on. */
function mutate(r: Rng, p: Piece): Piece {
  const b = Buffer.from(p.bytes)
  // Random bytes shorter than a header have no length word to break.
  if (b.length < 5) return mutateBits(r, p, b)
  const type = b[0]!
  const body = b.subarray(5)
  // Cutting or padding a body is malformed for certain only when the body decoded exactly before.
  const certain = p.verdict === 'intact' ? 'malformed' : 'unknown'
  switch (int(r, 0, 8)) {
    case 0: {
      // Length word larger than the bytes that follow: swallows the next frames, or leaves the stream mid-frame.
      b.writeInt32BE(b.readInt32BE(1) + int(r, 1, 64), 1)
      return { bytes: b, verdict: 'unknown', what: `${p.what} (length too long)` }
    }
    case 1: {
      const len = pick(r, [MAX_MESSAGE_LENGTH + 1, 0x7fffffff, -1, -0x80000000, 0, 1, 2, 3])
      b.writeInt32BE(len, 1)
      return { bytes: b, verdict: 'unknown', what: `${p.what} (length ${len})` }
    }
    case 2: {
      // Within the limit but far beyond what we send: the server must wait, not allocate and crash.
      b.writeInt32BE(int(r, 1 << 20, 60 << 20), 1)
      return { bytes: b, verdict: 'unknown', what: `${p.what} (huge length)` }
    }
    case 3: {
      let t = int(r, 0, 255)
      while (KNOWN_TYPES.has(t)) t = int(r, 0, 255)
      b[0] = t
      return { bytes: b, verdict: 'unknown', what: `${p.what} (type 0x${t.toString(16)})` }
    }
    case 4:
      if (STRICT_TYPES.has(type) && body.length > 0) {
        const cut = body.subarray(0, int(r, 0, body.length - 1))
        return { bytes: withLength(type, cut), verdict: certain, what: `${p.what} (body cut to ${cut.length} bytes)` }
      }
      return mutateBits(r, p, b)
    case 5:
      if (STRICT_TYPES.has(type)) {
        return { bytes: withLength(type, Buffer.concat([body, randomBytes(r, int(r, 1, 8))])), verdict: certain, what: `${p.what} (trailing bytes)` }
      }
      return mutateBits(r, p, b)
    case 6:
      return { bytes: withLength(type, randomBytes(r, int(r, 0, 64))), verdict: 'unknown', what: `${p.what} (random body)` }
    case 7:
      return { bytes: randomBytes(r, int(r, 1, 48)), verdict: 'unknown', what: 'random bytes' }
    default:
      return mutateBits(r, p, b)
  }
}

function mutateBits(r: Rng, p: Piece, b: Buffer): Piece {
  const flips = int(r, 1, 3)
  for (let i = 0; i < flips; i++) {
    const at = int(r, 0, b.length - 1)
    b[at] = b[at]! ^ (1 << int(r, 0, 7))
  }
  return { bytes: b, verdict: 'unknown', what: `${p.what} (${flips} bit flips)` }
}

/** What the connection starts with: a plain startup, or one of many broken ones. */
function startupPieces(r: Rng): { ssl: boolean; pieces: Piece[] } {
  const good = (): Buffer => serialize.startup({ user: 'fuzzer', database: 'sluice', application_name: 'fuzz' })
  const roll = r()
  if (roll < 0.75) return { ssl: r() < 0.1, pieces: [{ bytes: good(), verdict: 'intact', what: 'StartupMessage' }] }
  const b = good()
  switch (int(r, 0, 6)) {
    case 0:
      b.writeInt32BE(pick(r, [0, 4, 7, MAX_STARTUP_LENGTH + 1, 0x7fffffff, -8]), 0)
      return { ssl: false, pieces: [{ bytes: b, verdict: 'unknown', what: 'startup with a bad length' }] }
    case 1:
      b.writeInt32BE(pick(r, [0x00020000, 0x00040000, 0x12345678, 0]), 4)
      return { ssl: false, pieces: [{ bytes: b, verdict: 'unknown', what: 'startup with another protocol version' }] }
    case 2: {
      const noUser = serialize.startup({ database: 'sluice' })
      return { ssl: false, pieces: [{ bytes: noUser, verdict: 'unknown', what: 'startup without user' }] }
    }
    case 3: {
      // Parameter list without its terminating zero byte.
      const cut = b.subarray(0, b.length - 1)
      const fixed = Buffer.from(cut)
      fixed.writeInt32BE(fixed.length, 0)
      return { ssl: false, pieces: [{ bytes: fixed, verdict: 'unknown', what: 'startup without terminator' }] }
    }
    case 4: {
      const body = randomBytes(r, int(r, 4, 60))
      const out = Buffer.alloc(4 + body.length)
      out.writeInt32BE(out.length, 0)
      body.copy(out, 4)
      return { ssl: false, pieces: [{ bytes: out, verdict: 'unknown', what: 'startup with a random body' }] }
    }
    case 5: {
      const cancel = serialize.cancel(int(r, 1, 1_000_000), int(r, 0, 1_000_000))
      return { ssl: false, pieces: [{ bytes: cancel, verdict: 'unknown', what: 'CancelRequest for nobody' }] }
    }
    default:
      return { ssl: false, pieces: [mutateBits(r, { bytes: b, verdict: 'intact', what: 'StartupMessage' }, b)] }
  }
}

interface Case {
  readonly index: number
  /** Send SSLRequest first and wait for its one-byte answer. */
  readonly ssl: boolean
  readonly pieces: readonly Piece[]
  /** Messages counted towards the total (the probe and startup excluded). */
  readonly messages: number
  readonly probe: string
}

function buildCase(index: number): Case {
  const r = rngOf((SEED ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0)
  const { ssl, pieces } = startupPieces(r)
  const body: Piece[] = []
  const target = int(r, 10, 24)
  while (body.length < target) {
    if (r() < 0.2) body.push(...pipeline(r))
    else body.push(validMessage(r))
  }
  // Most connections get one to three broken frames; the rest stay valid and must stay usable.
  if (r() < 0.8) {
    const n = int(r, 1, 3)
    for (let i = 0; i < n; i++) {
      const at = int(r, 0, body.length - 1)
      body[at] = mutate(r, body[at]!)
    }
  }
  const probe = `fuzz-probe-${index}`
  const messages = body.length
  // Sync ends any failed extended-protocol run and ROLLBACK any transaction block a BEGIN left open (an
  // error inside it would fail the probe with 25P02, as in Postgres).
  body.push(
    { bytes: serialize.sync(), verdict: 'intact', what: 'Sync' },
    { bytes: serialize.query('ROLLBACK'), verdict: 'intact', what: 'Query "ROLLBACK"' },
    { bytes: serialize.query(`SELECT '${probe}' AS probe`), verdict: 'intact', what: 'probe Query' },
  )
  return { index, ssl, pieces: [...pieces, ...body], messages, probe }
}

// ---- the oracle -----------------------------------------------------------------------------------

/** How the stream of bytes sent must end, by the framing rule and the verdicts of intact frames. */
interface Expectation {
  /** Where the stream stops being trustworthy: everything ran; a malformed frame; a Terminate; a frame left open. */
  readonly stop: 'clean' | 'malformed' | 'terminate' | 'incomplete'
  /** Some frame before the stop is of unknown validity. */
  readonly unknownBefore: boolean
  readonly at: string
}

/** Walks the bytes as the server must frame them: startup packets first, then type byte + length word. */
function expectationOf(c: Case): Expectation {
  const bytes = Buffer.concat(c.pieces.map((p) => p.bytes))
  const byOffset = new Map<number, Piece>()
  let off = 0
  for (const p of c.pieces) {
    byOffset.set(off, p)
    off += p.bytes.length
  }
  let pos = 0
  let unknown = false
  // A frame is trusted as built when it starts where a piece starts and spans exactly that piece.
  const pieceAt = (start: number, end: number): Piece | null => {
    const p = byOffset.get(start)
    return p !== undefined && p.bytes.length === end - start ? p : null
  }
  // Startup phase.
  for (;;) {
    if (bytes.length - pos < 4) return { stop: 'incomplete', unknownBefore: unknown, at: 'startup header' }
    const len = bytes.readInt32BE(pos)
    if (len < 8 || len > MAX_STARTUP_LENGTH) return { stop: 'malformed', unknownBefore: unknown, at: `startup length ${len}` }
    if (pos + len > bytes.length) return { stop: 'incomplete', unknownBefore: unknown, at: 'startup packet' }
    const code = bytes.readInt32BE(pos + 4)
    const piece = pieceAt(pos, pos + len)
    pos += len
    if (code === SSL_REQUEST) continue
    if (code === CANCEL_REQUEST) return { stop: 'terminate', unknownBefore: unknown, at: 'CancelRequest' }
    // A scrambled startup packet may be refused (judged apart) or accepted; then the rest is walked as usual.
    if (piece === null || piece.verdict !== 'intact') unknown = true
    break
  }
  while (pos < bytes.length) {
    if (bytes.length - pos < 5) return { stop: 'incomplete', unknownBefore: unknown, at: `header at ${pos}` }
    const type = bytes[pos]!
    const len = bytes.readInt32BE(pos + 1)
    if (len < 4 || len > MAX_MESSAGE_LENGTH) return { stop: 'malformed', unknownBefore: unknown, at: `length ${len} at ${pos}` }
    if (pos + 1 + len > bytes.length) return { stop: 'incomplete', unknownBefore: unknown, at: `frame at ${pos} declares ${len}` }
    const piece = pieceAt(pos, pos + 1 + len)
    const what = piece?.what ?? `reframed bytes at ${pos}`
    if (!KNOWN_TYPES.has(type) || REJECTED_TYPES.has(type)) return { stop: 'malformed', unknownBefore: unknown, at: `type 0x${type.toString(16)} (${what})` }
    if (piece?.verdict === 'malformed') return { stop: 'malformed', unknownBefore: unknown, at: what }
    if (type === 0x58 && len === 4) return { stop: 'terminate', unknownBefore: unknown, at: what }
    if (piece === null || piece.verdict !== 'intact') unknown = true
    pos += 1 + len
  }
  return { stop: 'clean', unknownBefore: unknown, at: 'end' }
}

// ---- talking to the server ------------------------------------------------------------------------

interface BackendMessage {
  readonly type: string
  readonly body: Buffer
}

interface Observed {
  messages: BackendMessage[]
  errors: { severity: string; code: string; message: string }[]
  probeAnswered: boolean
  closedByServer: boolean
  weHungUp: boolean
  garbage: string | null
  timedOut: boolean
}

/** Backend message types a v3 server may send. */
const BACKEND_TYPES = new Set('RSKZTDCEINsnt1 23AcdGHWv'.replace(' ', '').split(''))

function errorFields(body: Buffer): Map<string, string> {
  const out = new Map<string, string>()
  let pos = 0
  while (pos < body.length && body[pos] !== 0) {
    const code = String.fromCharCode(body[pos]!)
    const end = body.indexOf(0, pos + 1)
    if (end < 0) break
    out.set(code, body.toString('utf8', pos + 1, end))
    pos = end + 1
  }
  return out
}

/** Sends a case's bytes over a fresh socket and records everything the server says until it is settled. */
async function runCase(port: number, c: Case, expectation: Expectation): Promise<Observed> {
  const obs: Observed = { messages: [], errors: [], probeAnswered: false, closedByServer: false, weHungUp: false, garbage: null, timedOut: false }
  const socket: Socket = connect({ host: '127.0.0.1', port })
  socket.setNoDelay(true)
  socket.on('error', () => {})
  let buffer = Buffer.alloc(0)
  let sslAnswered = !c.ssl
  let lastData = Date.now()
  let sawProbeRow = false
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
  let settle!: () => void
  const settled = new Promise<void>((resolve) => (settle = resolve))
  socket.on('data', (chunk: Buffer) => {
    lastData = Date.now()
    buffer = Buffer.concat([buffer, chunk])
    if (!sslAnswered) {
      if (buffer[0] !== 0x4e) obs.garbage = `answer to SSLRequest was 0x${buffer[0]!.toString(16)}`
      buffer = buffer.subarray(1)
      sslAnswered = true
      socket.write(Buffer.concat(c.pieces.map((p) => p.bytes)))
    }
    while (buffer.length >= 5) {
      const type = String.fromCharCode(buffer[0]!)
      const len = buffer.readInt32BE(1)
      if (!BACKEND_TYPES.has(type) || len < 4) {
        obs.garbage = `unparseable backend bytes: ${buffer.subarray(0, 32).toString('hex')}`
        buffer = Buffer.alloc(0)
        break
      }
      if (buffer.length < 1 + len) break
      const body = buffer.subarray(5, 1 + len)
      buffer = buffer.subarray(1 + len)
      obs.messages.push({ type, body })
      if (type === 'E') {
        const f = errorFields(body)
        obs.errors.push({ severity: f.get('V') ?? f.get('S') ?? '', code: f.get('C') ?? '', message: f.get('M') ?? '' })
      }
      if (type === 'D' && body.includes(Buffer.from(c.probe))) sawProbeRow = true
      if (type === 'Z' && sawProbeRow) {
        obs.probeAnswered = true
        settle()
      }
    }
  })
  // The server's FIN (it ended the connection), as opposed to the close that follows our own hang-up.
  socket.once('end', () => (obs.closedByServer = true))
  void closed.then(() => settle())
  if (c.ssl) {
    const req = Buffer.alloc(8)
    req.writeInt32BE(8, 0)
    req.writeInt32BE(SSL_REQUEST, 4)
    socket.write(req)
  } else {
    // Split the stream at random-ish points so frames also arrive in pieces.
    const all = Buffer.concat(c.pieces.map((p) => p.bytes))
    const cut = all.length > 8 ? (c.index * 7919) % all.length : all.length
    socket.write(all.subarray(0, cut))
    setImmediate(() => socket.write(all.subarray(cut)))
  }
  // The server cannot know a frame left open will never be finished: after a quiet spell we hang up.
  const quiet = setInterval(() => {
    if (expectation.stop === 'incomplete' && !obs.weHungUp && Date.now() - lastData > QUIET_MS) {
      obs.weHungUp = true
      socket.end()
    }
  }, 25)
  const timer = setTimeout(() => {
    obs.timedOut = true
    settle()
  }, CASE_TIMEOUT_MS)
  await settled
  clearInterval(quiet)
  clearTimeout(timer)
  if (obs.probeAnswered && !obs.timedOut) {
    // A usable connection ends politely: Terminate, and the server closes.
    socket.write(serialize.end())
    obs.weHungUp = true
    const t = setTimeout(() => (obs.timedOut = true), CASE_TIMEOUT_MS)
    await closed
    clearTimeout(t)
  } else if (!obs.closedByServer) {
    socket.destroy()
  }
  return obs
}

/** Problems with what the server did, given what it had to do; empty when all is well. */
function judge(c: Case, e: Expectation, o: Observed): string[] {
  const problems: string[] = []
  if (o.timedOut) problems.push(`hung: neither answered the probe nor closed within ${CASE_TIMEOUT_MS} ms`)
  if (o.garbage !== null) problems.push(o.garbage)
  const fatals = o.errors.filter((x) => x.severity === 'FATAL' || x.severity === 'PANIC')
  for (const x of o.errors) {
    if (!/^[0-9A-Z]{5}$/.test(x.code) || x.message === '') problems.push(`ErrorResponse without a proper SQLSTATE/message: ${JSON.stringify(x)}`)
  }
  const startupFailed = !o.messages.some((m) => m.type === 'R')
  const allowedFatal = startupFailed ? ['08P01', '0A000', '28000'] : ['08P01']
  for (const f of fatals) if (!allowedFatal.includes(f.code)) problems.push(`FATAL with SQLSTATE ${f.code} (${f.message}); expected ${allowedFatal.join('/')}`)
  if (fatals.length > 0 && !o.closedByServer && !o.timedOut) problems.push('FATAL error but the server did not close the connection')
  if (fatals.length > 0 && o.messages.at(-1)?.type !== 'E') problems.push(`server sent ${o.messages.at(-1)?.type} after a FATAL error`)
  if (o.closedByServer && fatals.length === 0 && !(e.stop === 'terminate' || e.stop === 'incomplete' || o.weHungUp)) problems.push('server closed the connection without an ErrorResponse')
  // A refused startup (scrambled packet, no user, another protocol version) ends there, whatever followed.
  if (startupFailed && e.unknownBefore) {
    if (o.probeAnswered) problems.push('probe answered without a completed startup')
    return problems
  }
  switch (e.stop) {
    case 'clean':
      if (!e.unknownBefore && !o.probeAnswered) problems.push('every frame was valid but the probe was not answered')
      if (!e.unknownBefore && fatals.length > 0) problems.push('FATAL error on a connection of valid frames')
      break
    case 'malformed':
      if (o.probeAnswered) problems.push(`probe answered after a malformed frame (${e.at})`)
      if (!e.unknownBefore && fatals.length === 0) problems.push(`no FATAL 08P01 for a malformed frame (${e.at})`)
      if (fatals.length === 0 && !o.closedByServer) problems.push(`connection not closed after a malformed frame (${e.at})`)
      break
    case 'terminate':
      if (o.probeAnswered) problems.push('probe answered after Terminate')
      if (!e.unknownBefore && fatals.length > 0) problems.push('FATAL error before a valid Terminate')
      break
    case 'incomplete':
      if (o.probeAnswered) problems.push(`probe answered although the stream ends inside a frame (${e.at})`)
      if (!e.unknownBefore && fatals.length > 0) problems.push('FATAL error for a stream that was valid up to an open frame')
      break
  }
  return problems
}

const hexDump = (b: Buffer): string => {
  const shown = b.subarray(0, 1200).toString('hex').replace(/(.{2})/g, '$1 ')
  return b.length > 1200 ? `${shown}... (${b.length} bytes)` : shown
}

// ---- the test -------------------------------------------------------------------------------------

describe('protocol fuzzing', () => {
  let sluice: SluiceProcess
  let healthy: pg.Client

  beforeAll(async () => {
    sluice = await startSluice()
    healthy = await sluice.client()
    await healthy.query(
      "CREATE STREAM fuzz_events (player_id BIGINT NOT NULL, game TEXT, ts TIMESTAMPTZ NOT NULL, WATERMARK FOR ts AS ts - INTERVAL '5 seconds') WITH (key = 'player_id')",
    )
    await healthy.query('CREATE MATERIALIZED VIEW fuzz_totals AS SELECT game, count(*) AS n FROM fuzz_events GROUP BY game')
    await healthy.query(
      "INSERT INTO fuzz_events VALUES (1, 'chess', '2026-01-01 10:00:00+00'), (2, 'chess', '2026-01-01 10:00:01+00'), (3, 'go', '2026-01-01 10:00:02+00'), (1, 'chess', '2026-01-01 10:00:03+00'), (4, 'go', '2026-01-01 10:00:04+00'), (5, 'poker', '2026-01-01 10:00:05+00')",
    )
  })
  afterAll(async () => {
    await healthy?.end().catch(() => {})
    await sluice?.stop()
    if (sluice) await removeDir(sluice.dataDir)
  })

  test(`${MIN_MESSAGES}+ random and mutated frontend messages: no crash, no hang, 08P01 and close for malformed frames (seed ${SEED})`, { timeout: 120_000 }, async () => {
    const expectedTotals = [
      { game: 'chess', n: '3' },
      { game: 'go', n: '2' },
      { game: 'poker', n: '1' },
    ]
    // The view must hold its rows before the fuzzing starts.
    await eventually(async () => JSON.stringify((await healthy.query('SELECT game, n FROM fuzz_totals ORDER BY game')).rows), (rows) => rows === JSON.stringify(expectedTotals), 10_000)

    // The healthy session queries throughout; every answer must be right and prompt.
    let fuzzing = true
    const healthyProblems: string[] = []
    let healthyQueries = 0
    let slowest = 0
    const healthyLoop = (async () => {
      let i = 0
      while (fuzzing) {
        const started = Date.now()
        try {
          if (i % 3 === 0) {
            const r = await healthy.query('SELECT 1 AS one')
            if (r.rows[0]?.one !== 1) healthyProblems.push(`SELECT 1 returned ${JSON.stringify(r.rows)}`)
          } else if (i % 3 === 1) {
            const r = await healthy.query('SELECT game, n FROM fuzz_totals ORDER BY game')
            if (JSON.stringify(r.rows) !== JSON.stringify(expectedTotals)) healthyProblems.push(`view returned ${JSON.stringify(r.rows)}`)
          } else {
            const r = await healthy.query('SELECT n FROM fuzz_totals WHERE game = $1', ['go'])
            if (JSON.stringify(r.rows) !== JSON.stringify([{ n: '2' }])) healthyProblems.push(`parameterized view query returned ${JSON.stringify(r.rows)}`)
          }
        } catch (err) {
          healthyProblems.push(`healthy query ${i} failed: ${String(err)}`)
        }
        slowest = Math.max(slowest, Date.now() - started)
        healthyQueries++
        i++
        await new Promise((r) => setTimeout(r, 10))
      }
    })()

    const indexes = ONLY_CASE !== null ? [ONLY_CASE] : Array.from({ length: CONNECTIONS }, (_, i) => i)
    const failures: string[] = []
    const tally = { messages: 0, malformedConnections: 0, fatalCloses: 0, usable: 0, cases: 0 }
    let next = 0
    const worker = async (): Promise<void> => {
      while (next < indexes.length && failures.length < 10) {
        const c = buildCase(indexes[next++]!)
        const e = expectationOf(c)
        const o = await runCase(sluice.port, c, e)
        tally.cases++
        tally.messages += c.messages
        if (e.stop === 'malformed') tally.malformedConnections++
        if (o.errors.some((x) => x.severity === 'FATAL')) tally.fatalCloses++
        if (o.probeAnswered) tally.usable++
        const problems = judge(c, e, o)
        if (sluice.child.exitCode !== null || sluice.child.signalCode !== null) problems.push(`server process died (${sluice.child.exitCode ?? sluice.child.signalCode})`)
        if (problems.length > 0) {
          failures.push(
            [
              `FUZZ_SEED=${SEED} FUZZ_CASE=${c.index}: ${problems.join('; ')}`,
              `  expected: ${JSON.stringify(e)}`,
              `  sent: ${c.pieces.map((p) => `${p.what}${p.verdict === 'intact' ? '' : ` [${p.verdict}]`}`).join(', ')}`,
              `  server said: ${o.messages.map((m) => (m.type === 'E' ? `E(${[...errorFields(m.body)].map(([k, v]) => `${k}=${v}`).join(' ')})` : m.type)).join(' ')}`,
              `  bytes: ${hexDump(Buffer.concat(c.pieces.map((p) => p.bytes)))}`,
            ].join('\n'),
          )
        }
      }
    }
    const started = Date.now()
    await Promise.all(Array.from({ length: PARALLEL }, worker))
    const elapsed = Date.now() - started
    // And after the storm, the healthy session still answers.
    fuzzing = false
    await healthyLoop
    const after = await healthy.query('SELECT game, n FROM fuzz_totals ORDER BY game')
    const fresh = await sluice.client()
    const freshOne = await fresh.query('SELECT 1 AS one')
    await fresh.end()

    console.log(`fuzz seed ${SEED}: ${tally.cases} connections, ${tally.messages} messages in ${elapsed} ms; ${tally.malformedConnections} with a malformed frame, ${tally.fatalCloses} closed with FATAL, ${tally.usable} usable to the end; healthy session: ${healthyQueries} queries, slowest ${slowest} ms`)
    if (failures.length > 0) console.error(failures.join('\n\n'))
    expect(failures, failures.join('\n\n')).toEqual([])
    expect(sluice.child.exitCode).toBe(null)
    expect(healthyProblems).toEqual([])
    expect(after.rows).toEqual(expectedTotals)
    expect(freshOne.rows).toEqual([{ one: 1 }])
    if (ONLY_CASE === null) {
      expect(tally.messages).toBeGreaterThanOrEqual(MIN_MESSAGES)
      expect(tally.malformedConnections).toBeGreaterThan(50)
      expect(tally.usable).toBeGreaterThan(50)
      expect(healthyQueries).toBeGreaterThan(20)
      expect(slowest).toBeLessThan(5_000)
    }
  })
})
