/**
 * Transactions benchmark (group 'txn'):
 *   txn.2pc_tps               committed two-site (CMB + KDY) transactions per wall second, sites on their sql.js
 *                             databases, 2PC log forces on; virtual network time is not counted (only the wall time
 *                             spent running the simulation).
 *   txn.2pc_ratio_vs_local    wall time of one such 2PC transaction ÷ wall time of the same two UPDATEs as one local
 *                             transaction on a centralized sql.js database.
 *   Both are medians of five rounds measured side by side (2,000 transfers, then 5,000 local transactions), after
 *   1,500 transfers of warm-up. Every commit still reaches its backup, the Colombo repository and the replicas.
 *   The participants' group-commit window is GROUP_COMMIT_MS (IDDB_TXN_GROUP_MS) of virtual time.
 *   txn.wfg_10k_ms            building the global WFG from three sites' local WFGs holding 10,000 waiting
 *                             transactions and finding all its cycles (median of 9 after 3 warm-ups).
 *   txn.2pc_tps_disk          the same on a persisted cluster (data directory): 2PC log records forced with fsync to
 *                             <SITE>.2pc.log, local commits fsync'd to <SITE>.log.
 *   txn.2pc_tps_memstore      the same with the DTM's in-memory stores (protocol + logging cost alone), and
 *   txn.2pc_ratio_vs_local_memstore  its wall cost per transaction ÷ the local sql.js transaction.
 *   txn.2pc_disk_ratio_vs_local_disk  wall cost of one transfer on the data directory ÷ one local transaction on the
 *                             same data directory doing two UPDATEs at one site, its commit fsync'd to <SITE>.log.
 *   txn.modelcheck_states     distinct worlds of the 2PC model checker's linear one-transaction exhaustive space
 *   txn.modelcheck_states_per_s  and the checker's speed on it (engine/txn/twopc/modelcheck.ts).
 *   txn.commit_latency_vs_rtt virtual commit latency of a CMB–KDY transaction (distributed 2PC) ÷ the protocol's
 *                             theoretical minimum (PREPARE CMB→KDY + vote KDY→CMB over the link, idle).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Cluster } from '../engine/cluster'
import { Dtm } from '../engine/txn/dtm'
import { findCycles, unionWfg, type Wfg } from '../engine/txn/wfg'
import { loadSqlJs } from '../engine/site/sqljs'
import { Rng } from '../engine/sim/rng'
import type { MemoryStore } from '../engine/txn/store'
import type { BenchContext } from './run'
import { modelCheck, threeSites } from '../engine/txn/twopc/modelcheck'

const ITEMS = 256
/**
 * Participants' group-commit window (virtual ms): decisions arriving within it share one local sql.js commit.
 * It delays only the participants' local apply and lock release (by at most 5 ms of virtual time), not the answer
 * to the client: the coordinator answers once its decision is forced.
 */
const GROUP_COMMIT_MS = Number(process.env.IDDB_TXN_GROUP_MS ?? 5)

export async function stockCluster(dataDir?: string): Promise<{ c: Cluster; dtm: Dtm }> {
  const c = dataDir ? await Cluster.create({ seed: 42, sales: 0, dataDir }) : new Cluster({ seed: 42 })
  await c.init()
  for (const [site, t] of [['CMB', 'Stock_CMB'], ['KDY', 'Stock_KDY']]) {
    c.siteStore(site).withTransaction((tx) => {
      for (let i = 0; i < ITEMS; i++) tx.exec(`INSERT INTO ${t} (STOCKCODE, ITEMNO, QTY, UNITPRICE) VALUES (?, ?, 1000000, 10)`, [`B${i}`, i])
    })
  }
  c.sim.runUntilIdle(1_000_000)
  return { c, dtm: new Dtm(c, { timeline: false, groupCommitMs: GROUP_COMMIT_MS }) }
}

/** Runs `total` transfers CMB → KDY with `clients` concurrent clients on disjoint items; returns wall ms and commits. */
export function runTransfers(c: Cluster, dtm: Dtm, total: number, clients: number): { wallMs: number; committed: number } {
  let started = 0, done = 0, committed = 0
  const one = (client: number) => {
    if (started >= total) return
    started++
    const item = `B${client % ITEMS}`
    const gid = dtm.begin('CMB')
    dtm.exec(gid, 'CMB', 'UPDATE Stock_CMB SET QTY = QTY - 1 WHERE STOCKCODE = ?', [item], (r1) => {
      if (!r1.ok) { done++; return one(client) }
      dtm.exec(gid, 'KDY', 'UPDATE Stock_KDY SET QTY = QTY + 1 WHERE STOCKCODE = ?', [item], (r2) => {
        if (!r2.ok) { done++; return one(client) }
        dtm.commit(gid, (r) => { done++; if (r.outcome === 'COMMIT') committed++; one(client) })
      })
    })
  }
  const t0 = performance.now()
  for (let i = 0; i < clients; i++) one(i)
  c.sim.runUntilTrue(() => done >= total, 50_000_000)
  return { wallMs: performance.now() - t0, committed }
}

