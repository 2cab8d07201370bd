import { describe, expect, it } from 'vitest'
import { sequenceModel } from './sequence'
import { wfgGraph } from '../deadlocks/wfgGraph'

describe('2PC sequence model', () => {
  it('pairs sends with deliveries, marks lost messages and keeps state changes as marks', () => {
    const m = sequenceModel([
      { at: 0, kind: 'state', site: 'CMB', detail: 'coordinator WAIT' },
      { at: 0, kind: 'send', site: 'CMB', to: 'KDY', msg: 'txn.prepare', id: 1 },
      { at: 4.2, kind: 'deliver', site: 'KDY', to: 'CMB', msg: 'txn.prepare', id: 1 },
      { at: 4.2, kind: 'send', site: 'KDY', to: 'CMB', msg: 'txn.vote', id: 2 },
      { at: 5, kind: 'drop', site: 'CMB', msg: 'txn.vote', id: 2, detail: 'link CMB-KDY failed in flight' },
    ], ['CMB', 'KDY'])
    expect(m.arrows).toEqual([
      { id: 1, from: 'CMB', to: 'KDY', msg: 'txn.prepare', t0: 0, t1: 4.2, lost: null, r0: 1, r1: 2 },
      { id: 2, from: 'KDY', to: 'CMB', msg: 'txn.vote', t0: 4.2, t1: null, lost: 'link CMB-KDY failed in flight', r0: 3, r1: null },
    ])
    expect(m.marks).toEqual([{ site: 'CMB', t: 0, kind: 'state', text: 'coordinator WAIT', r: 0 }])
    expect(m.rowTimes).toEqual([0, 0, 4.2, 4.2])
    expect(m.t1).toBe(5)
  })

  it('highlights exactly the cycle edges of a wait-for graph', () => {
    const g = wfgGraph([{ from: 'A-1', to: 'B-1' }, { from: 'B-1', to: 'A-1' }, { from: 'C-1', to: 'A-1' }], [['A-1', 'B-1']])
    expect(g.edges.filter((e) => e.inCycle).map((e) => e.source).sort()).toEqual(['A-1', 'B-1'])
    expect(g.nodes.find((n) => n.id === 'C-1')!.inCycle).toBe(false)
  })
})
