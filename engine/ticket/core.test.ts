import { describe, expect, it } from 'vitest'
import { NOBODY, defaultConfig, evaluateTally, majority, newServer, receive, crash, restart, submit, type Msg, type Out } from './core'
import { apply, checkConfig, checkInvariants, enabled, initialWorld, type CheckConfig, type World } from './modelcheck'

describe('tally rule (fix 4)', () => {
  it('needs a majority of votes for one claimant; voids when nobody can reach one', () => {
    expect(majority(3)).toBe(2)
    expect(majority(4)).toBe(3)
    expect(evaluateTally({ 0: 0, 1: 0 }, 3)).toBe(0)
    expect(evaluateTally({ 0: 0, 2: 1 }, 3)).toBeUndefined() // the third vote decides
    expect(evaluateTally({ 0: 0, 1: 1, 2: 2 }, 3)).toBe(NOBODY)
    expect(evaluateTally({ 0: NOBODY, 1: NOBODY }, 3)).toBe(NOBODY)
    expect(evaluateTally({ 0: 1, 1: 1, 2: 0 }, 4)).toBeUndefined()
    expect(evaluateTally({ 0: 1, 1: 1, 2: 1 }, 4)).toBe(1)
  })
})

/** Drives a world by choosing actions with a predicate (for directed scenarios). */
function step(w: World, cfg: CheckConfig, pred: (d: string, a: ReturnType<typeof enabled>[number]) => boolean): void {
  const acts = enabled(w, cfg)
  const a = acts.find((x) => pred(label(x), x))
  if (!a) throw new Error(`no enabled action matches; enabled: ${acts.map(label).join(' | ')}`)
  apply(w, cfg, a)
}
function label(a: ReturnType<typeof enabled>[number]): string {
  if (a.a === 'deliver') return `${a.msg.t} ${a.msg.from}>${a.msg.to}`
  if (a.a === 'order') return `order ${a.id}`
  return `${a.a} ${a.server}`
}

/**
 * Spec §9 defect 4: three servers each voting for itself; REPLIES_1 = {S1,S3}, REPLIES_2 = {S2,S1},
 * REPLIES_3 = {S3,S2}; the atomic broadcast delivers the claims in the order S3, S1, S2.
 */
function threeSelfVotes(rule: 'literal' | 'fixed'): { w: World; cfg: CheckConfig } {
  const cfg = checkConfig(3, [0, 1, 2], {}, { rule, abcast: 'external', durableVotes: rule === 'fixed', notifyDecisions: false })
  const w = initialWorld(cfg)
  for (const s of [0, 1, 2]) step(w, cfg, (d) => d === `submit ${s}`) // each votes for itself first
  // every NEWTKT meets a server that already voted for itself (all NACK); then S1 hears S3, S2 hears S1, S3 hears S2
  for (let k = 0; k < 6; k++) step(w, cfg, (d) => d.startsWith('NEWTKT'))
  for (const [r, c] of [[2, 0], [0, 1], [1, 2]]) step(w, cfg, (d) => d === `REPLY ${r}>${c}`)
  for (const id of ['c2:T1', 'c0:T1', 'c1:T1']) step(w, cfg, (d) => d === `order ${id}`)
  for (let k = 0; k < 9; k++) step(w, cfg, (d) => d.startsWith('learn'))
  return { w, cfg }
}

describe('the literal FIG. 8 rule (counterexample)', () => {
  it('accepts the same ticket twice: delivery order S3, S1, S2 → S1 and S2 accept', () => {
    const { w, cfg } = threeSelfVotes('literal')
    expect(w.log.map((v) => (v.k === 'claim' ? v.claimant : -9))).toEqual([2, 0, 1])
    const accepted = w.s.filter((x) => x.d.received.T1?.status === 'accepted').map((x) => `S${x.id + 1}`)
    expect(accepted).toEqual(['S1', 'S2'])
    expect(checkInvariants(w, cfg)?.invariant).toBe('at-most-once')
  })
  it('the fixed rule on the same run voids the ticket at every server (no acceptance, all agree)', () => {
    const { w, cfg } = threeSelfVotes('fixed')
    // votes were published by the log; each server saw 1 vote per claimant → nobody can reach 2
    const accepted = w.s.filter((x) => x.d.received.T1?.status === 'accepted')
    expect(accepted).toHaveLength(0)
    expect(w.s.map((x) => x.d.decided.T1)).toEqual([NOBODY, NOBODY, NOBODY])
    expect(checkInvariants(w, cfg)).toBeUndefined()
  })
})

