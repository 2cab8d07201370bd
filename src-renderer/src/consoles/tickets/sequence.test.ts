import { describe, expect, it } from 'vitest'
import { layoutTrace } from './sequence'

describe('ticket sequence layout', () => {
  it('pairs sends with deliveries and losses per channel, keeps marks on lanes', () => {
    const l = layoutTrace(['CMB', 'MBI', 'KDY'], [
      { at: 10, kind: 'submit', site: 'CMB', detail: 'CMB receives 1' },
      { at: 10, kind: 'send', msg: 'NEWTKT', from: 'CMB', to: 'KDY', detail: 'NEWTKT(CMB, 1)' },
      { at: 10, kind: 'send', msg: 'NEWTKT', from: 'CMB', to: 'MBI', detail: 'NEWTKT(CMB, 1)' },
      { at: 14, kind: 'deliver', msg: 'NEWTKT', from: 'CMB', to: 'KDY', detail: 'NEWTKT(CMB, 1)' },
      { at: 14, kind: 'send', msg: 'REPLY', from: 'KDY', to: 'CMB', detail: 'ACK(voted CMB, 1)' },
      { at: 18, kind: 'deliver', msg: 'REPLY', from: 'KDY', to: 'CMB', detail: 'ACK(voted CMB, 1)' },
      { at: 18, kind: 'decide', site: 'CMB', detail: 'CMB ACCEPTS 1' },
      { at: 28, kind: 'drop', msg: 'NEWTKT', from: 'CMB', to: 'MBI', detail: 'NEWTKT(CMB, 1) lost: link down' },
    ])
    expect(l.arrows).toHaveLength(3)
    expect(l.arrows[0]).toMatchObject({ from: 0, to: 2, t0: 10, t1: 14, kind: 'NEWTKT', lost: false })
    expect(l.arrows[1]).toMatchObject({ from: 2, to: 0, t0: 14, t1: 18, kind: 'REPLY' })
    expect(l.arrows[2]).toMatchObject({ from: 0, to: 1, t0: 10, t1: 28, lost: true })
    expect(l.marks.map((m) => [m.lane, m.kind])).toEqual([[0, 'submit'], [0, 'decide']])
    expect([l.t0, l.t1]).toEqual([10, 28])
  })
})