export async function localCost(n: number): Promise<number> {
  const SQL = await loadSqlJs()
  const db = new SQL.Database()
  db.exec('CREATE TABLE Stock_CMB (STOCKCODE TEXT PRIMARY KEY, ITEMNO INTEGER, QTY INTEGER, UNITPRICE REAL); CREATE TABLE Stock_KDY (STOCKCODE TEXT PRIMARY KEY, ITEMNO INTEGER, QTY INTEGER, UNITPRICE REAL)')
  for (const t of ['Stock_CMB', 'Stock_KDY']) for (let i = 0; i < ITEMS; i++) db.run(`INSERT INTO ${t} VALUES (?, ?, 1000000, 10)`, [`B${i}`, i])
  const t0 = performance.now()
  for (let k = 0; k < n; k++) {
    const item = `B${k % ITEMS}`
    db.exec('BEGIN')
    db.run('UPDATE Stock_CMB SET QTY = QTY - 1 WHERE STOCKCODE = ?', [item])
    db.run('UPDATE Stock_KDY SET QTY = QTY + 1 WHERE STOCKCODE = ?', [item])
    db.exec('COMMIT')
  }
  const ms = (performance.now() - t0) / n
  db.close()
  return ms
}

function wfg10k(): number {
  const rng = new Rng(10)
  const n = 10_000
  const sites: Wfg[] = [new Map(), new Map(), new Map()]
  for (let i = 1; i < n; i++) sites[i % 3].set(`T${i}`, [`T${rng.int(0, i - 1)}`])
  for (let k = 0; k < 20; k++) { sites[k % 3].set(`C${k}a`, [`C${k}b`]); sites[(k + 1) % 3].set(`C${k}b`, [`C${k}a`]) }
  const times: number[] = []
  for (let r = 0; r < 12; r++) {
    const t0 = performance.now()
    const g = unionWfg(sites.map((s) => [...s]))
    const cycles = findCycles(g)
    times.push(performance.now() - t0)
    if (cycles.length !== 20) throw new Error(`expected 20 cycles, found ${cycles.length}`)
  }
  times.splice(0, 3) // warm-up
  times.sort((a, b) => a - b)
  return times[Math.floor(times.length / 2)]
}

/**
 * The same workload on a persisted cluster (data directory): every READY / decision force is an fsync'd
 * append to <SITE>.2pc.log, and every local commit an fsync'd append to <SITE>.log.
 */
export async function diskTps(total: number): Promise<{ tps: number; committed: number; wallMs: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'iddb-bench-2pc-'))
  try {
    const { c, dtm } = await stockCluster(join(dir, 'd'))
    runTransfers(c, dtm, 100, 64)
    const r = runTransfers(c, dtm, total, 64)
    dtm.dispose()
    c.close({ checkpoint: false })
    return { tps: r.committed / (r.wallMs / 1000), committed: r.committed, wallMs: r.wallMs }
  } finally { rmSync(dir, { recursive: true, force: true }) }
}

/** One local transaction (two UPDATEs at CMB) on a data directory: its commit fsync'd to CMB.log. Wall ms each. */
async function localDiskCost(n: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'iddb-bench-local-'))
  try {
    const { c } = await stockCluster(join(dir, 'd'))
    const st = c.siteStore('CMB')
    const t0 = performance.now()
    for (let k = 0; k < n; k++) {
      const a = `B${k % ITEMS}`, b = `B${(k + 1) % ITEMS}`
      st.withTransaction((tx) => {
        tx.exec('UPDATE Stock_CMB SET QTY = QTY - 1 WHERE STOCKCODE = ?', [a])
        tx.exec('UPDATE Stock_CMB SET QTY = QTY + 1 WHERE STOCKCODE = ?', [b])
      })
    }
    const ms = (performance.now() - t0) / n
    c.close({ checkpoint: false })
    return ms
  } finally { rmSync(dir, { recursive: true, force: true }) }
}

/** The same workload with the DTM's in-memory stores: the protocol's own cost without sql.js and replication. */
function memStoreTps(total: number): number {
  const c = new Cluster({ seed: 43 })
  const dtm = new Dtm(c, { timeline: false, groupCommitMs: GROUP_COMMIT_MS })
  for (const [site, t] of [['CMB', 'Stock_CMB'], ['KDY', 'Stock_KDY']]) {
    (dtm.store(site) as MemoryStore).createTable(t, 'STOCKCODE', Array.from({ length: ITEMS }, (_, i) => ({ STOCKCODE: `B${i}`, QTY: 1_000_000 })))
  }
  runTransfers(c, dtm, 1500, 64)
  const r = runTransfers(c, dtm, total, 64)
  return r.committed / (r.wallMs / 1000)
}

