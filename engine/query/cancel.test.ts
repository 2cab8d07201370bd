/**
 * Cooperative execution and cancellation (coop.ts): a long distributed query yields to the event loop while
 * it runs, reports progress, and stops quickly when cancelled, leaving no trace; a cancelled multi-site write
 * is not started or its applied parts are undone (the all-or-nothing compensation).
 */
import { describe, it, expect, beforeAll } from 'vitest'
import { Cluster } from '../cluster'
import { Dqp } from './dqp'
import { HOLD, drive, signalCooperation, type Cooperation, type QueryGen } from './coop'
import { EngineError } from '../errors'
import { SESSION_BUDGET, guardCalls, setInterruptPoll } from './guard'

const SITES = ['CMB', 'KDY', 'MBI'] as const
/** A join of SALES with itself: ~16M pairs checked at the assembly site, ~165k rows streamed out. */
const BIG = 'SELECT a.INVNO, b.INVNO FROM SALES a JOIN SALES b ON (a.INVNO + b.INVNO) % 97 = 0'

/** Every fragment's rows at every site, and the main repository, as one comparable string. */
function snapshot(cluster: Cluster): string {
  const parts: string[] = []
  for (const s of SITES) {
    const st = cluster.siteStore(s)
    parts.push(`${s}:${JSON.stringify(st.query(`SELECT * FROM Sales_${s} ORDER BY INVNO`).rows)}`)
  }
  const repoSite = cluster.topology.sites.find((x) => x.repository)!.code
  parts.push(`repo:${JSON.stringify(cluster.siteStore(repoSite).repository!.query('SELECT * FROM SALES ORDER BY INVNO').rows)}`)
  return parts.join('\n')
}

/** A cooperation the test cancels itself (deterministically, from a progress report). */
function manualCoop(onProgress: (p: number, detail: string | undefined, cancel: () => void) => void): Cooperation & { cancel(): void } {
  let cancelled = false
  const cancel = () => { cancelled = true }
  return {
    get cancelled() { return cancelled },
    cancel,
    progress: (p, d) => onProgress(p, d, cancel),
    yieldNow: () => new Promise<void>((r) => setImmediate(r)),
  }
}

