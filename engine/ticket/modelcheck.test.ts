import { describe, expect, it } from 'vitest'
import { checkConfig, modelCheck } from './modelcheck'

// `complete: true` means the whole reachable state space was covered (no state cap hit). Runs named
// "bounded" stop at a state cap so they stay within ~10 s on a loaded 2-core machine. The full 3-claimant
// (3,743,676 worlds, ≈ 5 min) and 2-claimant + crash/restart (849,586 worlds, ≈ 1 min) spaces are covered by
// the opt-in exhaustive runs at the end (TICKET_MC_FULL=1); the Multi-Paxos run is bounded only.
describe('model checker — corrected protocol', () => {
  it('2 concurrent claimants, every interleaving (exhaustive): at most once, agreement, termination', () => {
    const r = modelCheck(checkConfig(3, [0, 1], {}, { abcast: 'external' }))
    expect(r.violations).toEqual([])
    expect(r.complete).toBe(true)
    expect(r.states).toBe(26_320)
    expect(r.undecidedTerminal).toBe(0)
    console.log(`[modelcheck] 2 claimants exhaustive: ${r.states} states, ${r.transitions} transitions, ${r.terminal} terminal, ${Math.round(r.ms)} ms (${Math.round(r.states / (r.ms / 1000))} states/s)`)
  })

  it('sleep sets prune transitions but never worlds (same states and terminal worlds with and without)', () => {
    for (const over of [{}, { isolated: 0 }]) {
      const a = modelCheck(checkConfig(3, [0, 1], { ...over, sleepSets: false }, { abcast: 'external' }))
      const b = modelCheck(checkConfig(3, [0, 1], { ...over, sleepSets: true }, { abcast: 'external' }))
      expect(a.complete && b.complete).toBe(true)
      expect(b.states).toBe(a.states)
      expect(b.terminal).toBe(a.terminal)
      expect(b.transitions).toBeLessThan(a.transitions)
    }
  })

  it('2 claimants with one crash/restart of any server (bounded: 100,000 states)', () => {
    const r = modelCheck(checkConfig(3, [0, 1], { maxCrashes: 1, maxStates: 100_000 }, { abcast: 'external', notifyDecisions: false }))
    expect(r.violations).toEqual([])
    expect(r.states).toBe(100_000)
    expect(r.undecidedTerminal).toBe(0)
    console.log(`[modelcheck] 2 claimants + crash (bounded): ${r.states} states (complete=${r.complete}) in ${Math.round(r.ms)} ms`)
  })

  it('3 concurrent claimants (bounded: 100,000 states)', () => {
    const r = modelCheck(checkConfig(3, [0, 1, 2], { maxStates: 100_000 }, { abcast: 'external', notifyDecisions: false }))
    expect(r.violations).toEqual([])
    expect(r.states).toBe(100_000)
    expect(r.undecidedTerminal).toBe(0)
    console.log(`[modelcheck] 3 claimants (bounded): ${r.states} states (complete=${r.complete}) in ${Math.round(r.ms)} ms`)
  })

  it('a claimant cut off from the majority never accepts (exhaustive)', () => {
    for (const isolated of [0, 1]) {
      const r = modelCheck(checkConfig(3, [0, 1], { isolated }, { abcast: 'external' }))
      expect(r.violations).toEqual([])
      expect(r.complete).toBe(true)
    }
  })

  it('over the real Multi-Paxos broadcast, with a crash and a leader election (bounded: 60,000 states)', () => {
    const r = modelCheck(checkConfig(3, [0, 1], { maxCrashes: 1, maxElections: 1, maxStates: 60_000 }, { notifyDecisions: false }))
    expect(r.violations).toEqual([])
    expect(r.states).toBe(60_000)
    console.log(`[modelcheck] paxos 2 claimants + crash + election (bounded): ${r.states} states (complete=${r.complete}) in ${Math.round(r.ms)} ms`)
  })
})

describe('model checker — tickets that are sales (fix 5): sold once, acceptance and sale one outcome', () => {
  it('a ticket already a sale at a site is never accepted, and every decision names that site (exhaustive, 2 claimants)', () => {
    for (const soldAt of [0, 2]) {
      const r = modelCheck(checkConfig(3, [0, 1], { soldAt }, { abcast: 'external' }))
      expect(r.violations).toEqual([])
      expect(r.complete).toBe(true)
      expect(r.undecidedTerminal).toBe(0)
    }
  })

  it('… also with a crash/restart of any server (bounded: 100,000 states)', () => {
    const r = modelCheck(checkConfig(3, [0, 1], { soldAt: 2, maxCrashes: 1, maxStates: 100_000 }, { abcast: 'external', notifyDecisions: false }))
    expect(r.violations).toEqual([])
    expect(r.undecidedTerminal).toBe(0)
  })

  it('a claimant whose sale cannot be written never reports the ticket accepted, and nobody else takes it (exhaustive)', () => {
    for (const unwritable of [0, 1]) {
      const r = modelCheck(checkConfig(3, [0, 1], { unwritable }, { abcast: 'external' }))
      expect(r.violations).toEqual([])
      expect(r.complete).toBe(true)
    }
  })

  it('servers that ignore the sales ledger accept a ticket that is already a sale (the checker finds it)', () => {
    const r = modelCheck(checkConfig(3, [0, 1], { soldAt: 2, ignoreSales: true }, { abcast: 'external' }))
    expect(r.violations.length).toBe(1)
    expect(r.violations[0].invariant).toBe('sold-once')
  })
})

