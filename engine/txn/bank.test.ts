/**
 * Reliability: bank-style invariant over concurrent stock transfers between branch fragments, with random
 * site crashes (also at named 2PC steps), link failures and restarts; serializability of the recorded
 * history; deadlocks found and broken in bounded time.
 */
import { describe, expect, it } from 'vitest'
import { STEPS, type Dtm, type Protocol } from './dtm'
import { advanceExactly, stockCluster, transfer, type TransferOutcome } from './testkit'
import { checkBank, healAndSettle, snapshot } from './invariants'
import { checkSerializable } from './history'
import { cycleKey, findCycles } from './wfg'
import type { Cluster } from '../cluster'

const SITES = ['CMB', 'MBI', 'KDY']

function committedFromLogs(dtm: Dtm): Set<string> {
  const out = new Set<string>()
  for (const [gid, ds] of dtm.loggedDecisions()) if ([...ds].some((d) => d.startsWith('COMMIT'))) out.add(gid)
  return out
}

function workload(cluster: Cluster, dtm: Dtm, n: number, spanMs: number, items: string[], results: TransferOutcome[]): void {
  const rng = cluster.sim.rng.fork('workload')
  for (let i = 0; i < n; i++) {
    const from = rng.pick(SITES)
    const to = rng.pick(SITES.filter((s) => s !== from))
    const spec = { origin: rng.pick(SITES), from, to, item: rng.pick(items), qty: rng.int(1, 20), readFirst: rng.chance(0.6) }
    cluster.sim.schedule(rng.next() * spanMs, 'test.client', () => transfer(dtm, spec, (o) => results.push(o)))
  }
}

function chaos(cluster: Cluster, dtm: Dtm, spanMs: number, events: number): void {
  const rng = cluster.sim.rng.fork('chaos')
  const links = [...cluster.net.links.keys()]
  for (let i = 0; i < events; i++) {
    const at = rng.next() * spanMs
    const kind = rng.int(0, 3)
    cluster.sim.schedule(at, 'test.chaos', () => {
      if (kind === 0) {
        const s = rng.pick(SITES)
        if (!cluster.isSiteUp(s)) return
        cluster.failSite(s)
        cluster.sim.schedule(rng.int(20, 4000), 'test.restart', () => cluster.restoreSite(s))
      } else if (kind === 1) {
        const l = rng.pick(links)
        if (cluster.net.links.get(l)!.state === 'down') return
        cluster.failLink(l)
        cluster.sim.schedule(rng.int(20, 3000), 'test.linkUp', () => cluster.restoreLink(l))
      } else if (kind === 2) {
        dtm.crashAt(rng.pick(SITES), rng.pick(STEPS), { restartAfterMs: rng.int(5, 3000) })
      } else {
        // a lossy link: messages lost in flight for a while
        const l = rng.pick(links)
        if (cluster.net.links.get(l)!.state !== 'up') return
        cluster.degradeLink(l, { lossRate: 0.3, extraDelayMs: rng.int(0, 50) })
        cluster.sim.schedule(rng.int(100, 3000), 'test.linkUp', () => { if (cluster.net.links.get(l)!.state === 'degraded') cluster.restoreLink(l) })
      }
    })
  }
}

