/**
 * The task engines of a node (docs/cluster.md, "Tasks"). For each task p the group gave the node, an
 * `Engine` of its own (data directory `DATA/tasks/<p>`) reads only partition p of every stream topic and
 * runs the *partitioned* views (placement.ts): its own operators, RocksDB state, watermark and exactly-once
 * checkpoints, as the embedded engine has. The owner of task 0 also runs the *global task*
 * (`DATA/tasks/global`): one engine over every partition with the global views and the views they read.
 *
 * The node's front engine keeps the catalog (it applies every command) but fetches nothing; after each
 * command, and when a task engine starts, the task engine is reconciled with the front's catalog: what is
 * gone or has other SQL is dropped, what is missing is created, in the catalog's order. Before a task
 * engine opens, its store is restored from the task's changelog topic (changelog.ts, restore.ts), and every
 * batch it writes goes to the changelog first; a task without a changelog (and without its directory here)
 * starts empty and reads its partition from the topic's beginning.
 */
import { mkdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { Engine } from '../executor/engine.ts'
import type { DdlCommand, TaskOutputs, TaskSinks } from '../executor/engine/cluster-hooks.ts'
import type { StreamDef, ViewDef } from '../planner/catalog.ts'
import { placeCatalog } from './placement.ts'
import { TriggerStarts, globalRuns, reconcileTriggers } from './outputs.ts'
import { statementOf } from './commands.ts'
import type { Changelogs, TaskChangelog } from './changelog.ts'
import { openAndRestore, type RestoreProgress } from './restore.ts'
import { repartitionEnvelope, type RepartitionPlan, type Repartitioner } from './repartition.ts'
import { classifyChangelogError, mayRegister, type FenceRecord, type GroupConfirmation, type RegisterDecision } from './task-fencing.ts'
import type { StandbyHandoff, StandbyTasks } from './standby.ts'
import { reconcileSinks, sinkTag } from './sinks.ts'

import { GLOBAL_TASK, taskLabel } from './task-label.ts'
export { GLOBAL_TASK, taskLabel }

/** A task engine that failed to start, or to follow the catalog, is tried again after this long. */
const RETRY_START_MS = 2000

/** What the registration gate needs to know (task-fencing.ts): the group's confirmation, this node, its join count. */
export interface GroupView {
  /** The coordinator's word (null: it cannot be asked now). */
  confirmation(): Promise<GroupConfirmation | null>
  /** This node's id, as its group metadata names it. */
  readonly me: string
  /** How many joins this node's group client completed. */
  generation(): number
}

/** A task start put off because the group has not confirmed the task to this node (not a failure). */
class NotConfirmed extends Error {
  constructor(readonly why: Exclude<RegisterDecision, { register: true }>['why']) {
    super(`its changelog id is not registered yet (${why})`)
  }
}

/** How long a revoked task's engine waits for the reads under way (a client not reading its rows) to end. */
const STOP_READERS_MS = 30_000

export type TaskStatus = 'starting' | 'restoring' | 'running'

/** A running task engine and where it stands. */
export interface TaskRuntime {
  readonly task: number
  readonly engine: Engine
  status: TaskStatus
  /** Per stream, the topic's end per partition when the engine started: reached, it is `running`. */
  readonly target: Map<string, readonly number[]>
  readonly startedAt: number
  /** Pull queries reading this engine now (pull.ts `localRows`): a stop waits for them. */
  readers: number
  /** Revoked: no new reads; reads under way fail at their next row rather than end short. */
  stopping: boolean
  /** Its changelog writer, and the restore from it when the engine started (null: no changelog). */
  readonly changelog: TaskChangelog | null
  readonly restore: RestoreProgress | null
  /** Warned that its sinks are not exactly once across a move (it has no changelog). */
  sinkWarned?: boolean
}

export class TaskEngines {
  private readonly running = new Map<number, TaskRuntime>()
  private wanted = new Set<number>()
  /** Starts, stops and reconciliations, one at a time. */
  private chain: Promise<void> = Promise.resolve()
  private closed = false
  private readonly waiters: (() => void)[] = []
  /** Restores from a changelog under way (the task has no engine yet). */
  private readonly restores = new Map<number, RestoreProgress>()
  /** Tasks whose changelog was fenced here: not registered again before the gate allows (task-fencing.ts). */
  private readonly fences = new Map<number, FenceRecord>()
  /** Why each task waits for the group, as last logged (logged once per reason, not every retry). */
  private readonly waitLogged = new Map<number, string>()

  constructor(
    private readonly front: Engine,
    private readonly dataDir: string,
    /** The topic's end offsets now (for a task engine's restore target). */
    private readonly endOffsets: (topic: string) => Promise<number[]>,
    /** The tasks' changelogs (stage 3); null: tasks restore by re-reading their input. */
    private readonly changelogs: Changelogs | null = null,
    /** Repartitioned views' internal topics and writers (repartition.ts); absent: none are run. */
    private readonly repartition?: Repartitioner,
    /** Where the task engines' triggers NOTIFY and INSERT (outputs.ts); absent: their own engine's. */
    private readonly outputs?: TaskOutputs,
    /** The group's view for the changelog registration gate; absent: every assigned task registers. */
    private readonly groupView?: GroupView,
    /** Standby copies of other nodes' tasks (standby.ts); absent: none are kept. */
    readonly standbys?: StandbyTasks,
    /** The cluster's name: task engines' sinks are tagged with it (sinks.ts). */
    private readonly cluster = '',
  ) {}

  /**
   * The placement chose this node to keep copies of `tasks` (standby.ts): copies open for those whose engine
   * neither runs nor is wanted here, on this chain, so that a task's store is never open twice.
   */
  keepStandbys(tasks: readonly number[]): Promise<void> {
    if (this.standbys === undefined) return Promise.resolve()
    this.standbys.choose(tasks)
    return this.serially(() => this.reconcileStandbys())
  }

  private reconcileStandbys(): Promise<void> {
    if (this.standbys === undefined || this.closed) return Promise.resolve()
    return this.standbys.reconcile(
      (task) => !this.wanted.has(task) && !this.running.has(task),
      (task) => this.wanted.has(task) && !this.running.has(task),
    )
  }

  /** A task engine's sinks: tagged per sink and task, and retried only while the task is still this node's. */
  private sinksOf(task: number): TaskSinks {
    return {
      tag: (def) => sinkTag(this.cluster, task, def),
      retry: async (err) => {
        if (classifyChangelogError(err) !== 'fenced') {
          for (;;) {
            if (this.closed || !this.wanted.has(task)) return false
            const d = await this.decide(task)
            if (d.register) return true
            if (d.why !== 'unsettled') break
            await new Promise((r) => setTimeout(r, RETRY_START_MS))
          }
        }
        // Another node registered the sink's id, or the group gave the task away: the task stops, as on a
        // changelog fence (registering again would fence the rightful owner).
        const t = this.running.get(task)
        if (t?.changelog != null) this.changelogFailed(task, t.changelog, err, 'fenced', 'a sink')
        return false
      },
    }
  }

  /** CREATE TRIGGER's start offsets, for the reconciliation after its command (outputs.ts). */
  private readonly triggerStarts = new TriggerStarts()

  /** The registration gate for task `task` now (task-fencing.ts). */
  private async decide(task: number): Promise<RegisterDecision> {
    if (this.groupView === undefined) return { register: true }
    const group = await this.groupView.confirmation()
    return mayRegister(group, this.groupView.me, task, this.fences.get(task), this.groupView.generation(), Date.now())
  }

  /** The restore from its changelog of a task whose engine is not open yet. */
  restoring(task: number): RestoreProgress | undefined {
    return this.restores.get(task)
  }

  /** The task engine of `task` on this node, whatever its status. */
  get(task: number): TaskRuntime | undefined {
    return this.running.get(task)
  }

  all(): TaskRuntime[] {
    return [...this.running.values()].sort((a, b) => a.task - b.task)
  }

  /** The group gave this node `tasks`: engines start for new ones and close for revoked ones. */
  assign(tasks: readonly number[]): Promise<void> {
    this.wanted = new Set(tasks)
    // The global task goes with task 0, so that exactly one node runs it whenever task 0 has an owner.
    if (this.wanted.has(0)) this.wanted.add(GLOBAL_TASK)
    // A task that left this node and comes back later is a new assignment: a fence before does not count.
    for (const task of this.fences.keys()) if (!this.wanted.has(task)) this.fences.delete(task)
    return this.serially(() => this.sync())
  }

  /** After the front engine applied `cmd`: every task engine follows the catalog. */
  afterCommand(cmd: DdlCommand): Promise<void> {
    return this.serially(async () => {
      this.triggerStarts.note(cmd)
      for (const t of this.all()) {
        // It leaves no trace the catalog shows: passed on as it is.
        if (cmd.op === 'reset_watermark' && t.engine.catalog.has(cmd.name)) {
          await t.engine.local.resetWatermark(cmd.name, cmd.to === null ? undefined : { text: cmd.to, span: { start: 0, end: 0 } }).catch((err: unknown) => console.error(`sluice: task ${taskLabel(t.task)}: RESET WATERMARK not applied: ${(err as Error).message}`))
        }
      }
      await this.reconcileAll()
      this.triggerStarts.clear()
    })
  }

  /** Every task engine follows the front catalog; one that fails is tried again a moment later. */
  private async reconcileAll(): Promise<void> {
    let failed = false
    for (const t of this.all()) {
      try {
        await this.reconcile(t)
      } catch (err) {
        console.error(`sluice: task ${taskLabel(t.task)} does not follow the catalog yet: ${(err as Error).message}; trying again in ${RETRY_START_MS / 1000} s`)
        failed = true
      }
    }
    if (failed && !this.closed) setTimeout(() => void this.serially(() => this.reconcileAll()), RETRY_START_MS).unref()
  }

  /** Runs `fn` after what is queued; never rejects (a failure is logged: callers run it in the background). */
  private serially(fn: () => Promise<void>): Promise<void> {
    this.chain = this.chain.then(fn).catch((err: unknown) => console.error(`sluice: task engines: ${(err as Error).stack ?? String(err)}`))
    return this.chain
  }

  private async sync(): Promise<void> {
    if (this.closed) return
    for (const t of this.all()) if (!this.wanted.has(t.task)) await this.stop(t)
    let failed = false
    for (const task of [...this.wanted].sort((a, b) => a - b)) {
      if (this.running.has(task) || this.closed) continue
      try {
        await this.start(task)
        this.waitLogged.delete(task)
      } catch (err) {
        failed = true
        if (err instanceof NotConfirmed) {
          if (this.waitLogged.get(task) !== err.why) console.log(`sluice: task ${taskLabel(task)} waits for the group: ${err.message}`)
          this.waitLogged.set(task, err.why)
          continue
        }
        // (A loaded broker, a topic's metadata settling.) The task stays without a running engine here, and
        // reads wait for it, until a later attempt starts it.
        console.error(`sluice: task ${taskLabel(task)} did not start: ${(err as Error).message}; trying again in ${RETRY_START_MS / 1000} s`)
      }
    }
    // Revoked tasks' stores are free now: the placement may keep copies of them here.
    await this.reconcileStandbys()
    if (failed && !this.closed) setTimeout(() => void this.serially(() => this.sync()), RETRY_START_MS).unref()
  }

  dirOf(task: number): string {
    return join(this.dataDir, 'tasks', taskLabel(task))
  }

  private async start(task: number): Promise<void> {
    const began = Date.now()
    const dir = this.dirOf(task)
    // The front's options (checkpoints, brokers, files) without its empty partition set: the global task reads
    // every partition, task p partition p.
    const { kafkaPartitions: _front, ...base } = this.front.options
    const options = { ...base, dataDir: dir, recordEnvelope: repartitionEnvelope, carriedSourceEnds: (def: StreamDef) => this.repartition?.sourceEnds(def), taskOutputs: this.outputs, taskSinks: this.sinksOf(task), ...(task === GLOBAL_TASK ? {} : { kafkaPartitions: [task] }) }
    await mkdir(dir, { recursive: true })
    let log: Awaited<ReturnType<typeof openAndRestore>> = null
    let warm: StandbyHandoff | null = null
    if (this.changelogs !== null) {
      // Registering the id fences the task's earlier holder: only for a task the group confirmed here.
      const decision = await this.decide(task)
      if (!decision.register) throw new NotConfirmed(decision.why)
      // A standby copy kept here is closed; the restore goes on from its position.
      warm = (await this.standbys?.release(task)) ?? null
      log = await openAndRestore(
        this.changelogs,
        task,
        join(dir, 'state'),
        (c, err, kind) => this.changelogFailed(task, c, err, kind),
        async () => {
          if (this.closed || !this.wanted.has(task)) return 'revoked'
          const d = await this.decide(task)
          return d.register ? 'register' : d.why === 'unsettled' ? 'wait' : 'revoked'
        },
        (p) => (p === null ? this.restores.delete(task) : this.restores.set(task, p)),
      )
      this.fences.delete(task)
    }
    const withLog = log === null ? options : { ...options, commitLog: log.changelog.commit }
    let engine: Engine
    try {
      engine = await Engine.open(withLog)
    } catch (err) {
      await log?.changelog.close()
      // Held by an engine of this task still closing: tried again later, never deleted under it.
      if (/lock/i.test((err as Error).message)) throw err
      // An unusable directory (corrupt, from an older layout): the task starts over (from its changelog, or
      // from the topic's beginning) at the next attempt.
      console.error(`sluice: task ${taskLabel(task)}: its data directory cannot be opened (${(err as Error).message}); starting it over`)
      await rm(dir, { recursive: true, force: true })
      throw err
    }
    if (log !== null) console.log(`sluice: task ${taskLabel(task)} ${restoredLine(log.progress, engine, task, warm)}`)
    const t: TaskRuntime = { task, engine, status: 'starting', target: new Map(), startedAt: began, readers: 0, stopping: false, changelog: log?.changelog ?? null, restore: log?.progress ?? null }
    this.running.set(task, t)
    try {
      await this.reconcile(t)
      for (const s of engine.catalog.streams()) if (s.source.kind === 'kafka') t.target.set(s.name, await this.endOffsets(s.source.topic))
      t.status = 'restoring'
    } catch (err) {
      this.running.delete(task)
      await this.repartition?.stopTask(task)
      await engine.close().catch(() => undefined)
      await log?.changelog.close()
      throw err
    }
    console.log(`sluice: task ${taskLabel(task)} started in ${Date.now() - began} ms (${engine.allQueries().length} views; restoring)`)
    this.watchRestore(t)
  }

  /** Marks the task running once every view of it has read up to the ends the topic had when it started. */
  private watchRestore(t: TaskRuntime): void {
    const check = () => {
      if (this.running.get(t.task) !== t || t.status !== 'restoring') return
      if (this.caughtUp(t)) {
        t.status = 'running'
        console.log(`sluice: task ${taskLabel(t.task)} running (restored in ${Date.now() - t.startedAt} ms)`)
        for (const w of this.waiters.splice(0)) w()
        return
      }
      setTimeout(check, 100).unref()
    }
    check()
  }

  private caughtUp(t: TaskRuntime): boolean {
    for (const q of t.engine.allQueries()) {
      if (q.status !== 'running') continue
      for (let i = 0; i < q.slots.length; i++) {
        const slot = q.slots[i]!
        if (t.task !== GLOBAL_TASK && slot.partition !== t.task) continue
        const end = t.target.get(slot.stream)?.[slot.partition] ?? 0
        if (q.offsets[i]! < end) return false
      }
    }
    return true
  }

  /** Resolves at the next task that becomes running, or after `ms`. */
  changed(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.waiters.push(resolve)
      setTimeout(resolve, ms).unref()
    })
  }

  private async stop(t: TaskRuntime): Promise<void> {
    const began = Date.now()
    t.stopping = true
    this.running.delete(t.task)
    // A checkpoint held back by a broker outage is retried a little longer, not for ever.
    t.changelog?.stopping()
    await this.repartition?.stopTask(t.task)
    // Its state store must not close under a read's open iterator: reads stop at their next row.
    while (t.readers > 0 && Date.now() - began < STOP_READERS_MS) await new Promise((r) => setTimeout(r, 20))
    if (t.readers > 0) console.error(`sluice: task ${taskLabel(t.task)}: ${t.readers} reads still open after ${STOP_READERS_MS / 1000} s; closing anyway`)
    // A checkpoint and close; the directory stays, so that the task coming back here resumes from it.
    await t.engine.close().catch((err: unknown) => console.error(`sluice: task ${taskLabel(t.task)}: close failed: ${(err as Error).message}`))
    await t.changelog?.close()
    console.log(`sluice: task ${taskLabel(t.task)} stopped in ${Date.now() - began} ms`)
  }

  /**
   * A transaction of the task's changelog failed for good (an outage is retried inside the changelog and
   * never gets here). Fenced (another node registered the id) or revoked (the group gave the task away
   * during an outage): the engine is stopped and the task waits for the group; registering again now is
   * what made two nodes fence each other in turn. Anything else: the engine starts over, through the
   * same gate.
   */
  private changelogFailed(task: number, changelog: TaskChangelog, err: Error, kind: 'fenced' | 'revoked' | 'other', what = 'its changelog'): void {
    if (kind === 'other') {
      console.error(`sluice: task ${taskLabel(task)}: its changelog failed (${err.message}); starting the task over`)
    } else {
      // Measured against the join count now: a later join that gives the task here again lets it register.
      this.fences.set(task, { generation: this.groupView?.generation() ?? 0, at: Date.now() })
      console.error(`sluice: task ${taskLabel(task)}: ${kind === 'fenced' ? `fenced: another node registered ${what === 'its changelog' ? 'its changelog id' : `the id of ${what}`}` : 'revoked during a broker outage'} (${err.message}); stopped until the group assigns it here again`)
    }
    setTimeout(() => {
      void this.serially(async () => {
        const t = this.running.get(task)
        if (t === undefined || t.changelog !== changelog) return
        await this.stop(t)
        await this.sync()
      })
    }, kind === 'other' ? RETRY_START_MS : 0).unref()
  }

  /** Brings a task engine's catalog to the front's, restricted to the views its role runs. */
  private async reconcile(t: TaskRuntime): Promise<void> {
    const engine = t.engine
    const views = this.front.catalog.views()
    const placement = placeCatalog(views)
    const runs = t.task === GLOBAL_TASK ? globalRuns(this.front, views, placement) : new Set([...placement].filter(([, p]) => p !== 'global').map(([n]) => n))
    const wantViews = this.front.catalog.userViews().filter((v) => runs.has(v.name))
    // A task (not the global one) runs a repartitioned view over its internal stream, not over the source.
    // (A repartitioned join reads two internal streams, one per side.)
    const plans = new Map<string, RepartitionPlan[]>()
    for (const v of wantViews) {
      if (t.task === GLOBAL_TASK || placement.get(v.name) !== 'repartitioned') continue
      if (this.repartition === undefined) throw new Error(`view ${v.name} is repartitioned, and this node runs no repartitioning`)
      plans.set(v.name, this.repartition.plans(v))
    }
    const allPlans = [...plans.values()].flat()
    const sqlOf = (v: ViewDef) => plans.get(v.name)?.[0]?.viewSql ?? v.sql
    const wantStreams = [...this.front.catalog.streams().map((s) => ({ name: s.name, sql: s.sql, internal: false })), ...allPlans.map((p) => ({ name: p.stream, sql: p.streamSql, internal: true }))]
    if (allPlans.length > 0) await this.repartition!.prepare(allPlans)
    const byName = new Map<string, { sql: string; alters: readonly string[] }>([...wantStreams.map((s) => [s.name, { sql: s.sql, alters: [] }] as const), ...wantViews.map((v) => [v.name, { sql: sqlOf(v), alters: v.alters ?? [] }] as const)])
    const alterLater: [ViewDef, readonly string[]][] = []
    // Gone, or not the same: dropped (with what reads it, which is created again below).
    for (const v of engine.catalog.userViews().reverse()) {
      if (!engine.catalog.has(v.name)) continue
      const want = byName.get(v.name)
      const have = v.alters ?? []
      if (want !== undefined && want.sql === v.sql && have.every((a, i) => want.alters[i] === a)) {
        if (want.alters.length > have.length) alterLater.push([v, want.alters.slice(have.length)])
        continue
      }
      await engine.local.drop('view', v.name, true, true)
    }
    for (const s of engine.catalog.streams().reverse()) {
      if (byName.get(s.name)?.sql !== s.sql) await engine.local.drop('stream', s.name, true, true)
    }
    for (const s of wantStreams) {
      if (!engine.catalog.has(s.name)) await engine.local.createStream(statementOf(s.sql, 'create_stream'), s.sql)
      if (!s.internal && this.front.streamRuntime(s.name)?.closed && engine.streamRuntime(s.name)?.closed === false) await engine.local.closeStream(s.name)
    }
    for (const v of wantViews) {
      if (engine.catalog.has(v.name)) continue
      await engine.local.createView(statementOf(sqlOf(v), 'create_view'), sqlOf(v))
      for (const a of v.alters ?? []) await engine.local.alterView(statementOf(a, 'alter_view'), a)
    }
    for (const [, alters] of alterLater) for (const a of alters) await engine.local.alterView(statementOf(a, 'alter_view'), a)
    if (t.task !== GLOBAL_TASK) await this.repartition?.follow(t.task, allPlans)
    await reconcileTriggers(this.front, engine, t.task === GLOBAL_TASK, this.triggerStarts, this.endOffsets)
    await reconcileSinks(this.front, engine, t.task === GLOBAL_TASK)
    if (t.changelog === null && engine.sinkRuntimes().length > 0 && !t.sinkWarned) {
      t.sinkWarned = true
      console.error(`sluice: task ${taskLabel(t.task)} has no changelog: its sinks are exactly once only while it stays on this node (moved, it writes its rows again)`)
    }
  }

  async close(): Promise<void> {
    this.closed = true
    await this.chain.catch(() => undefined)
    for (const t of this.all()) await this.stop(t)
    await this.standbys?.close()
  }
}

