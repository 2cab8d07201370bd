/**
 * Bulk load of a generated dataset into every site (the one place that writes several sites' DBs
 * directly, like a DBA's initial load): prepared statements, one transaction per chunk per DB, change
 * capture off during the load; then indexes, catalogs, and backups seeded by byte snapshot.
 */
import type { Database, Statement } from 'sql.js'
import type { Site } from '../site/site'
import { DEFAULT_SALES, makeDataset, SalesStream, type Row } from './generator'
import { branchFragment, fragments } from './schema'
import { assert } from '../assert'
import { EngineError } from '../errors'
import { quoteId } from '../site/sqljs'
import { foldStats, type KnownStats } from '../catalog/catalog'
import type { SiteCode, TopologySpec } from '../topology/types'

export interface GenerateOptions {
  sales?: number
  /** Data seed (default: the cluster seed). */
  seed?: number
  chunkRows?: number
  onProgress?: (progress: number, detail: string) => void
  isCancelled?: () => boolean
  /** Clock for the phase timings (default wall time, performance.now); benches pass a CPU-time clock. */
  phaseClock?: () => number
}

export interface GenerateSummary {
  seed: number
  items: number
  employees: Record<SiteCode, number>
  stocks: Record<SiteCode, number>
  sales: Record<SiteCode, number>
  totalSales: number
  ms: number
  /** Wall time per phase: generating row values, inserting into the site primaries (fragments, replicas,
   * copies), into the main repository, building catalogs, seeding backups by byte snapshot. */
  phases: { generateRowsMs: number; primariesMs: number; repositoryMs: number; catalogsMs: number; backupsMs: number }
}

const yieldNow = () => new Promise<void>((r) => setImmediate(r))

function insertAll(db: Database, table: string, ncols: number, rows: Row[]): void {
  const st = db.prepare(`INSERT INTO ${quoteId(table)} VALUES (${Array(ncols).fill('?').join(', ')})`)
  try { for (const r of rows) st.run(r) } finally { st.free() }
}

/** [fragment name, branch] when `branch`'s SALES fragment is held at `site`. */
function salesFragmentAt(topo: TopologySpec, branch: SiteCode, site: SiteCode): [string, SiteCode] | undefined {
  const f = branchFragment(topo, 'SALES', branch)
  return f && f.site === site ? [f.name, branch] : undefined
}

