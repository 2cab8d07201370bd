import { describe, expect, it } from 'vitest'
import { modelCheck, threeSites } from './modelcheck'

const ONE = [{ tx: 'T1', coord: 0, parts: [0, 2] }]

// Plain runs stay small (a loaded 2-core machine); the exhaustive fault spaces run with TWOPC_MC_FULL=1 (CI, .ci/run).
describe('2PC model checker', () => {
  it('linear, one transaction over three sites, every interleaving (exhaustive): atomic, nothing left undecided', () => {
    const r = modelCheck(threeSites('linear', { txns: ONE, maxCrashes: 0, maxLosses: 0 }))
    expect(r.violations).toEqual([])
    expect(r.complete).toBe(true)
    expect(r.undecided).toBe(0)
    expect(r.states).toBeGreaterThan(1000)
    console.log(`[2pc-mc] linear 1 txn: ${r.states} states in ${Math.round(r.ms)} ms`)
  }, 300_000)

  it('shows the blocking case: the coordinator crashes for good while the participants are READY', () => {
    const r = modelCheck(threeSites('centralized', { txns: [{ tx: 'T1', coord: 0, parts: [1, 2] }], maxCrashes: 1, maxLosses: 0, restarts: false, stopAtBlocked: true }))
    expect(r.violations).toEqual([])
    expect(r.blocked).toBe(1)
    const t = r.blockedExample!
    expect(t).toContain('crash S1')
    expect(t.some((x) => x.startsWith('deliver PREPARE'))).toBe(true)
    console.log(`[2pc-mc] blocking trace:\n  ${t.join('\n  ')}`)
  }, 300_000)
})

describe.runIf(process.env.TWOPC_MC_FULL)('2PC model checker — exhaustive fault spaces (TWOPC_MC_FULL=1, minutes)', () => {
  for (const topology of ['centralized', 'linear', 'distributed'] as const) {
    it(`${topology}: one transaction, three sites, one crash (any site, any point) with restart and one message loss`, () => {
      const r = modelCheck(threeSites(topology, { txns: ONE, maxCrashes: 1, maxLosses: 1 }))
      expect(r.violations).toEqual([])
      expect(r.complete).toBe(true)
      expect(r.undecided).toBe(0)
      console.log(`[2pc-mc] ${topology} 1 txn + crash + loss: ${r.states} states in ${Math.round(r.ms)} ms`)
    }, 3_600_000)
    it(`${topology}: two concurrent transactions sharing a site's lock (bounded: 300,000 states)`, () => {
      const r = modelCheck(threeSites(topology, { maxCrashes: 1, maxLosses: 1, maxStates: 300_000 }))
      expect(r.violations).toEqual([])
      console.log(`[2pc-mc] ${topology} 2 txns (bounded): ${r.states} states, complete=${r.complete}`)
    }, 3_600_000)
  }
})
