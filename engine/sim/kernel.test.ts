import { describe, it, expect } from 'vitest'
import { Simulator } from './kernel'
import { MESSAGE_HEADER_BYTES, Network } from '../net/network'
import { defaultTopology } from '../topology/default'
import { Cluster } from '../cluster'

function workload(seed: number): string {
  const sim = new Simulator({ seed })
  const net = new Network(sim, defaultTopology())
  for (let i = 0; i < 200; i++) {
    const d = sim.rng.int(0, 5000)
    sim.schedule(d, 'work', () => {
      const sites = ['CMB', 'MBI', 'KDY']
      const from = sim.rng.pick(sites)
      const to = sim.rng.pick(sites)
      net.send({ from, to, kind: 'msg', bytes: sim.rng.int(10, 50_000), payload: i, onDeliver: () => sim.record('got', String(i)) })
    })
  }
  sim.runUntilIdle()
  return sim.traceHash
}

describe('kernel determinism and link timing', () => {
  it('same seed ⇒ same trace hash; different seed ⇒ different', () => {
    expect(workload(42)).toBe(workload(42))
    expect(workload(42)).not.toBe(workload(43))
  })

  it('1 MB over an idle T1 takes 5.18 s + propagation delay (+ header/encryption overhead)', () => {
    const sim = new Simulator({ seed: 1 })
    const topo = defaultTopology()
    for (const l of topo.links) l.encrypted = false
    const net = new Network(sim, topo)
    let at = 0
    const t0 = sim.now
    net.send({ from: 'CMB', to: 'KDY', kind: 'bulk', bytes: 1_000_000 - MESSAGE_HEADER_BYTES, payload: null, onDeliver: (d) => { at = d.deliveredAt } })
    sim.runUntilIdle()
    const delay = topo.links.find((l) => l.id === 'CMB-KDY')!.delayMs
    expect(at - t0).toBeCloseTo(1_000_000 * 8 / 1_544_000 * 1000 + delay, 3)
    expect((at - t0 - delay) / 1000).toBeCloseTo(5.18, 2)
    // a busy T1 queues: a second MB right behind the first arrives 5.18 s later
    let at2 = 0
    const t1 = sim.now
    net.send({ from: 'CMB', to: 'KDY', kind: 'bulk', bytes: 1_000_000 - MESSAGE_HEADER_BYTES, payload: null, onDeliver: () => undefined })
    net.send({ from: 'CMB', to: 'KDY', kind: 'bulk', bytes: 1_000_000 - MESSAGE_HEADER_BYTES, payload: null, onDeliver: (d) => { at2 = d.deliveredAt } })
    sim.runUntilIdle()
    expect((at2 - t1 - delay) / 1000).toBeCloseTo(10.36, 2)
  })

  it('daemon events (scheduled refreshes) do not keep runUntilIdle going', async () => {
    const c = await Cluster.create({ seed: 2, sales: 0 })
    expect(c.sim.pending).toBeGreaterThan(0)
    const t = c.sim.now
    c.sim.runUntilIdle()
    expect(c.sim.now).toBe(t)
    c.sim.advance(24 * 3_600_000) // passes 12:00 and 18:00: two refreshes
    expect(c.events.filter((e) => e.message.startsWith('Stock_MBI refreshed')).length).toBe(2)
  })
})
