/**
 * Live PostgreSQL sites (`iddb bench --only pg`): three real servers started for the run on loopback ports
 * (src-main/pg, fsync off: the figures are the protocol's, not the disk's) and stopped afterwards. Reports
 * nothing, saying why, where PostgreSQL is not installed.
 *
 *   pg.wfg_poll_ms       one global wait-for-graph poll of the three servers (pg_stat_activity × pg_blocking_pids,
 *                        merged, cycles found) with a cross-server deadlock of two transactions in place: median
 *                        of 60 polls. Goal ≤ 50.
 *   pg.wfg_poll_idle_ms  the same poll with nothing waiting.
 *   pg.up_ms             `iddb pg up` for the three sites with 2,000 sales (initdb, load, standbys).
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import type { BenchGroup } from './run'
import { median } from './stats'
import { pgDown, pgUp } from '../src-main/pg/deploy'
import { pgUnavailableReason, readPassword } from '../src-main/pg/servers'
import { GlobalDeadlockDetector, TXN_PREFIX, type WatchedServer } from '../src-main/pg/deadlock'

export const group: BenchGroup = {
  name: 'pg',
  async run(ctx) {
    const why = pgUnavailableReason()
    if (why) { ctx.log(`pg: skipped — ${why}`); return {} as Record<string, number> }
    const dir = mkdtempSync(join(tmpdir(), 'iddb-bench-pg-'))
    chmodSync(dir, 0o755)
    const opened: pg.Client[] = []
    try {
      const t0 = performance.now()
      const up = await pgUp({ dataDir: dir, sales: 2000, basePort: 42000 + (process.pid % 500) * 6, durable: false })
      const upMs = performance.now() - t0
      const d = up.deployment
      const password = readPassword(dir, d)
      const open = async (port: number, app?: string) => {
        const c = new pg.Client({ host: d.host, port, user: d.user, password, database: d.database, application_name: app })
        c.on('error', () => {}); opened.push(c); await c.connect(); return c
      }
      const watch: WatchedServer[] = []
      for (const s of d.sites) watch.push({ site: s.code, client: await open(s.primary.port) })
      const det = new GlobalDeadlockDetector(watch)
      const polls = async (n: number) => { const xs: number[] = []; for (let i = 0; i < n; i++) { await det.graph(); xs.push(det.lastPollMs) } return xs }
      const idle = median(await polls(60))
      // a cross-server deadlock left in place while the graph is polled (graph() detects; it never cancels)
      const [cmb, , kdy] = d.sites
      const item = (await watch[0].client.query('SELECT MIN("ITEMNO") AS i FROM "ITEMS"')).rows[0].i
      const upd = `UPDATE "ITEMS" SET "LISTPRICE" = "LISTPRICE" WHERE "ITEMNO" = ${Number(item)}`
      const t1 = [await open(cmb.primary.port, `${TXN_PREFIX}B1`), await open(kdy.primary.port, `${TXN_PREFIX}B1`)]
      const t2 = [await open(cmb.primary.port, `${TXN_PREFIX}B2`), await open(kdy.primary.port, `${TXN_PREFIX}B2`)]
      for (const c of [...t1, ...t2]) await c.query('BEGIN')
      await t1[0].query(upd); await t2[1].query(upd)
      const w1 = t1[1].query(upd).catch(() => {}); const w2 = t2[0].query(upd).catch(() => {})
      let g = await det.graph()
      for (let i = 0; i < 200 && g.wfg.size < 2; i++) { await new Promise((r) => setTimeout(r, 10)); g = await det.graph() }
      if (g.wfg.size < 2) throw new Error('the benchmark deadlock did not form')
      const busy = median(await polls(60))
      const found = [...(await det.poll()), ...(await det.poll())] // seen, then confirmed and broken
      ctx.log(`pg: wait-for graph poll ${busy.toFixed(2)} ms with a deadlock (${idle.toFixed(2)} ms idle); up ${Math.round(upMs)} ms; victim ${found[0]?.victim ?? 'none (the deadlock was not confirmed)'}`)
      // all at once: a connection whose statement still waits queues its ROLLBACK behind that statement
      await Promise.all([...t1, ...t2].map((c) => c.query('ROLLBACK').catch(() => {})))
      await Promise.all([w1, w2])
      return { 'pg.wfg_poll_ms': busy, 'pg.wfg_poll_idle_ms': idle, 'pg.up_ms': Math.round(upMs) }
    } finally {
      for (const c of opened) await c.end().catch(() => {})
      try { pgDown(dir) } catch { /* nothing started */ }
      rmSync(dir, { recursive: true, force: true })
    }
  },
}