describe('bank invariant under failures', () => {
  for (const protocol of ['distributed', 'centralized', 'linear'] as Protocol[]) {
    for (const [seed, n] of [[11, 250], [12, 250], [13, 400], [14, 1500]]) {
      it(`${protocol} seed ${seed}: ${n} concurrent transfers, crashes/link failures/lossy links/restarts at every step`, () => {
        const { cluster, dtm, items } = stockCluster({ seed, items: 6, qty: 200, dtm: { protocol, recordHistory: true } })
        const initial = snapshot(dtm, cluster)
        const results: TransferOutcome[] = []
        const span = n * 240
        workload(cluster, dtm, n, span, items, results)
        chaos(cluster, dtm, span, Math.round(n / 6))
        cluster.sim.runUntilTrue(() => results.length === n, 20_000_000)
        expect(results).toHaveLength(n)
        expect(healAndSettle(cluster, dtm)).toBe(true)
        expect(checkBank(dtm, cluster, initial, results)).toEqual([])
        const committed = committedFromLogs(dtm)
        const ser = checkSerializable(dtm.history, committed)
        expect(ser).toMatchObject({ ok: true })
        // the run did exercise the interesting paths
        const outcomes = results.map((r) => r.outcome)
        expect(outcomes.filter((o) => o === 'COMMIT').length).toBeGreaterThan(n / 5)
        expect(outcomes.filter((o) => o === 'ABORT').length).toBeGreaterThan(5)
        expect(ser.edges).toBeGreaterThan(50)
      })
    }
  }
})

describe('serializability under contention', () => {
  it('strict 2PL histories are conflict-serializable (many read/write transactions on few rows)', () => {
    const { cluster, dtm, items } = stockCluster({ seed: 5, items: 4, qty: 1000, dtm: { recordHistory: true } })
    const results: TransferOutcome[] = []
    workload(cluster, dtm, 400, 40_000, items, results)
    cluster.sim.runUntilTrue(() => results.length === 400, 5_000_000)
    expect(healAndSettle(cluster, dtm)).toBe(true)
    const committed = committedFromLogs(dtm)
    expect(committed.size).toBeGreaterThan(100)
    const r = checkSerializable(dtm.history, committed)
    expect(r.ok).toBe(true)
    // sanity: the same history with all transactions (aborted ones included) is what locks prevent from mattering
    expect(dtm.deadlocks.length).toBeGreaterThan(0)
  })
})

