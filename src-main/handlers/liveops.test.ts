/**
 * The Catalog console's live local catalog and the live failure drills through their handlers, against a real
 * deployment (`pg up`, three sites and their standbys) opened by LiveSites as the console opens it: the catalog's
 * figures equal count(*) at the server after ANALYZE; a stopped primary leaves the console answering (a query
 * over that site reads another copy, a transaction there fails clearly), and after its start the site serves again;
 * the console's own DQP connection ended at the server reconnects on the next query. Skipped without PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chmodSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { Cluster } from '../../engine/cluster'
import { JobRunner } from '../engine-host/jobs'
import { pgDown, pgUp, type PgUpResult } from '../pg/deploy'
import { pgUnavailableReason, readPassword, hostOf } from '../pg/servers'
import { freePorts } from '../pg/testserver'
import { LiveSites, liveDesign } from '../pg/live'
import { liveOpsHandlers as h } from './liveops'
import { queryHandlers } from './query'
import { txnHandlers } from './txn'
import type { HandlerContext } from './context'
import type { QueryRunView } from '../ipc/contract/query'
import { authorizeAction, type Actor } from '../../engine/security/roles'

const why = pgUnavailableReason()

/** The sites whose servers answered a query's sub-queries (the plan's subquery steps). */
const servedBy = (r: QueryRunView) => [...new Set(r.plan.steps.filter((s) => s.kind === 'subquery').map((s) => s.site))].sort()

describe('who may run the live drills and catalog calls (roles.ts)', () => {
  const kdyAdmin: Actor = { user: 'kandy', role: 'branch-admin', site: 'KDY', clearance: 'SECRET', level: 'SECRET' }
  const auditor: Actor = { user: 'audit', role: 'auditor', site: null, clearance: 'SECRET', level: 'SECRET' }
  it('a branch administrator stops, starts and ends backends at its own site only; an auditor reads the state and changes nothing', () => {
    expect(authorizeAction(kdyAdmin, 'liveDrill/stopServer', { server: 'KDY.primary', confirm: 'KDY.primary' }).ok).toBe(true)
    expect(authorizeAction(kdyAdmin, 'liveDrill/stopServer', { server: 'CMB.primary', confirm: 'CMB.primary' })).toMatchObject({ ok: false, code: 'ACCESS_DENIED', site: 'CMB' })
    expect(authorizeAction(kdyAdmin, 'liveDrill/startServer', { server: 'KDY.backup' }).ok).toBe(true)
    expect(authorizeAction(kdyAdmin, 'liveDrill/killBackend', { site: 'MBI' }).ok).toBe(false)
    expect(authorizeAction(auditor, 'liveDrill/servers', {}).ok).toBe(true)
    expect(authorizeAction(auditor, 'liveDrill/backends', { site: 'KDY' }).ok).toBe(true)
    expect(authorizeAction(auditor, 'liveCatalog/site', { site: 'KDY', analyze: false }).ok).toBe(true)
    expect(authorizeAction(auditor, 'liveCatalog/site', { site: 'KDY', analyze: true }).ok).toBe(false)
    expect(authorizeAction(auditor, 'liveCatalog/analyze', { site: 'KDY' }).ok).toBe(false)
    expect(authorizeAction(auditor, 'liveDrill/stopServer', { server: 'KDY.primary', confirm: 'KDY.primary' }).ok).toBe(false)
    expect(authorizeAction(null, 'liveDrill/servers', {})).toMatchObject({ ok: false, code: 'AUTH_FAILED' })
  })
})