export async function loadGenerated(sites: Map<SiteCode, Site>, topo: TopologySpec, seed: number, startMs: number, opts: GenerateOptions = {}): Promise<GenerateSummary> {
  const t0 = performance.now()
  const total = Math.max(0, Math.floor(opts.sales ?? DEFAULT_SALES))
  const chunk = opts.chunkRows ?? 25_000
  const ds = makeDataset(seed, topo, startMs)
  const frs = fragments(topo)
  const hq = topo.sites.find((s) => s.repository)!.code
  const repo = sites.get(hq)!.repository!
  const all = [...sites.values()]
  const summary: GenerateSummary = { seed, items: ds.items.length, employees: {}, stocks: {}, sales: {}, totalSales: total, ms: 0, phases: { generateRowsMs: 0, primariesMs: 0, repositoryMs: 0, catalogsMs: 0, backupsMs: 0 } }
  const ph = summary.phases
  const clock = opts.phaseClock ?? (() => performance.now())
  const progress = (p: number, d: string) => opts.onProgress?.(Math.min(1, p), d)

  for (const s of all) {
    if (s.primary.inTransaction) throw new EngineError('CONFLICT', `${s.code} has an open transaction; generation needs the cluster idle`)
    s.primary.dropTriggers(); s.backup.dropTriggers()
    for (const t of s.tables) s.primary.run(`DELETE FROM ${quoteId(t.name)}`)
  }
  repo.dropTriggers()
  for (const t of repo.tables.keys()) repo.run(`DELETE FROM ${quoteId(t)}`)
  let finished = false
  /** Sales statistics gathered during the load, per site (the catalogs need no scan of the big fragments). */
  const known = new Map<SiteCode, KnownStats>()
  try {
    progress(0, 'items, employees, stocks')
    let tp = clock()
    const stockOf = (code: SiteCode) => ds.stocks.get(code) ?? []
    for (const s of all) {
      const db = s.primary.db
      db.exec('BEGIN')
      for (const t of s.tables) {
        const f = t.frag
        if (f.relation === 'ITEMS') insertAll(db, t.name, 5, ds.items)
        else if (f.relation === 'EMPLOYEES') insertAll(db, t.name, 7, ds.employees.filter((e) => e[4] === f.predicateValue))
        else if (f.relation.startsWith('STOCK_')) {
          const owner = f.relation.slice(6)
          const rows = stockOf(owner)
          if (f.kind === 'vertical') {
            const src = frs.find((x) => x.name === f.copyOf)!
            const idx = f.columns.map((c) => src.columns.indexOf(c))
            insertAll(db, t.name, f.columns.length, rows.map((r) => idx.map((i) => r[i])))
          } else insertAll(db, t.name, 6, rows)
          if (f.kind === 'copy') {
            db.run('INSERT OR REPLACE INTO COPY_REFRESH VALUES (?, ?, ?, ?)', [t.name, f.copyOf!, startMs, rows.length])
          }
        }
      }
      db.exec('COMMIT')
      summary.employees[s.code] = ds.employees.filter((e) => e[4] === s.code).length
      summary.stocks[s.code] = stockOf(s.code).length
      summary.sales[s.code] = 0
    }
    ph.primariesMs += clock() - tp
    tp = clock()
    repo.db.exec('BEGIN')
    insertAll(repo.db, 'ITEMS', 5, ds.items)
    insertAll(repo.db, 'EMPLOYEES', 7, ds.employees)
    for (const s of topo.sites) insertAll(repo.db, `STOCK_${s.code}`, 6, stockOf(s.code))
    repo.db.exec('COMMIT')
    ph.repositoryMs += clock() - tp

    // sales history, chunked so the host keeps answering
    const stream = new SalesStream(seed, topo, ds, total, startMs)
    const stmts = new Map<SiteCode, Statement>()
    // each branch's sales go to its SALES fragment, wherever the design allocates it (its branch, or HQ in the legacy design)
    const salesFrag = new Map(topo.sites.map((s) => [s.code, branchFragment(topo, 'SALES', s.code)!]))
    for (const s of all) { const f = salesFrag.get(s.code)!; stmts.set(s.code, sites.get(f.site)!.primary.db.prepare(`INSERT INTO ${quoteId(f.name)} VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)) }
    const repoStmt = repo.db.prepare('INSERT INTO SALES VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
    for (const s of all) known.set(s.code, { rows: 0, lo: [], hi: [] })
    try {
      while (!stream.done) {
        if (opts.isCancelled?.()) throw new EngineError('CANCELLED', `generation cancelled after ${stream.produced} sales`)
        let t = clock()
        const buf: { site: SiteCode; row: Row }[] = []
        stream.produce(chunk, (site, row) => { buf.push({ site, row }) })
        ph.generateRowsMs += clock() - t
        t = clock()
        for (const s of all) s.primary.db.exec('BEGIN')
        for (const { site, row } of buf) {
          assert(row[1] === site, () => `a generated sale belongs to its branch's fragment: BRCODE ${String(row[1])} written to Sales_${site}`)
          stmts.get(site)!.run(row); summary.sales[site]++
        }
        for (const s of all) s.primary.db.exec('COMMIT')
        ph.primariesMs += clock() - t
        t = clock()
        repo.db.exec('BEGIN')
        for (const { row } of buf) repoStmt.run(row)
        repo.db.exec('COMMIT')
        ph.repositoryMs += clock() - t
        t = clock()
        for (const { site, row } of buf) foldStats(known.get(site)!, row)
        ph.catalogsMs += clock() - t
        progress(0.05 + 0.8 * (stream.produced / Math.max(1, total)), `${stream.produced.toLocaleString('en')} / ${total.toLocaleString('en')} sales`)
        await yieldNow()
      }
    } finally {
      for (const st of stmts.values()) st.free()
      repoStmt.free()
    }
    finished = true
  } finally {
    if (!finished) {
      for (const s of all) {
        try { s.primary.db.exec('ROLLBACK') } catch { /* none open */ }
        for (const t of s.tables) s.primary.run(`DELETE FROM ${quoteId(t.name)}`)
      }
      try { repo.db.exec('ROLLBACK') } catch { /* none open */ }
      for (const t of repo.tables.keys()) repo.run(`DELETE FROM ${quoteId(t)}`)
    }
    for (const s of all) s.primary.installAllTriggers()
    repo.installAllTriggers()
  }
  progress(0.86, 'catalogs')
  let tc = clock()
  for (const s of all) s.catalog.rebuild(new Map(topo.sites.map((b) => salesFragmentAt(topo, b.code, s.code)).filter((x): x is [string, SiteCode] => !!x).map(([name, b]) => [name, known.get(b)!])))
  ph.catalogsMs += clock() - tc
  await yieldNow()
  progress(0.92, 'backups (byte snapshot)')
  for (const s of all) {
    tc = clock()
    s.backup.load(s.primary.export())
    s.backup.setMeta('iddb.db', s.backup.id)
    ph.backupsMs += clock() - tc
    await yieldNow()
  }
  summary.ms = performance.now() - t0
  progress(1, 'done')
  return summary
}
