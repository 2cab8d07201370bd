/**
 * Builds the ECharts graph option for the topology from the engine's TopologyView (pure, unit-tested).
 * Each site is drawn as its router/firewall (WAN side), a Gigabit LAN switch, its servers and its
 * client terminals; WAN links join the routers and carry their bandwidth, delay and live counters.
 */
import type { LinkView, ServerView, SiteView, TopologyView } from '../../../../engine/api/views'
import type { Selection } from '../../stores/topology'
import { formatBps, formatBytes, formatMs, formatPct, linkBandwidthLabel } from '../../util/format'

export const COLORS = { ok: '#1a9e4b', up: '#1a9e4b', degraded: '#d98e04', down: '#d0312d', lan: '#8a96a3', accent: '#1f6feb', ink: '#1c2330', muted: '#5d6b7a' }

/** Map units per site coordinate unit (site x/y are 0..100). */
const SCALE = 10
const SERVER_ORDER: ServerView['kind'][] = ['app', 'primary', 'backup', 'repository']
const SERVER_SHORT: Record<ServerView['kind'], string> = { router: 'router', app: 'app', primary: 'primary', backup: 'backup', repository: 'main repo' }

export interface NodeDatum {
  id: string
  name: string
  x: number
  y: number
  site: string
  role: 'router' | 'lan' | 'server' | 'clients' | 'link'
  server?: string
  link?: string
  symbol: string
  symbolSize: number | number[]
  itemStyle: Record<string, unknown>
  label: Record<string, unknown>
  tooltip?: Record<string, unknown>
}

export interface EdgeDatum {
  source: string
  target: string
  link?: string
  lineStyle: Record<string, unknown>
  label?: Record<string, unknown>
  emphasis?: Record<string, unknown>
}

export function linkLabel(l: LinkView): string {
  const state = l.state === 'up' ? '' : `  [${l.state.toUpperCase()}]`
  return `${linkBandwidthLabel(l)} · ${formatMs(l.delayMs)}${state}\n${formatBytes(l.bytes)} · ${l.messages} msg · ${formatPct(l.utilisation)}`
}

function siteNodes(s: SiteView, sel: Selection, centroidX: number): { nodes: NodeDatum[]; edges: EdgeDatum[] } {
  const X = s.x * SCALE
  const Y = s.y * SCALE
  // Clients hang off the LAN on the side facing away from the other sites, so WAN labels stay clear.
  const side = s.x * SCALE > centroidX ? 1 : -1
  const selected = sel?.kind === 'site' && sel.id === s.code
  const router: NodeDatum = {
    id: `${s.code}.router`, name: `${s.code} router / firewall`, x: X, y: Y, site: s.code, role: 'router', server: `${s.code}.router`,
    symbol: 'diamond', symbolSize: 34,
    itemStyle: { color: COLORS[s.health], borderColor: selected ? COLORS.accent : '#fff', borderWidth: selected ? 4 : 2, shadowBlur: selected ? 10 : 0, shadowColor: COLORS.accent },
    label: {
      show: true, position: 'top', distance: 6,
      formatter: `{code|${s.code}} {name|${s.name}}${s.hq ? ' {hq|HQ}' : ''}\n{sub|router / firewall${s.firewall.enabled ? '' : ' (off)'} · ${s.health}}`,
      rich: {
        code: { fontWeight: 700, fontSize: 14, color: COLORS.ink, fontFamily: 'monospace' },
        name: { fontSize: 12, color: COLORS.ink },
        hq: { fontSize: 9, fontWeight: 700, color: '#fff', backgroundColor: COLORS.accent, padding: [2, 3, 1, 3], borderRadius: 3 },
        sub: { fontSize: 10, color: COLORS.muted, lineHeight: 14 },
      },
    },
  }
  const lan: NodeDatum = {
    id: `${s.code}.lan`, name: `${s.code} Gigabit LAN`, x: X, y: Y + 45, site: s.code, role: 'lan',
    symbol: 'rect', symbolSize: [54, 8],
    itemStyle: { color: s.health === 'down' ? '#c3cad2' : COLORS.lan },
    label: { show: false },
  }
  const clients: NodeDatum = {
    id: `${s.code}.clients`, name: `${s.code} clients`, x: X + side * 78, y: Y + 45, site: s.code, role: 'clients',
    symbol: 'roundRect', symbolSize: [14, 11],
    itemStyle: { color: '#b8c2cc' },
    label: { show: true, position: side > 0 ? 'right' : 'left', distance: 4, fontSize: 10, color: COLORS.muted, lineHeight: 13, formatter: `${s.clients} POS/office\nLAN ${formatBps(s.lanBps)}` },
  }
  const servers = s.servers.filter((v) => v.kind !== 'router').sort((a, b) => SERVER_ORDER.indexOf(a.kind) - SERVER_ORDER.indexOf(b.kind))
  const n = servers.length
  const serverNodes: NodeDatum[] = servers.map((v, i) => ({
    id: v.id, name: v.label, x: X + (i - (n - 1) / 2) * 62, y: Y + 100, site: s.code, role: 'server', server: v.id,
    symbol: v.kind === 'repository' ? 'path://M0,2 C0,0 10,0 10,2 L10,10 C10,12 0,12 0,10 Z' : 'roundRect',
    symbolSize: v.kind === 'repository' ? [18, 22] : [16, 20],
    itemStyle: { color: v.status === 'up' ? (v.kind === 'backup' ? '#56b27a' : COLORS.up) : COLORS.down, borderColor: '#fff', borderWidth: 1 },
    label: { show: true, position: 'bottom', distance: 3, fontSize: 10, color: v.status === 'up' ? COLORS.ink : COLORS.down, formatter: SERVER_SHORT[v.kind] + (v.status === 'up' ? '' : ' ✕') },
  }))
  const lanEdge = (target: string, up = true): EdgeDatum => ({ source: lan.id, target, lineStyle: { color: up ? '#aeb8c2' : COLORS.down, width: 1.2, type: up ? 'solid' : 'dashed', curveness: 0 } })
  const edges: EdgeDatum[] = [
    { source: router.id, target: lan.id, lineStyle: { color: '#aeb8c2', width: 1.6, curveness: 0 } },
    lanEdge(clients.id),
    ...servers.map((v) => lanEdge(v.id, v.status === 'up')),
  ]
  return { nodes: [router, lan, clients, ...serverNodes], edges }
}

