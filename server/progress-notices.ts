/**
 * Progress of a CREATE MATERIALIZED VIEW that catches up with a long stream, for psql: with
 * `SET sluice.progress_notices = on`, the CREATE waits until the view has processed its stream up to where
 * it ended when the view was created, sending a NOTICE about every second:
 *
 *   NOTICE:  view per_minute: 1,200,000 of 5,000,000 events (24 %), about 12 s left
 *
 * The wait ends like any statement on a cancel (CancelRequest, pg_cancel_backend) or statement_timeout,
 * with 57014; the view stays created and goes on catching up, as the error's detail says.
 */
import { SluiceError, SqlState } from '../common/errors.ts'
import type { Engine } from '../executor/engine.ts'
import { ProgressSampler, queryPosition } from '../executor/progress.ts'
import type { Notice } from './backend.ts'

/** The session setting that turns the waiting and the NOTICEs on. */
export const PROGRESS_NOTICES = 'sluice.progress_notices'

export const NOTICE_INTERVAL_MS = 1000
/** How often the wait looks at the view's position. */
const POLL_MS = 50

const TRUE = new Set(['on', 'true', 'yes', '1', 't', 'y'])
const FALSE = new Set(['off', 'false', 'no', '0', 'f', 'n'])

/** Checks a value of sluice.progress_notices as PostgreSQL checks a boolean setting; returns `on` or `off`. */
export function checkProgressSetting(value: string): string {
  const v = value.trim().toLowerCase()
  if (TRUE.has(v)) return 'on'
  if (FALSE.has(v)) return 'off'
  throw new SluiceError('execution', SqlState.invalidParameterValue, `parameter "${PROGRESS_NOTICES}" requires a Boolean value`)
}

const count = (n: number): string => n.toLocaleString('en-US')

/** `12 s`, `3 min 20 s`, `1 h 5 min`. */
export function formatDuration(seconds: number): string {
  const s = Math.max(1, Math.round(seconds))
  if (s < 60) return `${s} s`
  if (s < 3600) return `${Math.floor(s / 60)} min${s % 60 === 0 ? '' : ` ${s % 60} s`}`
  const m = Math.round(s / 60)
  return `${Math.floor(m / 60)} h${m % 60 === 0 ? '' : ` ${m % 60} min`}`
}

/** One progress line: `view x: 1,200,000 of 5,000,000 events (24 %), about 12 s left`. */
export function progressMessage(view: string, done: number, total: number, rate: number | null): string {
  const percent = total === 0 ? 100 : Math.floor((done * 100) / total)
  const left = done >= total ? 'caught up' : rate !== null && rate > 0 ? `about ${formatDuration((total - done) / rate)} left` : 'time left not known yet'
  return `view ${view}: ${count(done)} of ${count(total)} events (${percent} %), ${left}`
}

export interface WaitOptions {
  readonly notice: (n: Notice) => void
  /** Aborted by a cancel of the statement. */
  readonly signal: AbortSignal
  /** statement_timeout in milliseconds (0: none), counted from the start of the wait. */
  readonly timeoutMs: number
}

/**
 * Waits until view `name` has processed its stream up to the ends it had when this was called, sending a
 * progress NOTICE every NOTICE_INTERVAL_MS and a last one when it has. Returns early (with a WARNING) if
 * the view fails; throws 57014 on a cancel or timeout.
 */
export async function waitForCatchUp(engine: Engine, name: string, options: WaitOptions): Promise<void> {
  const q = engine.query(name)
  const start = q === undefined ? undefined : queryPosition(q, (s) => engine.streamRuntime(s))
  if (q === undefined || start === undefined) return
  const targets = start.ends.slice()
  const total = targets.reduce((a, t, p) => a + Math.max(0, t - start.positions[p]!), 0)
  const done = () => q.settled.reduce((a, o, p) => a + Math.max(0, Math.min(o, targets[p]!) - start.positions[p]!), 0)
  const sampler = new ProgressSampler()
  const deadline = options.timeoutMs > 0 ? performance.now() + options.timeoutMs : Number.POSITIVE_INFINITY
  let nextNotice = performance.now() + NOTICE_INTERVAL_MS
  const say = (severity: 'NOTICE' | 'WARNING', message: string) => options.notice({ severity, sqlstate: severity === 'NOTICE' ? SqlState.successfulCompletion : SqlState.warning, message })
  while (done() < total) {
    if (q.status !== 'running') {
      say('WARNING', `view ${name} stopped catching up: ${q.lastError?.message ?? 'it failed'}`)
      return
    }
    if (options.signal.aborted || performance.now() >= deadline) throw interrupted(name, options.signal.aborted)
    const now = performance.now()
    // Sampled at every look, so the rate is the recent one when the NOTICE goes out.
    const rate = sampler.rate(name, done(), now)
    if (now >= nextNotice) {
      say('NOTICE', progressMessage(name, done(), total, rate))
      nextNotice = now + NOTICE_INTERVAL_MS
    }
    await pause(POLL_MS, options.signal)
  }
  say('NOTICE', progressMessage(name, total, total, null))
}

const interrupted = (name: string, cancelled: boolean): SluiceError =>
  new SluiceError('execution', SqlState.queryCanceled, cancelled ? 'canceling statement due to user request' : 'canceling statement due to statement timeout', {
    detail: `Materialized view "${name}" was created; it goes on catching up (see sluice_progress).`,
  })

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms)
    function done() {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    signal.addEventListener('abort', done, { once: true })
  })
}
