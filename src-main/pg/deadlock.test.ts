/**
 * The pure part of the global deadlock detector over live servers (deadlock.ts analyseWaits, livedeadlock.ts
 * graphOf): per-server waits merged, a cycle confirmed only on its second sighting, the youngest member the
 * victim, cycles with an anonymous backend left to the server; and the live calls refused in the simulation.
 * No PostgreSQL needed.
 */
import { describe, expect, it } from 'vitest'
import { analyseWaits, type ServerWaits, type WaitEdge } from './deadlock'
import { graphOf } from './livedeadlock'
import { liveDeadlockHandlers } from '../handlers/liveDeadlock'
import type { HandlerContext } from '../handlers/context'
import { authorizeAction, type Actor } from '../../engine/security/roles'

const edge = (site: string, waiter: string, holder: string, waiterPid = 1, holderPid = 2): WaitEdge => ({ site, waiter, holder, waiterPid, holderPid, lock: 'ShareLock on transactionid', query: 'UPDATE …' })
const server = (site: string, edges: WaitEdge[], started: Record<string, number>, global = edges.flatMap((e) => [e.waiter, e.holder]).filter((n) => !n.includes(':pid'))): ServerWaits =>
  ({ site, edges, started: new Map(Object.entries(started)), global: new Set(global), ms: 1 })

describe('analyseWaits', () => {
  // T1 waits for T2 at KDY, T2 for T1 at CMB: no server has a cycle of its own
  const cross = [server('CMB', [edge('CMB', 'T2', 'T1', 11, 10)], { T1: 1000, T2: 1005 }), server('KDY', [edge('KDY', 'T1', 'T2', 20, 21)], { T1: 1001, T2: 1006 }), server('MBI', [], {})]

  it('finds a cycle across servers only in the merged graph, and confirms it on the second sighting', () => {
    for (const w of cross) expect(analyseWaits([w], new Set()).groups).toEqual([])
    const first = analyseWaits(cross, new Set())
    expect(first.groups).toEqual([['T1', 'T2']])
    expect(first.confirmed).toEqual([])
    expect(first.suspects).toEqual([['T1', 'T2']])
    const second = analyseWaits(cross, first.seen)
    expect(second.confirmed.map((c) => [c.cycle, c.victim])).toEqual([[['T1', 'T2'], 'T2']]) // T2 began later: the youngest
    expect(second.confirmed[0].edges.map((e) => `${e.waiter}>${e.holder}@${e.site}`).sort()).toEqual(['T1>T2@KDY', 'T2>T1@CMB'])
    // once broken it is not remembered: a cycle that forms again needs two sightings again
    expect(second.seen.size).toBe(0)
  })

  it('needs the same members on consecutive polls: a different cycle in between starts over', () => {
    const other = [server('CMB', [edge('CMB', 'T3', 'T4')], { T3: 1, T4: 2 }), server('KDY', [edge('KDY', 'T4', 'T3')], { T3: 1, T4: 2 })]
    const a = analyseWaits(cross, new Set())
    const b = analyseWaits(other, a.seen)
    expect(b.confirmed).toEqual([])
    expect(analyseWaits(cross, b.seen).confirmed).toEqual([])
  })

  it('leaves a cycle with an anonymous backend to the server when only global transactions are broken', () => {
    const local = [server('CMB', [edge('CMB', 'CMB:pid7', 'CMB:pid8'), edge('CMB', 'CMB:pid8', 'CMB:pid7')], { 'CMB:pid7': 1, 'CMB:pid8': 2 })]
    const seen = analyseWaits(local, new Set()).seen
    expect(analyseWaits(local, seen).confirmed).toHaveLength(1) // without the option: broken like any other
    const g1 = analyseWaits(local, new Set(), { globalOnly: true })
    expect(g1.ignored).toEqual([['CMB:pid7', 'CMB:pid8']])
    expect(analyseWaits(local, g1.seen, { globalOnly: true }).confirmed).toEqual([])
  })

  it('breaks ties in start time by the greatest name, and draws a three-member cycle in wait order', () => {
    const ring = [server('CMB', [edge('CMB', 'A', 'B')], { A: 5, B: 5, C: 5 }), server('KDY', [edge('KDY', 'B', 'C')], {}), server('MBI', [edge('MBI', 'C', 'A')], {})]
    const a = analyseWaits(ring, new Set())
    expect(a.cycles).toEqual([['A', 'B', 'C']])
    expect(analyseWaits(ring, a.seen).confirmed[0].victim).toBe('C')
    const g = graphOf(ring, a)
    expect(g.global).toEqual([{ from: 'A', to: 'B' }, { from: 'B', to: 'C' }, { from: 'C', to: 'A' }])
    expect(g.edges.map((e) => e.site)).toEqual(['CMB', 'KDY', 'MBI'])
    expect(g.nodes.find((n) => n.name === 'B')).toMatchObject({ global: true, waitingAt: ['KDY'], holdsAt: ['CMB'], startedAt: new Date(5).toISOString() })
  })
})

describe('the live deadlock calls in the simulation', () => {
  it('are refused with UNSUPPORTED, changing nothing', async () => {
    const ctx = { live: null } as unknown as HandlerContext
    await expect(liveDeadlockHandlers['liveDeadlock/graph'](ctx, { history: 10 })).rejects.toMatchObject({ code: 'UNSUPPORTED' })
    await expect(liveDeadlockHandlers['liveDeadlock/demo'](ctx, { a: 'CMB', b: 'KDY' })).rejects.toMatchObject({ code: 'UNSUPPORTED' })
  })
})

describe('who may use the live deadlock calls', () => {
  const actor = (role: Actor['role'], site: string | null = null): Actor => ({ user: role, role, site, clearance: 'SECRET', level: 'SECRET' } as Actor)
  it('reads the graph as any logged-in identity; runs the demo as the HQ DBA, not as one branch\'s administrator or an auditor', () => {
    expect(authorizeAction(null, 'liveDeadlock/graph', {}).ok).toBe(false)
    expect(authorizeAction(actor('auditor'), 'liveDeadlock/graph', {}).ok).toBe(true)
    expect(authorizeAction(actor('hq-dba'), 'liveDeadlock/demo', { a: 'CMB', b: 'KDY' }).ok).toBe(true)
    const kdy = authorizeAction(actor('branch-admin', 'KDY'), 'liveDeadlock/demo', { a: 'CMB', b: 'KDY' })
    expect(kdy).toMatchObject({ ok: false, code: 'ACCESS_DENIED', site: 'CMB' })
    // the defaults (CMB and KDY) are the targets when the sites are left out
    expect(authorizeAction(actor('branch-admin', 'KDY'), 'liveDeadlock/demo', {}).ok).toBe(false)
    expect(authorizeAction(actor('auditor'), 'liveDeadlock/demo', { a: 'CMB', b: 'KDY' }).ok).toBe(false)
  })
})
