import { afterEach, describe, expect, it } from 'vitest'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Cluster } from '../cluster'
import { Dtm } from '../txn/dtm'
import { stockCluster, transfer, type TransferOutcome } from '../txn/testkit'
import { checkBank, healAndSettle, snapshot } from '../txn/invariants'
import { ticketsOf } from '../ticket'
import { EngineError } from '../errors'

const qty = (c: Cluster, code: string) => Number(c.siteStore('KDY').query('SELECT QTY FROM Stock_KDY WHERE STOCKCODE = ?', [code]).rows[0][0])
const firstStock = (c: Cluster) => String(c.siteStore('KDY').query('SELECT STOCKCODE FROM Stock_KDY ORDER BY STOCKCODE LIMIT 1').rows[0][0])
const codeOf = (f: () => unknown) => { try { f(); return 'none' } catch (e) { return e instanceof EngineError ? e.code : String(e) } }
const dirs: string[] = []
afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }) })

describe('media failure', () => {
  it('in memory: unnoticed at injection, found by the next access, refused until recovered from the backup; nothing committed is lost', async () => {
    const c = await Cluster.create({ seed: 3, sales: 300 })
    const code = firstStock(c)
    const before = qty(c, code)
    c.siteStore('KDY').exec('UPDATE Stock_KDY SET QTY = QTY + 7 WHERE STOCKCODE = ?', [code]) // committed, maybe not yet at the backup
    c.failMedia('KDY', 'corrupt')
    expect(c.isSiteUp('KDY')).toBe(true) // nothing noticed yet
    expect(c.needsRestore().size).toBe(0)
    let err: EngineError | undefined
    try { c.siteStore('KDY').query('SELECT COUNT(*) FROM Sales_KDY') } catch (e) { err = e as EngineError }
    expect(err?.code).toBe('CORRUPT_DATA')
    expect(err?.message).toMatch(/media failure: KDY\.primary\.sqlite is (corrupt|unreadable).*restore/)
    expect(c.isSiteUp('KDY')).toBe(false)
    expect(codeOf(() => c.siteStore('KDY').exec('UPDATE Stock_KDY SET QTY = 0'))).toBe('CORRUPT_DATA')
    expect(codeOf(() => c.restoreServer('KDY.primary'))).toBe('CORRUPT_DATA')
    const r = c.recoverFromBackup('KDY')
    expect(r.fromSeq).toBeGreaterThanOrEqual(0)
    expect(c.isSiteUp('KDY')).toBe(true)
    expect(qty(c, code)).toBe(before + 7)
    c.settle()
    expect(c.checkFragmentation().ok).toBe(true)
  })

  it('lost medium: the same detection and "gone" in the reason', async () => {
    const c = await Cluster.create({ seed: 4, sales: 100 })
    c.failMedia('MBI', 'lost')
    expect(() => c.siteStore('MBI').count('Sales_MBI')).toThrow(/MBI\.primary's database image is gone/)
    c.recoverFromBackup('MBI')
    expect(c.siteStore('MBI').count('Sales_MBI')).toBeGreaterThan(0)
  })

  it('persisted: the real file is removed, the next access (here a checkpoint) finds it, the restore writes it again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'iddb-media-')); dirs.push(dir)
    const c = await Cluster.create({ seed: 5, sales: 100, dataDir: dir })
    const file = join(dir, 'KDY.primary.sqlite')
    c.failMedia('KDY', 'lost')
    expect(existsSync(file)).toBe(false)
    expect(c.isSiteUp('KDY')).toBe(true)
    c.checkpoint() // writing the images reads them first: the missing file is found, not silently rewritten
    expect(existsSync(file)).toBe(false)
    expect(c.needsRestore().get('KDY.primary')).toMatch(/KDY\.primary\.sqlite is missing/)
    c.recoverFromBackup('KDY')
    expect(existsSync(file)).toBe(true)
    expect(c.isSiteUp('KDY')).toBe(true)
    c.close()
  })

  it('a corrupted file on disk is found by the next query', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'iddb-media-')); dirs.push(dir)
    const c = await Cluster.create({ seed: 6, sales: 100, dataDir: dir })
    c.failMedia('CMB', 'corrupt')
    expect(codeOf(() => c.siteStore('CMB').count('Sales_CMB'))).toBe('CORRUPT_DATA')
    c.recoverFromBackup('CMB')
    expect(c.siteStore('CMB').count('Sales_CMB')).toBeGreaterThan(0)
    c.close()
  })

  it('the DTM learns of it as a crash: a 2PC transaction at the damaged site aborts, the others commit', async () => {
    const c = await Cluster.create({ seed: 7, sales: 100 })
    const dtm = Dtm.of(c)
    const code = firstStock(c)
    c.failMedia('KDY', 'corrupt')
    const gid = dtm.begin('CMB')
    let res: { ok: boolean; error?: { code: string } } | undefined
    dtm.exec(gid, 'KDY', 'UPDATE Stock_KDY SET QTY = QTY - 1 WHERE STOCKCODE = ?', [code], (r) => { res = r })
    c.sim.runUntilTrue(() => !!res, 10_000)
    expect(res?.ok).toBe(false)
    c.sim.advance(1000)
    expect(dtm.summary().active).toBe(0)
    c.recoverFromBackup('KDY')
    c.settle()
    expect(dtm.summary()).toMatchObject({ inDoubt: 0, locks: 0 })
  })
})

