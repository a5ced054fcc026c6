/**
 * AppendProject: a view without aggregation keeps every projected row. The rows of one micro-batch are
 * stored as one entry, under the source position (partition, offset) of the first and a batch mark: one
 * state write per batch instead of per row. Replaying after a crash starts at a checkpointed offset, which
 * is a batch boundary, so it writes new entries instead of doubling old ones. (Entries without the mark
 * hold one row each, as views kept them before.)
 */
import { internalError } from '../../common/errors.ts'
import type { Row, Value } from '../../common/types.ts'
import { compileProjection } from '../../expr/compile.ts'
import type { EvalContext } from '../../expr/runtime.ts'
import type { ViewPlan } from '../../planner/view-plan.ts'
import type { KeyedTable } from './keyed-table.ts'
import { followTable, type ViewFollower } from './view-follower.ts'
import { AppendingOperator, type ChangeSink, type OperatorBatch, type StreamOperator } from './operator.ts'

export type PositionEncoder = (partition: number, offset: number) => string

/** Ends the key of an entry holding a batch of rows (sorts right after the bare position). */
const BATCH_MARK = '*'

/** An entry: the rows of one batch (key with BATCH_MARK), or one row (entries written before batches). */
export type AppendEntry = Row[] | Row

export class AppendProject extends AppendingOperator implements StreamOperator {
  readonly role = 'view'
  readonly keyed = null
  private readonly project: (r: readonly Value[], p: readonly Value[], ctx: EvalContext) => Value[]
  constructor(
    readonly plan: ViewPlan,
    private readonly table: KeyedTable<AppendEntry>,
    private readonly encodePosition: PositionEncoder,
    private readonly ctx: EvalContext,
  ) {
    super()
    if (plan.body.kind !== 'project') throw internalError('AppendProject built for an aggregate plan')
    this.project = compileProjection(plan.body.output)
  }

  describe(): string {
    return 'AppendProject'
  }

  async process(batch: OperatorBatch): Promise<void> {
    const rows = batch.rows
    if (rows.length === 0) return
    const empty: Value[] = []
    const out = new Array<Row>(rows.length)
    for (let i = 0; i < rows.length; i++) {
      const row = this.project(rows[i]!, empty, this.ctx)
      out[i] = row
      if (this.onOutput !== null) this.onOutput(row)
    }
    // Write-only: the operator never reads its rows back, so they skip the cache (see StateTable.append).
    this.table.append(this.encodePosition(batch.partition, batch.offsets[0]!) + BATCH_MARK, out, out.length)
  }

  /** The view rows one table entry holds. */
  rowsOf(key: string, value: AppendEntry | undefined): Row[] {
    if (value === undefined) return []
    return key.endsWith(BATCH_MARK) ? (value as Row[]) : [value]
  }

  /** Each row of the entry is a record appended. */
  override changes(key: string, value: AppendEntry, sink: ChangeSink): void {
    for (const row of this.rowsOf(key, value)) sink.append(row)
  }

  /** Live results by entry: an entry is a batch of output rows. */
  follow(): ViewFollower {
    return followTable(this.table, (key, value) => this.rowsOf(key, value))
  }

  async *rows(): AsyncGenerator<Row> {
    for await (const [key, value] of this.table.scan()) yield* this.rowsOf(key, value)
  }
}
