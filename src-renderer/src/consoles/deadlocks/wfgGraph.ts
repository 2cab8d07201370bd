/** Layout of a wait-for graph for drawing: transactions on a circle, edges waiter → holder, cycle edges marked. */
import type { WfgView } from '../../stores/txn'

export interface WfgNode { id: string; x: number; y: number; inCycle: boolean; origin: string; detail: string }
export interface WfgEdge { source: string; target: string; inCycle: boolean; /** Which lock, at which site (the edge's label). */ label: string }

export function wfgGraph(edges: readonly { from: string; to: string }[], cycles: readonly string[][], nodes: WfgView['nodes'] = [], waits: NonNullable<WfgView['waits']> = []): { nodes: WfgNode[]; edges: WfgEdge[] } {
  const cycleEdge = new Set<string>()
  const cycleNode = new Set<string>()
  for (const c of cycles) c.forEach((v, i) => { cycleNode.add(v); cycleEdge.add(`${v}>${c[(i + 1) % c.length]}`) })
  const ids = [...new Set(edges.flatMap((e) => [e.from, e.to]))].sort()
  const info = new Map(nodes.map((n) => [n.gid, n]))
  const r = 160
  return {
    nodes: ids.map((id, i) => {
      const a = (2 * Math.PI * i) / Math.max(1, ids.length)
      const n = info.get(id)
      return { id, x: 200 + r * Math.cos(a), y: 200 + r * Math.sin(a), inCycle: cycleNode.has(id), origin: id.split('-')[0], detail: n ? `waits at ${n.waitingAt.join(', ') || '—'}<br/>${n.sql.join('<br/>')}` : '' }
    }),
    edges: edges.map((e) => ({ source: e.from, target: e.to, inCycle: cycleEdge.has(`${e.from}>${e.to}`), label: waits.filter((w) => w.from === e.from && w.to === e.to).map((w) => `${w.lock} @${w.site}`).join('\n') })),
  }
}
