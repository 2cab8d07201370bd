import { describe, expect, it } from 'vitest'
import { Cluster } from '../cluster'
import { TicketService, type SaleRecord } from './service'

function setup(seed = 1, opts: ConstructorParameters<typeof TicketService>[1] = {}) {
  const cluster = new Cluster({ seed })
  const sales: SaleRecord[] = []
  const svc = new TicketService(cluster, { recordSale: (r) => sales.push(r), ...opts })
  return { cluster, svc, sales }
}

/** Safety over the whole service: at most one acceptance and one sale per ticket, all deciders agree. */
function checkSafety(svc: TicketService, sales: SaleRecord[], tickets: Iterable<string>): void {
  const salesBy = new Map<string, SaleRecord[]>()
  for (const s of sales) salesBy.set(s.ticket, [...(salesBy.get(s.ticket) ?? []), s])
  for (const t of tickets) {
    const o = svc.outcomeOf(t)
    expect(o.acceptedAt.length, `ticket ${t} accepted at ${o.acceptedAt}`).toBeLessThanOrEqual(1)
    const decided = new Set(svc.servers.map((s) => s.d.decided[t]).filter((x) => x !== undefined))
    expect(decided.size, `servers disagree on ${t}`).toBeLessThanOrEqual(1)
    const ss = salesBy.get(t) ?? []
    expect(ss.length, `sales of ${t}`).toBe(o.acceptedAt.length)
    if (ss.length) { expect(ss[0].site).toBe(o.acceptedAt[0]); expect(o.winner).toBe(ss[0].site) }
  }
}

