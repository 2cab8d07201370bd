/** The DTM under the live clock: advancing by small steps never jumps past the target (its timers are cancelled constantly). */
import { describe, expect, it } from 'vitest'
import { stockCluster, transfer, type TransferOutcome } from './testkit'

describe('DTM under a stepping clock', () => {
  it('advance(10) moves exactly 10 ms even when the earliest queued timer was cancelled', () => {
    const { cluster, dtm } = stockCluster({ seed: 8 })
    const out: TransferOutcome[] = []
    transfer(dtm, { origin: 'MBI', from: 'CMB', to: 'KDY', item: 'S001', qty: 1 }, (o) => out.push(o))
    const t0 = cluster.sim.now
    cluster.sim.schedule(100_000, 'test.far', () => {}) // something live far ahead, behind the DTM's cancelled timeouts
    for (let i = 1; i <= 1000; i++) {
      cluster.sim.advance(10)
      expect(cluster.sim.now).toBe(t0 + i * 10)
    }
    expect(out.map((o) => o.outcome)).toEqual(['COMMIT'])
    expect(dtm.summary()).toMatchObject({ locks: 0, inDoubt: 0, active: 0 })
  })
})
