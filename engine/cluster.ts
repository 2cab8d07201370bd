/**
 * The cluster façade: one simulator, one network, the sites and their servers. Hosts (worker, CLI,
 * tests) talk to the distributed database only through this object.
 * Extended by the data/catalog/persistence layer (sites' sql.js stores) and by the DQP, DTM and ticket layers.
 *
 * Lifecycle (sql.js loads asynchronously):
 *   const c = await Cluster.create({ seed, topology?, sales?: 20000, dataDir? })  // new cluster (generates data unless sales: 0)
 *   const c = await Cluster.open(dataDir, { readOnly? })                           // reopen a persisted one (clock included)
 *   (or new Cluster(opts) + await c.init() for an empty, in-memory cluster)
 *   c.siteStore('CMB')  → SiteStore (engine/site/site.ts: query/exec/withTransaction/backup/repository)
 *   c.checkpoint(); c.close()
 *   c.checkFragmentation(), c.copyStatus('Stock_MBI'), c.refreshCopy('Stock_MBI'), c.replicationView()
 */
import { Simulator, formatSiteTime, nextLocalTime } from './sim/kernel'
import { Network, type Degradation } from './net/network'
import { defaultTopology, validateTopology } from './topology/default'
import { serversOf, type SiteCode, type TopologySpec } from './topology/types'
import { EngineError } from './errors'
import type { ClockView, EngineEventView, Health, TopologyView } from './api/views'
import type { SqlJsStatic } from 'sql.js'
import { loadSqlJs } from './site/sqljs'
import { Site, type SiteStore, type LogBody } from './site/site'
import { Replication } from './site/replication'
import { loadGenerated, type GenerateOptions, type GenerateSummary } from './data/load'
import { DEFAULT_SALES } from './data/generator'
import { fragments } from './data/schema'
import { checkFragmentation, checkFragmentationAsync, type FragmentationReport } from './data/checks'
import { Persistence, type ClusterFile } from './storage/persist'
import { openLogPair } from './storage/files'
import { FileTxnLog } from './txn/filelog'
import { join } from 'node:path'
import { installCatalogs } from './catalog/catalog'
import { Dim } from './integrity'
import type { Change } from './site/db'

export interface CreateOptions extends ClusterOptions {
  /** Persist in this directory (must be new or empty). Omit for an in-memory cluster. */
  dataDir?: string
  /** Sales rows to generate (default 20,000; 0 = empty tables). */
  sales?: number
  /** fsync the commit log before acknowledging (default true). */
  fsync?: boolean
  onProgress?: GenerateOptions['onProgress']
  isCancelled?: GenerateOptions['isCancelled']
  /** A cancelled generation leaves the cluster with empty tables instead of failing create/start. */
  emptyOnCancel?: boolean
}

export interface CopyStatus {
  copy: string
  site: SiteCode
  source: string
  sourceSite: SiteCode
  lastRefreshAt: number | null
  ageMs: number | null
  nextRefreshAt: number
  /** The copy differs from its source right now. */
  stale: boolean
  rows: number
}

export interface ClusterOptions {
  seed?: number
  topology?: TopologySpec
  startMs?: number
}

const EVENT_RING = 2000

export class Cluster {
  readonly sim: Simulator
  readonly net: Network
  readonly topology: TopologySpec
  private serverDown = new Set<string>()
  /** Servers whose durable state is damaged (a commit log): they refuse service until restored. id → reason. */
  private damaged = new Map<string, string>()
  /** Log files the data directory must hold (cluster.json `logs`). */
  private expectedLogs = new Set<string>()
  private eventSeq = 0
  readonly events: EngineEventView[] = []
  private eventListeners: ((e: EngineEventView) => void)[] = []
  private SQL?: SqlJsStatic
  private sites = new Map<SiteCode, Site>()
  replication!: Replication
  private persistence?: Persistence
  readonly createdAtMs: number
  private refreshTimer?: ReturnType<Simulator['scheduleDaemon']>
  lastGenerate?: GenerateSummary

  constructor(opts: ClusterOptions = {}) {
    this.topology = validateTopology(structuredClone(opts.topology ?? defaultTopology()))
    this.sim = new Simulator({ seed: opts.seed ?? 1, startMs: opts.startMs })
    this.net = new Network(this.sim, this.topology)
    this.net.onSecurityEvent((e) => this.log('security', `${e.reason} frame #${e.seq} ${e.from}→${e.to} rejected on ${e.link} (not delivered)`, e.to))
    this.createdAtMs = this.sim.now
  }

