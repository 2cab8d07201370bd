/**
 * Live PostgreSQL sites (`iddb bench --only pg`): three real servers started for the run on loopback ports
 * (src-main/pg, fsync off: the figures are the protocol's, not the disk's) and stopped afterwards. Reports
 * nothing, saying why, where PostgreSQL is not installed.
 *
 *   pg.wfg_poll_ms       one global wait-for-graph poll of the three servers (pg_stat_activity × pg_blocking_pids,
 *                        merged, cycles found) with a cross-server deadlock of two transactions in place: median
 *                        of 60 polls. Goal ≤ 50.
 *   pg.wfg_poll_idle_ms  the same poll with nothing waiting.
 *   pg.up_ms             `iddb pg up` for the three sites with 20,000 sales (what it loads unless told otherwise) (initdb, load, standbys).
 *   pg.2pc_ratio_vs_local  wall time of one two-site transfer through the DTM over the CMB and KDY servers
 *                        (PgTxnStore through the synchronous bridge: the reads, PREPARE TRANSACTION at both, the
 *                        2PC log records in files, COMMIT PREPARED at both, until every site has finished it; each
 *                        server's PREPARE and COMMIT PREPARED started as the message to it leaves, so the two
 *                        servers work at once: TxnStore.prepareAhead / commitAhead)
 *                        ÷ one local transaction doing the same two UPDATEs on CMB's server through the same
 *                        bridge (BEGIN; UPDATE; UPDATE; COMMIT). Median of the per-round ratios of 7 rounds of 40
 *                        of each, side by side, after 30 of each as warm-up. Goal ≤ 3. Both pay the servers'
 *                        synchronous standbys (every COMMIT, PREPARE TRANSACTION and COMMIT PREPARED waits for
 *                        its standby); the DTM's logs are written without fsync, like the servers here.
 *   pg.2pc_ms            one such transfer (median of the rounds);
 *   pg.2pc_servers_ms    the part of it spent waiting for the two servers (mean over the rounds; the rest is the
 *                        DTM itself: statements, messages and log records of the simulated sites), and
 *   pg.local_txn_ms      one such local transaction (median of the rounds).
 *   pg.groupby_ratio_vs_single  the global group-by `SELECT ITEMNO, COUNT(*), SUM(QTY), SUM(AMOUNT) FROM SALES GROUP BY
 *                        ITEMNO` run by the distributed query processor over the three live servers (localized per
 *                        site, partial aggregates at the sites, assembled at CMB; through the synchronous bridge) ÷
 *                        the same query on one database of CMB's server holding every SALES row, through the same
 *                        bridge, over the 20,000 sales `iddb pg up` loads. Median of the per-round ratios of 7
 *                        rounds of 15 of each, side by side, after 60 of each as warm-up (the steady state: the DQP's code
 *                        compiled, the servers' kept plans made; the databases vacuumed and checkpointed first; the
 *                        one-server query is a prepared statement as the DQP's reads are). Goal ≤ 1.2.
 *   pg.groupby_ms / pg.groupby_single_ms  one such query (median of the rounds), distributed and on one server.
 *   pg.groupby_ratio_vs_single_2k / _200k, pg.groupby_{2k,200k}_ms, pg.groupby_{2k,200k}_single_ms  the same over
 *                        servers started with 2,000 and with 200,000 sales: where the answer's cost is the fixed
 *                        cost of a distributed query (every item sells at every branch, so the three sites ship
 *                        three partial rows for each of the ~176 groups) and where it is the scan the three
 *                        servers share. The 2,000-sale deployment is started for this figure alone, the 200,000
 *                        one too.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import type { BenchGroup } from './run'
import { median } from './stats'
import { pgDown, pgUp } from '../src-main/pg/deploy'
import { DEFAULT_SALES } from '../src-main/pg/load'
import { pgUnavailableReason, readPassword, type PgDeployment } from '../src-main/pg/servers'
import { hostOf } from '../src-main/pg/wan'
import { GlobalDeadlockDetector, TXN_PREFIX, type WatchedServer } from '../src-main/pg/deadlock'
import { SyncPg, type PgConnSpec } from '../src-main/pg/syncbridge'
import { PgTxnStore } from '../src-main/pg/txnstore'
import { Cluster } from '../engine/cluster'
import { Dqp } from '../engine/query/dqp'
import { fragments } from '../engine/data/schema'
import { copyUnion } from '../src-main/pg/load'
import { LiveSites, liveDesign } from '../src-main/pg/live'
import { Dtm, type ExecResult } from '../engine/txn/dtm'
import { FileTxnLog } from '../engine/txn/filelog'

/**
 * pg.2pc_ratio_vs_local: a two-site transfer through the DTM over two live servers vs the same two UPDATEs
 * as one local transaction on one server, both through one synchronous bridge, rounds side by side.
 */
