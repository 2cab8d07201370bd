import { describe, expect, it } from 'vitest'
import { wfgGraph } from './wfgGraph'

describe('wait-for graph', () => {
  it('highlights exactly the cycle edges of a wait-for graph', () => {
    const g = wfgGraph([{ from: 'A-1', to: 'B-1' }, { from: 'B-1', to: 'A-1' }, { from: 'C-1', to: 'A-1' }], [['A-1', 'B-1']])
    expect(g.edges.filter((e) => e.inCycle).map((e) => e.source).sort()).toEqual(['A-1', 'B-1'])
    expect(g.nodes.find((n) => n.id === 'C-1')!.inCycle).toBe(false)
  })

  it('labels each edge with the lock waited for and the site', () => {
    const g = wfgGraph([{ from: 'A-1', to: 'B-1' }, { from: 'B-1', to: 'A-1' }], [['A-1', 'B-1']], [], [{ from: 'A-1', to: 'B-1', site: 'KDY', lock: 'X Stock_KDY:3' }, { from: 'B-1', to: 'A-1', site: 'CMB', lock: 'X Stock_CMB:3' }])
    expect(g.edges.map((e) => e.label)).toEqual(['X Stock_KDY:3 @KDY', 'X Stock_CMB:3 @CMB'])
  })
})
