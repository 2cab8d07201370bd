/**
 * Engine benchmarks (group 'engine'), one run each:
 *  engine.generate_1m_sales_ms          (wall) generating and distributing 1,000,000 sales over the sites — everything:
 *                                       row generation, inserts into the site primaries (fragments, ITEMS replicas,
 *                                       stock copies/vertical fragment), the Colombo main repository, catalogs, and
 *                                       backups seeded by byte snapshot
 *  engine.generate_vs_central_ratio     (row generation + inserts into the three site primaries + their catalogs)
 *                                       ÷ (row generation + inserts of the same rows into ONE central sql.js DB),
 *                                       same process, same generator, same chunking, measured in CPU time of this
 *                                       process (the machine is shared: wall time is dominated by other load; the
 *                                       wall-time ratio is reported too as engine.generate_vs_central_ratio_wall).
 *                                       The main repository and the backups are extra copies a central system does
 *                                       not have: everything included → engine.generate_full_vs_central_ratio.
 *  engine.reopen_1m_ms                  Cluster.open() of the persisted 1M-row cluster (images + logs + catalogs)
 *  engine.rss_1m_mb                     peak RSS with 1M sales over three sites incl. backups and main repository
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { BenchContext, BenchGroup } from './run'
import { Cluster } from '../engine/cluster'
import { loadSqlJs } from '../engine/site/sqljs'
import { makeDataset, SalesStream, type Row } from '../engine/data/generator'
import { createTableSql, globalRelations } from '../engine/data/schema'
import { defaultTopology } from '../engine/topology/default'
import { DEFAULT_START_MS } from '../engine/sim/kernel'

const SALES = Number(process.env.IDDB_BENCH_SALES ?? 1_000_000)
const SEED = 20261122

/** The same rows into one centralized sql.js database (the old system's layout). */
const cpuMs = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000 }

export async function centralLoad(sales: number, seed = SEED): Promise<{ ms: number; cpuMs: number; rows: number }> {
  const SQL = await loadSqlJs()
  const topo = defaultTopology()
  const t0 = performance.now()
  const c0 = cpuMs()
  const db = new SQL.Database()
  try {
    for (const r of globalRelations(topo)) db.exec(createTableSql(r.name, r))
    const ds = makeDataset(seed, topo, DEFAULT_START_MS)
    const ins = (t: string, n: number, rows: Row[]) => {
      const st = db.prepare(`INSERT INTO "${t}" VALUES (${Array(n).fill('?').join(', ')})`)
      try { for (const r of rows) st.run(r) } finally { st.free() }
    }
    db.exec('BEGIN')
    ins('ITEMS', 5, ds.items); ins('EMPLOYEES', 7, ds.employees)
    for (const s of topo.sites) ins(`STOCK_${s.code}`, 6, ds.stocks.get(s.code) ?? [])
    db.exec('COMMIT')
    const stream = new SalesStream(seed, topo, ds, sales, DEFAULT_START_MS)
    const st = db.prepare('INSERT INTO SALES VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
    try {
      while (!stream.done) {
        const buf: Row[] = []
        stream.produce(25_000, (_s, row) => { buf.push(row) })
        db.exec('BEGIN')
        for (const r of buf) st.run(r)
        db.exec('COMMIT')
        await new Promise((r) => setImmediate(r))
      }
    } finally { st.free() }
    const rows = Number(db.exec('SELECT COUNT(*) FROM SALES')[0].values[0][0])
    return { ms: performance.now() - t0, cpuMs: cpuMs() - c0, rows }
  } finally { db.close() }
}

export const group: BenchGroup = {
  name: 'engine',
  async run(ctx: BenchContext) {
    let peak = process.memoryUsage().rss
    const sample = () => { peak = Math.max(peak, process.memoryUsage().rss) }
    const timer = setInterval(sample, 50)
    const dir = mkdtempSync(join(tmpdir(), 'iddb-bench-'))
    try {
      await loadSqlJs()
      ctx.log(`distributing ${SALES.toLocaleString('en')} sales over the sites (primaries, repository, backups) …`)
      const t0 = performance.now()
      const c = await Cluster.create({ seed: SEED, sales: 0, dataDir: join(dir, 'cluster') })
      const w0 = performance.now()
      const c0 = cpuMs()
      const g = await c.generate({ sales: SALES, onProgress: sample, phaseClock: cpuMs })
      const genCpu = cpuMs() - c0 // includes writing the first checkpoint
      const genWall = performance.now() - w0
      const createMs = performance.now() - t0
      sample()
      const total = Object.values(g.sales).reduce((a, b) => a + b, 0)
      if (total !== SALES) throw new Error(`generated ${total} sales, expected ${SALES}`)
      ctx.log(`  generate ${Math.round(genWall)} ms wall, ${Math.round(genCpu)} ms CPU (CPU: rows ${Math.round(g.phases.generateRowsMs)}, primaries ${Math.round(g.phases.primariesMs)}, repository ${Math.round(g.phases.repositoryMs)}, catalogs ${Math.round(g.phases.catalogsMs)}, backups ${Math.round(g.phases.backupsMs)}); with the first checkpoint to disk ${Math.round(genWall)} ms wall`)
      c.close({ checkpoint: false })
      ctx.log('reopening the persisted cluster …')
      const t1 = performance.now()
      const r = await Cluster.open(join(dir, 'cluster'))
      const reopenMs = performance.now() - t1
      sample()
      const n = c.siteCodes.reduce((a, s) => a + r.siteStore(s).count(`Sales_${s}`), 0)
      if (n !== SALES) throw new Error(`reopened cluster holds ${n} sales`)
      const rss = peak
      r.close({ checkpoint: false })
      ctx.log('central reference: the same rows into one sql.js database …')
      const central = await centralLoad(SALES)
      if (central.rows !== SALES) throw new Error('central load incomplete')
      const distributed = g.phases.generateRowsMs + g.phases.primariesMs + g.phases.catalogsMs
      ctx.log(`  central ${Math.round(central.ms)} ms wall / ${Math.round(central.cpuMs)} ms CPU; distributed to the sites (rows + primaries + catalogs) ${Math.round(distributed)} ms CPU; everything ${Math.round(genCpu)} ms CPU`)
      const r3 = (x: number) => Math.round(x * 1000) / 1000
      const allPhases = Object.values(g.phases).reduce((a, b) => a + b, 0)
      return {
        'engine.generate_1m_sales_ms': Math.round(g.ms),
        'engine.generate_vs_central_ratio': r3(distributed / central.cpuMs),
        'engine.generate_full_vs_central_ratio': r3(allPhases / central.cpuMs),
        'engine.generate_vs_central_ratio_wall': r3(g.ms / central.ms),
        'engine.central_1m_sales_ms': Math.round(central.ms),
        'engine.create_and_checkpoint_1m_ms': Math.round(createMs),
        'engine.reopen_1m_ms': Math.round(reopenMs),
        'engine.rss_1m_mb': Math.round(rss / 2 ** 20),
      }
    } finally {
      clearInterval(timer)
      rmSync(dir, { recursive: true, force: true })
    }
  },
}
