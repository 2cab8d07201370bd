/** Transaction and deadlock calls through the handler map, on a cluster with real site databases. */
import { describe, expect, it } from 'vitest'
import { Cluster } from '../../engine/cluster'
import { handlerRig } from '../testing/handler-rig'

async function makeCtx() {
  const cluster = new Cluster({ seed: 5 })
  await cluster.init()
  for (const [site, t] of [['CMB', 'Stock_CMB'], ['KDY', 'Stock_KDY']]) {
    cluster.siteStore(site).exec(`INSERT INTO ${t} (STOCKCODE, ITEMNO, QTY) VALUES ('${site}-1', 1, 40), ('${site}-2', 2, 40)`)
  }
  cluster.sim.runUntilIdle(100_000)
  const { ctx, run, emitted } = handlerRig(cluster)
  return { ctx, run, emitted }
}

describe('txn/* and deadlock/* handlers', () => {
  it('begin → exec at two sites → commit; timeline and list show the 2PC', async () => {
    const { run, ctx, emitted } = await makeCtx()
    const { gid } = await run('txn/begin', { site: 'CMB' })
    const a = await run('txn/exec', { gid, site: 'CMB', sql: "UPDATE Stock_CMB SET QTY = QTY - 4 WHERE STOCKCODE = 'CMB-1'" })
    expect(a).toMatchObject({ ok: true, affected: 1, pending: false })
    const b = await run('txn/exec', { gid, site: 'KDY', sql: 'SELECT QTY FROM Stock_KDY WHERE STOCKCODE = ?', params: ['KDY-1'] })
    expect(b.rows).toEqual([{ QTY: 40 }])
    await run('txn/exec', { gid, site: 'KDY', sql: "UPDATE Stock_KDY SET QTY = QTY + 4 WHERE STOCKCODE = 'KDY-1'" })
    const c = await run('txn/commit', { gid })
    expect(c.outcome).toBe('COMMIT')
    expect(ctx.cluster.siteStore('KDY').query("SELECT QTY FROM Stock_KDY WHERE STOCKCODE = 'KDY-1'").rows[0][0]).toBe(44)
    const tl = await run('txn/timeline', { gid })
    expect(tl.sites).toEqual(['CMB', 'KDY'])
    expect(tl.events.filter((e) => e.kind === 'send').map((e) => e.msg)).toEqual(expect.arrayContaining(['txn.prepare', 'txn.vote', 'txn.peerVote', 'txn.ack']))
    const l = await run('txn/list', {})
    expect(l.transactions[0]).toMatchObject({ gid, outcome: 'COMMIT' })
    expect(l.summary.locks).toBe(0)
    expect(emitted).toContain('txn/changed')
  })

  it('a transaction whose every statement failed is aborted, never reported as COMMIT', async () => {
    const { run, ctx } = await makeCtx()
    const before = ctx.cluster.siteStore('CMB').query('SELECT COUNT(*) FROM Stock_CMB').rows[0][0]
    for (const stmt of [{ site: 'CMB', sql: 'garbage' }, { sql: 'SELECT * FROM NOPE' }, { site: 'CMB', sql: 'SELECT * FROM NOPE' }] as const) {
      const { gid } = await run('txn/begin', { site: 'CMB' })
      const r = await run('txn/exec', { gid, ...stmt })
      expect(r.ok, stmt.sql).toBe(false)
      let outcome: string
      try { outcome = (await run('txn/commit', { gid })).outcome } catch (e) { outcome = `${(e as { code?: string }).code}: ${(e as Error).message}` }
      expect(outcome, JSON.stringify(stmt)).not.toBe('COMMIT')
      expect(outcome, JSON.stringify(stmt)).toMatch(/ABORT/)
      const t = (await run('txn/list', {})).transactions.find((x) => x.gid === gid)!
      expect(t.outcome, JSON.stringify(stmt)).toBe('ABORT')
      expect(t.statements.map((x) => x.ok), JSON.stringify(stmt)).toEqual([false])
    }
    expect(ctx.cluster.siteStore('CMB').query('SELECT COUNT(*) FROM Stock_CMB').rows[0][0]).toBe(before)
    // statements the security manager refused count as failed statements too
    await run('security/addUser', { site: 'KDY', user: 'clerk', password: 'clerk-pass-1', clearance: 'INTERNAL' })
    const s = await run('security/login', { site: 'KDY', user: 'clerk', password: 'clerk-pass-1' })
    const { gid } = await run('txn/begin', { site: 'KDY', session: s.token })
    await expect(run('txn/exec', { gid, site: 'KDY', sql: 'UPDATE Employees_KDY SET SALARY = 1 WHERE EMPNO = 3001' })).rejects.toMatchObject({ code: 'ACCESS_DENIED' })
    expect(await run('txn/commit', { gid })).toMatchObject({ outcome: 'ABORT', reason: 'nothing to commit: its only statement failed' })
    // an empty transaction and one with a good statement still commit
    const empty = await run('txn/begin', { site: 'CMB' })
    expect((await run('txn/commit', { gid: empty.gid })).outcome).toBe('COMMIT')
    const mixed = await run('txn/begin', { site: 'CMB' })
    expect((await run('txn/exec', { gid: mixed.gid, site: 'CMB', sql: 'nonsense' })).ok).toBe(false)
    expect((await run('txn/exec', { gid: mixed.gid, site: 'CMB', sql: "SELECT QTY FROM Stock_CMB WHERE STOCKCODE = 'CMB-1'" })).ok).toBe(true)
    expect((await run('txn/commit', { gid: mixed.gid })).outcome).toBe('COMMIT')
  })

  it('a statement that fails at a site aborts the transaction, and the answer comes back once the coordinator knows', async () => {
    const { run } = await makeCtx()
    for (const site of ['CMB', 'KDY']) {
      const { gid } = await run('txn/begin', { site })
      // EMPLOYEES is not a table at the site: the statement fails there and its sub-transaction aborts
      const r = await run('txn/exec', { gid, site: 'CMB', sql: "UPDATE EMPLOYEES SET SALARY = SALARY * 1.1 WHERE BRCODE = 'KDY'" })
      expect(r.ok).toBe(false)
      const l = await run('txn/list', {})
      expect(l.transactions.find((t) => t.gid === gid)).toMatchObject({ outcome: 'ABORT' })
      await expect(run('txn/commit', { gid })).rejects.toMatchObject({ code: 'ABORTED' })
    }
  })

  it('global SQL without a site: localized to the fragments, committed by 2PC; unsupported constructs named', async () => {
    const { run, ctx } = await makeCtx()
    const { gid } = await run('txn/begin', { site: 'MBI' })
    const a = await run('txn/exec', { gid, sql: "UPDATE STOCK_KDY SET QTY = QTY - 5 WHERE STOCKCODE = 'KDY-1'" })
    expect(a).toMatchObject({ ok: true, affected: 1, site: 'KDY', localized: [{ site: 'KDY', fragment: 'Stock_KDY' }] })
    const b = await run('txn/exec', { gid, sql: 'SELECT STOCKCODE, QTY FROM STOCK_CMB WHERE QTY >= ?', params: [40] })
    expect(b).toMatchObject({ ok: true, site: 'CMB' })
    expect(b.rows).toHaveLength(2)
    // aggregates are read inside a transaction too (under S locks, issue 11): no longer refused
    const agg = await run('txn/exec', { gid, sql: 'SELECT COUNT(*) FROM STOCK_CMB' })
    expect(agg, agg.error ?? '').toMatchObject({ ok: true, site: 'CMB' })
    expect(agg.rows).toHaveLength(1)
    expect((await run('txn/commit', { gid })).outcome).toBe('COMMIT')
    expect(ctx.cluster.siteStore('KDY').query("SELECT QTY FROM Stock_KDY WHERE STOCKCODE = 'KDY-1'").rows[0][0]).toBe(35)
  })

  it('crash at a named step → in doubt → manual resolve; protocol switch; deadlock demo', async () => {
    const { run } = await makeCtx()
    await run('txn/setProtocol', { protocol: 'centralized' })
    await run('txn/crashAt', { site: 'CMB', step: 'decide' })
    const { gid } = await run('txn/begin', { site: 'CMB' })
    await run('txn/exec', { gid, site: 'KDY', sql: "UPDATE Stock_KDY SET QTY = 0 WHERE STOCKCODE = 'KDY-2'" })
    const c = await run('txn/commit', { gid, waitMs: 3000 })
    expect(c.outcome).toBe('COMMIT') // decided and forced before the crash
    const d = await run('txn/inDoubt', {})
    expect(d).toHaveLength(1)
    expect(d[0]).toMatchObject({ gid, site: 'KDY', state: 'READY' })
    expect(await run('txn/resolve', { gid, site: 'KDY', decision: 'COMMIT' })).toEqual([])
    await run('topology/restoreSite', { site: 'CMB' })
    const demo = await run('deadlock/demo', { a: 'CMB', b: 'KDY' })
    expect(demo.victims).toEqual([demo.transactions[1]])
    expect(demo.graph.cycles).toHaveLength(1)
    const h = await run('deadlock/history', {})
    expect(h[0]).toMatchObject({ by: 'global', site: 'CMB', victim: demo.transactions[1] })
    const g = await run('deadlock/graph', {})
    expect(g.global).toEqual([])
    await expect(run('txn/exec', { gid: 'CMB-999', site: 'KDY', sql: 'SELECT * FROM Stock_KDY' })).rejects.toMatchObject({ code: 'NOT_FOUND' })
  })
})