/** S3 votes for S1, S1 accepts conflict-free, S3 crashes and restarts, then S2's NEWTKT reaches S3. */
function revoteAfterCrash(durableVotes: boolean): { w: World; cfg: CheckConfig } {
  const cfg = checkConfig(3, [0, 1], { maxCrashes: 1 }, { abcast: 'external', durableVotes, notifyDecisions: false })
  const w = initialWorld(cfg)
  step(w, cfg, (d) => d === 'submit 0')
  step(w, cfg, (d) => d === 'NEWTKT 0>2')
  step(w, cfg, (d) => d === 'REPLY 2>0')
  step(w, cfg, (d) => d === 'crash 2')
  step(w, cfg, (d) => d === 'restart 2')
  step(w, cfg, (d) => d === 'submit 1')
  step(w, cfg, (d) => d === 'NEWTKT 1>2')
  step(w, cfg, (d) => d === 'REPLY 2>1')
  return { w, cfg }
}

describe('durable votes (fix 2)', () => {
  it('literal volatile aTKT: a restarted server votes twice and the ticket is accepted twice', () => {
    const { w, cfg } = revoteAfterCrash(false)
    expect(w.s.filter((x) => x.d.received.T1?.status === 'accepted').map((x) => x.id)).toEqual([0, 1])
    expect(checkInvariants(w, cfg)?.invariant).toBe('at-most-once')
  })
  it('with the vote forced to stable storage the same schedule accepts once', () => {
    const { w, cfg } = revoteAfterCrash(true)
    expect(w.s.filter((x) => x.d.received.T1?.status === 'accepted').map((x) => x.id)).toEqual([0])
    expect(w.s[1].v.claims.T1?.mode).toBe('conflict') // S2 saw {S2→S2, S3→S1}: conflict mode
    // run everything left (no more faults): the log decides S1 everywhere
    for (let k = 0; k < 200; k++) {
      const acts = enabled(w, cfg).filter((a) => a.a !== 'crash')
      if (!acts.length) break
      apply(w, cfg, acts[0])
      expect(checkInvariants(w, cfg)).toBeUndefined()
    }
    expect(w.s.map((x) => x.d.decided.T1)).toEqual([0, 0, 0])
    expect(w.s[1].d.received.T1?.status).toBe('rejected')
  })
  function collect(): { out: Out; sent: Msg[] } {
    const sent: Msg[] = []
    return { sent, out: { send: (m) => sent.push(m), decided: () => {} } }
  }
  it('a restarted server answers with its logged vote and never votes twice', () => {
    const cfg = defaultConfig(3)
    const s = newServer(2, cfg)
    const { out, sent } = collect()
    receive(s, cfg, { t: 'NEWTKT', from: 0, to: 2, tkt: 'X' }, out)
    expect(sent.at(-1)).toMatchObject({ t: 'REPLY', votedFor: 0 })
    crash(s, cfg)
    receive(s, cfg, { t: 'NEWTKT', from: 1, to: 2, tkt: 'X' }, out) // down: ignored
    restart(s, cfg, out)
    receive(s, cfg, { t: 'NEWTKT', from: 1, to: 2, tkt: 'X' }, out)
    expect(sent.at(-1)).toMatchObject({ t: 'REPLY', to: 1, votedFor: 0 }) // NACK naming S1's claimant
  })
  it('with volatile votes (the literal text) the restarted server votes again', () => {
    const cfg = defaultConfig(3, { durableVotes: false })
    const s = newServer(2, cfg)
    const { out, sent } = collect()
    receive(s, cfg, { t: 'NEWTKT', from: 0, to: 2, tkt: 'X' }, out)
    crash(s, cfg)
    restart(s, cfg, out)
    receive(s, cfg, { t: 'NEWTKT', from: 1, to: 2, tkt: 'X' }, out)
    expect(sent.at(-1)).toMatchObject({ t: 'REPLY', to: 1, votedFor: 1 })
  })
  it('a duplicate at the same server is rejected at once; a decided ticket names its site', () => {
    const cfg = defaultConfig(3)
    const s = newServer(0, cfg)
    const { out } = collect()
    expect(submit(s, cfg, 'T', 'c', {}, 0, out).kind).toBe('started')
    expect(submit(s, cfg, 'T', 'c2', {}, 0, out)).toEqual({ kind: 'rejected', reason: 'duplicate-here' })
    receive(s, cfg, { t: 'DECIDED', from: 1, to: 0, tkt: 'U', winner: 1 }, out)
    expect(submit(s, cfg, 'U', 'c', {}, 0, out)).toEqual({ kind: 'rejected', reason: 'already-used', winner: 1 })
  })
})