describe('cancellable long queries', () => {
  let cluster: Cluster
  let dqp: Dqp
  beforeAll(async () => {
    cluster = await Cluster.create({ seed: 11, sales: 4000 })
    dqp = await Dqp.create(cluster)
    cluster.settle(600_000)
  }, 60_000)

  it('a long read yields to the event loop, reports progress, and ends CANCELLED quickly; the cluster still answers and nothing changed', async () => {
    const before = snapshot(cluster)
    const progress: { p: number; detail?: string }[] = []
    const ac = new AbortController()
    // heartbeat: the event loop keeps turning while the query runs (the worker would keep answering pings)
    let beats = 0
    const hb = setInterval(() => { beats++ }, 5)
    const t0 = performance.now()
    const running = dqp.runCooperative('KDY', BIG, {}, signalCooperation(ac.signal, (p, detail) => progress.push({ p, detail })))
    let settled: 'pending' | 'resolved' | 'rejected' = 'pending'
    running.then(() => { settled = 'resolved' }, () => { settled = 'rejected' })
    // let it get well into the assembly (rows streaming out of the join, the event loop turning), then cancel
    const assembling = () => progress.filter((x) => /assembling/.test(x.detail ?? '')).length
    while (settled === 'pending' && (assembling() < 3 || beats < 6) && performance.now() - t0 < 20_000) await new Promise((r) => setTimeout(r, 5))
    expect(settled).toBe('pending') // still running: the query is long
    ac.abort()
    const err = await running.then(() => undefined, (e: unknown) => e)
    clearInterval(hb)
    expect(err).toBeInstanceOf(EngineError)
    expect((err as EngineError).code).toBe('CANCELLED')
    expect((err as EngineError).message).toMatch(/cancelled after \d+ of \d+ steps/)
    // progress went through the sub-queries (3 fragments) before the assembly, monotonically, below 1
    expect(progress.filter((x) => /^sub-query/.test(x.detail ?? '')).length).toBeGreaterThanOrEqual(3)
    expect(progress.every((x, i) => i === 0 || x.p >= progress[i - 1].p)).toBe(true)
    expect(progress[progress.length - 1].p).toBeLessThan(1)
    expect(beats).toBeGreaterThan(5)
    // the cluster still answers, the same statements still work, and nothing changed
    const p = await dqp.run('KDY', 'SELECT COUNT(*) FROM SALES')
    expect(p.rows[0][0]).toBe(4000)
    const small = await dqp.runCooperative('KDY', `${BIG} WHERE a.INVNO < 30 AND b.INVNO < 400`, {}, signalCooperation(new AbortController().signal))
    expect(small.rows.length).toBeGreaterThan(0)
    expect(snapshot(cluster)).toBe(before)
  }, 60_000)

  it('the cooperative path returns the same rows, plan and virtual time as the synchronous one', async () => {
    const q = "SELECT s.INVNO, e.NAME FROM SALES s JOIN EMPLOYEES e ON s.EMPNO = e.EMPNO WHERE s.QTY >= 4 ORDER BY s.INVNO"
    const a = dqp.runSync('MBI', q)
    const b = await dqp.runCooperative('MBI', q, {}, signalCooperation(new AbortController().signal))
    expect(b.rows).toEqual(a.rows)
    expect(b.plan.strategy).toBe(a.plan.strategy)
    expect(b.plan.steps.map((s) => [s.kind, s.site, s.to, s.actualRows, s.actualBytes, s.endMs - s.startMs])).toEqual(a.plan.steps.map((s) => [s.kind, s.site, s.to, s.actualRows, s.actualBytes, s.endMs - s.startMs]))
    expect(b.virtualMs).toBeCloseTo(a.virtualMs, 6)
  })

  it('a cancelled multi-site UPDATE is a transaction aborted before its commit: nothing changes anywhere', async () => {
    const before = snapshot(cluster)
    const upd = 'UPDATE SALES SET QTY = QTY + 100, AMOUNT = (QTY + 100) * UNITPRICE WHERE QTY >= 1'
    // 1. cancel once the statement has run at every site (its writes buffered under X locks), before the commit
    let sawDone = false
    const coop = manualCoop((_p, detail, cancel) => { if (/1 of 1 statement\(s\) done/.test(detail ?? '')) { sawDone = true; cancel() } })
    const e1 = await dqp.runCooperative('CMB', upd, {}, coop).then(() => undefined, (e: unknown) => e)
    expect(sawDone).toBe(true)
    expect(e1).toMatchObject({ code: 'CANCELLED' })
    expect(String((e1 as Error).message)).toMatch(/aborted before its commit, nothing changed/)
    cluster.settle(600_000)
    // …and nothing reached any site, the main repository included
    expect(snapshot(cluster)).toBe(before)

    // 2. cancel before it starts: nothing begins
    const coop2 = manualCoop((_p, detail, cancel) => { if (/starting/.test(detail ?? '')) cancel() })
    await expect(dqp.runCooperative('CMB', upd, {}, coop2)).rejects.toMatchObject({ code: 'CANCELLED' })
    cluster.settle(600_000)
    expect(snapshot(cluster)).toBe(before)

    // 3. a transaction of two statements at two sites, cancelled after the first statement: aborted
    const tx = "BEGIN; UPDATE SALES SET QTY = QTY + 7, AMOUNT = (QTY + 7) * UNITPRICE WHERE BRCODE = 'KDY'; UPDATE SALES SET QTY = QTY + 7, AMOUNT = (QTY + 7) * UNITPRICE WHERE BRCODE = 'MBI'; COMMIT"
    const coop3 = manualCoop((_p, detail, cancel) => { if (/1 of 2 statement/.test(detail ?? '')) cancel() })
    await expect(dqp.runCooperative('CMB', tx, {}, coop3)).rejects.toMatchObject({ code: 'CANCELLED' })
    cluster.settle(600_000)
    expect(snapshot(cluster)).toBe(before)

    // without a cancellation the same write goes through (the test can tell the difference)
    const ok = await dqp.runCooperative('CMB', upd, {}, signalCooperation(new AbortController().signal))
    expect(ok.changes).toBe(4000)
    cluster.settle(600_000)
    expect(snapshot(cluster)).not.toBe(before)
  }, 60_000)

  it('reads yield to the event loop at their checkpoints; writes hold it from their first read to their last apply', async () => {
    const counting = () => { const c = { yields: 0, cancelled: false, progress: () => {}, yieldNow: async () => { c.yields++; await new Promise<void>((r) => setImmediate(r)) } }; return c }
    const before = snapshot(cluster)
    const r = counting()
    await dqp.runCooperative('KDY', 'SELECT * FROM SALES', {}, r, 0)
    expect(r.yields).toBeGreaterThan(3)
    const w = counting()
    const res = await dqp.runCooperative('KDY', 'UPDATE SALES SET QTY = QTY + 1, AMOUNT = (QTY + 1) * UNITPRICE', {}, w, 0)
    expect(res.changes).toBe(4000)
    expect(w.yields).toBe(0)
    await dqp.runCooperative('KDY', 'UPDATE SALES SET QTY = QTY - 1, AMOUNT = (QTY - 1) * UNITPRICE', {}, counting(), 0)
    cluster.settle(600_000)
    expect(snapshot(cluster)).toBe(before)
    // the driver itself: HOLD checks cancellation without yielding
    function* gen(): QueryGen<number> { for (let i = 0; i < 5; i++) yield HOLD; yield undefined; return 7 }
    const d = counting()
    expect(await drive(gen(), d, 0)).toBe(7)
    expect(d.yields).toBe(1)
    const c = { ...counting(), cancelled: true }
    await expect(drive(gen(), c, 0)).rejects.toMatchObject({ code: 'CANCELLED' })
  }, 60_000)

  // ---- inside one statement: the statement guard (guard.ts) ----------------------------------------------
  const CROSS5 = 'SELECT COUNT(*) FROM ITEMS a, ITEMS b, ITEMS c, ITEMS d, ITEMS e'

  it('a five-way cross join (one sql.js step of ~10^11 rows) is cancelled from inside the step; the host poll hook runs meanwhile', async () => {
    const before = snapshot(cluster)
    let cancelled = false
    let polls = 0
    const g0 = guardCalls()
    // the host hook (the worker answers pings and takes cancellations there); it cancels once the statement has run a while
    setInterruptPoll(() => { polls++; if (polls >= 5 && guardCalls() - g0 > 10_000) cancelled = true })
    try {
      const coop: Cooperation = { get cancelled() { return cancelled }, progress: () => {}, yieldNow: () => new Promise<void>((r) => setImmediate(r)) }
      const err = await dqp.runCooperative('CMB', CROSS5, {}, coop).then(() => undefined, (e: unknown) => e)
      expect(err).toMatchObject({ code: 'CANCELLED' })
      expect(polls).toBeGreaterThanOrEqual(5)
    } finally { setInterruptPoll(undefined) }
    // the same site answers at once, its cached statements intact, and nothing changed
    expect(dqp.runSync('CMB', 'SELECT COUNT(*) FROM ITEMS').rows[0][0]).toBeGreaterThan(0)
    expect(snapshot(cluster)).toBe(before)
  }, 60_000)

  it("a query over the session's budget is refused before it runs (BUDGET_EXCEEDED naming the estimate and the budget)", () => {
    const g0 = guardCalls()
    let err: unknown
    try { dqp.runSync('CMB', CROSS5, { budget: SESSION_BUDGET }) } catch (e) { err = e }
    expect(err).toMatchObject({ code: 'BUDGET_EXCEEDED' })
    expect((err as Error).message).toMatch(/would examine about [\d.e+]+ rows \(.*× .*: a cross product\), more than the session's budget of 2,000,000,000 rows; it was not run/)
    expect(guardCalls()).toBe(g0) // nothing ran
    // an ordinary join under the same budget runs
    expect(dqp.runSync('KDY', 'SELECT COUNT(*) FROM SALES s JOIN EMPLOYEES e ON s.EMPNO = e.EMPNO', { budget: SESSION_BUDGET }).rows[0][0]).toBe(4000)
  })

  it('the guard stops a query that goes over its rows or time while running (the estimate did not see it)', async () => {
    // an equi-join on a low-cardinality column: estimated as one input of 4,000 rows, it examines millions
    const q = 'SELECT COUNT(*) FROM SALES a JOIN SALES b ON a.QTY = b.QTY'
    const full = dqp.runSync('KDY', q)
    expect(Number(full.rows[0][0])).toBeGreaterThan(200_000)
    expect(() => dqp.runSync('KDY', q, { budget: { maxRows: 100_000, maxMs: 600_000 } })).toThrow(/examined more than 100,000 rows, the session's budget/)
    await expect(dqp.runCooperative('KDY', q, { budget: { maxRows: 100_000, maxMs: 600_000 } }, signalCooperation(new AbortController().signal))).rejects.toMatchObject({ code: 'BUDGET_EXCEEDED' })
    // wall time: the cross join has no row limit here, only 200 ms
    expect(() => dqp.runSync('CMB', CROSS5, { budget: { maxRows: Number.POSITIVE_INFINITY, maxMs: 200 } })).toThrow(/ran longer than 200 ms, the session's time budget/)
    // the same cross product over derived tables (SELECT * subqueries, no base table in the outer FROM): still guarded
    const derived = `SELECT COUNT(*) FROM ${['a', 'b', 'c', 'd', 'e'].map((x) => `(SELECT * FROM ITEMS ORDER BY 2 LIMIT 1000) ${x}`).join(', ')}`
    expect(() => dqp.runSync('CMB', derived, { budget: { maxRows: Number.POSITIVE_INFINITY, maxMs: 200 } })).toThrow(/ran longer than 200 ms/)
    const grouped = `SELECT COUNT(*) FROM ${['a', 'b', 'c', 'd', 'e'].map((x) => `(SELECT COUNT(*), ITEMNO FROM ITEMS GROUP BY ITEMNO) ${x}`).join(', ')}`
    expect(() => dqp.runSync('CMB', grouped, { budget: { maxRows: Number.POSITIVE_INFINITY, maxMs: 200 } })).toThrow(/ran longer than 200 ms/)
  }, 60_000)
})
