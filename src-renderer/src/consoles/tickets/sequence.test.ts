import { describe, expect, it } from 'vitest'
import { layoutTrace, placeLabels } from './sequence'

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

describe('sequence label placement', () => {
  it('keeps free labels where they are, moves colliding ones by a line, drops what finds no room', () => {
    const h = 12
    // three labels on the same spot (arrows crossing), one far away
    const ys = placeLabels([
      { cx: 100, cy: 50, w: 80 }, { cx: 105, cy: 50, w: 80 }, { cx: 95, cy: 51, w: 80 }, { cx: 400, cy: 50, w: 80 },
    ], { h, maxShift: 24 })
    expect(ys[0]).toBe(50)
    expect(ys[3]).toBe(50)
    expect(ys[1]).not.toBeNull()
    expect(ys[2]).not.toBeNull()
    const placed = [0, 1, 2].map((i) => ys[i]!)
    // no two of the overlapping labels share a line
    for (let a = 0; a < 3; a++) for (let b = a + 1; b < 3; b++) expect(Math.abs(placed[a] - placed[b])).toBeGreaterThanOrEqual(h)
    // a fourth on the same spot has no room within one line of shift: left out
    const crowded = placeLabels([0, 1, 2, 3].map(() => ({ cx: 100, cy: 50, w: 80 })), { h, maxShift: 12 })
    expect(crowded.filter((y) => y === null)).toHaveLength(1)
    // a fixed obstacle pushes a label away
    expect(placeLabels([{ cx: 100, cy: 50, w: 40 }], { h, maxShift: 24, fixed: [{ cx: 100, cy: 50, w: 40 }] })[0]).not.toBe(50)
  })
})