  // ---- lifecycle ---------------------------------------------------------------------------
  /**
   * Creates the sites' databases (empty tables, catalogs). Idempotent (concurrent calls share one run).
   * Yields to the event loop between sites, so a host thread keeps answering while a cluster starts.
   */
  init(): Promise<this> {
    if (this.SQL) return Promise.resolve(this)
    this.initing ??= (async () => {
      const SQL = await loadSqlJs()
      const yieldNow = () => new Promise<void>((r) => setImmediate(r))
      for (const s of this.topology.sites) {
        this.addSite(SQL, s.code)
        await yieldNow()
      }
      for (const s of this.sites.values()) s.catalog.rebuild()
      this.createReplication()
      this.SQL = SQL
      this.replication.build()
      this.replication.syncCatalogsNow()
      this.scheduleRefresh()
      return this
    })().finally(() => { this.initing = undefined })
    return this.initing
  }
  private initing?: Promise<this>

  private addSite(SQL: SqlJsStatic, code: SiteCode, images?: Map<string, Uint8Array>): void {
    const img = images ? { primary: images.get(`${code}.primary`)!, backup: images.get(`${code}.backup`)!, repository: images.get(`${code}.repository`) } : undefined
    this.sites.set(code, new Site(SQL, code, this.topology, this.siteHost, img))
  }

  private createReplication(): void {
    this.replication = new Replication({
      sim: this.sim, net: this.net, topology: this.topology, site: (c) => this.internalSite(c),
      isServerUp: (id) => this.isServerUp(id), log: (k, m, site) => this.log(k, m, site),
    })
  }

  private buildSites(images?: Map<string, Uint8Array>): void {
    for (const s of this.topology.sites) this.addSite(this.SQL!, s.code, images)
    for (const s of this.sites.values()) if (images) s.catalog.load(); else s.catalog.rebuild()
    this.createReplication()
  }

  private readonly siteHost = {
    now: () => this.sim.now,
    isServerUp: (id: string) => this.isServerUp(id),
    committed: (site: SiteCode, seq: number, body: LogBody, bytes: number) => {
      this.replication.committed(site, seq, body, bytes)
      this.maybeCheckpoint(site)
    },
    catalogChanged: (site: SiteCode) => this.replication.catalogChanged(site),
    beforeCommit: (site: SiteCode, changes: readonly Change[]) => Dim.of(this).guard(site, changes),
    problem: (id: string) => this.damaged.get(id),
  }

  /** A new cluster, with generated data (sales: 0 for empty tables), persisted when dataDir is given. */
  static async create(opts: CreateOptions = {}): Promise<Cluster> {
    return Cluster.start(opts).ready
  }

  /**
   * Like create(), but hands the cluster back at once: its topology, network and clock are usable
   * immediately (hosts draw the topology), while sql.js loads and the data is generated; `ready`
   * settles when the sites hold their data (and it is persisted). Nothing but the topology, network
   * and clock may be used before then. With emptyOnCancel, a cancelled generation (opts.isCancelled)
   * leaves consistent empty tables and still resolves `ready`.
   */
  static start(opts: CreateOptions = {}): { cluster: Cluster; ready: Promise<Cluster> } {
    const c = new Cluster(opts)
    const ready = (async () => {
      if (opts.dataDir) Persistence.assertFresh(opts.dataDir)
      await c.init()
      const sales = opts.sales ?? DEFAULT_SALES
      if (sales > 0) {
        try {
          await c.generate({ sales, onProgress: opts.onProgress, isCancelled: opts.isCancelled })
        } catch (e) {
          if (!(opts.emptyOnCancel && e instanceof EngineError && e.code === 'CANCELLED')) throw e
        }
      }
      if (opts.dataDir) {
        c.persistence = Persistence.create(opts.dataDir, opts.fsync ?? true)
        c.attachLogs()
        c.checkpoint()
      }
      return c
    })()
    return { cluster: c, ready }
  }