describe('ticket service on the simulated WAN', () => {
  it('accepts an uncontended ticket in one round trip to the nearest majority and records the sale once', () => {
    const { cluster, svc, sales } = setup()
    const v = svc.present('INV-1', ['CMB'])
    cluster.sim.runUntilIdle()
    expect(v.outcome).toBe('accepted')
    expect(v.mode).toBe('conflict-free')
    expect(sales).toHaveLength(1)
    expect(sales[0]).toMatchObject({ site: 'CMB', ticket: 'INV-1' })
    const rtt = cluster.net.estimateMs('CMB', 'KDY', 40) + cluster.net.estimateMs('KDY', 'CMB', 48)
    expect(v.decidedAt! - v.submittedAt).toBeLessThan(rtt * 1.05 + 0.5)
  })

  it('tickets named like Object.prototype members (constructor, __proto__, toString) are tickets like any other', () => {
    const { cluster, svc, sales } = setup()
    const names = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', 'prototype']
    for (const t of names) {
      const v = svc.present(t, ['CMB'])
      cluster.sim.runUntilIdle()
      expect(v.answer, t).toBe('accepted at CMB')
      const again = svc.present(t, ['KDY'])
      cluster.sim.runUntilIdle()
      expect(again.answer, t).toBe('rejected: already used at CMB')
      expect(svc.outcomeOf(t), t).toMatchObject({ decided: true, winner: 'CMB', acceptedAt: ['CMB'] })
    }
    expect(sales.map((x) => x.ticket)).toEqual(names)
    for (const t of ['never-presented', '__defineGetter__', 'isPrototypeOf']) expect(svc.outcomeOf(t), t).toMatchObject({ decided: false, acceptedAt: [] })
    // nothing leaked onto Object.prototype
    expect(({} as Record<string, unknown>).status).toBeUndefined()
  })

  it('a duplicate presented later elsewhere is rejected as "already used at CMB"', () => {
    const { cluster, svc, sales } = setup()
    svc.present('INV-9', ['CMB'])
    cluster.sim.runUntilIdle()
    const d = svc.present('INV-9', ['KDY'])
    cluster.sim.runUntilIdle()
    expect(d.outcome).toBe('rejected')
    expect(d.answer).toBe('rejected: already used at CMB')
    expect(sales).toHaveLength(1)
  })

  it('the same ticket at two and three sites at once: at most one acceptance, every request answered', () => {
    for (let seed = 1; seed <= 30; seed++) {
      const { cluster, svc, sales } = setup(seed)
      const sites = seed % 2 ? ['CMB', 'MBI', 'KDY'] : cluster.sim.rng.shuffle(['CMB', 'MBI', 'KDY']).slice(0, 2)
      const vs = sites.map((s) => { cluster.sim.advance(cluster.sim.rng.int(0, 30)); return svc.present('DUP', [s]) })
      cluster.sim.runUntilIdle()
      for (const v of vs) expect(v.outcome).not.toBe('pending')
      checkSafety(svc, sales, ['DUP'])
      const acc = vs.filter((v) => v.outcome === 'accepted')
      expect(acc.length).toBeLessThanOrEqual(1)
      for (const v of vs) if (v.outcome === 'rejected' && acc.length) expect(v.answer).toBe(`rejected: already used at ${acc[0].attempts.at(-1)!.site}`)
    }
  })

  it('client times out at a crashed site, retries at another; the ticket is accepted once (duplicate after failover)', () => {
    const { cluster, svc, sales } = setup(3)
    cluster.failServer('CMB.app')
    const v = svc.present('INV-7', ['CMB', 'KDY'])
    cluster.sim.runUntilIdle()
    expect(v.attempts.map((a) => a.outcome)).toEqual(['timeout', 'accepted'])
    cluster.restoreServer('CMB.app')
    const d = svc.present('INV-7', ['CMB'])
    cluster.sim.runUntilIdle()
    expect(d.answer).toBe('rejected: already used at KDY')
    expect(sales.map((s) => s.site)).toEqual(['KDY'])
  })

  it('a site cut off from the majority never accepts alone; after the repair the ticket is decided', () => {
    const { cluster, svc, sales } = setup(4)
    cluster.failLink('CMB-MBI'); cluster.failLink('CMB-KDY')
    const v = svc.present('INV-P', ['CMB'])
    cluster.sim.advance(20_000)
    expect(svc.outcomeOf('INV-P').acceptedAt).toEqual([])
    expect(v.outcome).toBe('timeout')
    cluster.restoreLink('CMB-MBI'); cluster.restoreLink('CMB-KDY')
    cluster.sim.runUntilIdle()
    expect(svc.outcomeOf('INV-P')).toMatchObject({ decided: true, winner: 'CMB' })
    expect(sales).toHaveLength(1)
  })

  it('survives a crashed Paxos leader during conflict mode (election, re-proposal)', () => {
    const { cluster, svc, sales } = setup(5)
    const a = svc.present('C1', ['MBI']); const b = svc.present('C1', ['KDY'])
    cluster.sim.advance(12) // claims in flight; CMB (initial leader) crashes
    cluster.failServer('CMB.app')
    cluster.sim.runUntilIdle()
    expect([a.outcome, b.outcome].filter((x) => x === 'accepted').length).toBeLessThanOrEqual(1)
    expect(a.outcome).not.toBe('pending'); expect(b.outcome).not.toBe('pending')
    expect(svc.servers.some((s) => s.up && s.v.role === 'leader' && s.id !== 0) || svc.servers[1].d.decided.C1 !== undefined).toBe(true)
    cluster.restoreServer('CMB.app')
    cluster.sim.runUntilIdle()
    checkSafety(svc, sales, ['C1'])
  })

  it('randomized long run: thousands of tickets, duplicates, crashes, partitions, loss', () => {
    for (const seed of [11, 12]) {
      const { cluster, svc, sales } = setup(seed, { trace: false, clientTimeoutMs: 800 })
      const rng = cluster.sim.rng.fork('workload')
      const sites = cluster.siteCodes
      const links = [...cluster.net.links.keys()]
      const tickets = new Set<string>()
      const views: ReturnType<TicketService['present']>[] = []
      let faults = 0
      for (let k = 0; k < 1500; k++) {
        cluster.sim.advance(rng.int(0, 8))
        const t = `T${rng.int(0, 999)}` // ~1000 distinct tickets: many duplicates
        tickets.add(t)
        const copies = rng.chance(0.15) ? rng.int(2, 3) : 1
        for (let c = 0; c < copies; c++) views.push(svc.present(t, rng.shuffle([...sites])))
        if (rng.chance(0.02)) {
          faults++
          const r = rng.int(0, 3)
          if (r === 0) { const s = rng.pick(sites); cluster.failServer(`${s}.app`); cluster.sim.schedule(rng.int(50, 1500), 'test.restore', () => cluster.restoreServer(`${s}.app`)) }
          else if (r === 1) { const l = rng.pick(links); if (cluster.net.link(l).state !== 'down') { cluster.failLink(l); cluster.sim.schedule(rng.int(50, 1500), 'test.heal', () => cluster.restoreLink(l)) } }
          else if (r === 2) { const l = rng.pick(links); if (cluster.net.link(l).state === 'up') { cluster.degradeLink(l, { lossRate: 0.2 }); cluster.sim.schedule(rng.int(50, 1500), 'test.heal', () => cluster.restoreLink(l)) } }
          else { const s = rng.pick(sites); cluster.failSite(s); cluster.sim.schedule(rng.int(50, 1500), 'test.restore', () => cluster.restoreSite(s)) }
        }
      }
      cluster.sim.advance(5_000)
      svc.kick()
      cluster.sim.runUntilIdle()
      checkSafety(svc, sales, tickets)
      expect(faults).toBeGreaterThan(10)
      // liveness after every repair: each request has an answer (accepted/rejected) or timed out at every site
      expect(views.filter((v) => v.outcome === 'pending')).toEqual([])
      // every ticket that was presented ends decided somewhere (the servers keep working after clients give up)
      // (a ticket whose client found every site it tried down never reached a server: nothing to decide)
      const reached = [...tickets].filter((t) => svc.servers.some((x) => x.d.received[t]))
      expect(reached.length).toBeGreaterThan(tickets.size * 0.9)
      const undecided = reached.filter((t) => !svc.outcomeOf(t).decided)
      expect(undecided).toEqual([])
      expect(sales.length).toBeGreaterThan(tickets.size / 3)
    }
  })
})