function twoPcVsLocal(d: PgDeployment, password: string, dir: string): { ratio: number; twoPcMs: number; localMs: number; statements: number; serverMs: number; rounds: string[] } {
  const site = (code: string) => {
    const s = d.sites.find((x) => x.code === code)
    if (!s) throw new Error(`the deployment has no site ${code}`)
    return s.primary.port
  }
  const spec = (port: number): PgConnSpec => ({ host: hostOf(d, port), port, database: d.database, user: d.user, password })
  const bridge = SyncPg.open({ conns: { CMB: spec(site('CMB')), KDY: spec(site('KDY')), LOCAL: spec(site('CMB')) } })
  const cluster = new Cluster({ seed: 42 })
  const dtm = new Dtm(cluster, { timeline: false })
  try {
    const logs = join(dir, 'dtm-logs')
    mkdirSync(logs)
    for (const code of cluster.siteCodes) dtm.setLog(code, new FileTxnLog(join(logs, `${code}.2pc.log`), code, false))
    const stores = { CMB: new PgTxnStore({ bridge, conn: 'CMB' }), KDY: new PgTxnStore({ bridge, conn: 'KDY' }) }
    dtm.setStore('CMB', stores.CMB)
    dtm.setStore('KDY', stores.KDY)
    // an item both branches stock (its quantity moved back and forth), and a second one at Colombo for the local
    // transaction; a branch's stock code is `<SITE>-<ITEMNO>`
    const itemNos = (site: 'CMB' | 'KDY') => bridge.query(site, `SELECT "ITEMNO" AS i FROM "Stock_${site}" ORDER BY 1`).rows.map((r) => Number(r.i))
    const atKdy = new Set(itemNos('KDY'))
    const atCmb = itemNos('CMB')
    const n = atCmb.find((i) => atKdy.has(i))
    const m = atCmb.find((i) => i !== n)
    if (n === undefined || m === undefined) throw new Error('Stock_CMB and Stock_KDY share no stock item to transfer')

    let flip = false
    const oneTransfer = () => {
      flip = !flip
      const q = flip ? 1 : -1
      const gid = dtm.begin('CMB')
      let pending = 2, failed: string | undefined, outcome: string | undefined
      const cb = (r: ExecResult) => { pending--; if (!r.ok) failed = r.error?.message }
      dtm.exec(gid, 'CMB', 'UPDATE Stock_CMB SET QTY = QTY - ? WHERE STOCKCODE = ?', [q, `CMB-${n}`], cb)
      dtm.exec(gid, 'KDY', 'UPDATE Stock_KDY SET QTY = QTY + ? WHERE STOCKCODE = ?', [q, `KDY-${n}`], cb)
      cluster.sim.runUntilTrue(() => pending === 0, 1_000_000)
      if (failed) throw new Error(`the benchmark transfer failed: ${failed}`)
      dtm.commit(gid, (r) => { outcome = `${r.outcome}${r.reason ? `: ${r.reason}` : ''}` })
      // finished: answered, and no site holds anything of it any more (COMMIT PREPARED done at both, acknowledged)
      cluster.sim.runUntilTrue(() => outcome !== undefined && dtm.unfinishedAt(gid).length === 0, 1_000_000)
      if (outcome !== 'COMMIT') throw new Error(`the benchmark transfer did not commit: ${outcome ?? 'no answer'}`)
    }
    const oneLocal = () => {
      bridge.query('LOCAL', 'BEGIN')
      bridge.query('LOCAL', 'UPDATE "Stock_CMB" SET "QTY" = "QTY" - 1 WHERE "STOCKCODE" = $1', [`CMB-${n}`])
      bridge.query('LOCAL', 'UPDATE "Stock_CMB" SET "QTY" = "QTY" + 1 WHERE "STOCKCODE" = $1', [`CMB-${m}`])
      bridge.query('LOCAL', 'COMMIT')
    }
    const timed = (n: number, fn: () => void) => { const t0 = performance.now(); for (let i = 0; i < n; i++) fn(); return (performance.now() - t0) / n }
    timed(30, oneTransfer)
    timed(30, oneLocal)
    const N = 40, ROUNDS = 7
    const ratio: number[] = [], twoPc: number[] = [], local: number[] = [], rounds: string[] = []
    const st0 = stores.CMB.statements + stores.KDY.statements, ms0 = stores.CMB.serverMs + stores.KDY.serverMs
    for (let r = 0; r < ROUNDS; r++) {
      const a = timed(N, oneTransfer), b = timed(N, oneLocal)
      twoPc.push(a); local.push(b); ratio.push(a / b)
      rounds.push(`${a.toFixed(2)}/${b.toFixed(2)} ms`)
    }
    const statements = (stores.CMB.statements + stores.KDY.statements - st0) / (N * ROUNDS)
    const serverMs = (stores.CMB.serverMs + stores.KDY.serverMs - ms0) / (N * ROUNDS)
    return { ratio: median(ratio), twoPcMs: median(twoPc), localMs: median(local), statements, serverMs, rounds }
  } finally {
    dtm.dispose()
    bridge.close()
  }
}

