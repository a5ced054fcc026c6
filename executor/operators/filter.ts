/**
 * WHERE: the row stage that keeps the rows its predicate holds for. Rows of an aggregation shared by
 * several HOP windows get the window's columns from `windowStarts` before the predicate reads them.
 */
import type { Row, Value } from '../../common/types.ts'
import type { EvalContext } from '../../expr/runtime.ts'
import { moveRow, truncateRows, type RowBatch, type RowStage } from './operator.ts'

/** The parameter row of compiled expressions: views have no parameters. */
const EMPTY: Value[] = []

export type Predicate = (r: readonly Value[], p: readonly Value[], ctx: EvalContext) => boolean

export class RowFilter implements RowStage {
  constructor(
    private readonly predicate: Predicate,
    private readonly ctx: EvalContext,
    /** Where window_start sits in a windowed row, and the window's (or slice's) length; null unwindowed. */
    private readonly window: { readonly column: number; readonly length: number } | null,
  ) {}

  describe(): string {
    return 'Filter'
  }

  passes(row: Row): boolean {
    return this.predicate(row, EMPTY, this.ctx)
  }

  apply(batch: RowBatch): void {
    const { rows, windowStarts } = batch
    const w = windowStarts === undefined ? null : this.window
    let n = 0
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i]!
      if (w !== null) {
        const start = windowStarts![i]!
        r[w.column] = start
        r[w.column + 1] = start + w.length
      }
      if (!this.predicate(r, EMPTY, this.ctx)) continue
      if (n !== i) moveRow(batch, i, n)
      n++
    }
    truncateRows(batch, n)
  }
}
