/**
 * AppendProject: a view without aggregation keeps every projected row. Each row is stored under its source
 * position (partition, offset), so replaying after a crash overwrites instead of duplicating.
 */
import { internalError } from '../../common/errors.ts'
import type { Row, Value } from '../../common/types.ts'
import { compileProjection } from '../../planner/compile.ts'
import type { EvalContext } from '../../planner/runtime.ts'
import type { ViewPlan } from '../../planner/view-plan.ts'
import type { KeyedTable } from './keyed-table.ts'
import { followTable, type ViewFollower } from './view-follower.ts'

export type PositionEncoder = (partition: number, offset: number) => string

export class AppendProject {
  private readonly project: (r: readonly Value[], p: readonly Value[], ctx: EvalContext) => Value[]
  /** Set while another view reads this one: each output row as it is written. */
  onOutput: ((row: Row) => void) | null = null

  constructor(
    readonly plan: ViewPlan,
    private readonly table: KeyedTable,
    private readonly encodePosition: PositionEncoder,
    private readonly ctx: EvalContext,
  ) {
    if (plan.body.kind !== 'project') throw internalError('AppendProject built for an aggregate plan')
    this.project = compileProjection(plan.body.output)
  }

  process(partition: number, offsets: readonly number[], rows: readonly Row[]): void {
    const empty: Value[] = []
    for (let i = 0; i < rows.length; i++) {
      // Write-only: the operator never reads its rows back, so they skip the cache (see StateTable.append).
      const out = this.project(rows[i]!, empty, this.ctx)
      this.table.append(this.encodePosition(partition, offsets[i]!), out)
      if (this.onOutput !== null) this.onOutput(out)
    }
  }

  /** Live results by entry: every entry is an output row. */
  follow(): ViewFollower {
    return followTable(this.table, (_key, row) => (row === undefined ? [] : [row]))
  }

  async *rows(): AsyncGenerator<Row> {
    for await (const [, row] of this.table.scan()) yield row
  }
}