describe('distributed deadlocks', () => {
  function crossSiteDeadlock(cluster: Cluster, dtm: Dtm, a: string, b: string): { t1: string; t2: string; res: Record<string, string> } {
    const res: Record<string, string> = {}
    const t1 = dtm.begin(a)
    advanceExactly(cluster, 1)
    const t2 = dtm.begin(b)
    const ta = a === 'CMB' ? 'Stock_CMB' : a === 'MBI' ? 'Stock_MBI_LCL' : 'Stock_KDY'
    const tb = b === 'CMB' ? 'Stock_CMB' : b === 'MBI' ? 'Stock_MBI_LCL' : 'Stock_KDY'
    let ready = 0
    dtm.exec(t1, a, `UPDATE ${ta} SET QTY = QTY - 1 WHERE STOCKCODE = 'S001'`, [], () => ready++)
    dtm.exec(t2, b, `UPDATE ${tb} SET QTY = QTY - 1 WHERE STOCKCODE = 'S002'`, [], () => ready++)
    cluster.sim.runUntilTrue(() => ready === 2)
    const fin = (t: string) => (r: { ok: boolean }) => {
      if (!r.ok) { res[t] = 'ABORT'; return }
      try { dtm.commit(t, (c) => { res[t] = c.outcome }) } catch { res[t] = 'ABORT' }
    }
    dtm.exec(t1, b, `UPDATE ${tb} SET QTY = QTY + 1 WHERE STOCKCODE = 'S002'`, [], fin(t1))
    dtm.exec(t2, a, `UPDATE ${ta} SET QTY = QTY + 1 WHERE STOCKCODE = 'S001'`, [], fin(t2))
    return { t1, t2, res }
  }

  it('a cross-site deadlock is invisible locally, found in the global WFG at CMB, confirmed on a second poll; youngest is the victim', () => {
    const { cluster, dtm } = stockCluster({ seed: 3 })
    const { t1, t2, res } = crossSiteDeadlock(cluster, dtm, 'CMB', 'KDY')
    cluster.sim.runUntilTrue(() => dtm.wfgView().cycles.length > 0)
    const v = dtm.wfgView()
    expect(v.local.CMB.length + v.local.KDY.length).toBe(2)
    expect(findCycles(new Map(v.local.CMB.map((e) => [e.from, [e.to]])))).toEqual([])
    const formedAt = cluster.sim.now
    cluster.sim.runUntilTrue(() => Object.keys(res).length === 2)
    expect(res[t2]).toBe('ABORT')
    expect(res[t1]).toBe('COMMIT')
    const d = dtm.deadlocks.find((x) => x.by === 'global')!
    expect(d.site).toBe('CMB')
    expect(d.victim).toBe(t2)
    expect(cycleKey(d.cycle)).toBe(cycleKey([t1, t2]))
    expect(d.statements.map((s) => s.sql).join(' ')).toContain('UPDATE')
    expect(d.at - formedAt).toBeLessThanOrEqual(2 * dtm.opts.detectIntervalMs)
  })

  it('if CMB is down, detection moves to another live site', () => {
    const { cluster, dtm } = stockCluster({ seed: 4 })
    cluster.failSite('CMB')
    const { t2, res } = crossSiteDeadlock(cluster, dtm, 'MBI', 'KDY')
    cluster.sim.runUntilTrue(() => Object.keys(res).length === 2)
    const d = dtm.deadlocks.find((x) => x.by === 'global')!
    expect(d.site).toBe('MBI')
    expect(d.victim).toBe(t2)
  })

  it('local cycles are broken at once at the site', () => {
    const { cluster, dtm } = stockCluster({ seed: 6 })
    const { res } = crossSiteDeadlock(cluster, dtm, 'KDY', 'KDY')
    cluster.sim.runUntilTrue(() => Object.keys(res).length === 2)
    const d = dtm.deadlocks[0]
    expect(d.by).toBe('local')
    expect(d.site).toBe('KDY')
    expect(Object.values(res).sort()).toEqual(['ABORT', 'COMMIT'])
  })

  it('wound-wait: the older transaction wounds the younger; no deadlock ever forms', () => {
    const { cluster, dtm } = stockCluster({ seed: 7, dtm: { scheme: 'wound-wait' } })
    const { t1, t2, res } = crossSiteDeadlock(cluster, dtm, 'CMB', 'KDY')
    let maxCycles = 0
    cluster.sim.runUntilTrue(() => { maxCycles = Math.max(maxCycles, findCycles(dtm.currentGlobalWfg()).length); return Object.keys(res).length === 2 })
    expect(res[t1]).toBe('COMMIT')
    expect(res[t2]).toBe('ABORT')
    expect(dtm.deadlocks.every((d) => d.by === 'wound-wait')).toBe(true)
  })

  it('no deadlock stands longer than two detection intervals (busy workload, omniscient monitor)', () => {
    const { cluster, dtm, items } = stockCluster({ seed: 21, items: 3, qty: 1000, dtm: { lockTimeoutMs: 60_000 } })
    const results: TransferOutcome[] = []
    workload(cluster, dtm, 300, 20_000, items, results)
    const firstSeen = new Map<string, number>()
    let worst = 0
    const monitor = () => {
      const now = cluster.sim.now
      const keys = new Set(findCycles(dtm.currentGlobalWfg()).map(cycleKey))
      for (const k of keys) if (!firstSeen.has(k)) firstSeen.set(k, now)
      for (const [k, t] of firstSeen) { if (!keys.has(k)) { worst = Math.max(worst, now - t); firstSeen.delete(k) } }
      if (results.length < 300) cluster.sim.schedule(10, 'test.monitor', monitor)
    }
    monitor()
    cluster.sim.runUntilTrue(() => results.length === 300, 5_000_000)
    expect(firstSeen.size).toBe(0)
    expect(dtm.deadlocks.filter((d) => d.by === 'global').length).toBeGreaterThan(0)
    expect(worst).toBeGreaterThan(0)
    expect(worst).toBeLessThanOrEqual(2 * dtm.opts.detectIntervalMs)
  })
})
