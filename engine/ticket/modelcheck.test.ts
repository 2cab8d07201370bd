import { describe, expect, it } from 'vitest'
import { checkConfig, modelCheck } from './modelcheck'

// Bounds keep each test within a few seconds on a loaded 2-core machine; `complete` says whether the whole
// reachable state space was covered. Runs marked complete are exhaustive.
describe('model checker — corrected protocol', () => {
  it('2 concurrent claimants, every interleaving (exhaustive): at most once, agreement, termination', () => {
    const r = modelCheck(checkConfig(3, [0, 1], {}, { abcast: 'external' }))
    expect(r.violations).toEqual([])
    expect(r.complete).toBe(true)
    expect(r.states).toBeGreaterThan(5_000)
    expect(r.undecidedTerminal).toBe(0)
    console.log(`[modelcheck] 2 claimants exhaustive: ${r.states} states, ${r.transitions} transitions, ${r.terminal} terminal, ${Math.round(r.ms)} ms`)
  })

  it('2 claimants with one crash/restart of any server (bounded)', () => {
    const r = modelCheck(checkConfig(3, [0, 1], { maxCrashes: 1, maxStates: 8_000 }, { abcast: 'external', notifyDecisions: false }))
    expect(r.violations).toEqual([])
    expect(r.states).toBeGreaterThan(1_000)
    console.log(`[modelcheck] 2 claimants + crash: ${r.states} states (complete=${r.complete})`)
  })

  it('3 concurrent claimants (bounded)', () => {
    const r = modelCheck(checkConfig(3, [0, 1, 2], { maxStates: 8_000 }, { abcast: 'external', notifyDecisions: false }))
    expect(r.violations).toEqual([])
    console.log(`[modelcheck] 3 claimants: ${r.states} states (complete=${r.complete})`)
  })

  it('a claimant cut off from the majority never accepts (exhaustive)', () => {
    for (const isolated of [0, 1]) {
      const r = modelCheck(checkConfig(3, [0, 1], { isolated }, { abcast: 'external' }))
      expect(r.violations).toEqual([])
      expect(r.complete).toBe(true)
    }
  })

  it('over the real Multi-Paxos broadcast, with a crash and a leader election (bounded)', () => {
    const r = modelCheck(checkConfig(3, [0, 1], { maxCrashes: 1, maxElections: 1, maxStates: 6_000 }, { notifyDecisions: false }))
    expect(r.violations).toEqual([])
    console.log(`[modelcheck] paxos 2 claimants + crash + election: ${r.states} states (complete=${r.complete})`)
  })
})

describe('model checker — the literal FIG. 8 text', () => {
  it('finds a double acceptance', () => {
    const r = modelCheck(checkConfig(3, [0, 1, 2], {}, { rule: 'literal', durableVotes: false, notifyDecisions: false, abcast: 'external' }))
    expect(r.violations.length).toBe(1)
    expect(r.violations[0].invariant).toBe('at-most-once')
    expect(r.violations[0].trace.length).toBeGreaterThan(5)
    console.log(`[modelcheck] literal rule counterexample after ${r.states} states: ${r.violations[0].detail}\n  ${r.violations[0].trace.join('\n  ')}`)
  })
})