  /** Reopens a persisted cluster: images, then each site's log replayed; clock and failures restored. */
  static async open(dataDir: string, opts: { fsync?: boolean; readOnly?: boolean } = {}): Promise<Cluster> {
    const SQL = await loadSqlJs()
    // the lock first: a starter that loses must not read files the running writer is replacing
    const persistence = Persistence.reopen(dataDir, opts.fsync ?? true, opts.readOnly)
    let read: ReturnType<typeof Persistence.read>
    try { read = Persistence.read(dataDir, SQL, opts.readOnly) } catch (e) { persistence.unlock(); throw e }
    const { file, images } = read
    const c = new Cluster({ seed: file.seed, topology: file.topology, startMs: file.clock })
    c.SQL = SQL
    c.persistence = persistence
    c.buildSites(images)
    for (const n of file.logs ?? []) c.expectedLogs.add(n)
    let clock = file.clock
    for (const s of c.sites.values()) clock = Math.max(clock, c.openSiteLogs(s))
    c.sim.restoreClock(clock)
    c.replication.build()
    c.replication.syncCatalogsNow()
    for (const id of file.down ?? []) c.failServer(id)
    for (const [id, l] of Object.entries(file.links ?? {})) if (c.net.links.has(id)) c.net.setLinkState(id, l.state, l.degradation)
    c.lastGenerate = file.generated
    c.scheduleRefresh()
    c.replication.kick()
    c.log('recovery', `cluster reopened from ${dataDir} at ${formatSiteTime(clock)}`)
    for (const [id, why] of c.damaged) c.log('failure', `${id} refuses service until restored: ${why}`, id.split('.')[0])
    if (!opts.readOnly) c.saveState() // cluster.json lists the logs from now on (older directories did not)
    return c
  }

  /**
   * Opens a site's two log copies (the primary's, the backup server's) and replays into the primary. Both are
   * checked against their acknowledgement marks and against the primary image. A damaged backup copy is
   * rewritten from the primary's (nothing acknowledged is lost; an event says so); a damaged primary log makes
   * the primary refuse service until it is restored from its backup server (image + the backup's log copy).
   * Returns the newest commit time seen.
   */
  private openSiteLogs(s: Site): number {
    const p = this.persistence!
    s.log = p.log(s.code)
    s.backupLog = p.backupLog(s.code)
    const pair = openLogPair(s.log, s.backupLog, {
      expected: (n) => this.expectedLogs.has(n),
      upTo: s.seq,
      check: (l, recs) => {
        if (l.floorSeq > s.seq) {
          throw new EngineError('CORRUPT_DATA', `${l.path}: records ${s.seq + 1}–${l.floorSeq} missing (the log starts after ${l.floorSeq}; the image ${s.code}.primary.sqlite holds up to ${s.seq})`, { site: s.code })
        }
        if (recs.length && l.lastSeq < s.seq) {
          throw new EngineError('CORRUPT_DATA', `${l.path}: records ${l.lastSeq + 1}–${s.seq} missing (the image ${s.code}.primary.sqlite holds up to ${s.seq})`, { site: s.code })
        }
      },
    })
    for (const l of s.logs()) this.expectedLogs.add(l.name)
    for (const n of pair.notices) this.log('recovery', n, s.code)
    const recs = pair.records
    if (pair.primaryError) {
      this.damaged.set(`${s.code}.primary`, pair.backupError
        ? `both copies of ${s.code}'s commit log are damaged (${pair.primaryError.message}; ${pair.backupError.message})`
        : `${s.code}.primary's commit log is damaged (${pair.primaryError.message}); restore it from ${s.code}.backup`)
    }
    let clock = 0
    for (const r of recs) {
      if (!pair.primaryError && r.seq > s.seq) s.replay(r.seq, r.body)
      s.retained.push({ seq: r.seq, body: r.body, bytes: JSON.stringify(r.body.c).length })
      clock = Math.max(clock, r.body.at)
    }
    return clock
  }

  private attachLogs(): void {
    for (const s of this.sites.values()) {
      s.log = this.persistence!.log(s.code)
      s.backupLog = this.persistence!.backupLog(s.code)
      for (const l of s.logs()) { l.open(); this.expectedLogs.add(l.name) }
    }
  }

  /**
   * The DTM's 2PC log of a site (<SITE>.2pc.log), listed in cluster.json once created: a log the cluster expects
   * is never recreated silently; damage is CORRUPT_DATA naming the file and the records missing.
   */
  openTxnLog(code: SiteCode): FileTxnLog {
    if (!this.persistence) throw new EngineError('NOT_READY', 'the cluster is not persisted: it has no 2PC log files')
    const log = new FileTxnLog(join(this.persistence.dir, `${code}.2pc.log`), code, true, true, { expected: (n) => this.expectedLogs.has(n), readOnly: this.persistence.readOnly })
    for (const n of log.notices) this.log('recovery', n, code)
    if (log.damage) {
      const before = this.damaged.get(`${code}.primary`)
      this.damaged.set(`${code}.primary`, before ? `${before}; and its ${log.damage}` : `${code}.primary's ${log.damage}`)
      this.log('failure', `${code}.primary refuses service until restored: ${this.damaged.get(`${code}.primary`)}`, code)
    }
    this.txnLogs.set(code, log)
    if (log.names.some((n) => !this.expectedLogs.has(n))) { for (const n of log.names) this.expectedLogs.add(n); this.saveState() }
    return log
  }
  private txnLogs = new Map<SiteCode, FileTxnLog>()

