/** The ECharts option that draws a laid-out wait-for graph (wfgGraph): the embedded console's and the live panel's. */
import type { WfgEdge, WfgNode } from './wfgGraph'

export function wfgChartOption(g: { nodes: WfgNode[]; edges: WfgEdge[] }): Record<string, unknown> {
  return {
    animation: false,
    tooltip: { formatter: (p: { dataType: string; data: { name?: string; detail?: string; tip?: string } }) => (p.dataType === 'node' ? `${p.data.name}<br/>${p.data.detail ?? ''}` : p.data.tip ?? '') },
    series: [{
      type: 'graph', layout: 'none', roam: true, edgeSymbol: ['none', 'arrow'], edgeSymbolSize: 9,
      data: g.nodes.map((n) => ({ name: n.id, x: n.x, y: n.y, detail: n.detail, symbolSize: 34, itemStyle: { color: n.inCycle ? '#d0312d' : '#2f6fb3' }, label: { show: true, fontSize: 10, color: '#fff' } })),
      // every edge says which lock its waiter asked for, and at which site
      links: g.edges.map((e) => ({ source: e.source, target: e.target, tip: `${e.source} waits for ${e.target}: ${e.label.replace(/\n/g, ', ')}`, lineStyle: { color: e.inCycle ? '#d0312d' : '#8b949e', width: e.inCycle ? 2.5 : 1.2, curveness: 0.2 }, label: { show: !!e.label, formatter: e.label, fontSize: 10, color: e.inCycle ? '#8b1d1a' : '#5d6b7a', backgroundColor: 'rgba(255,255,255,0.9)', padding: [1, 3] } })),
    }],
  }
}
