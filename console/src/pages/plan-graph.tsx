/**
 * An operator tree drawn in SVG: a box per operator (its name, then its line's rest, cut), an edge to each
 * input, inputs below their consumer; leaves are spread left to right and a parent centred over them.
 */
import type { PlanNode } from '../api.ts'

const BOX_W = 260
const BOX_H = 54
const GAP_X = 24
const GAP_Y = 36
const TEXT_CHARS = 40

interface Placed {
  node: PlanNode
  x: number
  y: number
  children: Placed[]
}

/** Places the tree: each leaf takes the next column, a parent sits over the middle of its children. */
function place(node: PlanNode, depth: number, next: { col: number }): Placed {
  const children = node.children.map((c) => place(c, depth + 1, next))
  const x = children.length === 0 ? next.col++ * (BOX_W + GAP_X) : (children[0]!.x + children.at(-1)!.x) / 2
  return { node, x, y: depth * (BOX_H + GAP_Y), children }
}

function flatten(p: Placed, out: Placed[] = []): Placed[] {
  out.push(p)
  for (const c of p.children) flatten(c, out)
  return out
}

const cut = (s: string, n: number): string => (s.length > n ? `${s.slice(0, n - 1)}…` : s)

export function PlanGraph(props: { root: PlanNode }) {
  const next = { col: 0 }
  const root = place(props.root, 0, next)
  const all = flatten(root)
  const width = Math.max(...all.map((p) => p.x)) + BOX_W + 2
  const height = Math.max(...all.map((p) => p.y)) + BOX_H + 2
  return (
    <svg class="plan" width={width} height={height} viewBox={`-1 -1 ${width} ${height}`} role="img" aria-label="query plan">
      {all.flatMap((p) =>
        p.children.map((c) => <line class="edge" x1={p.x + BOX_W / 2} y1={p.y + BOX_H} x2={c.x + BOX_W / 2} y2={c.y} />),
      )}
      {all.map((p) => (
        <g class="op" transform={`translate(${p.x},${p.y})`}>
          <title>{[p.node.name + ' ' + p.node.text, ...p.node.details].join('\n')}</title>
          <rect width={BOX_W} height={BOX_H} rx={6} />
          <text x={10} y={20} class="op-name">{p.node.name}</text>
          <text x={10} y={40} class="op-text">{cut(p.node.text, TEXT_CHARS)}</text>
        </g>
      ))}
    </svg>
  )
}