describe('LAN failure and degradation', () => {
  it('a failed LAN stops the backup feed and cuts the site off the WAN; restored, the backup catches up', async () => {
    const c = await Cluster.create({ seed: 8, sales: 100 })
    c.settle()
    const backupRows = () => c.siteStore('KDY').backup.count('Stock_KDY')
    const n = backupRows()
    c.failLan('KDY')
    c.siteStore('KDY').exec("INSERT INTO Stock_KDY (STOCKCODE, ITEMNO, QTY, UNITPRICE) SELECT 'LAN-1', ITEMNO, 1, UNITPRICE FROM Stock_KDY LIMIT 1")
    c.sim.advance(30_000)
    expect(backupRows()).toBe(n) // the primary's log is there, the LAN is not
    expect(() => c.net.send({ from: 'CMB', to: 'KDY', kind: 'probe', bytes: 10, payload: null, onDeliver: () => {} })).toThrow(/LAN at KDY is down/)
    c.restoreLan('KDY')
    c.settle()
    expect(backupRows()).toBe(n + 1)
  })

  it('a lossy, slow LAN delays the feed (counted as dropped on the LAN) and still delivers after repair', async () => {
    const c = await Cluster.create({ seed: 9, sales: 100 })
    c.settle()
    c.degradeLan('MBI', { extraDelayMs: 50, lossRate: 1 })
    c.siteStore('MBI').exec("UPDATE Stock_MBI_LCL SET QTY = QTY + 1")
    c.sim.advance(20_000)
    expect(c.net.lanStats.get('MBI')!.dropped).toBeGreaterThan(0)
    expect(c.siteStore('MBI').backup.query('SELECT SUM(QTY) FROM Stock_MBI_LCL').rows[0][0]).not.toBe(c.siteStore('MBI').query('SELECT SUM(QTY) FROM Stock_MBI_LCL').rows[0][0])
    c.degradeLan('MBI', { extraDelayMs: 50, lossRate: 0 })
    c.settle()
    expect(c.siteStore('MBI').backup.query('SELECT SUM(QTY) FROM Stock_MBI_LCL').rows[0][0]).toBe(c.siteStore('MBI').query('SELECT SUM(QTY) FROM Stock_MBI_LCL').rows[0][0])
    expect(() => c.degradeLan('MBI', { lossRate: 2 })).toThrow(/0\.\.1/)
  })
})

describe('partitions', () => {
  it('CMB | MBI KDY: the links between the groups go down, inside a group messages still flow; heal brings back exactly those links', async () => {
    const c = new Cluster({ seed: 1 })
    await c.init()
    c.failLink('MBI-KDY')
    expect(codeOf(() => c.partition([['CMB'], ['MBI', 'KDY']]))).toBe('none')
    expect(c.nemesisView().partition).toEqual([['CMB'], ['MBI', 'KDY']])
    expect(c.net.route('CMB', 'KDY')).toBeUndefined()
    expect(c.topologyView().links.filter((l) => l.state === 'down').map((l) => l.id).sort()).toEqual(['CMB-KDY', 'CMB-MBI', 'MBI-KDY'])
    c.heal()
    expect(c.net.link('CMB-KDY').state).toBe('up')
    expect(c.net.link('MBI-KDY').state).toBe('down') // failed on its own: stays down
    c.restoreLink('MBI-KDY')
    c.partition([['KDY']]) // the rest form the other group
    expect(c.net.route('KDY', 'MBI')).toBeUndefined()
    expect(c.net.route('CMB', 'MBI')).toEqual(['CMB', 'MBI'])
    expect(() => c.partition([['KDY', 'CMB'], ['KDY']])).toThrow(/two groups/)
    expect(() => c.partition([['CMB', 'MBI', 'KDY']])).toThrow(/at least two groups/)
  })
})

