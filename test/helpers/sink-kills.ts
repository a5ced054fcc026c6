/**
 * For the sink tests: events inserted into a real `sluice serve` while it is killed with SIGKILL at random
 * moments and started again on the same data directory. An INSERT cut off by a kill is not sent again (its
 * outcome is unknown), so the stream never holds an event twice; whatever it holds is what the sinks owe.
 */
import { createServer, connect, type Server, type Socket } from 'node:net'
import type pg from 'pg'
import { from as copyFrom } from 'pg-copy-streams'
import { pipeline } from 'node:stream/promises'
import { Readable } from 'node:stream'
import { startSluice, type SluiceProcess } from './sluice-process.ts'

export interface KillRun {
  sluice: SluiceProcess
  client: pg.Client
  /** When each kill happened, in ms after the start (for failure messages). */
  readonly kills: number[]
}

export interface KillRunOptions {
  readonly dataDir: string
  readonly total: number
  readonly kills: number
  readonly args?: readonly string[]
  readonly perInsert?: number
  /** The stream the events go to, by COPY FROM STDIN. */
  readonly stream: string
  /** COPY text lines (tab-separated, each ending in a newline) for events [from, to). */
  lines(from: number, to: number): string
}

/** COPY stream FROM STDIN of the given text (the fastest way in). */
export async function copyInto(client: pg.Client, stream: string, text: string): Promise<void> {
  await pipeline(Readable.from([text]), client.query(copyFrom(`COPY ${stream} FROM STDIN`)))
}

/** Inserts `total` events, killing Sluice `kills` times at random moments of the run; returns the live server. */
export async function insertWithKills(first: SluiceProcess, opts: KillRunOptions): Promise<KillRun> {
  const per = opts.perInsert ?? 5000
  let sluice = first
  let client = await sluice.client()
  client.on('error', () => undefined)
  const started = Date.now()
  const kills: number[] = []
  // Kill points: random insert counts spread over the run, each followed by a random delay.
  const points = Array.from({ length: opts.kills }, () => Math.floor(Math.random() * opts.total * 0.9)).sort((a, b) => a - b)
  let killing: Promise<void> | null = null
  for (let from = 0; from < opts.total; from += per) {
    while (points.length > 0 && points[0]! <= from && killing === null) {
      points.shift()
      const victim = sluice
      killing = new Promise<void>((r) => setTimeout(r, Math.random() * 400)).then(async () => {
        kills.push(Date.now() - started)
        await victim.kill('SIGKILL')
      })
    }
    try {
      await copyInto(client, opts.stream, opts.lines(from, Math.min(from + per, opts.total)))
    } catch {
      // Killed under it: the batch is given up, and the server started again.
      await killing
      killing = null
      await client.end().catch(() => undefined)
      sluice = await startSluice({ dataDir: opts.dataDir, checkpointMs: 100, args: opts.args })
      client = await sluice.client()
      client.on('error', () => undefined)
    }
  }
  if (killing !== null) {
    // The last kill came after the last insert: start again once more.
    await killing
    await client.end().catch(() => undefined)
    sluice = await startSluice({ dataDir: opts.dataDir, checkpointMs: 100, args: opts.args })
    client = await sluice.client()
  }
  return { sluice, client, kills }
}

/** A TCP proxy on a free port to `port` that can refuse service for a while (the database "down"). */
export class FlakyProxy {
  private server: Server | null = null
  private readonly sockets = new Set<Socket>()
  port = 0

  constructor(private readonly targetPort: number) {}

  async start(): Promise<void> {
    const server = createServer((inbound) => {
      const outbound = connect(this.targetPort, '127.0.0.1')
      this.sockets.add(inbound).add(outbound)
      const drop = () => {
        inbound.destroy()
        outbound.destroy()
        this.sockets.delete(inbound)
        this.sockets.delete(outbound)
      }
      inbound.on('error', drop).on('close', drop)
      outbound.on('error', drop).on('close', drop)
      inbound.pipe(outbound).pipe(inbound)
    })
    await new Promise<void>((r) => server.listen(this.port, '127.0.0.1', r))
    this.port = (server.address() as { port: number }).port
    this.server = server
  }

  /** Cuts every connection and stops listening (connections are refused). */
  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy()
    this.sockets.clear()
    const server = this.server
    this.server = null
    if (server !== null) await new Promise<void>((r) => server.close(() => r()))
  }
}

/** Rows as sorted JSON lines, for comparing a table with a view whatever the column types' JS forms. */
export function canonical(rows: readonly Record<string, unknown>[], columns: readonly string[]): string[] {
  return rows.map((r) => JSON.stringify(columns.map((c) => (r[c] === null || r[c] === undefined ? null : String(r[c]))))).sort()
}
