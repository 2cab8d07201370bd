/** Turns a DQP plan into a diagram model: sites, the fragments read or pruned at each, and the data flows. */
import type { PlanView } from '../../../../engine/api/query'
import { formatMs } from '../../util/format'

export interface PlanNode { id: string; label: string; kind: 'site' | 'fragment' | 'pruned'; site: string; x: number; y: number; detail: string; role?: string; down?: boolean }
export interface PlanEdge { source: string; target: string; bytes: number; kinds: string[]; label: string }
export interface PlanGraph { nodes: PlanNode[]; edges: PlanEdge[]; pruned: number; used: number }

/** `down`: the sites that are down now (drawn down, whatever the plan says about them). */
export function planGraph(plan: PlanView, sites: string[], fragmentSite: (name: string) => string | undefined, down: readonly string[] = []): PlanGraph {
  const all = [...new Set([...sites, ...plan.sitesInvolved])]
  const nodes: PlanNode[] = []
  const R = 220
  const pos = new Map<string, { x: number; y: number }>()
  all.forEach((s, i) => {
    const a = -Math.PI / 2 + (2 * Math.PI * i) / Math.max(1, all.length)
    const p = { x: Math.round(R * Math.cos(a)), y: Math.round(R * Math.sin(a)) }
    pos.set(s, p)
    // one role a line, so "query site" and "assembly site" both fit inside the node
    const roles = [s === plan.querySite ? 'query site' : '', s === plan.assemblySite ? 'assembly site' : '', down.includes(s) ? 'DOWN' : ''].filter(Boolean).join('\n')
    nodes.push({ id: `site:${s}`, label: s, kind: 'site', site: s, ...p, detail: roles.replace(/\n/g, ', ') || 'site', role: roles, down: down.includes(s) })
  })
  const perSite = new Map<string, number>()
  let used = 0, pruned = 0
  for (const f of plan.fragments) {
    const s = f.site ?? fragmentSite(f.fragment.replace(/@.*$/, '')) ?? plan.querySite
    const p = pos.get(s) ?? { x: 0, y: 0 }
    const k = perSite.get(s) ?? 0
    perSite.set(s, k + 1)
    const a = Math.atan2(p.y, p.x) + ((k % 4) - 1.5) * 0.55
    const r = 105 + 40 * Math.floor(k / 4)
    const isPruned = f.status === 'pruned'
    if (isPruned) pruned++; else used++
    nodes.push({
      id: `frag:${f.ref}:${f.fragment}:${k}`, label: f.fragment, kind: isPruned ? 'pruned' : 'fragment', site: s,
      x: Math.round(p.x + r * Math.cos(a)), y: Math.round(p.y + r * Math.sin(a)),
      detail: isPruned ? `pruned: ${f.reason ?? ''}` : `${f.ref}: ${f.server === 'repository' ? 'main repository' : f.role ?? 'fragment'}${f.note ? ` — ${f.note}` : ''}`,
    })
  }
  const flows = new Map<string, PlanEdge>()
  for (const st of plan.steps) {
    if (!st.to || st.to === st.site) continue
    if (!['request', 'ship', 'semijoin-keys', 'result', 'write'].includes(st.kind)) continue
    const key = `${st.site}>${st.to}`
    const e = flows.get(key) ?? { source: `site:${st.site}`, target: `site:${st.to}`, bytes: 0, kinds: [], label: '' }
    // an EXPLAIN's plan ran nothing: its flows carry the estimated bytes
    e.bytes += st.actualBytes ?? (plan.estimated ? st.estBytes ?? 0 : 0)
    if (!e.kinds.includes(st.kind)) e.kinds.push(st.kind)
    flows.set(key, e)
  }
  const edges = [...flows.values()].map((e) => ({ ...e, label: `${e.kinds.join(' + ')} · ${plan.estimated ? 'est. ' : ''}${formatBytes(e.bytes)}` }))
  return { nodes, edges, pruned, used }
}

/** A fragment the query read from somewhere other than its primary: where from, and how stale that was. */
export interface Fallback { fragment: string; ref: string; site: string; source: string; staleness: string }

/**
 * The fragments a result was served from a copy for (the main repository at Colombo, or a scheduled copy),
 * because their own site could not serve them; `notes` are the plan's notes (a copy still applying
 * replication batches is named there).
 */
export function fallbacks(plan: PlanView): Fallback[] {
  const out: Fallback[] = []
  for (const f of plan.fragments) {
    if (f.status !== 'used' || !f.site) continue
    const repo = f.server === 'repository' || f.role === 'repository'
    if (!repo && f.role !== 'scheduled-copy') continue
    const lagging = plan.notes.some((n) => n.startsWith(f.fragment) && n.includes('replication batches to apply'))
    const staleness = f.stalenessMs !== undefined ? `stale by ${formatMs(f.stalenessMs)} (last refresh)`
      : lagging ? 'behind: replication batches still to apply there'
        : repo ? 'up to date with every change delivered before the site went down' : 'staleness unknown (never refreshed)'
    out.push({ fragment: f.fragment, ref: f.ref, site: f.site, source: repo ? `the main repository at ${f.site}` : `the scheduled copy at ${f.site}`, staleness })
  }
  return out
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`
  return `${(n / 1024 / 1024).toFixed(2)} MB`
}