  /** Servers that refuse service until restored, with the reason (a damaged commit log). */
  needsRestore(): Map<string, string> { return new Map(this.damaged) }

  /** Why work cannot be issued at a site that is not up: CORRUPT_DATA with the reason while it waits for a restore, else SITE_DOWN. */
  siteDownError(code: SiteCode, what: string): EngineError {
    const why = this.damaged.get(`${code}.primary`)
    return why ? new EngineError('CORRUPT_DATA', `${code} refuses service until restored: ${why}`, { site: code }) : new EngineError('SITE_DOWN', `${code} is down: ${what}`, { site: code })
  }

  get ready(): boolean { return !!this.SQL }
  get dataDir(): string | null { return this.persistence?.dir ?? null }
  /** Opened read-only (e.g. `iddb sql SELECT …` beside a running console): nothing is written. */
  get readOnly(): boolean { return this.persistence?.readOnly ?? false }

  /** Writes every database image atomically, then truncates the logs to what is still needed. */
  checkpoint(): void {
    if (!this.persistence) return
    if (this.readers > 0) throw new EngineError('CONFLICT', 'a fragmentation check is running; checkpoint after it finishes')
    this.persistence.checkpoint(this.clusterFile(), [...this.sites.values()], (s) => this.damaged.has(`${s.code}.primary`))
  }

  /** Logs are folded into the images once one grows past this size (keeps reopen fast). */
  static LOG_CHECKPOINT_BYTES = 32 * 2 ** 20

  private maybeCheckpoint(site: SiteCode): void {
    const log = this.sites.get(site)?.log
    if (!this.persistence || !log || log.bytes - log.baseBytes < Cluster.LOG_CHECKPOINT_BYTES || this.readers > 0) return
    for (const s of this.sites.values()) for (const db of [s.primary, s.backup, s.repository]) if (db?.inTransaction) return // next commit
    this.checkpoint()
  }

  private clusterFile(): ClusterFile {
    const links: ClusterFile['links'] = {}
    for (const [id, l] of this.net.links) if (l.state !== 'up') links[id] = { state: l.state, degradation: l.degradation }
    return { format: 'iddb-cluster', version: 1, seed: this.sim.seed, clock: this.sim.now, topology: this.topology, down: [...this.serverDown], links, generated: this.lastGenerate, logs: [...this.expectedLogs].sort() }
  }

  private saveState(): void { this.persistence?.writeClusterFile(this.clusterFile()) }

  /** Closes the databases (checkpointing first unless told not to: the logs make that safe). */
  close(opts: { checkpoint?: boolean } = {}): void {
    if (!this.SQL) return
    if (opts.checkpoint !== false) this.checkpoint()
    for (const s of this.sites.values()) s.close()
    this.sites.clear()
    this.persistence?.unlock()
    this.SQL = undefined
  }

  // ---- sites -------------------------------------------------------------------------------
  private internalSite(code: SiteCode): Site {
    const s = this.sites.get(code)
    if (!s) {
      this.site(code) // throws UNKNOWN_SITE
      throw new EngineError('INTERNAL', 'the cluster is not initialised: use await Cluster.create()/open() or await cluster.init()')
    }
    return s
  }

  /** The site API (see engine/site/site.ts): query/exec/withTransaction on the primary, backup, repository. */
  siteStore(code: SiteCode): SiteStore { return this.internalSite(code).store }

  /** Engine-internal access to a site's servers (generator, checks, recovery, tests). */
  siteInternals(code: SiteCode): Site { return this.internalSite(code) }