/**
 * How a link is drawn: as its own state, except that a link to a site that is down carries nothing and is
 * drawn down (it was drawn green while its far end was dead).
 */
export function drawnLinkState(l: LinkView, view: TopologyView): LinkView['state'] {
  if (l.state === 'down') return 'down'
  const dead = view.sites.some((s) => (s.code === l.a || s.code === l.b) && s.health === 'down')
  return dead ? 'down' : l.state
}

function linkLabelNode(l: LinkView, view: TopologyView, sel: Selection): NodeDatum | null {
  const a = view.sites.find((s) => s.code === l.a)
  const b = view.sites.find((s) => s.code === l.b)
  if (!a || !b) return null
  const selected = sel?.kind === 'link' && sel.id === l.id
  const state = drawnLinkState(l, view)
  const color = COLORS[state]
  return {
    id: `link:${l.id}`, name: `${l.a} ⇄ ${l.b}`, x: ((a.x + b.x) / 2) * SCALE, y: ((a.y + b.y) / 2) * SCALE, site: '', role: 'link', link: l.id,
    symbol: 'rect', symbolSize: [2, 2], itemStyle: { color: 'rgba(0,0,0,0)' },
    label: {
      show: true, position: 'inside', formatter: linkLabel(l), fontSize: 10.5, lineHeight: 14, color: state === 'up' ? COLORS.ink : color,
      backgroundColor: 'rgba(255,255,255,0.95)', padding: [3, 6], borderRadius: 3, borderColor: selected ? COLORS.accent : state === 'up' ? '#cfd6de' : color,
      borderWidth: selected ? 2 : 1, fontFamily: 'monospace', align: 'center',
    },
  }
}

function wanEdge(l: LinkView, view: TopologyView, sel: Selection): EdgeDatum {
  const selected = sel?.kind === 'link' && sel.id === l.id
  const state = drawnLinkState(l, view)
  const color = COLORS[state]
  return {
    source: `${l.a}.router`, target: `${l.b}.router`, link: l.id,
    lineStyle: {
      color, width: 2.5 + Math.min(1, l.utilisation) * 8 + (selected ? 2 : 0), type: state === 'down' ? 'dashed' : 'solid',
      opacity: 0.95, curveness: 0, shadowBlur: selected ? 8 : 0, shadowColor: COLORS.accent,
    },
    emphasis: { lineStyle: { width: 6 } },
  }
}

export function buildTopologyOption(view: TopologyView, sel: Selection): Record<string, unknown> {
  const nodes: NodeDatum[] = []
  const edges: EdgeDatum[] = []
  const centroidX = (view.sites.reduce((t, s) => t + s.x, 0) / Math.max(1, view.sites.length)) * SCALE
  for (const s of view.sites) {
    const g = siteNodes(s, sel, centroidX)
    nodes.push(...g.nodes)
    edges.push(...g.edges)
  }
  for (const l of view.links) {
    edges.push(wanEdge(l, view, sel))
    const n = linkLabelNode(l, view, sel)
    if (n) nodes.push(n)
  }
  return {
    animation: false,
    tooltip: { trigger: 'item', confine: true, formatter: (p: { dataType: string; data: NodeDatum & EdgeDatum }) => tooltipFor(view, p) },
    series: [{
      type: 'graph', layout: 'none', roam: false, draggable: false,
      left: 90, right: 90, top: 50, bottom: 40,
      nodes, edges,
      edgeSymbol: ['none', 'none'],
      label: { show: true },
      edgeLabel: { show: false },
      emphasis: { focus: 'none', scale: 1.1 },
      z: 2,
    }],
  }
}

function tooltipFor(view: TopologyView, p: { dataType: string; data: NodeDatum & EdgeDatum }): string {
  if (p.data?.link) {
    const l = view.links.find((x) => x.id === p.data.link)
    if (!l) return ''
    return `<b>${l.a} ⇄ ${l.b}</b> · ${l.state}<br/>${linkBandwidthLabel(l)}, delay ${formatMs(l.delayMs)}${l.encrypted ? ', encrypted' : ', NOT encrypted'}<br/>${formatBytes(l.bytes)} in ${l.messages} messages · queueing ${formatMs(l.queueingMs)}`
  }
  if (p.dataType === 'node') return `<b>${p.data.name}</b>`
  return ''
}

/** What a click on a chart element selects. */
export function selectionFor(p: { dataType?: string; data?: Partial<NodeDatum & EdgeDatum> }): Selection {
  if (p.data?.link) return { kind: 'link', id: p.data.link }
  if (p.dataType === 'node' && p.data?.site) return { kind: 'site', id: p.data.site }
  return null
}
