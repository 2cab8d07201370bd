/**
 * Failover (docs/FAILOVER.md): the backup server fed over the LAN (asynchronous by default, synchronous on
 * request), promotion by hand with RPO and RTO, 2PC transactions in doubt at the failed primary resolved on the
 * promoted server, the old primary rejoining as backup, and fail back.
 */
import { describe, expect, it } from 'vitest'
import { Cluster } from '../cluster'
import { Dtm } from '../txn/dtm'
import { Failover } from './failover'
import type { PromotionReport } from '../api/failover'
import { runScenario } from '../scenario'

async function cluster(): Promise<Cluster> {
  const c = await Cluster.create({ seed: 12, sales: 300 })
  c.settle()
  return c
}

let invno = 900_000
/** One local transaction at KDY (a sale); returns its key once acknowledged. */
function sale(c: Cluster): number {
  const n = ++invno
  c.siteStore('KDY').exec(`INSERT INTO Sales_KDY (INVNO, BRCODE, ITEMNO, QTY, UNITPRICE, AMOUNT) VALUES (${n}, 'KDY', 1, 1, 2, 2)`)
  return n
}
function present(c: Cluster, keys: number[]): number[] {
  if (!keys.length) return []
  return c.siteStore('KDY').query(`SELECT INVNO FROM Sales_KDY WHERE INVNO IN (${keys.join(',')}) ORDER BY INVNO`).rows.map((r) => Number(r[0]))
}

/** Promotes and runs the simulation until the promoted server accepts writes. */
async function promote(c: Cluster, f: Failover, code: string, failback = false): Promise<{ report: PromotionReport; commandAt: number; acceptingAt: number }> {
  const commandAt = c.sim.now
  const p = failback ? f.failback(code) : f.promote(code)
  c.sim.runUntilTrue(() => !f.feedView(code).promoting, 1_000_000)
  const acceptingAt = c.sim.now
  return { report: await p, commandAt, acceptingAt }
}