  /** Replaces all data with a generated dataset (bulk load), then re-seeds backups and replicas. */
  async generate(opts: GenerateOptions = {}): Promise<GenerateSummary> {
    await this.init()
    let summary: GenerateSummary
    try {
      summary = await loadGenerated(this.sites, this.topology, opts.seed ?? this.sim.seed, this.sim.now, opts)
    } catch (e) {
      // cancelled or failed: the loader emptied the tables; make that a consistent (empty) baseline
      for (const s of this.sites.values()) { s.catalog.rebuild(); s.backup.load(s.primary.export()); s.backup.setMeta('iddb.db', s.backup.id) }
      this.rebaseline()
      this.lastGenerate = undefined
      this.log('data', `generation stopped: ${e instanceof Error ? e.message : String(e)}`)
      throw e
    }
    this.rebaseline()
    this.lastGenerate = summary
    this.log('data', `generated ${summary.totalSales.toLocaleString('en')} sales, ${summary.items} items, ${Object.values(summary.employees).reduce((a, b) => a + b, 0)} employees`)
    return summary
  }

  /** After a bulk load: every target holds everything up to each origin's seq; images are the new baseline. */
  private rebaseline(): void {
    for (const s of this.sites.values()) { s.retained = []; s.repository?.clearVersions() }
    for (const origin of this.sites.values()) {
      for (const t of this.sites.values()) for (const db of [t.primary, t.backup, t.repository]) db?.setMeta(`src.${origin.code}`, origin.seq)
    }
    this.replication.build()
    this.replication.syncCatalogsNow()
    if (this.persistence) this.checkpoint()
  }

  // ---- copies (Stock_MBI at CMB, refreshed at 12:00 and 18:00) -----------------------------
  private copies() { return fragments(this.topology).filter((f) => f.kind === 'copy' && f.copyOf) }

  private scheduleRefresh(): void {
    if (this.refreshTimer) this.sim.cancel(this.refreshTimer)
    if (!this.copies().length) return
    const next = Math.min(nextLocalTime(this.sim.now, 12, 0), nextLocalTime(this.sim.now, 18, 0))
    this.refreshTimer = this.sim.scheduleDaemon(next - this.sim.now, 'copy.schedule', () => {
      this.refreshTimer = undefined
      for (const f of this.copies()) this.refreshCopy(f.name)
      this.scheduleRefresh()
    })
  }

  nextRefreshAt(): number { return Math.min(nextLocalTime(this.sim.now, 12, 0), nextLocalTime(this.sim.now, 18, 0)) }

  /** Ships the source rows of a copy over the WAN and replaces the copy when they arrive. */
  refreshCopy(name: string): void {
    const f = this.copies().find((x) => x.name === name)
    if (!f) throw new EngineError('UNKNOWN_TABLE', `${name} is not a scheduled copy; copies: ${this.copies().map((x) => x.name).join(', ')}`)
    const src = fragments(this.topology).find((x) => x.name === f.copyOf)!
    const from = this.internalSite(src.site)
    if (!this.isServerUp(`${src.site}.primary`)) { this.log('replication', `refresh of ${name} skipped: ${src.site}.primary is down`, f.site); return }
    const rows = from.primary.query(`SELECT * FROM "${src.name}" ORDER BY 1`).rows
    try {
      this.net.send({
        from: src.site, to: f.site, kind: 'copy.refresh', bytes: JSON.stringify(rows).length, payload: rows.length,
        onDeliver: () => {
          if (!this.isServerUp(`${f.site}.primary`)) { this.log('replication', `refresh of ${name} lost: ${f.site}.primary is down`, f.site); return }
          const st = this.siteStore(f.site)
          st.withTransaction((tx) => {
            tx.exec(`DELETE FROM "${f.name}"`)
            const ph = `(${f.columns.map(() => '?').join(', ')})`
            for (const r of rows) tx.exec(`INSERT INTO "${f.name}" (${f.columns.join(', ')}) VALUES ${ph}`, r)
            tx.exec('INSERT OR REPLACE INTO COPY_REFRESH VALUES (?, ?, ?, ?)', [f.name, src.name, this.sim.now, rows.length])
          })
          this.log('replication', `${name} refreshed at ${f.site} from ${src.name}@${src.site} (${rows.length} rows)`, f.site)
        },
        onDrop: (reason) => this.log('replication', `refresh of ${name} lost in transit: ${reason}`, f.site),
      })
    } catch (e) {
      this.log('replication', `refresh of ${name} failed: ${e instanceof Error ? e.message : String(e)}`, f.site)
    }
  }

