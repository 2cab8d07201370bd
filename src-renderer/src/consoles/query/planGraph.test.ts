import { describe, it, expect } from 'vitest'
import { fallbacks, planGraph } from './planGraph'
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

  it("draws an EXPLAIN's flows with the estimated bytes (nothing ran: no actual figures)", () => {
    const plan: PlanView = {
      statement: 'select', querySite: 'KDY', assemblySite: 'KDY', strategy: 'single-site', requestClass: 'remote request', fragments: [], joins: [],
      steps: [
        { id: 1, kind: 'request', site: 'KDY', to: 'MBI', estBytes: 80, startMs: 0, endMs: 20 },
        { id: 2, kind: 'subquery', site: 'MBI', estRows: 7, startMs: 20, endMs: 20 },
        { id: 3, kind: 'ship', site: 'MBI', to: 'KDY', estBytes: 300, startMs: 20, endMs: 41 },
      ],
      notes: [], sitesInvolved: ['KDY', 'MBI'], estimated: true,
    }
    const back = planGraph(plan, ['CMB', 'MBI', 'KDY'], () => undefined).edges.find((e) => e.source === 'site:MBI')!
    expect(back.bytes).toBe(300)
    expect(back.label).toBe('ship · est. 300 B')
    // a plan that ran counts only what was sent
    expect(planGraph({ ...plan, estimated: undefined }, ['CMB', 'MBI', 'KDY'], () => undefined).edges.find((e) => e.source === 'site:MBI')!.bytes).toBe(0)
  })
})

describe('fallbacks and down sites', () => {
  const base: PlanView = {
    statement: 'select', querySite: 'CMB', assemblySite: 'CMB', strategy: 'single-site', requestClass: 'remote request',
    fragments: [
      { ref: 'EMPLOYEES', fragment: 'Employees_KDY', status: 'used', site: 'CMB', server: 'repository', role: 'repository' },
      { ref: 'STOCK_MBI', fragment: 'Stock_MBI', status: 'used', site: 'CMB', server: 'primary', role: 'scheduled-copy', stalenessMs: 3_600_000 },
      { ref: 'ITEMS', fragment: 'Items', status: 'used', site: 'CMB', server: 'primary', role: 'replica' },
    ],
    joins: [], steps: [], notes: [], sitesInvolved: ['CMB'],
  }
  it('names each fragment read from a copy, where from and how stale; replicas are not fallbacks', () => {
    const f = fallbacks(base)
    expect(f.map((x) => x.fragment)).toEqual(['Employees_KDY', 'Stock_MBI'])
    expect(f[0].source).toBe('the main repository at CMB')
    expect(f[0].staleness).toMatch(/up to date/)
    expect(f[1].staleness).toBe('stale by 60 min (last refresh)')
    const lag = fallbacks({ ...base, notes: ['Employees_KDY read from EMPLOYEES@CMB, which still has replication batches to apply'] })
    expect(lag[0].staleness).toMatch(/behind/)
  })
  it('draws a down site down and keeps each role on its own line', () => {
    const g = planGraph({ ...base, querySite: 'KDY' }, ['CMB', 'MBI', 'KDY'], () => undefined, ['KDY'])
    const kdy = g.nodes.find((n) => n.id === 'site:KDY')!
    expect(kdy.down).toBe(true)
    expect(kdy.role).toBe('query site\nDOWN')
    expect(g.nodes.find((n) => n.id === 'site:CMB')!.role).toBe('assembly site')
  })
})
