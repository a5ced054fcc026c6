/**
 * The COPY sub-protocol of a connection: COPY FROM STDIN reads CopyData until CopyDone or CopyFail into a
 * sink (server/copy-from.ts), COPY TO STDOUT sends a source's chunks as CopyData (server/copy-to.ts),
 * waiting for the client to read while the source is live.
 */
import { SluiceError, SqlState } from '../common/errors.ts'
import type { Outcome } from './backend.ts'
import { type FrontendMessage, protocolViolation } from './wire/reader.ts'
import * as W from './wire/writer.ts'

/** What COPY needs of its connection. */
export interface CopyHost {
  send(message: Buffer): void
  flush(): void
  nextMessage(): Promise<FrontendMessage | null>
  endSocket(): void
  /** Writes queued output once it is large, and waits while the client is not reading. */
  flushIfLarge(): Promise<void>
  /** Writes queued output now, and waits while the client is not reading (or until `stopped`). */
  flushAndDrain(stopped?: AbortSignal): Promise<void>
  /** The socket is closed or being closed: nothing more goes out. */
  gone(): boolean
  /** Ends the connection if `err` says the client fell behind a live read; returns otherwise. */
  hangUpIfBehind(err: unknown): void
}

export class CopySubprotocol {
  /** Copy-in sink in use, aborted if the socket goes away. */
  private copySink: { abort(reason: string): void } | null = null

  constructor(private readonly host: CopyHost) {}

  /** The connection closed: a COPY FROM STDIN in progress keeps nothing. */
  abort(reason: string): void {
    this.copySink?.abort(reason)
    this.copySink = null
  }

  async copyIn(outcome: Extract<Outcome, { kind: 'copy_in' }>): Promise<void> {
    const sink = outcome.sink
    this.copySink = sink
    this.host.send(W.copyInResponse(outcome.format, outcome.columnCount))
    this.host.flush()
    try {
      for (;;) {
        const message = await this.host.nextMessage()
        if (message === null) return // onClose aborted the sink
        switch (message.type) {
          case 'copy_data':
            await sink.write(message.data)
            continue
          case 'copy_done': {
            this.copySink = null
            this.host.send(W.commandComplete(await sink.end()))
            return
          }
          case 'copy_fail':
            throw new SluiceError('execution', SqlState.queryCanceled, `COPY from stdin failed: ${message.message}`)
          case 'flush':
          case 'sync':
            // Ignored during copy-in, as the protocol says.
            continue
          case 'terminate':
            this.host.endSocket()
            throw new SluiceError('protocol', SqlState.protocolViolation, 'terminated during COPY from stdin')
          default:
            throw protocolViolation(`unexpected message type "${message.type}" during COPY from stdin`)
        }
      }
    } catch (err) {
      if (this.copySink !== null) {
        const reason = err instanceof Error ? err.message : String(err)
        this.copySink = null
        sink.abort(reason)
      }
      throw err
    }
  }

  async copyOut(outcome: Extract<Outcome, { kind: 'copy_out' }>): Promise<void> {
    this.host.send(W.copyOutResponse(outcome.format, outcome.columnCount))
    try {
      for await (const chunk of outcome.chunks) {
        this.host.send(W.copyData(chunk))
        // A live source's chunk is what it had at that moment (rows of a SUBSCRIBE arrive over time): out now,
        // waiting for the client to take it (or for the subscription to end). Otherwise rows (one per chunk) go
        // out when enough have queued.
        if (outcome.live === false) await this.host.flushIfLarge()
        else await this.host.flushAndDrain(outcome.stopped)
        if (this.host.gone()) {
          outcome.cancel()
          return
        }
      }
    } catch (err) {
      outcome.cancel()
      this.host.hangUpIfBehind(err)
      throw err
    }
    this.host.send(W.copyDone())
    this.host.send(W.commandComplete(outcome.tag(outcome.rowCount())))
  }
}