  copyStatus(name: string): CopyStatus {
    const f = this.copies().find((x) => x.name === name)
    if (!f) throw new EngineError('UNKNOWN_TABLE', `${name} is not a scheduled copy`)
    const src = fragments(this.topology).find((x) => x.name === f.copyOf)!
    const copyDb = this.internalSite(f.site).primary
    const srcDb = this.internalSite(src.site).primary
    const at = copyDb.scalar('SELECT REFRESHED_AT FROM COPY_REFRESH WHERE COPY_NAME = ?', [f.name])
    const a = JSON.stringify(copyDb.query(`SELECT * FROM "${f.name}" ORDER BY 1`).rows)
    const b = JSON.stringify(srcDb.query(`SELECT * FROM "${src.name}" ORDER BY 1`).rows)
    return {
      copy: f.name, site: f.site, source: src.name, sourceSite: src.site, lastRefreshAt: at === null ? null : Number(at),
      ageMs: at === null ? null : this.sim.now - Number(at), nextRefreshAt: this.nextRefreshAt(), stale: a !== b, rows: copyDb.count(f.name),
    }
  }

  // ---- recovery (spec §7) -------------------------------------------------------------------
  /**
   * Media recovery of a site's primary from its backup server: the backup image becomes the primary,
   * then the recovery manager redoes the site's own committed batches the backup had not applied yet
   * (from the durable log), and the catalogs are rebuilt. Replicated changes from other sites that the
   * image lacks are re-sent by their channels.
   */
  recoverFromBackup(code: SiteCode): { redone: number; fromSeq: number } {
    const s = this.internalSite(code)
    if (!this.isServerUp(`${code}.backup`)) throw new EngineError('SITE_DOWN', `${code}.backup is down: cannot recover from it`, { site: code })
    if (s.primary.inTransaction) throw new EngineError('CONFLICT', `${code}.primary has an open transaction`, { site: code })
    const damage = this.damaged.get(`${code}.primary`)
    const txnLog = this.txnLogs.get(code)
    if (damage && (!s.backupLog?.isOpen || txnLog?.lost)) {
      throw new EngineError('CORRUPT_DATA', `${damage}: ${code}.backup has no intact copy of that log either, so what was acknowledged since the last checkpoint cannot be restored from it`, { site: code })
    }
    if (damage && this.readers > 0) throw new EngineError('CONFLICT', 'a fragmentation check is running; restore after it finishes (the restore writes a checkpoint)', { site: code })
    const fromSeq = s.backup.getMetaNum(`src.${code}`)
    s.primary.load(s.backup.export())
    s.primary.setMeta('iddb.db', s.primary.id)
    s.primary.installAllTriggers()
    // the catalogs live at the primary only: a backup that never received a primary image lacks them
    installCatalogs(s.primary, this.topology, code)
    s.catalog.rebuild()
    let redone = 0
    for (const r of s.retained) if (r.seq > fromSeq) { s.replay(r.seq, r.body); redone++ }
    s.primary.setMeta('seq', s.seq)
    if (damage) {
      // the primary's log is rebuilt from the backup server's copy, with the restored image (one checkpoint)
      this.damaged.delete(`${code}.primary`)
      txnLog?.repair()
      this.checkpoint()
      this.log('recovery', `${code}.primary's commit log rebuilt from ${code}.backup's copy (up to record ${s.seq})`, code)
    }
    this.replication.build()
    this.replication.catalogChanged(code)
    this.replication.resendCatalogsTo(code)
    this.replication.kick()
    this.log('recovery', `${code}.primary recovered from ${code}.backup (image at seq ${fromSeq}, ${redone} batch(es) redone from the log)`, code)
    if (damage && this.isServerUp(`${code}.primary`)) this.log('recovery', `${code}.primary restored`, code) // the DTM restarts the site
    return { redone, fromSeq }
  }

