/**
 * The Deadlocks console over live servers (src-main/pg/livedeadlock.ts, handlers/liveDeadlock.ts) against a real
 * deployment this test starts (`pg up`: three sites and their standbys, small data) and stops: the demo through the
 * handler, as a job, ends with one victim rolled back at both servers and the survivor committed at both; and the
 * background detector breaks a cross-server deadlock made by two plain sessions of the test. What the servers hold
 * is read with plain queries on connections of the test's own. Skipped, with the reason, without PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chmodSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { pgDown, pgUp, type PgUpResult } from './deploy'
import { crashServer, pgUnavailableReason, readPassword, startDeployment } from './servers'
import { freePorts } from './testserver'
import { TXN_PREFIX } from './deadlock'
import { LiveDeadlockWatch, liveDeadlockWatch, runDeadlockDemo, stopLiveDeadlockWatch } from './livedeadlock'
import { liveDeadlockHandlers } from '../handlers/liveDeadlock'
import { JobRunner } from '../engine-host/jobs'
import type { HandlerContext } from '../handlers/context'
import type { LiveDeadlockDemoResult } from '../ipc/contract/liveDeadlock'

const why = pgUnavailableReason()

describe.skipIf(why !== null)(`the Deadlocks console over live servers${why ? ` (skipped: ${why})` : ''}`, () => {
  let dir = ''
  let up: PgUpResult
  let password = ''
  /** The live mode as the handlers see it (ctx.live: its directory and deployment). */
  let live: { dataDir: string; deployment: PgUpResult['deployment'] }
  const jobs = new JobRunner()
  const ctx = () => ({ live, jobs, emit: () => {} }) as unknown as HandlerContext
  const client = (site: string, app?: string) => {
    const s = up.deployment.sites.find((x) => x.code === site)!
    const c = new pg.Client({ host: '127.0.0.1', port: s.primary.port, user: up.deployment.user, password, database: up.deployment.database, ...(app ? { application_name: app } : {}) })
    c.on('error', () => {})
    return c
  }
  const at = async (site: string, sql: string, params: unknown[] = []) => {
    const c = client(site); await c.connect()
    try { return (await c.query(sql, params)).rows } finally { await c.end() }
  }
  /** Nothing waits for a lock, nothing is prepared, no session of a global transaction is left at any server. */
  const quiet = async () => {
    for (const s of up.deployment.sites) {
      expect(await at(s.code, "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock'"), s.code).toEqual([])
      expect(await at(s.code, 'SELECT gid FROM pg_prepared_xacts'), s.code).toEqual([])
      // a closed connection's backend may take a moment to exit
      await expect.poll(async () => await at(s.code, "SELECT application_name FROM pg_stat_activity WHERE application_name IN ('iddb:T1', 'iddb:T2', 'iddb:P1', 'iddb:P2')"), { message: s.code, timeout: 2_000 }).toEqual([])
    }
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'iddb-pgdl-'))
    chmodSync(dir, 0o755)
    up = await pgUp({ dataDir: dir, seed: 23, sales: 300, basePort: await freePorts(6, 39000), durable: false })
    password = readPassword(dir, up.deployment)
    live = { dataDir: dir, deployment: up.deployment }
  }, 300_000)

  afterAll(async () => {
    if (live) await stopLiveDeadlockWatch(live)
    if (dir) { try { pgDown(dir) } finally { rmSync(dir, { recursive: true, force: true }) } }
  }, 120_000)

  it('runs the cross-server demo as a job: one victim rolled back at both servers, the survivor committed at both', async () => {
    const row = async (site: string, table: string, key: string) => (await at(site, `SELECT "QTY"::float8 AS q, xmin::text AS x FROM "${table}" WHERE "STOCKCODE" = $1`, [key]))[0] as { q: number; x: string }
    const job = await liveDeadlockHandlers['liveDeadlock/demo'](ctx(), { a: 'CMB', b: 'KDY' })
    const end = await jobs.wait(job.id)
    expect(end.status, JSON.stringify(end.error)).toBe('done')
    const r = end.result as LiveDeadlockDemoResult
    expect(r.cycle).toEqual(['T1', 'T2'])
    expect(r.victim).toBe('T2') // the younger
    expect(r.survivor).toBe('T1')
    expect(r.cancelled).toEqual([{ site: 'CMB', pid: expect.any(Number) }]) // T2 waited at CMB
    expect(r.victimRolledBack).toEqual(['CMB', 'KDY'])
    expect(r.survivorCommitted).toEqual(['CMB', 'KDY'])
    expect(r.record.sites).toEqual(['CMB', 'KDY'])
    expect(new Set(r.record.graph.edges.filter((e) => ['T1', 'T2'].includes(e.from)).map((e) => `${e.from}>${e.to}@${e.site}`))).toEqual(new Set(['T1>T2@KDY', 'T2>T1@CMB']))
    // each wait names the lock and the row's table at its server (the waiter holds the row's tuple lock, waits for the holder's transaction)
    for (const x of r.rows) expect(r.record.graph.edges.find((e) => e.site === x.site && ['T1', 'T2'].includes(e.from))?.lock).toBe(`ShareLock on transactionid (a row of "${x.table}")`)
    expect(r.detectionMs).toBeGreaterThan(0)
    expect(r.detectionMs).toBeLessThan(5_000)
    // the servers, asked directly: both rows were last written by T1's transaction there, which committed; T2's aborted
    for (const x of r.rows) {
      const now = await row(x.site, x.table, x.key)
      expect(BigInt(now.x), `${x.table} ${x.key}`).toBe(BigInt(r.xids.T1[x.site].xid) % 2n ** 32n)
      expect((await at(x.site, 'SELECT txid_status($1::bigint) AS s', [r.xids.T1[x.site].xid]))[0].s).toBe('committed')
      expect((await at(x.site, 'SELECT txid_status($1::bigint) AS s', [r.xids.T2[x.site].xid]))[0].s).toBe('aborted')
    }
    expect(r.xids.T1.CMB.status).toBe('committed')
    expect(r.xids.T2.KDY.status).toBe('aborted')
    await quiet()
    // the detector's history has the victim, and the graph view the servers
    const v = await liveDeadlockHandlers['liveDeadlock/graph'](ctx(), { history: 10 })
    expect(v.running).toBe(true)
    expect(v.history[0]).toMatchObject({ victim: 'T2', cycle: ['T1', 'T2'] })
    expect(v.servers.map((s) => [s.site, s.error ?? null])).toEqual([['CMB', null], ['KDY', null], ['MBI', null]])
    expect(v.pollMs).not.toBeNull()
  }, 60_000)

  it('refuses a bad demo before any job starts: the same site twice, an unknown site', async () => {
    const before = jobs.list().length
    await expect(liveDeadlockHandlers['liveDeadlock/demo'](ctx(), { a: 'KDY', b: 'KDY' })).rejects.toMatchObject({ code: 'BAD_INPUT' })
    await expect(liveDeadlockHandlers['liveDeadlock/demo'](ctx(), { a: 'CMB', b: 'XYZ' })).rejects.toMatchObject({ code: 'UNKNOWN_SITE', site: 'XYZ' })
    expect(jobs.list().length).toBe(before)
  })

  it('the background detector breaks a cross-server deadlock between two plain sessions of the test', async () => {
    const watch = liveDeadlockWatch(live)
    const opened: pg.Client[] = []
    const session = async (site: string, txn: string) => { const c = client(site, `${TXN_PREFIX}${txn}`); opened.push(c); await c.connect(); return c }
    const [{ item }] = await at('CMB', 'SELECT "ITEMNO" AS item FROM "ITEMS" ORDER BY 1 LIMIT 1')
    const [{ before }] = await at('KDY', 'SELECT "LISTPRICE"::float8 AS before FROM "ITEMS" WHERE "ITEMNO" = $1', [item])
    const upd = `UPDATE "ITEMS" SET "LISTPRICE" = "LISTPRICE" + $1 WHERE "ITEMNO" = ${Number(item)}`
    const seenBefore = watch.history.length
    try {
      const p1 = { CMB: await session('CMB', 'P1'), KDY: await session('KDY', 'P1') }
      const p2 = { CMB: await session('CMB', 'P2'), KDY: await session('KDY', 'P2') }
      await p1.KDY.query('BEGIN'); await p1.CMB.query('BEGIN')
      await p1.KDY.query(upd, [1])
      await new Promise((r) => setTimeout(r, 20)) // P2 is the younger
      await p2.KDY.query('BEGIN'); await p2.CMB.query('BEGIN')
      await p2.CMB.query(upd, [100])
      const t0 = performance.now()
      // P1 waits for P2 at CMB, P2 for P1 at KDY: nobody in the test polls anything
      const p1waits = p1.CMB.query(upd, [1]).then(() => 'granted', (e: Error) => e.message)
      const p2waits = p2.KDY.query(upd, [100]).then(() => ({ msg: 'granted', ms: 0 }), (e: Error) => ({ msg: e.message, ms: performance.now() - t0 }))
      const ended = await p2waits
      expect(ended.msg).toMatch(/canceling statement due to user request/)
      expect(ended.ms).toBeLessThan(5_000) // two polls 500 ms apart, not a lock timeout
      await p2.CMB.query('ROLLBACK'); await p2.KDY.query('ROLLBACK')
      expect(await p1waits).toBe('granted')
      await p1.CMB.query('COMMIT'); await p1.KDY.query('COMMIT')
      const rec = watch.history.slice(seenBefore).find((h) => h.cycle.join() === 'P1,P2')
      expect(rec).toMatchObject({ victim: 'P2', sites: ['CMB', 'KDY'], cancelled: [{ site: 'KDY', pid: expect.any(Number) }] })
      expect(rec!.confirmMs).toBeGreaterThanOrEqual(300) // confirmed on a later poll than the one that first saw it
      for (const s of ['CMB', 'KDY']) expect((await at(s, 'SELECT "LISTPRICE"::float8 AS p FROM "ITEMS" WHERE "ITEMNO" = $1', [item]))[0].p).toBeCloseTo(Number(before) + 1, 6)
      for (const c of opened.splice(0)) await c.end()
      await quiet()
      // and with the waits gone, the live graph is empty again
      await expect.poll(async () => (await liveDeadlockHandlers['liveDeadlock/graph'](ctx(), { history: 1 })).edges.length, { timeout: 3_000 }).toBe(0)
    } finally {
      for (const c of opened) await c.end().catch(() => {})
    }
  }, 60_000)

  it('leaves a cycle among anonymous backends of one server to that server\'s own detector', async () => {
    const watch = liveDeadlockWatch(live)
    const seenBefore = watch.history.length
    const a = client('CMB'), b = client('CMB') // no application_name iddb:<txn>: not global transactions
    await a.connect(); await b.connect()
    try {
      const [x, y] = (await at('CMB', 'SELECT "ITEMNO" AS i FROM "ITEMS" ORDER BY 1 LIMIT 2')).map((r) => Number(r.i))
      const upd = (i: number) => `UPDATE "ITEMS" SET "LISTPRICE" = "LISTPRICE" WHERE "ITEMNO" = ${i}`
      await a.query('BEGIN'); await b.query('BEGIN')
      await a.query(upd(x)); await b.query(upd(y))
      const ends = await Promise.all([a.query(upd(y)), b.query(upd(x))].map((p) => p.then(() => 'granted', (e: Error & { code?: string }) => e.code)))
      expect(ends.sort()).toEqual(['40P01', 'granted']) // the server's own "deadlock detected" after its deadlock_timeout
      await a.query('ROLLBACK'); await b.query('ROLLBACK')
    } finally { await a.end(); await b.end() }
    expect(watch.history.length).toBe(seenBefore) // seen (ignored), never cancelled by the global detector
  }, 30_000)

  it('keeps watching the other servers while one is down, and watches it again once it is back', async () => {
    const watch = liveDeadlockWatch(live)
    expect(crashServer(dir, 'MBI.primary')).toBe(true)
    try {
      await expect.poll(() => watch.view().servers.find((s) => s.site === 'MBI')?.error ?? '', { timeout: 10_000 }).not.toBe('')
      const n = watch.polls
      await expect.poll(() => watch.polls, { timeout: 5_000 }).toBeGreaterThan(n + 1)
      expect(watch.view().servers.filter((s) => s.error).map((s) => s.site)).toEqual(['MBI'])
    } finally { startDeployment(dir) }
    await expect.poll(() => watch.view().servers.find((s) => s.site === 'MBI')?.error ?? null, { timeout: 15_000 }).toBe(null)
    expect(watch.view().intervalMs).toBe(500)
  }, 60_000)

  it('a demo whose deadlock is not broken in time ends with TIMEOUT, a cancelled one with CANCELLED; nothing is left at the servers', async () => {
    // the live mode's watch stopped; one that polls once and then not for a minute never confirms anything
    await stopLiveDeadlockWatch(live)
    const slow = new LiveDeadlockWatch(dir, 60_000).start()
    try {
      await expect(runDeadlockDemo(slow, { a: 'CMB', b: 'KDY', timeoutMs: 1_500 })).rejects.toMatchObject({ code: 'TIMEOUT' })
      await quiet()
      let cancel = false
      setTimeout(() => { cancel = true }, 800)
      await expect(runDeadlockDemo(slow, { a: 'CMB', b: 'KDY', cancelled: () => cancel })).rejects.toMatchObject({ code: 'CANCELLED' })
      await quiet()
      expect(slow.history).toEqual([])
      expect(slow.demoRunning).toBe(false)
    } finally { await slow.stop() }
  }, 60_000)
})
