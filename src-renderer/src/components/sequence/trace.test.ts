import { describe, expect, it } from 'vitest'
import { sequenceModel, traceFromTickets, traceFromTimeline } from './trace'

describe('message traces', () => {
  it('a 2PC timeline: sends pair with deliveries by id, lost messages are marked, state changes are marks', () => {
    const m = sequenceModel(traceFromTimeline([
      { at: 0, kind: 'state', site: 'CMB', detail: 'coordinator WAIT' },
      { at: 0, kind: 'send', site: 'CMB', to: 'KDY', msg: 'txn.prepare', id: 1 },
      { at: 4.2, kind: 'deliver', site: 'KDY', to: 'CMB', msg: 'txn.prepare', id: 1 },
      { at: 4.2, kind: 'send', site: 'KDY', to: 'CMB', msg: 'txn.vote', id: 2 },
      { at: 5, kind: 'drop', site: 'CMB', msg: 'txn.vote', id: 2, detail: 'link CMB-KDY failed in flight' },
    ], ['CMB', 'KDY']))
    expect(m.arrows).toEqual([
      { id: '1', from: 'CMB', to: 'KDY', label: 'PREPARE', text: 'PREPARE', t0: 0, t1: 4.2, lost: null, r0: 1, r1: 2 },
      { id: '2', from: 'KDY', to: 'CMB', label: 'VOTE', text: 'VOTE', t0: 4.2, t1: null, lost: 'link CMB-KDY failed in flight', r0: 3, r1: null },
    ])
    expect(m.marks).toEqual([{ site: 'CMB', t: 0, kind: 'state', text: 'coordinator WAIT', labelled: true, r: 0 }])
    expect(m.rowTimes).toEqual([0, 0, 4.2, 4.2])
    expect(m.t1).toBe(5)
  })

  it('a ticket trace: sends pair with deliveries and losses per channel in order; every event has a row of its own', () => {
    const m = sequenceModel(traceFromTickets(['CMB', 'MBI', 'KDY'], [
      { at: 10, kind: 'submit', site: 'CMB', detail: 'CMB receives 1' },
      { at: 10, kind: 'send', msg: 'NEWTKT', from: 'CMB', to: 'KDY', detail: 'NEWTKT(CMB, 1)' },
      { at: 10, kind: 'send', msg: 'NEWTKT', from: 'CMB', to: 'MBI', detail: 'NEWTKT(CMB, 1)' },
      { at: 14, kind: 'deliver', msg: 'NEWTKT', from: 'CMB', to: 'KDY', detail: 'NEWTKT(CMB, 1)' },
      { at: 14, kind: 'send', msg: 'REPLY', from: 'KDY', to: 'CMB', detail: 'ACK(voted CMB, 1)' },
      { at: 18, kind: 'deliver', msg: 'REPLY', from: 'KDY', to: 'CMB', detail: 'ACK(voted CMB, 1)' },
      { at: 18, kind: 'decide', site: 'CMB', detail: 'CMB ACCEPTS 1' },
      { at: 28, kind: 'drop', msg: 'NEWTKT', from: 'CMB', to: 'MBI', detail: 'NEWTKT(CMB, 1) lost: link down' },
    ]))
    expect(m.arrows.map((a) => [a.from, a.to, a.label, a.t0, a.t1, a.lost])).toEqual([
      ['CMB', 'KDY', 'NEWTKT', 10, 14, null],
      ['CMB', 'MBI', 'NEWTKT', 10, null, 'link down'],
      ['KDY', 'CMB', 'REPLY', 14, 18, null],
    ])
    expect(m.marks.map((x) => [x.site, x.kind, x.labelled])).toEqual([['CMB', 'submit', true], ['CMB', 'decide', true]])
    // one row per event that is drawn (a loss marks its arrow instead): labels cannot share a row
    expect(m.rowTimes).toHaveLength(7)
    const rows = [...m.arrows.map((a) => a.r0), ...m.marks.map((x) => x.r)]
    expect(new Set(rows).size).toBe(rows.length)
    expect([m.t0, m.t1]).toEqual([10, 28])
  })
})
