import { describe, expect, it } from 'vitest'
import { type Mutant, modelCheck, threeSites } from './modelcheck'

const ONE = [{ tx: 'T1', coord: 0, parts: [0, 2] }]

// Plain runs stay small (a loaded 2-core machine); the exhaustive fault spaces run with TWOPC_MC_FULL=1 (CI, .ci/run).
describe('2PC model checker', () => {
  it('linear, one transaction over three sites, every interleaving (exhaustive): atomic, nothing left undecided', () => {
    const r = modelCheck(threeSites('linear', { txns: ONE, foreign: undefined, maxCrashes: 0, maxLosses: 0 }))
    expect(r.violations).toEqual([])
    expect(r.complete).toBe(true)
    expect(r.undecided).toBe(0)
    expect(r.states).toBe(4501) // the space's size: a regression guard on the model itself
    console.log(`[2pc-mc] linear 1 txn: ${r.states} states in ${Math.round(r.ms)} ms`)
  }, 300_000)

  it('two concurrent transactions sharing S3, the direct product with symmetry (bounded smoke run: 5,000 orbits)', () => {
    const r = modelCheck(threeSites('centralized', { both: true, maxStates: 5_000 }))
    expect(r.violations).toEqual([])
    expect(r.states).toBe(5_000)
    console.log(`[2pc-mc] centralized 2 txns (product, bounded): ${r.states} orbits in ${Math.round(r.ms)} ms`)
  }, 300_000)

  it('shows the blocking case: the coordinator crashes for good while the participants are READY', () => {
    const r = modelCheck(threeSites('centralized', { txns: [{ tx: 'T1', coord: 0, parts: [1, 2] }], foreign: undefined, maxCrashes: 1, maxLosses: 0, restarts: false, stopAtBlocked: true }))
    expect(r.violations).toEqual([])
    expect(r.blocked).toBe(1)
    const t = r.blockedExample!
    expect(t).toContain('crash S1')
    expect(t.some((x) => x.startsWith('deliver PREPARE'))).toBe(true)
    console.log(`[2pc-mc] blocking trace:\n  ${t.join('\n  ')}`)
  }, 300_000)

  // Mutation tests: broken protocols the checker must refute with a counterexample trace.
  const mutants: [Mutant, string[]][] = [
    ['commit-on-ready-timeout', ['atomicity', 'commit-needs-decision']],
    ['abort-on-ready-timeout', ['atomicity']],
    ['commit-on-wait-timeout', ['atomicity', 'assertion']],
    ['release-at-ready', ['locks-held-until-end']],
  ]
  for (const [mutant, expected] of mutants) {
    it(`refutes a broken protocol (${mutant}) with a counterexample`, () => {
      const r = modelCheck(threeSites('centralized', { txns: [{ tx: 'T1', coord: 0, parts: [1, 2] }], foreign: undefined, maxCrashes: 0, maxLosses: 0, mutant }))
      expect(r.violations.length).toBe(1)
      expect(expected).toContain(r.violations[0].invariant)
      expect(r.violations[0].trace.length).toBeGreaterThan(3)
      console.log(`[2pc-mc] ${mutant}: ${r.violations[0].invariant} — ${r.violations[0].detail}\n  ${r.violations[0].trace.join('\n  ')}`)
    }, 300_000)
  }
})

// TWOPC_MC_FULL=1 (CI): the centralized space (1,604,004 states, ≈11 min on a loaded 2-core machine);
// TWOPC_MC_FULL=all: the linear and distributed spaces too (larger; tens of minutes).
describe.runIf(process.env.TWOPC_MC_FULL)('2PC model checker — exhaustive fault spaces (TWOPC_MC_FULL=1, minutes)', () => {
  for (const topology of (process.env.TWOPC_MC_FULL === 'all' ? ['centralized', 'linear', 'distributed'] : ['centralized']) as ('centralized' | 'linear' | 'distributed')[]) {
    it(`${topology}: two concurrent transactions over three sites (T1 with T2 as the lock holder at the shared site), one crash (any site, any point) with restart and one message loss`, () => {
      const r = modelCheck(threeSites(topology))
      expect(r.violations).toEqual([])
      expect(r.complete).toBe(true)
      console.log(`[2pc-mc] ${topology} 2 txns (composition) + crash + loss: ${r.states} states in ${Math.round(r.ms)} ms, ${r.undecided} undecided terminal worlds`)
    }, 3_600_000)
  }
})