describe('model checker — it finds broken protocols', () => {
  it('the literal FIG. 8 text: a double acceptance', () => {
    const r = modelCheck(checkConfig(3, [0, 1, 2], {}, { rule: 'literal', durableVotes: false, notifyDecisions: false, abcast: 'external' }))
    expect(r.violations.length).toBe(1)
    expect(r.violations[0].invariant).toBe('at-most-once')
    expect(r.violations[0].trace.length).toBeGreaterThan(5)
    console.log(`[modelcheck] literal rule counterexample after ${r.states} states: ${r.violations[0].detail}\n  ${r.violations[0].trace.join('\n  ')}`)
  })

  it('the tally rule with volatile votes (defect 2 unfixed): a crash/restart lets a server vote twice', () => {
    const r = modelCheck(checkConfig(3, [0, 1], { maxCrashes: 1 }, { abcast: 'external', durableVotes: false, notifyDecisions: false }))
    // a restarted server that forgot its vote votes again: two majorities (→ disagreement or two acceptances)
    expect(r.violations.length).toBe(1)
    expect(['at-most-once', 'agreement']).toContain(r.violations[0].invariant)
    expect(r.violations[0].trace.some((x) => x.startsWith('crash'))).toBe(true)
    expect(r.violations[0].trace.some((x) => x.startsWith('restart'))).toBe(true)
    console.log(`[modelcheck] volatile votes: ${r.violations[0].invariant} after ${r.states} states: ${r.violations[0].detail}`)
  })
})

describe.runIf(process.env.TICKET_MC_FULL)('model checker — exhaustive large runs (opt-in: TICKET_MC_FULL=1, minutes)', () => {
  it('3 concurrent claimants, exhaustive', () => {
    const r = modelCheck(checkConfig(3, [0, 1, 2], { maxStates: 50_000_000 }, { abcast: 'external', notifyDecisions: false }))
    expect(r.violations).toEqual([])
    expect(r.complete).toBe(true)
    expect(r.states).toBe(3_743_676)
    expect(r.undecidedTerminal).toBe(0)
    console.log(`[modelcheck] 3 claimants exhaustive: ${r.states} states, ${r.transitions} transitions in ${Math.round(r.ms)} ms`)
  }, 3_600_000)

  it('3 concurrent claimants, the ticket already a sale at a site, exhaustive', () => {
    const r = modelCheck(checkConfig(3, [0, 1, 2], { soldAt: 1, maxStates: 50_000_000 }, { abcast: 'external', notifyDecisions: false }))
    expect(r.violations).toEqual([])
    expect(r.complete).toBe(true)
    expect(r.undecidedTerminal).toBe(0)
    console.log(`[modelcheck] 3 claimants, sold at S2, exhaustive: ${r.states} states in ${Math.round(r.ms)} ms`)
  }, 3_600_000)

  it('2 claimants + one crash/restart, a claimant that cannot write its sale, exhaustive', () => {
    const r = modelCheck(checkConfig(3, [0, 1], { unwritable: 0, maxCrashes: 1, maxStates: 50_000_000 }, { abcast: 'external', notifyDecisions: false }))
    expect(r.violations).toEqual([])
    expect(r.complete).toBe(true)
    expect(r.undecidedTerminal).toBe(0)
    console.log(`[modelcheck] 2 claimants + crash + unwritable exhaustive: ${r.states} states in ${Math.round(r.ms)} ms`)
  }, 3_600_000)

  it('2 claimants + one crash/restart, exhaustive', () => {
    const r = modelCheck(checkConfig(3, [0, 1], { maxCrashes: 1, maxStates: 50_000_000 }, { abcast: 'external', notifyDecisions: false }))
    expect(r.violations).toEqual([])
    expect(r.complete).toBe(true)
    expect(r.states).toBe(849_586)
    expect(r.undecidedTerminal).toBe(0)
    console.log(`[modelcheck] 2 claimants + crash exhaustive: ${r.states} states, ${r.transitions} transitions in ${Math.round(r.ms)} ms`)
  }, 3_600_000)
})
