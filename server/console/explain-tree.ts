/**
 * EXPLAIN's text as a tree the console draws: operator lines are `Name rest` at depth 0, or indented with
 * `->  ` below their parent (server/explain.ts and planner/view-plan.ts write them so); indented lines
 * without an arrow are details of the operator above them (EXPLAIN ANALYZE notes, join conditions).
 */

export interface PlanNode {
  /** The operator's name: the first word of its line (`KeyedAggregate`, `Filter`). */
  readonly name: string
  /** The rest of its line. */
  readonly text: string
  readonly details: string[]
  readonly children: PlanNode[]
}

const ARROW = '->  '

/** Builds the operator tree of EXPLAIN's lines; several roots when the text holds several plans. */
export function explainTree(lines: readonly string[]): PlanNode[] {
  const roots: PlanNode[] = []
  // The open operators by depth: a line at depth d becomes a child of stack[d - 1].
  const stack: PlanNode[] = []
  for (const line of lines) {
    const indent = line.length - line.trimStart().length
    const body = line.trimStart()
    const arrow = body.startsWith(ARROW)
    if (!arrow && indent > 0 && stack.length > 0) {
      stack.at(-1)!.details.push(body)
      continue
    }
    const text = arrow ? body.slice(ARROW.length) : body
    const space = text.indexOf(' ')
    const node: PlanNode = { name: space < 0 ? text : text.slice(0, space), text: space < 0 ? '' : text.slice(space + 1), details: [], children: [] }
    const depth = arrow ? Math.floor(indent / 2) + 1 : 0
    stack.length = Math.min(stack.length, depth)
    const parent = stack.at(-1)
    if (depth === 0 || parent === undefined) roots.push(node)
    else parent.children.push(node)
    stack.push(node)
  }
  return roots
}