/** The log line of a restore: how long, how many changelog records, and where the input resumes. */
function restoredLine(p: RestoreProgress, engine: Engine, task: number, warm: StandbyHandoff | null): string {
  const resume = new Map<string, number>()
  for (const q of engine.allQueries()) {
    for (let i = 0; i < q.slots.length; i++) {
      const slot = q.slots[i]!
      if (task !== GLOBAL_TASK && slot.partition !== task) continue
      resume.set(slot.stream, Math.min(resume.get(slot.stream) ?? Infinity, q.offsets[i]!))
    }
  }
  const at = [...resume].map(([s, o]) => `${s}@${o}`).join(', ') || 'no views yet'
  if (warm !== null && !p.full && p.from === warm.position) {
    // The figures the issue asks for: the tail replayed over the copy, against what the copy had applied.
    return `restored from its standby copy in ${p.ms} ms: ${p.records} changelog records replayed (offsets ${p.from} to ${p.end}; the copy had applied ${warm.applied} records here over ${Math.round(warm.keptMs / 1000)} s); input resumes at ${at}`
  }
  const what = p.full ? 'from its changelog' : 'from its own directory and its changelog'
  return `restored ${what} in ${p.ms} ms: ${p.records} changelog records (offsets ${p.from} to ${p.end}); input resumes at ${at}`
}