const GROUP_BY = 'SELECT ITEMNO, COUNT(*) AS N, SUM(QTY) AS Q, SUM(AMOUNT) AS A FROM SALES GROUP BY ITEMNO'

/** pg.groupby_ratio_vs_single: the DQP's global group-by over the live sites vs the same query on one server holding every row. */
async function groupByVsSingle(dir: string, d: PgDeployment, password: string): Promise<{ ratio: number; distMs: number; singleMs: number; rows: number; rounds: string[] }> {
  const design = liveDesign(dir)
  const cluster = await Cluster.create({ seed: design.seed, sales: design.sales })
  const live = LiveSites.open(cluster, dir)
  const hq = d.sites.find((s) => s.code === d.repository.site)!
  const admin = new pg.Client({ host: hostOf(d, hq.primary.port), port: hq.primary.port, user: d.user, password, database: 'postgres' })
  await admin.connect()
  try { await admin.query('DROP DATABASE IF EXISTS iddb_single'); await admin.query('CREATE DATABASE iddb_single') } finally { await admin.end() }
  const spec = (port: number, database: string): PgConnSpec => ({ host: hostOf(d, port), port, database, user: d.user, password })
  const conns: Record<string, PgConnSpec> = { ONE: spec(hq.primary.port, 'iddb_single') }
  for (const s of d.sites) conns[s.code] = spec(s.primary.port, d.database)
  const bridge = SyncPg.open({ conns })
  try {
    // one database with every SALES row: the union of the branch fragments, read from the live sites
    const parts = fragments(cluster.topology).filter((f) => f.relation === 'SALES' && f.kind === 'horizontal')
    const rows = copyUnion(bridge, cluster, 'ONE', 'SALES', parts)
    // both sides as they are once the load has settled: vacuumed and analyzed (autovacuum has nothing left to do
    // while the figure is taken), then checkpointed
    for (const conn of Object.keys(conns)) bridge.query(conn, 'VACUUM ANALYZE')
    for (const s of d.sites) bridge.query(s.code, 'CHECKPOINT')
    const single = `SELECT "ITEMNO", COUNT(*) AS "N", SUM("QTY") AS "Q", SUM("AMOUNT") AS "A" FROM "SALES" GROUP BY "ITEMNO"`
    const dqp = await Dqp.create(cluster)
    const want = (await dqp.run('CMB', GROUP_BY)).rows.length
    if (want !== bridge.queryArrays('ONE', single, [], { prepare: true }).rows.length) throw new Error('the distributed group-by and the one-server query disagree on the number of groups')
    const timed = async (n: number, fn: () => Promise<unknown> | unknown) => { const t0 = performance.now(); for (let i = 0; i < n; i++) await fn(); return (performance.now() - t0) / n }
    // to the steady state: the DQP's code compiled by the JIT, the servers' kept plans made
    await timed(60, () => dqp.run('CMB', GROUP_BY)); await timed(60, () => bridge.queryArrays('ONE', single, [], { prepare: true }))
    const ratio: number[] = [], dist: number[] = [], one: number[] = [], rounds: string[] = []
    for (let r = 0; r < 7; r++) {
      const a = await timed(15, () => dqp.run('CMB', GROUP_BY))
      const b = await timed(15, () => bridge.queryArrays('ONE', single, [], { prepare: true }))
      dist.push(a); one.push(b); ratio.push(a / b); rounds.push(`${a.toFixed(2)} vs ${b.toFixed(2)} ms`)
    }
    return { ratio: median(ratio), distMs: median(dist), singleMs: median(one), rows, rounds }
  } finally {
    bridge.close()
    live.close()
    cluster.close?.({ checkpoint: false })
  }
}

