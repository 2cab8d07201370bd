import { describe, it, expect } from 'vitest'
import { planGraph } from './planGraph'
import type { PlanView } from '../../../../engine/api/query'

describe('planGraph', () => {
  it('places sites, used and pruned fragments, and aggregates flows between sites', () => {
    const plan: PlanView = {
      statement: 'select', querySite: 'KDY', assemblySite: 'KDY', strategy: 'single-site', requestClass: 'remote request',
      fragments: [
        { ref: 'EMPLOYEES', fragment: 'Employees_MBI', status: 'used', site: 'MBI', server: 'primary', role: 'authoritative' },
        { ref: 'EMPLOYEES', fragment: 'Employees_CMB', status: 'pruned', reason: "predicate BRCODE = 'CMB' contradicts" },
      ],
      joins: [],
      steps: [
        { id: 1, kind: 'request', site: 'KDY', to: 'MBI', actualBytes: 80, startMs: 0, endMs: 20 },
        { id: 2, kind: 'ship', site: 'MBI', to: 'KDY', actualBytes: 400, startMs: 20, endMs: 41 },
        { id: 3, kind: 'ship', site: 'MBI', to: 'KDY', actualBytes: 100, startMs: 20, endMs: 42 },
      ],
      notes: [], sitesInvolved: ['KDY', 'MBI'],
    }
    const g = planGraph(plan, ['CMB', 'MBI', 'KDY'], (n) => (n === 'Employees_CMB' ? 'CMB' : undefined))
    expect(g.nodes.filter((n) => n.kind === 'site').map((n) => n.label)).toEqual(['CMB', 'MBI', 'KDY'])
    expect(g.pruned).toBe(1)
    expect(g.nodes.find((n) => n.kind === 'pruned')!.site).toBe('CMB')
    const back = g.edges.find((e) => e.source === 'site:MBI' && e.target === 'site:KDY')!
    expect(back.bytes).toBe(500)
    expect(g.edges).toHaveLength(2)
  })
})
