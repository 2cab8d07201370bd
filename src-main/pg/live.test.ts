/**
 * The console's live mode without the console (src-main/pg/live.ts): a cluster built from a deployment's design,
 * its DQP reading the live servers and its DTM committing there; and an unreachable server refused at once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chmodSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Cluster } from '../../engine/cluster'
import { Dqp } from '../../engine/query/dqp'
import { Dtm, type CommitResult, type ExecResult } from '../../engine/txn/dtm'
import { fragments } from '../../engine/data/schema'
import { pgDown, pgUp, type PgUpResult } from './deploy'
import { pgBackup, pgRestore } from './backup'
import { pgUnavailableReason, readPassword, writeDeployment } from './servers'
import { atSite, freePorts } from './testserver'
import { transferCmbToKdy } from './testtxn'
import { LiveSites, liveDesign } from './live'

const why = pgUnavailableReason()

describe.skipIf(why !== null)(`live mode over three PostgreSQL sites${why ? ` (skipped: ${why})` : ''}`, () => {
  let dir = ''
  let up: PgUpResult
  let cluster: Cluster
  let live: LiveSites
  const at = (site: string, sql: string, database?: string): Promise<any[]> => atSite(dir, up.deployment, site, sql, database)
  let writtenBefore = 0

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'iddb-pglive-'))
    chmodSync(dir, 0o755)
    up = await pgUp({ dataDir: dir, seed: 23, sales: 500, basePort: await freePorts(6, 38000), durable: false })
    // written at Mumbai's server before any console opened the servers (captured from pg up on)
    const [first] = await at('MBI', `UPDATE "Sales_MBI" SET "SOLD_AT" = 'before the console' WHERE "INVNO" = (SELECT min("INVNO") FROM "Sales_MBI") RETURNING "INVNO" AS s`)
    writtenBefore = Number(first.s)
    const design = liveDesign(dir)
    expect(design).toMatchObject({ seed: 23, sales: 500 })
    cluster = await Cluster.create({ seed: design.seed, sales: design.sales })
    live = LiveSites.open(cluster, dir)
    live.useForTransactions(cluster)
  }, 300_000)

  afterAll(() => {
    live?.close()
    cluster?.close()
    if (dir) { try { pgDown(dir) } finally { rmSync(dir, { recursive: true, force: true }) } }
  })

  it('what was written at a server after pg up and before any console opened reaches the repository once one does', async () => {
    const repo = up.deployment.repository
    await expect.poll(async () => { live.propagation!.drain(); return (await at(repo.site, `SELECT "SOLD_AT" AS t FROM "SALES" WHERE "INVNO" = ${writtenBefore} AND "BRCODE" = 'MBI'`, repo.database))[0]?.t }, { timeout: 10_000 }).toBe('before the console')
  })

  it('names each site\'s server, up', () => {
    expect(live.servers().map((s) => [s.site, s.up])).toEqual(up.deployment.sites.map((s) => [s.code, true]))
  })

  it('a global count through the DQP equals the servers\' own rows', async () => {
    let expected = 0
    for (const f of fragments(cluster.topology).filter((x) => x.relation === 'SALES' && x.kind === 'horizontal')) expected += Number((await at(f.site, `SELECT count(*) AS n FROM "${f.name}"`))[0].n)
    const r = await (await Dqp.create(cluster)).run('KDY', 'SELECT COUNT(*) AS N FROM SALES')
    expect(r.rows).toEqual([[expected]])
  })

  it('a two-site transaction commits at the servers, nothing left prepared', async () => {
    const { gid, outcome, before, after } = await transferCmbToKdy(cluster, at, 1)
    expect(outcome).toBe('COMMIT')
    expect(after).toEqual([before[0] - 1, before[1] + 1])
    for (const s of up.deployment.sites) expect(await at(s.code, 'SELECT gid FROM pg_prepared_xacts')).toEqual([])
    for (const s of ['CMB', 'KDY']) expect((await at(s, 'SELECT gid FROM iddb_2pc.committed')).map((x) => x.gid)).toContain(gid)
  })

  it('a write typed into the Query console (the DQP\'s one write path) commits at the live servers', async () => {
    const f = fragments(cluster.topology).find((x) => x.relation === 'SALES' && x.kind === 'horizontal' && x.site === 'KDY')!
    const [row] = await at('KDY', `SELECT "INVNO" AS s, "QTY" AS q FROM "${f.name}" ORDER BY "INVNO" LIMIT 1`)
    const dqp = await Dqp.create(cluster)
    const r = await dqp.run('CMB', `UPDATE SALES SET QTY = QTY + 3, AMOUNT = ROUND((QTY + 3) * UNITPRICE, 2) WHERE INVNO = ${row.s}`)
    expect(r.rows.length + 1).toBeGreaterThan(0)
    expect(Number((await at('KDY', `SELECT "QTY" AS q FROM "${f.name}" WHERE "INVNO" = ${row.s}`))[0].q)).toBe(Number(row.q) + 3)
    // and the DQP reads its own write back from the server (the site's cached statistics were dropped)
    expect((await dqp.run('KDY', `SELECT QTY FROM SALES WHERE INVNO = ${row.s}`)).rows).toEqual([[Number(row.q) + 3]])
    for (const s of up.deployment.sites) expect(await at(s.code, 'SELECT gid FROM pg_prepared_xacts')).toEqual([])
  })

  it('what a commit changes reaches the main repository and the other copies through the origin server\'s outbox: never lost, never twice', async () => {
    const prop = live.propagation!
    const repo = up.deployment.repository
    const atRepo = (sql: string) => at(repo.site, sql, repo.database)
    prop.drain()
    // a branch's sale, changed through the DQP: at the repository once the applier has taken it from KDY's outbox
    const f = fragments(cluster.topology).find((x) => x.relation === 'SALES' && x.kind === 'horizontal' && x.site === 'KDY')!
    const [row] = await at('KDY', `SELECT "INVNO" AS s FROM "${f.name}" ORDER BY "INVNO" DESC LIMIT 1`)
    const dqp = await Dqp.create(cluster)
    await dqp.run('KDY', `UPDATE SALES SET EMPNO = EMPNO, SOLD_AT = '2026-12-03 09:00:00' WHERE INVNO = ${row.s}`)
    const soldAt = async () => (await atRepo(`SELECT "SOLD_AT" AS t FROM "SALES" WHERE "INVNO" = ${row.s} AND "BRCODE" = 'KDY'`))[0]?.t
    await expect.poll(() => { prop.drain(); return soldAt() }, { timeout: 10_000 }).toBe('2026-12-03 09:00:00')
    expect(Number((await at('KDY', 'SELECT count(*) AS n FROM iddb_repl.outbox'))[0].n)).toBe(0)
    // ITEMS is written at its primary copy (Colombo) and reaches the replicas at the branches
    const [item] = await at('CMB', 'SELECT "ITEMNO" AS i FROM "ITEMS" ORDER BY "ITEMNO" LIMIT 1')
    await dqp.run('CMB', `UPDATE ITEMS SET DESCRIPTION = 'Propagated ${item.i}' WHERE ITEMNO = ${item.i}`)
    for (const site of ['MBI', 'KDY']) {
      await expect.poll(async () => { prop.drain(); return (await at(site, `SELECT "DESCRIPTION" AS d FROM "ITEMS" WHERE "ITEMNO" = ${item.i}`))[0].d }, { timeout: 10_000 }).toBe(`Propagated ${item.i}`)
    }
    // Stock_CMB's vertical fragment at Mumbai follows it (its own columns only)
    const [st] = await at('CMB', 'SELECT "ITEMNO" AS i, "QTY" AS q FROM "Stock_CMB" ORDER BY "ITEMNO" LIMIT 1')
    await dqp.run('CMB', `UPDATE STOCK_CMB SET QTY = QTY + 5 WHERE ITEMNO = ${st.i}`)
    await expect.poll(async () => { prop.drain(); return Number((await at('MBI', `SELECT "QTY" AS q FROM "Stocks_CMB_FRG" WHERE "ITEMNO" = ${st.i}`))[0].q) }, { timeout: 10_000 }).toBe(Number(st.q) + 5)
    // an entry applied at its targets whose outbox delete was lost (the console died in between) is not applied twice
    const applied = await atRepo(`SELECT origin, seq::text AS seq, id::text AS id FROM iddb_repl.applied_ids WHERE origin = 'KDY' ORDER BY seq DESC LIMIT 1`)
    expect(applied.length).toBe(1)
    await atRepo(`UPDATE "SALES" SET "SOLD_AT" = 'changed at the repository' WHERE "INVNO" = ${row.s} AND "BRCODE" = 'KDY'`)
    await at('KDY', `INSERT INTO iddb_repl.outbox (seq, id, writes) VALUES (${applied[0].seq}, '${applied[0].id}', '[{"table":"${f.name}","key":"${row.s}","row":null}]')`)
    prop.drain()
    expect(await soldAt()).toBe('changed at the repository')
    expect(Number((await at('KDY', 'SELECT count(*) AS n FROM iddb_repl.outbox'))[0].n)).toBe(0)
    // the applier's view: every origin read on its last pass, nothing waiting, nothing failing; the entries counted
    const applier = prop.status()
    expect(applier.origins.map((o) => o.site).sort()).toEqual(['CMB', 'KDY', 'MBI'])
    for (const o of applier.origins) expect(o).toMatchObject({ pending: 0, more: false, error: null, checkedAt: expect.any(Number), uncaptured: [] })
    expect(applier.origins.find((o) => o.site === 'CMB')!.targets).toEqual(expect.arrayContaining(['MBI', 'KDY']))
    expect(applier.applied).toBeGreaterThanOrEqual(3)
  })

  it('a change made at a server beside the console (a session of its own, as a branch\'s application would) reaches the repository and the copies as well; the applier\'s own writes are not captured again', async () => {
    const prop = live.propagation!
    const repo = up.deployment.repository
    const atRepo = (sql: string) => at(repo.site, sql, repo.database)
    prop.drain()
    const f = fragments(cluster.topology).find((x) => x.relation === 'SALES' && x.kind === 'horizontal' && x.site === 'MBI')!
    const [row] = await at('MBI', `SELECT "INVNO" AS s FROM "${f.name}" ORDER BY "INVNO" LIMIT 1`)
    // an UPDATE and a DELETE in one transaction, typed at Mumbai's server
    await at('MBI', `BEGIN; UPDATE "${f.name}" SET "SOLD_AT" = 'typed at MBI' WHERE "INVNO" = ${row.s}; DELETE FROM "${f.name}" WHERE "INVNO" = (SELECT max("INVNO") FROM "${f.name}"); COMMIT`)
    const [gone] = await atRepo(`SELECT count(*)::int AS n FROM "SALES" WHERE "BRCODE" = 'MBI'`)
    await expect.poll(async () => { prop.drain(); return (await atRepo(`SELECT "SOLD_AT" AS t FROM "SALES" WHERE "INVNO" = ${row.s} AND "BRCODE" = 'MBI'`))[0]?.t }, { timeout: 10_000 }).toBe('typed at MBI')
    expect((await atRepo(`SELECT count(*)::int AS n FROM "SALES" WHERE "BRCODE" = 'MBI'`))[0].n).toBe(gone.n - 1)
    // every copy of the fragment holds what Mumbai's server holds
    const rows = async (sql: string, db?: string) => JSON.stringify(await (db ? at(repo.site, sql, db) : at('MBI', sql)))
    expect(await rows(`SELECT "INVNO", "SOLD_AT" FROM "SALES" WHERE "BRCODE" = 'MBI' ORDER BY 1`, repo.database)).toBe(await rows(`SELECT "INVNO", "SOLD_AT" FROM "${f.name}" ORDER BY 1`))
    // ITEMS written at Colombo's server by hand reaches the branches' replicas; their tables take the applier's
    // writes without putting them in an outbox of their own
    const [item] = await at('CMB', 'SELECT "ITEMNO" AS i FROM "ITEMS" ORDER BY "ITEMNO" DESC LIMIT 1')
    await at('CMB', `UPDATE "ITEMS" SET "DESCRIPTION" = 'typed at CMB' WHERE "ITEMNO" = ${item.i}`)
    for (const site of ['MBI', 'KDY']) {
      await expect.poll(async () => { prop.drain(); return (await at(site, `SELECT "DESCRIPTION" AS d FROM "ITEMS" WHERE "ITEMNO" = ${item.i}`))[0].d }, { timeout: 10_000 }).toBe('typed at CMB')
    }
    for (const s of up.deployment.sites) expect((await at(s.code, 'SELECT count(*)::int AS n FROM iddb_repl.outbox'))[0].n).toBe(0)
    // a write made with the applier's mark is not captured (how the applier's own writes at a target stay out)
    await at('CMB', `BEGIN; SET LOCAL iddb.applier = 'on'; UPDATE "ITEMS" SET "DESCRIPTION" = "DESCRIPTION" WHERE "ITEMNO" = ${item.i}; COMMIT`)
    expect((await at('CMB', 'SELECT count(*)::int AS n FROM iddb_repl.outbox'))[0].n).toBe(0)
  })

  it('a TRUNCATE at a server beside the console reaches the copies as the delete of every row; the rows put back reach them again', async () => {
    const prop = live.propagation!
    const repo = up.deployment.repository
    const f = fragments(cluster.topology).find((x) => x.relation === 'SALES' && x.kind === 'horizontal' && x.site === 'KDY')!
    const kdyInRepo = async () => (await at(repo.site, `SELECT count(*)::int AS n FROM "SALES" WHERE "BRCODE" = 'KDY'`, repo.database))[0].n as number
    prop.drain()
    const before = await kdyInRepo()
    expect(before).toBeGreaterThan(0)
    await at('KDY', `CREATE SCHEMA IF NOT EXISTS keep; DROP TABLE IF EXISTS keep.s; CREATE TABLE keep.s AS SELECT * FROM "${f.name}"`)
    try {
      await at('KDY', `TRUNCATE "${f.name}"`)
      await expect.poll(async () => { prop.drain(); return kdyInRepo() }, { timeout: 10_000 }).toBe(0)
    } finally {
      await at('KDY', `INSERT INTO "${f.name}" SELECT * FROM keep.s ON CONFLICT DO NOTHING; DROP SCHEMA keep CASCADE`)
    }
    await expect.poll(async () => { prop.drain(); return kdyInRepo() }, { timeout: 10_000 }).toBe(before)
    expect((await at('KDY', 'SELECT count(*)::int AS n FROM iddb_repl.outbox'))[0].n).toBe(0)
  })

  it('the main repository restored from an older backup takes again what the sites committed after it, and loses what they deleted after it', async () => {
    const prop = live.propagation!
    const repo = up.deployment.repository
    const f = fragments(cluster.topology).find((x) => x.relation === 'SALES' && x.kind === 'horizontal' && x.site === 'MBI')!
    prop.drain()
    const m = await pgBackup(dir, { site: repo.site, outDir: join(dir, 'backups'), repository: true })
    const [row, gone] = await at('MBI', `SELECT "INVNO" AS s FROM "${f.name}" ORDER BY "INVNO" DESC LIMIT 2`)
    const soldAt = async () => (await at(repo.site, `SELECT "SOLD_AT" AS t FROM "SALES" WHERE "INVNO" = ${row.s} AND "BRCODE" = 'MBI'`, repo.database))[0]?.t
    const inRepo = async () => (await at(repo.site, `SELECT count(*)::int AS n FROM "SALES" WHERE "INVNO" = ${gone.s}`, repo.database))[0].n
    // after the backup: one sale changed at Mumbai, another deleted there
    await at('MBI', `UPDATE "${f.name}" SET "SOLD_AT" = 'after the repository backup' WHERE "INVNO" = ${row.s}`)
    await at('MBI', `DELETE FROM "${f.name}" WHERE "INVNO" = ${gone.s}`)
    await expect.poll(async () => { prop.drain(); return [await soldAt(), await inRepo()] }, { timeout: 10_000 }).toEqual(['after the repository backup', 0])
    // the applier waits while the restore prunes the repository under a lock on this thread (as the console's job does)
    const resume = prop.pause()
    let r
    try { r = await pgRestore(dir, { manifest: join(dir, 'backups', `${m.file}.json`), site: repo.site, topology: cluster.topology }) } finally { resume() }
    expect(r.pruned).toBe(1)
    expect(await inRepo()).toBe(0) // the deleted sale did not come back with the backup
    await expect.poll(async () => { prop.drain(); return soldAt() }, { timeout: 20_000 }).toBe('after the repository backup')
    // every SALES row of the repository is some branch's, and every branch's is in it
    let branches = 0
    for (const x of fragments(cluster.topology).filter((y) => y.relation === 'SALES' && y.kind === 'horizontal')) branches += (await at(x.site, `SELECT count(*)::int AS n FROM "${x.name}"`))[0].n
    await expect.poll(async () => { prop.drain(); return (await at(repo.site, 'SELECT count(*)::int AS n FROM "SALES"', repo.database))[0].n }, { timeout: 20_000 }).toBe(branches)
  }, 60_000)

  it('a row the copies got after a backup, and the site restored from that backup no longer has, is deleted from them too', async () => {
    const prop = live.propagation!
    const repo = up.deployment.repository
    const f = fragments(cluster.topology).find((x) => x.relation === 'SALES' && x.kind === 'horizontal' && x.site === 'KDY')!
    const inRepo = async (invno: number) => (await at(repo.site, `SELECT count(*)::int AS n FROM "SALES" WHERE "INVNO" = ${invno} AND "BRCODE" = 'KDY'`, repo.database))[0].n as number
    prop.drain()
    const m = await pgBackup(dir, { site: 'KDY', outDir: join(dir, 'backups') })
    // after the backup: a sale typed at Kandy's server reaches the repository
    const [{ n: next }] = await at('KDY', `SELECT max("INVNO") + 1000 AS n FROM "${f.name}"`)
    await at('KDY', `INSERT INTO "${f.name}" SELECT (jsonb_populate_record(NULL::"${f.name}", to_jsonb(s) || jsonb_build_object('INVNO', ${Number(next)}))).* FROM "${f.name}" s LIMIT 1`)
    await expect.poll(async () => { prop.drain(); return inRepo(Number(next)) }, { timeout: 10_000 }).toBe(1)
    // the restore takes Kandy back to before it: the repository loses the sale too
    await pgRestore(dir, { manifest: join(dir, 'backups', `${m.file}.json`), site: 'KDY' })
    await expect.poll(async () => { prop.drain(); return inRepo(Number(next)) }, { timeout: 10_000 }).toBe(0)
    expect((await at(repo.site, `SELECT count(*)::int AS n FROM "SALES" WHERE "BRCODE" = 'KDY'`, repo.database))[0].n).toBe((await at('KDY', `SELECT count(*)::int AS n FROM "${f.name}"`))[0].n)
  })

  it('an origin whose outbox numbering goes back (its database restored from a backup taken earlier) still has every new change applied: entries are told apart by their own id, not their number', async () => {
    const prop = live.propagation!
    const repo = up.deployment.repository
    prop.drain()
    const f = fragments(cluster.topology).find((x) => x.relation === 'SALES' && x.kind === 'horizontal' && x.site === 'KDY')!
    const [row] = await at('KDY', `SELECT "INVNO" AS s FROM "${f.name}" ORDER BY "INVNO" LIMIT 1`)
    const soldAt = async () => (await at(repo.site, `SELECT "SOLD_AT" AS t FROM "SALES" WHERE "INVNO" = ${row.s} AND "BRCODE" = 'KDY'`, repo.database))[0]?.t
    // one change, numbered and applied at the repository
    await at('KDY', `UPDATE "${f.name}" SET "SOLD_AT" = 'before the restore' WHERE "INVNO" = ${row.s}`)
    // (read from the sequence: the console's applier may have taken the entry already)
    const lastSeq = async () => Number((await at('KDY', `SELECT last_value AS n FROM iddb_repl.outbox_seq_seq`))[0].n)
    const n = await lastSeq()
    await expect.poll(() => { prop.drain(); return soldAt() }, { timeout: 10_000 }).toBe('before the restore')
    // what a restore does to the outbox's sequence: the number already taken (and applied at the targets) comes again
    await at('KDY', `SELECT setval(pg_get_serial_sequence('iddb_repl.outbox', 'seq'), ${n}, false)`)
    await at('KDY', `UPDATE "${f.name}" SET "SOLD_AT" = 'after the restore' WHERE "INVNO" = ${row.s}`)
    expect(await lastSeq()).toBe(n)
    await expect.poll(async () => { prop.drain(); return (await at(repo.site, `SELECT "SOLD_AT" AS t FROM "SALES" WHERE "INVNO" = ${row.s} AND "BRCODE" = 'KDY'`, repo.database))[0]?.t }, { timeout: 10_000 }).toBe('after the restore')
  })

  it('the 2PC logs are kept with the deployment: a console that stopped after its COMMIT decision finishes the transaction at the servers when it starts again, and never reuses a gid', async () => {
    const items = async (site: string, t: string) => (await at(site, `SELECT "ITEMNO" AS i FROM "${t}" ORDER BY 1`)).map((r) => Number(r.i))
    const kdy = new Set(await items('KDY', 'Stock_KDY'))
    const item = (await items('CMB', 'Stock_CMB')).filter((i) => kdy.has(i))[1]
    const qty = async (site: string, t: string) => Number((await at(site, `SELECT "QTY" AS q FROM "${t}" WHERE "ITEMNO" = ${item}`))[0].q)
    const before = [await qty('CMB', 'Stock_CMB'), await qty('KDY', 'Stock_KDY')]
    // a console of its own over the same deployment (the suite's stays as it is)
    const c1 = await Cluster.create({ seed: 23, sales: 500 })
    const l1 = LiveSites.open(c1, dir)
    l1.useForTransactions(c1)
    const dtm = Dtm.of(c1)
    const gid = dtm.begin('CMB')
    const run = (site: string, sql: string) => {
      let r: ExecResult | undefined
      dtm.exec(gid, site, sql, [], (x) => { r = x })
      c1.sim.runUntilTrue(() => r !== undefined, 2_000_000)
      expect(r?.ok, r?.error?.message).toBe(true)
    }
    run('CMB', `UPDATE Stock_CMB SET QTY = QTY - 2 WHERE ITEMNO = ${item}`)
    run('KDY', `UPDATE Stock_KDY SET QTY = QTY + 2 WHERE ITEMNO = ${item}`)
    // the coordinator decides COMMIT and its site stops before the decision goes out; then the console stops
    dtm.crashAt('CMB', 'decide')
    let res: CommitResult | undefined
    dtm.commit(gid, (x) => { res = x })
    c1.sim.runUntilTrue(() => res !== undefined, 2_000_000)
    // the client is not told COMMIT before the decision's fsync (group commit), which the crash came before: the
    // outcome is unknown to it; the record itself was written to DIR/2pc/CMB.2pc.log
    expect(res?.outcome).toBe('UNKNOWN')
    expect((await at('KDY', 'SELECT gid FROM pg_prepared_xacts')).map((x) => x.gid)).toEqual([gid])
    expect([await qty('CMB', 'Stock_CMB'), await qty('KDY', 'Stock_KDY')]).toEqual(before)
    l1.close()
    c1.close()
    // the next start: recovery from DIR/2pc finishes it with COMMIT PREPARED at both servers
    const c2 = await Cluster.create({ seed: 23, sales: 500 })
    const l2 = LiveSites.open(c2, dir)
    try {
      l2.useForTransactions(c2)
      const d2 = Dtm.of(c2)
      c2.sim.runUntilTrue(() => d2.unfinishedAt(gid).length === 0 && d2.summary().locks === 0, 2_000_000)
      expect([await qty('CMB', 'Stock_CMB'), await qty('KDY', 'Stock_KDY')]).toEqual([before[0] - 2, before[1] + 2])
      for (const s of up.deployment.sites) expect(await at(s.code, 'SELECT gid FROM pg_prepared_xacts')).toEqual([])
      const next = d2.begin('CMB')
      expect(Number(next.split('-')[1])).toBeGreaterThan(Number(gid.split('-')[1]))
      d2.abort(next)
    } finally {
      l2.close()
      c2.close()
    }
  })

  it('a server that cannot be reached is refused at once, naming it', () => {
    const d = structuredClone(up.deployment)
    const other = mkdtempSync(join(tmpdir(), 'iddb-pglive-bad-'))
    try {
      d.sites[2].primary.port = 1
      writeDeployment(other, d)
      process.env.IDDB_PG_PASSWORD = readPassword(dir, up.deployment)
      const t0 = performance.now()
      expect(() => LiveSites.open(cluster, other)).toThrow(new RegExp(`live server ${d.sites[2].primary.id} \\(127\\.0\\.0\\.1:1,`))
      expect(performance.now() - t0).toBeLessThan(15_000)
    } finally {
      delete process.env.IDDB_PG_PASSWORD
      rmSync(other, { recursive: true, force: true })
    }
  })
})