/** A deployment of its own with `sales` SALES rows, started for the group-by figure and stopped after it. */
export async function groupByAt(sales: number, basePort: number): Promise<Awaited<ReturnType<typeof groupByVsSingle>>> {
  const dir = mkdtempSync(join(tmpdir(), 'iddb-bench-pg-'))
  chmodSync(dir, 0o755)
  try {
    const up = await pgUp({ dataDir: dir, sales, basePort, durable: false })
    return await groupByVsSingle(dir, up.deployment, readPassword(dir, up.deployment))
  } finally {
    try { pgDown(dir) } catch { /* nothing started */ }
    rmSync(dir, { recursive: true, force: true })
  }
}

export const group: BenchGroup = {
  name: 'pg',
  async run(ctx) {
    const why = pgUnavailableReason()
    if (why) { ctx.log(`pg: skipped — ${why}`); return {} as Record<string, number> }
    const dir = mkdtempSync(join(tmpdir(), 'iddb-bench-pg-'))
    chmodSync(dir, 0o755)
    const opened: pg.Client[] = []
    const basePort = 42000 + (process.pid % 150) * 20
    try {
      const t0 = performance.now()
      const up = await pgUp({ dataDir: dir, sales: DEFAULT_SALES, basePort, durable: false })
      const upMs = performance.now() - t0
      const d = up.deployment
      const password = readPassword(dir, d)
      const open = async (port: number, app?: string) => {
        const c = new pg.Client({ host: hostOf(d, port), port, user: d.user, password, database: d.database, application_name: app })
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
      const tp = twoPcVsLocal(d, password, dir)
      const gb = await groupByVsSingle(dir, d, password)
      for (const c of opened.splice(0)) await c.end().catch(() => {})
      pgDown(dir)
      const small = await groupByAt(2_000, basePort + 8)
      const big = await groupByAt(200_000, basePort + 8)
      for (const g of [small, gb, big]) ctx.log(`pg: global group-by over the three servers vs one server holding all ${g.rows} SALES rows, per round: ${g.rounds.join(', ')}; median ratio ${g.ratio.toFixed(2)} (${g.distMs.toFixed(2)} ms vs ${g.singleMs.toFixed(2)} ms)`)
      ctx.log(`pg: two-site transfer through the DTM (PREPARE / COMMIT PREPARED) vs a local transaction, per round: ${tp.rounds.join(', ')}; median ratio ${tp.ratio.toFixed(2)}; per transfer ${tp.statements.toFixed(1)} statements at the two servers, ${tp.serverMs.toFixed(2)} ms waiting for them on average`)
      return {
        'pg.wfg_poll_ms': busy, 'pg.wfg_poll_idle_ms': idle, 'pg.up_ms': Math.round(upMs),
        'pg.2pc_ratio_vs_local': tp.ratio, 'pg.2pc_ms': tp.twoPcMs, 'pg.2pc_servers_ms': tp.serverMs, 'pg.local_txn_ms': tp.localMs,
        'pg.groupby_ratio_vs_single': gb.ratio, 'pg.groupby_ms': gb.distMs, 'pg.groupby_single_ms': gb.singleMs,
        'pg.groupby_ratio_vs_single_2k': small.ratio, 'pg.groupby_2k_ms': small.distMs, 'pg.groupby_2k_single_ms': small.singleMs,
        'pg.groupby_ratio_vs_single_200k': big.ratio, 'pg.groupby_200k_ms': big.distMs, 'pg.groupby_200k_single_ms': big.singleMs,
      }
    } finally {
      for (const c of opened) await c.end().catch(() => {})
      try { pgDown(dir) } catch { /* nothing started */ }
      rmSync(dir, { recursive: true, force: true })
    }
  },
}