describe('failover', () => {
  it('the backup is fed over the LAN and its lag is visible; asynchronous is the default', async () => {
    const c = await cluster()
    const f = Failover.of(c)
    expect(f.feedView('KDY')).toMatchObject({ mode: 'async', lagBatches: 0, primaryHost: 'KDY-db1', backupHost: 'KDY-db2', original: true })
    const lan = c.net.lanStats.get('KDY')!
    const before = JSON.stringify(lan)
    sale(c); sale(c)
    const v = f.feedView('KDY')
    expect(v.lagBatches).toBe(2)
    expect(v.lagRows).toBe(2)
    c.sim.advance(5)
    expect(f.feedView('KDY').lagMs).toBeGreaterThanOrEqual(5) // the apply window has not run yet: the lag is its age
    c.settle()
    expect(f.feedView('KDY')).toMatchObject({ lagBatches: 0, lagRows: 0, lagMs: 0 })
    expect(JSON.stringify(c.net.lanStats.get('KDY'))).not.toBe(before) // the batches crossed KDY's LAN
    expect(present(c, [invno - 1, invno]).length).toBe(2)
    expect(c.siteStore('KDY').backup.query(`SELECT COUNT(*) FROM Sales_KDY WHERE INVNO > ${invno - 2}`).rows[0][0]).toBe(2)
  })

  it('synchronous feed: a commit is on the backup when acknowledged; failover loses nothing (RPO 0, checked against the acknowledged writes)', async () => {
    const c = await cluster()
    const f = Failover.of(c)
    f.setFeedMode('KDY', 'sync')
    const acked: number[] = []
    for (let i = 0; i < 8; i++) acked.push(sale(c))
    // no virtual time passed: the asynchronous channel could not have applied anything yet, the synchronous one did
    expect(f.feedView('KDY').lagBatches).toBe(0)
    expect(c.siteStore('KDY').backup.query(`SELECT COUNT(*) FROM Sales_KDY WHERE INVNO IN (${acked.join(',')})`).rows[0][0]).toBe(8)
    c.failServer('KDY.primary')
    const { report, commandAt, acceptingAt } = await promote(c, f, 'KDY')
    expect(report).toMatchObject({ kind: 'failover', mode: 'sync', rpoTxns: 0, rpoRows: 0, lostSeqs: [], promotedHost: 'KDY-db2', demotedHost: 'KDY-db1' })
    expect(present(c, acked)).toEqual(acked)
    // RTO from the virtual clock: the command to the instant the promoted server accepted writes
    expect(report.commandAt).toBe(commandAt)
    expect(report.acceptingAt).toBe(acceptingAt)
    expect(report.rtoMs).toBe(acceptingAt - commandAt)
    expect(report.rtoMs).toBeGreaterThan(0)
    expect(c.isServerUp('KDY.primary')).toBe(true)
    expect(c.events.some((e) => e.kind === 'failover' && /RTO \d/.test(e.message) && /RPO 0/.test(e.message))).toBe(true)
    // the site serves reads and writes from the promoted server
    const after = sale(c)
    expect(present(c, [after])).toEqual([after])
    expect(f.feedView('KDY')).toMatchObject({ primaryHost: 'KDY-db2', original: false, rejoin: 'waiting-repair', backupUp: false })
  })

  it('synchronous feed with the backup down refuses the commit and changes nothing', async () => {
    const c = await cluster()
    const f = Failover.of(c)
    f.setFeedMode('KDY', 'sync')
    c.failServer('KDY.backup')
    const seq = c.siteStore('KDY').seq
    const n = invno + 1
    expect(() => sale(c)).toThrow(/synchronous and KDY.backup is down/)
    expect(c.siteStore('KDY').seq).toBe(seq)
    expect(present(c, [n])).toEqual([])
  })

  it('asynchronous feed: the RPO counted equals the transactions actually missing on the promoted server', async () => {
    const c = await cluster()
    const f = Failover.of(c)
    const early = [sale(c), sale(c)]
    c.settle()
    c.failServer('KDY.backup') // the backup falls behind: the asynchronous feed still acknowledges commits
    const behind = [sale(c), sale(c), sale(c), sale(c)]
    c.sim.advance(50) // their batches reached a backup that was down: not applied
    expect(f.feedView('KDY').lagBatches).toBe(4)
    c.failServer('KDY.primary')
    c.restoreServer('KDY.backup')
    const { report } = await promote(c, f, 'KDY')
    const missing = [...early, ...behind].filter((k) => !present(c, [k]).length)
    expect(missing).toEqual(behind)
    expect(report.rpoTxns).toBe(missing.length)
    expect(report.rpoRows).toBe(4)
    expect(report.lostSeqs).toHaveLength(4)
    expect(report.mode).toBe('async')
    expect(c.events.some((e) => e.kind === 'failover' && e.message.includes('4 committed transaction(s) (4 rows) were not on the backup'))).toBe(true)
    // the new timeline: writes go on, and every copy of KDY's data (the repository) receives them
    const next = sale(c)
    c.settle()
    expect(c.siteStore('CMB').repository!.query(`SELECT COUNT(*) FROM SALES WHERE INVNO = ${next}`).rows[0][0]).toBe(1)
  })

  it('refuses a promotion with no backup to promote, and a switchover while the backup lags, changing nothing', async () => {
    const c = await cluster()
    const f = Failover.of(c)
    c.failServer('KDY.backup')
    expect(() => f.promote('KDY')).toThrow(/KDY.backup is down/)
    c.restoreServer('KDY.backup')
    c.failServer('KDY.backup'); sale(c); c.restoreServer('KDY.backup')
    // the primary still down-free: the backup is one batch behind (it came back, the batch is re-sent on the LAN)
    if (f.feedView('KDY').lagBatches) expect(() => f.promote('KDY')).toThrow(/behind/)
    expect(() => f.failback('KDY')).toThrow(/nothing to fail back/)
    expect(() => f.promote('ZZZ')).toThrow(/unknown site/)
    expect(f.feedView('KDY')).toMatchObject({ primaryHost: 'KDY-db1', promoting: false })
    expect(c.isServerUp('KDY.primary')).toBe(true)
  })

  it('a participant READY at the failed primary is READY on the promoted server and learns the decision: atomic across sites', async () => {
    const c = await cluster()
    const dtm = Dtm.of(c)
    const f = Failover.of(c)
    const qty = (site: string, table: string) => Number(c.siteStore(site).query(`SELECT QTY FROM ${table} WHERE STOCKCODE = (SELECT MIN(STOCKCODE) FROM ${table})`).rows[0][0])
    const code = String(c.siteStore('KDY').query('SELECT MIN(STOCKCODE) FROM Stock_KDY').rows[0][0])
    const cmbCode = String(c.siteStore('CMB').query('SELECT MIN(STOCKCODE) FROM Stock_CMB').rows[0][0])
    const k0 = qty('KDY', 'Stock_KDY'), c0 = qty('CMB', 'Stock_CMB')
    const gid = dtm.begin('CMB')
    let n = 0
    dtm.exec(gid, 'CMB', 'UPDATE Stock_CMB SET QTY = QTY - 2 WHERE STOCKCODE = ?', [cmbCode], () => n++)
    dtm.exec(gid, 'KDY', 'UPDATE Stock_KDY SET QTY = QTY + 2 WHERE STOCKCODE = ?', [code], () => n++)
    c.sim.runUntilTrue(() => n === 2)
    dtm.crashAt('KDY', 'vote') // KDY forced READY and voted YES, then the whole site fails
    let outcome: string | undefined
    dtm.commit(gid, (r) => { outcome = r.outcome })
    c.sim.runUntilTrue(() => !c.isServerUp('KDY.primary'))
    c.sim.runUntilTrue(() => outcome !== undefined, 1_000_000)
    expect(outcome).toBe('COMMIT')
    // the site's network is repaired, its primary host is not: promote the backup
    c.restoreServer('KDY.router'); c.restoreServer('KDY.app')
    const { report } = await promote(c, f, 'KDY')
    expect(report.inDoubt).toBe(1)
    c.sim.runUntilTrue(() => dtm.summary().inDoubt === 0 && dtm.summary().coordinators === 0, 2_000_000)
    expect(qty('KDY', 'Stock_KDY')).toBe(k0 + 2)
    expect(qty('CMB', 'Stock_CMB')).toBe(c0 - 2)
    expect(c.events.some((e) => e.kind === 'recovery' && /KDY transaction recovery .*1 in doubt/.test(e.message))).toBe(true)
  })

  it('a coordinator\'s COMMIT logged at the failed primary is carried on by the promoted server', async () => {
    const c = await cluster()
    const dtm = Dtm.of(c)
    const f = Failover.of(c)
    const code = String(c.siteStore('MBI').query('SELECT MIN(STOCKCODE) FROM Stock_MBI_LCL').rows[0][0])
    const kcode = String(c.siteStore('KDY').query('SELECT MIN(STOCKCODE) FROM Stock_KDY').rows[0][0])
    const m0 = Number(c.siteStore('MBI').query('SELECT QTY FROM Stock_MBI_LCL WHERE STOCKCODE = ?', [code]).rows[0][0])
    const gid = dtm.begin('KDY')
    let n = 0
    dtm.exec(gid, 'MBI', 'UPDATE Stock_MBI_LCL SET QTY = QTY - 1 WHERE STOCKCODE = ?', [code], () => n++)
    dtm.exec(gid, 'KDY', 'UPDATE Stock_KDY SET QTY = QTY + 1 WHERE STOCKCODE = ?', [kcode], () => n++)
    c.sim.runUntilTrue(() => n === 2)
    dtm.crashAt('KDY', 'decide') // the coordinator logged COMMIT and fails before sending it
    let outcome: string | undefined
    dtm.commit(gid, (r) => { outcome = r.outcome })
    c.sim.runUntilTrue(() => !c.isServerUp('KDY.primary'), 1_000_000)
    c.restoreServer('KDY.router'); c.restoreServer('KDY.app')
    const { report } = await promote(c, f, 'KDY')
    expect(report.coordinators).toBeGreaterThanOrEqual(1)
    c.sim.runUntilTrue(() => dtm.summary().inDoubt === 0 && dtm.summary().coordinators === 0, 2_000_000)
    expect(outcome === undefined || outcome === 'COMMIT').toBe(true)
    expect(Number(c.siteStore('MBI').query('SELECT QTY FROM Stock_MBI_LCL WHERE STOCKCODE = ?', [code]).rows[0][0])).toBe(m0 - 1)
  })

  it('the old primary rejoins as backup when repaired; fail back restores the original roles with no committed data lost', async () => {
    const c = await cluster()
    const f = Failover.of(c)
    const acked = [sale(c), sale(c)]
    c.settle()
    c.failServer('KDY.primary')
    await promote(c, f, 'KDY')
    acked.push(sale(c), sale(c))
    expect(() => f.failback('KDY')).toThrow(/has not rejoined/)
    const lanBefore = c.net.lanStats.get('KDY')!.bytes
    c.restoreServer('KDY.backup') // the old primary host, repaired
    expect(f.feedView('KDY').rejoin).toBe('reseeding')
    c.settle()
    expect(f.feedView('KDY')).toMatchObject({ rejoin: 'none', lagBatches: 0, backupHost: 'KDY-db1', backupUp: true })
    expect(c.net.lanStats.get('KDY')!.bytes - lanBefore).toBeGreaterThan(c.siteInternals('KDY').primary.export().length / 2) // the base copy crossed the LAN
    acked.push(sale(c))
    c.settle()
    const { report } = await promote(c, f, 'KDY', true)
    expect(report).toMatchObject({ kind: 'failback', rpoTxns: 0, promotedHost: 'KDY-db1', demotedHost: 'KDY-db2' })
    expect(f.feedView('KDY')).toMatchObject({ primaryHost: 'KDY-db1', backupHost: 'KDY-db2', original: true, backupUp: true, primaryUp: true, rejoin: 'none' })
    expect(present(c, acked)).toEqual(acked)
    acked.push(sale(c))
    c.settle()
    expect(f.feedView('KDY').lagBatches).toBe(0)
    expect(c.siteStore('KDY').backup.query(`SELECT COUNT(*) FROM Sales_KDY WHERE INVNO IN (${acked.join(',')})`).rows[0][0]).toBe(acked.length)
    expect(f.history.map((h) => h.kind)).toEqual(['failover', 'failback'])
  })

  it('automatic failover is off by default; on, it promotes after the missed health checks and logs its decision', async () => {
    const c = await cluster()
    const f = Failover.of(c)
    c.failServer('KDY.primary')
    c.sim.advance(10_000)
    expect(f.feedView('KDY').primaryHost).toBe('KDY-db1') // off: nothing happens
    c.restoreServer('KDY.primary')
    f.setAuto({ enabled: true, checks: 3, intervalMs: 500 })
    c.failServer('MBI.primary')
    c.sim.runUntilTrue(() => f.history.length === 1, 1_000_000)
    expect(f.history[0]).toMatchObject({ site: 'MBI', by: 'auto', kind: 'failover', rpoTxns: 0 })
    expect(c.events.some((e) => e.kind === 'failover' && /automatic failover: MBI.primary missed 3 health checks \(1500 ms\)/.test(e.message))).toBe(true)
    // a primary that comes back before the checks run out is not replaced
    c.failServer('CMB.primary')
    c.sim.advance(600)
    c.restoreServer('CMB.primary')
    c.sim.advance(3_000)
    expect(f.history).toHaveLength(1)
    expect(c.events.some((e) => /CMB.primary answered its health check after 1 miss/.test(e.message))).toBe(true)
  })

  it('scenario: feed, failover --yes, expect rpo/rto/roles, failback --yes; --yes is required', async () => {
    const r = await runScenario(`sales 200
feed KDY sync
sql KDY INSERT INTO Sales_KDY (INVNO, BRCODE, ITEMNO, QTY, UNITPRICE, AMOUNT) VALUES (991001, 'KDY', 1001, 1, 1, 1)
fail server KDY.primary
failover KDY --yes
expect rpo KDY = 0
expect rto KDY < 1s
expect roles KDY KDY-db2/KDY-db1
restore server KDY.backup
settle
failback KDY --yes
expect roles KDY KDY-db1/KDY-db2
`)
    expect(r.failed).toBeUndefined()
    expect(r.ok).toBe(true)
    const no = await runScenario('sales 0\nfail server KDY.primary\nfailover KDY\n')
    expect(no.failed?.reason).toMatch(/add --yes/)
  })
})