describe('duplication and reordering', () => {
  it('is deterministic and counted per link', async () => {
    const run = async () => {
      const c = new Cluster({ seed: 11 })
      await c.init()
      c.setLinkChaos('CMB-KDY', { duplicate: 0.5, reorder: 0.3 })
      const got: number[] = []
      for (let i = 0; i < 40; i++) c.net.send({ from: 'CMB', to: 'KDY', kind: 'probe', bytes: 100, payload: i, onDeliver: (d) => got.push(d.payload as number) })
      c.sim.advance(5_000)
      return { got, stats: c.net.link('CMB-KDY').stats }
    }
    const a = await run(), b = await run()
    expect(a.got).toEqual(b.got)
    expect(a.stats.duplicated).toBeGreaterThan(0)
    expect(a.stats.reordered).toBeGreaterThan(0)
    expect(a.got.length).toBe(40 + a.stats.duplicated)
    expect(a.got).not.toEqual([...a.got].sort((x, y) => x - y)) // some overtook others
  })

  /** Transfers between the branches' stock fragments, run with the given chaos on every link; checkBank's errors. */
  const bankUnderChaos = (chaos: { duplicate?: number; reorder?: number }) => {
    const { cluster, dtm, items } = stockCluster({ seed: 21, items: 6 })
    for (const id of cluster.net.links.keys()) cluster.setLinkChaos(id, chaos)
    const initial = snapshot(dtm, cluster)
    const results: TransferOutcome[] = []
    const sites = cluster.siteCodes
    for (let i = 0; i < 60; i++) {
      const from = sites[i % 3], to = sites[(i + 1) % 3], origin = sites[(i + 2) % 3]
      cluster.sim.schedule(i * 40, 'test.transfer', () => transfer(dtm, { origin, from, to, item: items[i % items.length], qty: 1 }, (o) => results.push(o)))
    }
    cluster.sim.runUntilTrue(() => results.length === 60, 2_000_000)
    expect(results.length).toBe(60)
    expect(results.filter((r) => r.outcome === 'COMMIT').length).toBeGreaterThan(0)
    expect(healAndSettle(cluster, dtm)).toBe(true)
    const links = [...cluster.net.links.values()]
    if (chaos.duplicate) expect(links.reduce((n, l) => n + l.stats.duplicated, 0)).toBeGreaterThan(0)
    if (chaos.reorder) expect(links.reduce((n, l) => n + l.stats.reordered, 0)).toBeGreaterThan(0)
    return checkBank(dtm, cluster, initial, results)
  }

  it('2PC keeps atomicity with reordered messages on every link', () => {
    expect(bankUnderChaos({ reorder: 0.3 })).toEqual([])
  })

  /**
   * A duplicated `txn.exec` was executed twice by the participant (`UPDATE … SET QTY = QTY - 1` applied twice):
   * Dtm.onExec refused a repeat only while the sub-transaction was busy. The participant now remembers the
   * request ids it has taken and ignores a repeat.
   */
  it('2PC keeps atomicity with duplicated messages on every link', () => {
    expect(bankUnderChaos({ duplicate: 0.3 })).toEqual([])
  })

  it('tickets stay at most once with duplicated and reordered messages', async () => {
    const c = new Cluster({ seed: 13 })
    await c.init()
    // the cluster has no data: the item sold must exist (FK_SALES_ITEMNO, looked up at the ITEMS primary copy)
    c.siteStore('CMB').exec("INSERT INTO ITEMS (ITEMNO, DESCRIPTION, CATEGORY, BRAND, LISTPRICE) VALUES (1001, 'Lamp', 'Home', 'X', 5)")
    c.settle(60_000)
    for (const id of c.net.links.keys()) c.setLinkChaos(id, { duplicate: 0.4, reorder: 0.4 })
    const svc = ticketsOf(c)
    const tickets = Array.from({ length: 12 }, (_, i) => String(9100001 + i))
    const views = tickets.flatMap((t, i) => [svc.present(t, [c.siteCodes[i % 3]], { sale: { itemNo: 1001, qty: 1, unitPrice: 5 } }), svc.present(t, [c.siteCodes[(i + 1) % 3]], { sale: { itemNo: 1001, qty: 1, unitPrice: 5 } })])
    c.sim.runUntilTrue(() => views.every((v) => v.outcome !== 'pending'), 1_000_000)
    for (const t of tickets) {
      const sold = c.siteCodes.reduce((n, s) => n + Number(c.siteStore(s).query(`SELECT COUNT(*) FROM Sales_${s} WHERE INVNO = ?`, [Number(t)]).rows[0][0]), 0)
      expect(sold, `ticket ${t}`).toBeLessThanOrEqual(1)
      expect(sold).toBe(svc.outcomeOf(t).winner ? 1 : 0)
    }
  })
})

describe('clock skew', () => {
  it("the site's clock and its commit timestamps read the skew; 0 puts it right", async () => {
    const c = await Cluster.create({ seed: 2, sales: 50 })
    c.skewClock('KDY', 5 * 60_000)
    expect(c.siteNow('KDY') - c.sim.now).toBe(300_000)
    c.siteStore('KDY').exec('UPDATE Stock_KDY SET QTY = QTY + 1')
    c.siteStore('CMB').exec('UPDATE Stock_CMB SET QTY = QTY + 1')
    const last = (s: string) => c.siteInternals(s).retained.at(-1)!.body.at
    expect(last('KDY') - c.sim.now).toBe(300_000)
    expect(last('CMB')).toBe(c.sim.now)
    expect(c.nemesisView().sites.find((s) => s.code === 'KDY')!.skewMs).toBe(300_000)
    c.skewClock('KDY', 0)
    expect(c.siteNow('KDY')).toBe(c.sim.now)
    expect(() => c.skewClock('KDY', 30 * 86_400_000)).toThrow(/±7 days/)
  })
})