  /**
   * Restores a branch's fragments from the Colombo main repository: the rows are shipped over the WAN and
   * replace the site's fragments in one local transaction (logged, then fed to its backup as usual).
   * Returns at once; the restore completes when the data arrives (run the simulation).
   */
  restoreFromRepository(code: SiteCode, onDone?: (rows: number) => void): void {
    const hq = this.topology.sites.find((x) => x.repository)!.code
    const s = this.internalSite(code)
    if (!this.isServerUp(`${hq}.repository`)) throw new EngineError('SITE_DOWN', `${hq}.repository is down`, { site: hq })
    if (!this.isServerUp(`${code}.primary`)) throw new EngineError('SITE_DOWN', `${code}.primary is down`, { site: code })
    const repo = this.internalSite(hq).repository!
    const frs = fragments(this.topology)
    const parts: { table: string; columns: string[]; rows: unknown[][] }[] = []
    for (const t of s.tables) {
      const f = t.frag
      const rel = f.relation
      let sql: string
      if (f.kind === 'horizontal') sql = `SELECT ${f.columns.join(', ')} FROM ${rel} WHERE ${f.predicate}`
      else sql = `SELECT ${f.columns.join(', ')} FROM ${rel}` // replica, local, vertical (projection), copy
      if (f.kind === 'vertical' || f.kind === 'copy') {
        const src = frs.find((x) => x.name === f.copyOf)
        if (!src) continue
      }
      parts.push({ table: t.name, columns: f.columns, rows: repo.query(sql).rows })
    }
    const bytes = JSON.stringify(parts).length
    const total = parts.reduce((a, p) => a + p.rows.length, 0)
    this.log('recovery', `restoring ${code} from the main repository: ${total} rows, ${bytes} bytes over the WAN`, code)
    this.net.send({
      from: hq, to: code, kind: 'recovery.restore', bytes, payload: total,
      onDeliver: () => {
        this.siteStore(code).withTransaction((tx) => {
          for (const p of parts) {
            tx.exec(`DELETE FROM "${p.table}"`)
            const sql = `INSERT INTO "${p.table}" (${p.columns.join(', ')}) VALUES (${p.columns.map(() => '?').join(', ')})`
            for (const r of p.rows) tx.exec(sql, r as never)
          }
        })
        this.log('recovery', `${code} restored from the main repository (${total} rows)`, code)
        onDone?.(total)
      },
      onDrop: (reason) => this.log('recovery', `restore of ${code} lost in transit: ${reason}`, code),
    })
  }

  /** Fragmentation correctness (completeness, reconstruction, disjointness) against the main repository. */
  checkFragmentation(relation?: string): FragmentationReport {
    return checkFragmentation(this.topology, (c) => this.internalSite(c), (id) => this.isServerUp(id), relation)
  }

  /** Same, yielding to the event loop as it goes (for hosts: the worker keeps answering at 1M rows). */
  async checkFragmentationAsync(relation?: string): Promise<FragmentationReport> {
    this.readers++
    try {
      return await checkFragmentationAsync(this.topology, (c) => this.internalSite(c), (id) => this.isServerUp(id), relation)
    } finally { this.readers-- }
  }
  /** Long reads with open statements (async checks): checkpoints (which reopen the databases) wait for them. */
  private readers = 0

  replicationView() { return this.replication.views() }

  /** Runs the simulation until every backup, repository and replica has caught up and no (non-daemon) event is pending, or maxMs of virtual time passes. */
  settle(maxMs = 60_000): boolean {
    const end = this.sim.now + maxMs
    for (;;) {
      const live = this.sim.livePending > 0
      if ((this.replication.idle && !live) || this.sim.now >= end) break
      if (live) this.sim.runUntilTrue(() => this.sim.now >= end || (this.replication.idle && this.sim.livePending === 0), 100_000)
      else { this.sim.runUntil(Math.min(end, this.sim.now + 1000)); this.replication.kick() }
    }
    return this.replication.idle
  }

  get siteCodes(): SiteCode[] { return this.topology.sites.map((s) => s.code) }

  site(code: string): TopologySpec['sites'][number] {
    const s = this.topology.sites.find((x) => x.code === code)
    if (!s) throw new EngineError('UNKNOWN_SITE', `unknown site ${code}; sites are ${this.siteCodes.join(', ')}`)
    return s
  }

  // ---- events -------------------------------------------------------------------------------
  log(kind: string, message: string, site?: SiteCode): EngineEventView {
    const e: EngineEventView = { seq: ++this.eventSeq, at: this.sim.now, kind, message, ...(site ? { site } : {}) }
    this.events.push(e)
    if (this.events.length > EVENT_RING) this.events.shift()
    this.sim.record(`log.${kind}`, message)
    for (const fn of this.eventListeners) fn(e)
    return e
  }

  onLog(fn: (e: EngineEventView) => void): () => void {
    this.eventListeners.push(fn)
    return () => { this.eventListeners = this.eventListeners.filter((x) => x !== fn) }
  }

  // ---- failures ----------------------------------------------------------------------------
  isServerUp(id: string): boolean { return !this.serverDown.has(id) && !this.damaged.has(id) }
  /** The site's database service is available: router and primary up. */
  isSiteUp(code: SiteCode): boolean { return this.isServerUp(`${code}.router`) && this.isServerUp(`${code}.primary`) }