function commitLatencyRatio(): number {
  const c = new Cluster({ seed: 7 })
  const dtm = new Dtm(c, { protocol: 'distributed' })
  for (const [site, t] of [['CMB', 'Stock_CMB'], ['KDY', 'Stock_KDY']]) {
    const st = dtm.store(site) as MemoryStore
    st.createTable(t, 'STOCKCODE', [{ STOCKCODE: 'B1', QTY: 10 }])
  }
  const gid = dtm.begin('CMB')
  let n = 0
  dtm.exec(gid, 'CMB', "UPDATE Stock_CMB SET QTY = QTY - 1 WHERE STOCKCODE = 'B1'", [], () => n++)
  dtm.exec(gid, 'KDY', "UPDATE Stock_KDY SET QTY = QTY + 1 WHERE STOCKCODE = 'B1'", [], () => n++)
  c.sim.runUntilTrue(() => n === 2)
  c.sim.advance(100) // links idle again
  let latency = -1
  dtm.commit(gid, (r) => { if (r.outcome === 'COMMIT') latency = r.latencyMs })
  c.sim.runUntilTrue(() => latency >= 0)
  // the protocol's critical path: PREPARE CMB→KDY, vote KDY→CMB (the LAN leg at CMB runs in parallel)
  const min = c.net.estimateMs('CMB', 'KDY', 40 + 2 * 4) + c.net.estimateMs('KDY', 'CMB', 24)
  return latency / min
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

export const group = {
  name: 'txn',
  async run(ctx: BenchContext): Promise<Record<string, number>> {
    const { c, dtm } = await stockCluster()
    // steady state first: the JIT, the heap and the lock/log tables settle over the first thousand or so
    runTransfers(c, dtm, 1500, 64)
    await localCost(2000)
    // side by side: rounds of 2PC transfers, each followed by the same statements as local transactions
    const rounds = 5, total = 2000
    const tps: number[] = [], ratio: number[] = [], lines: string[] = []
    let notCommitted = 0
    for (let i = 0; i < rounds; i++) {
      const r = runTransfers(c, dtm, total, 64)
      const local = await localCost(5000)
      notCommitted += total - r.committed
      const perTxn = r.wallMs / total
      tps.push(r.committed / (r.wallMs / 1000))
      ratio.push(perTxn / local)
      lines.push(`${(perTxn * 1000).toFixed(0)} µs vs ${(local * 1000).toFixed(0)} µs`)
    }
    if (notCommitted) ctx.log(`txn: ${notCommitted} of ${rounds * total} transfers did not commit`)
    ctx.log(`txn: two-site 2PC vs local transaction per round: ${lines.join(', ')} (median ratio ${median(ratio).toFixed(2)})`)
    c.close?.()
    const mem = memStoreTps(3000)
    ctx.log(`txn: DTM alone (memory stores, same protocol and logging): ${Math.round(mem)} commits/s`)
    const local = await localCost(5000)
    const disk = await diskTps(300)
    ctx.log(`txn: on a data directory (2PC log and commit logs fsync'd): ${disk.committed} commits in ${disk.wallMs.toFixed(0)} ms wall`)
    const localDisk = await localDiskCost(300)
    ctx.log(`txn: local transaction on a data directory: ${(localDisk * 1000).toFixed(0)} µs; 2PC transfer ${(disk.wallMs / disk.committed * 1000).toFixed(0)} µs`)
    const mc = modelCheck(threeSites('linear', { txns: [{ tx: 'T1', coord: 0, parts: [0, 2] }], foreign: undefined, maxCrashes: 0, maxLosses: 0 }))
    if (!mc.complete || mc.violations.length) throw new Error('2PC model checker: the bench space did not complete cleanly')
    ctx.log(`txn: 2PC model checker (linear, one transaction, three sites): ${mc.states} worlds in ${Math.round(mc.ms)} ms`)
    return {
      'txn.2pc_tps': Math.round(median(tps)),
      'txn.2pc_tps_memstore': Math.round(mem),
      'txn.2pc_tps_disk': Math.round(disk.tps),
      'txn.2pc_ratio_vs_local': median(ratio),
      'txn.2pc_ratio_vs_local_memstore': 1000 / mem / local,
      'txn.2pc_disk_ratio_vs_local_disk': disk.wallMs / disk.committed / localDisk,
      'txn.modelcheck_states': mc.states,
      'txn.modelcheck_states_per_s': Math.round(mc.states / (mc.ms / 1000)),
      'txn.wfg_10k_ms': wfg10k(),
      'txn.commit_latency_vs_rtt': commitLatencyRatio(),
    }
  },
}