describe.skipIf(why !== null)(`the live Catalog console and failure drills${why ? ` (skipped: ${why})` : ''}`, () => {
  let dir = ''
  let up: PgUpResult
  let ctx: HandlerContext & { events: string[] }
  const at = async (site: string, sql: string, params: unknown[] = []) => {
    const d = up.deployment
    const s = d.sites.find((x) => x.code === site)!
    const c = new pg.Client({ host: hostOf(d, s.primary.port), port: s.primary.port, user: d.user, password: readPassword(dir, d), database: d.database })
    await c.connect()
    try { return (await c.query(sql, params)).rows } finally { await c.end() }
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'iddb-liveops-'))
    chmodSync(dir, 0o755)
    up = await pgUp({ dataDir: dir, seed: 29, sales: 400, basePort: await freePorts(6, 39000), durable: false })
    const design = liveDesign(dir)
    const cluster = await Cluster.create({ seed: design.seed, sales: design.sales })
    const live = LiveSites.open(cluster, dir)
    live.useForTransactions(cluster)
    const events: string[] = []
    ctx = { cluster, jobs: new JobRunner(), host: 'cli', dataDir: null, live, emit: (e) => { events.push(e) }, clock: { speed: 0, setSpeed: () => undefined }, events }
  }, 300_000)

  afterAll(() => {
    ctx?.live?.close()
    ctx?.cluster.close()
    if (dir) { try { pgDown(dir) } finally { rmSync(dir, { recursive: true, force: true }) } }
  })

  it('refuses every call in the simulation, and bad input before anything runs', async () => {
    const sim = { ...ctx, live: null }
    await expect(h['liveCatalog/site'](sim, { site: 'KDY', analyze: false })).rejects.toMatchObject({ code: 'UNSUPPORTED' })
    await expect(h['liveDrill/servers'](sim, {})).rejects.toMatchObject({ code: 'UNSUPPORTED' })
    await expect(h['liveCatalog/site'](ctx, { site: 'ZZZ', analyze: false })).rejects.toMatchObject({ code: 'UNKNOWN_SITE' })
    await expect(h['liveDrill/stopServer'](ctx, { server: 'KDY.primary', confirm: 'KDY' })).rejects.toMatchObject({ code: 'BAD_INPUT' })
    await expect(h['liveDrill/stopServer'](ctx, { server: 'ZZZ.primary', confirm: 'ZZZ.primary' })).rejects.toMatchObject({ code: 'NOT_FOUND' })
    await expect(h['liveDrill/startServer'](ctx, { server: 'KDY.primary' })).rejects.toMatchObject({ code: 'CONFLICT' })
    await expect(h['liveDrill/killBackend'](ctx, { site: 'KDY', pid: 1 })).rejects.toMatchObject({ code: 'NOT_FOUND' })
    // nothing was stopped
    expect((await h['liveDrill/servers'](ctx, {})).every((s) => s.running && s.up)).toBe(true)
  })

  it('reads a site\'s local catalog from its server: after ANALYZE every table\'s rows equal count(*) there', async () => {
    // rows the statistics have not seen yet: reltuples lags, count(*) does not
    await at('KDY', `INSERT INTO "Employees_KDY" SELECT (jsonb_populate_record(NULL::"Employees_KDY", to_jsonb(e) || jsonb_build_object('EMPNO', e."EMPNO" + 900000))).* FROM "Employees_KDY" e`)
    const before = await h['liveCatalog/site'](ctx, { site: 'KDY', analyze: false })
    expect(before).toMatchObject({ site: 'KDY', server: 'KDY.primary', port: up.deployment.sites.find((s) => s.code === 'KDY')!.primary.port, analyzed: false })
    const after = await h['liveCatalog/site'](ctx, { site: 'KDY', analyze: true })
    expect(after.analyzed).toBe(true)
    expect(Date.parse(after.readAt)).toBeGreaterThanOrEqual(Date.parse(before.readAt))
    const names = after.tables.map((t) => t.TABLE_NAME)
    expect(names).toEqual(expect.arrayContaining(['Employees_KDY', 'Sales_KDY', 'Stock_KDY', 'ITEMS', 'LCAT_TABLES']))
    for (const t of after.tables) {
      const n = Number((await at('KDY', `SELECT count(*) AS n FROM "${t.TABLE_NAME}"`))[0].n)
      expect([t.TABLE_NAME, after.counts[t.TABLE_NAME]]).toEqual([t.TABLE_NAME, n])
      expect([t.TABLE_NAME, t.NUM_ROWS]).toEqual([t.TABLE_NAME, n])
      expect(after.lastAnalyzed[t.TABLE_NAME]).not.toBeNull()
    }
    // the doubled table: count(*) saw the new rows before ANALYZE too (reltuples follows only when the table is analyzed)
    expect(before.counts.Employees_KDY).toBe(after.counts.Employees_KDY)
    expect(after.counts.Employees_KDY % 2).toBe(0)
    expect(after.indexes.find((i) => i.TABLE_NAME === 'Sales_KDY' && i.TYPE === 'BTREE UNIQUE')).toBeDefined()
    const qty = after.columns.find((c) => c.TABLE === 'Stock_KDY' && c.COL_NAME === 'QTY')!
    const [mm] = await at('KDY', 'SELECT min("QTY") AS lo, max("QTY") AS hi FROM "Stock_KDY"')
    expect([qty.LKEY, qty.HKEY]).toEqual([Number(mm.lo), Number(mm.hi)])
    await at('KDY', `DELETE FROM "Employees_KDY" WHERE "EMPNO" >= 900000`)
    await h['liveCatalog/analyze'](ctx, { site: 'KDY' })
  })

  it('lists the console\'s own backends at a site and every server\'s state', async () => {
    await queryHandlers['query/run'](ctx, { site: 'KDY', sql: 'SELECT COUNT(*) AS N FROM Sales_KDY', maxRows: 10 })
    const b = await h['liveDrill/backends'](ctx, { site: 'KDY' })
    expect(b.backends.map((x) => x.consolePurpose)).toEqual(expect.arrayContaining(['KDY', 'KDY.txn']))
    const servers = await h['liveDrill/servers'](ctx, {})
    expect(servers.map((s) => [s.id, s.role, s.running, s.up, s.inRecovery, s.standbysStreaming, s.console])).toEqual(up.deployment.sites.flatMap((s) => [
      [s.primary.id, 'primary', true, true, false, 1, true], [s.standby.id, 'standby', true, true, true, null, false],
    ]))
  })

  it('a stopped primary: a query over its site reads another copy, a transaction there fails naming it; started again, the site serves the same query', async () => {
    const sql = 'SELECT COUNT(*) AS N FROM SALES'
    const figures: Record<string, number> = {}
    const expected = (await queryHandlers['query/run'](ctx, { site: 'CMB', sql, maxRows: 10 })).rows
    let tx = performance.now()
    const first = await queryHandlers['query/run'](ctx, { site: 'CMB', sql, maxRows: 10 })
    figures.queryUpMs = Math.round(performance.now() - tx)
    expect(servedBy(first)).toEqual(['CMB', 'KDY', 'MBI'])

    tx = performance.now()
    const stop = await h['liveDrill/stopServer'](ctx, { server: 'KDY.primary', confirm: 'KDY.primary' })
    figures.stopMs = Math.round(performance.now() - tx)
    try {
      expect(stop.stopped).toBe(true)
      expect(stop.servers.find((s) => s.id === 'KDY.primary')).toMatchObject({ running: false, up: false })
      expect(stop.servers.find((s) => s.id === 'KDY.backup')).toMatchObject({ running: true, up: true })

      // the engine's answer: Sales_KDY is read from the main repository at CMB instead, the same count
      tx = performance.now()
      const down = await queryHandlers['query/run'](ctx, { site: 'CMB', sql, maxRows: 10 })
      figures.queryDownMs = Math.round(performance.now() - tx)
      expect(down.rows).toEqual(expected)
      expect(servedBy(down)).not.toContain('KDY')
      expect(down.plan.notes.join(' ')).toMatch(/KDY/)
      // a fragment only KDY's server holds: refused naming the server
      tx = performance.now()
      await expect(queryHandlers['query/run'](ctx, { site: 'CMB', sql: 'SELECT COUNT(*) AS N FROM Stock_KDY', maxRows: 10 })).rejects.toMatchObject({ message: expect.stringMatching(/KDY/) })
      figures.refusedMs = Math.round(performance.now() - tx)
      // a transaction at KDY fails at once with the server's error (its connection refused), and is aborted
      const { gid } = await txnHandlers['txn/begin'](ctx, { site: 'KDY' })
      const t0 = performance.now()
      const ex = await txnHandlers['txn/exec'](ctx, { gid, site: 'KDY', sql: 'UPDATE Stock_KDY SET QTY = QTY + 1 WHERE ITEMNO = 1', params: [], waitMs: 10_000 })
      figures.txnFailMs = Math.round(performance.now() - t0)
      expect(figures.txnFailMs).toBeLessThan(15_000)
      expect(ex.ok).toBe(false)
      expect(ex.error).toMatch(/KDY\.txn: cannot connect to 127\.0\.0\.1:\d+\/iddb/)
      await expect(txnHandlers['txn/abort'](ctx, { gid })).rejects.toMatchObject({ code: 'ABORTED' })
    } finally {
      const start = await h['liveDrill/startServer'](ctx, { server: 'KDY.primary' })
      expect(start.servers.find((s) => s.id === 'KDY.primary')).toMatchObject({ running: true, up: true, inRecovery: false })
      figures.startMs = start.ms
    }
    tx = performance.now()
    const again = await queryHandlers['query/run'](ctx, { site: 'CMB', sql, maxRows: 10 })
    figures.queryAfterStartMs = Math.round(performance.now() - tx)
    expect(again.rows).toEqual(expected)
    expect(servedBy(again)).toEqual(['CMB', 'KDY', 'MBI'])
    // and a transaction there commits again
    // the standby streams from the restarted primary again within its retry interval (5 s)
    tx = performance.now()
    for (let i = 0; i < 100 && (await h['liveDrill/servers'](ctx, {})).find((s) => s.id === 'KDY.primary')!.standbysStreaming !== 1; i++) await new Promise((r) => setTimeout(r, 100))
    figures.standbyBackMs = Math.round(performance.now() - tx)
    expect((await h['liveDrill/servers'](ctx, {})).find((s) => s.id === 'KDY.primary')!.standbysStreaming).toBe(1)
    tx = performance.now()
    const t2 = await txnHandlers['txn/begin'](ctx, { site: 'KDY' })
    const [item] = await at('KDY', 'SELECT "ITEMNO" AS i FROM "Stock_KDY" ORDER BY 1 LIMIT 1')
    const ok = await txnHandlers['txn/exec'](ctx, { gid: t2.gid, site: 'KDY', sql: `UPDATE Stock_KDY SET QTY = QTY + 0 WHERE ITEMNO = ${Number(item.i)}`, params: [], waitMs: 10_000 })
    expect(ok.error).toBeNull()
    expect((await txnHandlers['txn/commit'](ctx, { gid: t2.gid, waitMs: 30_000 })).outcome).toBe('COMMIT')
    figures.txnAfterStartMs = Math.round(performance.now() - tx)
    console.log(`live drill figures: ${JSON.stringify(figures)}`)
  }, 120_000)

  it('a cut link to KDY: a query over the site reads another copy, a transaction there fails at once naming the site, nothing stays prepared; restored, the site serves again and a transaction there commits', async () => {
    const sql = 'SELECT COUNT(*) AS N FROM SALES'
    const expected = (await queryHandlers['query/run'](ctx, { site: 'CMB', sql, maxRows: 10 })).rows
    const figures: Record<string, number> = {}
    const before = (await h['liveDrill/links'](ctx, {})).find((l) => l.site === 'KDY')!
    expect(before).toMatchObject({ cut: false, target: { port: up.deployment.sites.find((s) => s.code === 'KDY')!.primary.port } })
    const cut = await h['liveDrill/cutLink'](ctx, { site: 'KDY' })
    expect(cut).toMatchObject({ site: 'KDY', cut: true, connections: 0 })
    try {
      let t0 = performance.now()
      const down = await queryHandlers['query/run'](ctx, { site: 'CMB', sql, maxRows: 10 })
      figures.queryCutMs = Math.round(performance.now() - t0)
      expect(down.rows).toEqual(expected)
      expect(servedBy(down)).not.toContain('KDY')
      // the server itself still runs: the link is what is gone
      expect((await h['liveDrill/servers'](ctx, {})).find((x) => x.id === 'KDY.primary')).toMatchObject({ running: true, up: true })
      const { gid } = await txnHandlers['txn/begin'](ctx, { site: 'CMB' })
      t0 = performance.now()
      const ex = await txnHandlers['txn/exec'](ctx, { gid, site: 'KDY', sql: 'UPDATE Stock_KDY SET QTY = QTY + 1 WHERE ITEMNO = 1', params: [], waitMs: 10_000 })
      figures.txnFailMs = Math.round(performance.now() - t0)
      expect(ex.ok).toBe(false)
      expect(ex.error).toMatch(/KDY/)
      await txnHandlers['txn/abort'](ctx, { gid }).catch(() => {})
      expect((await h['liveDrill/links'](ctx, {})).find((l) => l.site === 'KDY')!.refused).toBeGreaterThan(0)
    } finally {
      const back = await h['liveDrill/restoreLink'](ctx, { site: 'KDY' })
      expect(back).toMatchObject({ site: 'KDY', cut: false })
    }
    let t0 = performance.now()
    const again = await queryHandlers['query/run'](ctx, { site: 'CMB', sql, maxRows: 10 })
    figures.queryRestoredMs = Math.round(performance.now() - t0)
    expect(again.rows).toEqual(expected)
    expect(servedBy(again)).toEqual(['CMB', 'KDY', 'MBI'])
    const [item] = await at('KDY', 'SELECT "ITEMNO" AS i FROM "Stock_KDY" ORDER BY 1 LIMIT 1')
    t0 = performance.now()
    const t2 = await txnHandlers['txn/begin'](ctx, { site: 'KDY' })
    const ok = await txnHandlers['txn/exec'](ctx, { gid: t2.gid, site: 'KDY', sql: `UPDATE Stock_KDY SET QTY = QTY + 0 WHERE ITEMNO = ${Number(item.i)}`, params: [], waitMs: 10_000 })
    expect(ok.error).toBeNull()
    expect((await txnHandlers['txn/commit'](ctx, { gid: t2.gid, waitMs: 30_000 })).outcome).toBe('COMMIT')
    figures.txnRestoredMs = Math.round(performance.now() - t0)
    for (const site of ['CMB', 'KDY']) expect(await at(site, 'SELECT gid FROM pg_prepared_xacts')).toEqual([])
    console.log(`live link drill figures: ${JSON.stringify(figures)}`)
  }, 120_000)

  it('cutting the link to a site the console does not have is refused', async () => {
    await expect(h['liveDrill/cutLink'](ctx, { site: 'ZZZ' })).rejects.toMatchObject({ code: 'UNKNOWN_SITE' })
  })

  it('ending the console\'s DQP connection at a site: the next query reconnects and is served by that site', async () => {
    const sql = 'SELECT COUNT(*) AS N FROM Sales_KDY'
    const expected = (await queryHandlers['query/run'](ctx, { site: 'KDY', sql, maxRows: 10 })).rows
    const [{ pid: before }] = (await h['liveDrill/backends'](ctx, { site: 'KDY' })).backends.filter((b) => b.consolePurpose === 'KDY')
    const k = await h['liveDrill/killBackend'](ctx, { site: 'KDY' })
    expect(k).toMatchObject({ site: 'KDY', server: 'KDY.primary', pid: before, application: 'iddb:console:KDY', terminated: true })
    expect((await at('KDY', 'SELECT count(*) AS n FROM pg_stat_activity WHERE pid = $1', [before]))[0].n).toBe('0')
    const r = await queryHandlers['query/run'](ctx, { site: 'KDY', sql, maxRows: 10 })
    expect(r.rows).toEqual(expected)
    expect(servedBy(r)).toEqual(['KDY'])
    const after = (await h['liveDrill/backends'](ctx, { site: 'KDY' })).backends.filter((b) => b.consolePurpose === 'KDY')
    expect(after.map((b) => b.pid)).not.toContain(before)
    expect(after).toHaveLength(1)
  })
})