  private serverIds(code: SiteCode): string[] { return serversOf(this.site(code)).map((s) => s.id) }

  failServer(id: string): void {
    const code = id.split('.')[0]
    if (!this.serverIds(code).includes(id)) throw new EngineError('NOT_FOUND', `unknown server ${id}`, { site: code })
    if (this.serverDown.has(id)) return
    this.serverDown.add(id)
    if (id.endsWith('.router')) this.net.setSiteReachable(code, false)
    this.log('failure', `${id} failed`, code)
    this.saveState()
  }

  restoreServer(id: string): void {
    const code = id.split('.')[0]
    if (!this.serverIds(code).includes(id)) throw new EngineError('NOT_FOUND', `unknown server ${id}`, { site: code })
    const damage = this.damaged.get(id)
    if (damage) throw new EngineError('CORRUPT_DATA', `${id} cannot simply be restarted: ${damage} (replication/recover from backup)`, { site: code })
    if (!this.serverDown.delete(id)) return
    if (id.endsWith('.router')) this.net.setSiteReachable(code, true)
    this.log('recovery', `${id} restored`, code)
    this.saveState()
    if (this.SQL) this.replication.kick()
  }

  /** A whole-site (system) failure: router, application and database servers go down. */
  failSite(code: SiteCode): void {
    for (const id of this.serverIds(code)) if (!id.endsWith('.backup') && !id.endsWith('.repository')) this.failServer(id)
  }

  restoreSite(code: SiteCode): void {
    for (const id of this.serverIds(code)) if (!this.damaged.has(id)) this.restoreServer(id)
  }

  failLink(id: string): void { this.net.setLinkState(id, 'down'); this.log('failure', `link ${id} down`); this.saveState() }
  restoreLink(id: string): void {
    this.net.setLinkState(id, 'up'); this.log('recovery', `link ${id} up`); this.saveState()
    if (this.SQL) this.replication.kick()
  }
  degradeLink(id: string, d: Partial<Degradation>): void {
    this.net.setLinkState(id, 'degraded', d)
    this.log('failure', `link ${id} degraded (+${d.extraDelayMs ?? 0} ms, ×${d.bandwidthFactor ?? 1} bandwidth, ${(d.lossRate ?? 0) * 100}% loss)`)
    this.saveState()
  }

  // ---- views -------------------------------------------------------------------------------
  siteHealth(code: SiteCode): Health {
    const ids = this.serverIds(code)
    if (!this.isSiteUp(code)) return 'down'
    return ids.some((id) => !this.isServerUp(id)) ? 'degraded' : 'ok'
  }

  topologyView(): TopologyView {
    const elapsed = Math.max(1, this.sim.now - (this.startedAt ??= this.sim.now))
    const blockedAt = this.net.blockedAt
    return {
      profile: this.topology.profile,
      sites: this.topology.sites.map((s) => ({
        code: s.code, name: s.name, city: s.city, hq: s.hq, health: this.siteHealth(s.code), lanBps: s.lanBps,
        x: s.x, y: s.y, clients: s.clients, staff: s.staff,
        servers: serversOf(s).map((v) => ({
          ...v, status: this.isServerUp(v.id) ? 'up' as const : 'down' as const,
          ...(this.damaged.has(v.id) ? { needsRestore: this.damaged.get(v.id) } : {}),
        })),
        firewall: { enabled: this.topology.firewalls[s.code]?.enabled ?? false, allow: [...(this.topology.firewalls[s.code]?.allow ?? [])], blocked: blockedAt.get(s.code) ?? 0 },
      })),
      links: [...this.net.links.values()].map((l) => ({
        id: l.spec.id, a: l.spec.a, b: l.spec.b, kind: l.spec.kind, bandwidthBps: l.spec.bandwidthBps, delayMs: l.spec.delayMs,
        encrypted: l.spec.encrypted, state: l.state, bytes: l.stats.bytes, messages: l.stats.messages, dropped: l.stats.dropped, rejected: l.stats.rejected,
        queueingMs: l.stats.queueingMs, utilisation: Math.min(1, l.stats.busyMs / elapsed),
      })),
    }
  }
  private startedAt?: number

  clockView(speed: number, running: boolean): ClockView {
    return {
      now: this.sim.now, local: formatSiteTime(this.sim.now), speed, running, seed: this.sim.seed,
      eventsFired: this.sim.eventsFired, traceHash: this.sim.traceHash,
    }
  }
}
