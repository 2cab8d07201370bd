/**
 * The cluster façade: one simulator, one network, the sites and their servers. Hosts (worker, CLI,
 * tests) talk to the distributed database only through this object.
 * Its parts (engine/cluster/), its subsystem registry, its typed events and the layer order: docs/ENGINE-LAYERS.md.
 *
 * Lifecycle (sql.js loads asynchronously):
 *   const c = await Cluster.create({ seed, topology?, sales?: 20000, dataDir? })  // new cluster (generates data unless sales: 0)
 *   const c = await Cluster.open(dataDir, { readOnly? })                           // reopen a persisted one (clock included)
 *   (or new Cluster(opts) + await c.init() for an empty, in-memory cluster)
 *   c.siteStore('CMB')  → SiteStore (engine/site/site.ts: query/exec/withTransaction/backup/repository)
 *   c.checkpoint(); c.close()
 *   c.checkFragmentation(), c.copyStatus('Stock_MBI'), c.refreshCopy('Stock_MBI'), c.replicationView()
 */
import { formatSiteTime } from './sim/kernel'
import type { SiteCode } from './topology/types'
import { EngineError } from './errors'
import type { ClockView, Health, TopologyView } from './api/views'
import type { SqlJsStatic } from 'sql.js'
import { loadSqlJs } from './site/sqljs'
import { Site, type LogBody } from './site/site'
import { Replication } from './site/replication'
import { loadGenerated, type GenerateOptions, type GenerateSummary } from './data/load'
import { DEFAULT_SALES } from './data/generator'
import { Persistence, type ClusterFile } from './storage/persist'
import { openLogPair } from './storage/files'
import { FileTxnLog } from './txn/filelog'
import { join } from 'node:path'
import { Dim } from './integrity'
import type { Change } from './site/db'
import { Subsystems } from './cluster/subsystems'
import { ClusterNemesis } from './cluster/nemesis'
import { backupSchedules } from './backup/schedule'
import type { ClusterOptions } from './cluster/base'
import { clockView, siteHealth, topologyView } from './api/builders/views'

export type { ClusterEvent, ClusterEventListener, ClusterEventType } from './cluster/events'
export type { SubsystemName } from './cluster/subsystems'
export type { Subsystems }
export type { ClusterOptions } from './cluster/base'
export type { CopyStatus } from './cluster/copies'

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

/**
 * The cluster façade and its lifecycle (create/start/open, checkpoint, close). The jobs it stands on live in
 * engine/cluster/: base.ts (state, sites, events), copies.ts, recovery.ts, faults.ts; its views are built in
 * engine/api/builders/; its subsystems (DTM, DQP, tickets, DSM, audit, identities) in cluster/subsystems.ts.
 */
export class Cluster extends ClusterNemesis {
  /** The DTM, DQP, ticket service, DSM, audit log and identities: built on first use, disposed by close(). */
  readonly subsystems: Subsystems = new Subsystems(this)

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
  protected initing?: Promise<this>

  protected addSite(SQL: SqlJsStatic, code: SiteCode, images?: Map<string, Uint8Array>): void {
    const img = images ? { primary: images.get(`${code}.primary`)!, backup: images.get(`${code}.backup`)!, repository: images.get(`${code}.repository`) } : undefined
    this.sites.set(code, new Site(SQL, code, this.topology, this.siteHost, img))
  }

  protected createReplication(): void {
    this.replication = new Replication({
      sim: this.sim, net: this.net, topology: this.topology, site: (c) => this.internalSite(c),
      isServerUp: (id) => { if (this.media.size) this.checkMedium(id); return this.isServerUp(id) }, log: (k, m, site) => this.log(k, m, site), feedLimit: (o) => this.feedLimit(o),
    })
  }

  protected buildSites(images?: Map<string, Uint8Array>): void {
    for (const s of this.topology.sites) this.addSite(this.SQL!, s.code, images)
    for (const s of this.sites.values()) if (images) s.catalog.load(); else s.catalog.rebuild()
    this.createReplication()
  }

  protected readonly siteHost = {
    now: (site?: SiteCode) => (site ? this.siteNow(site) : this.sim.now),
    access: (id: string) => { if (this.media.size) this.checkMedium(id) },
    isServerUp: (id: string) => this.isServerUp(id),
    committed: (site: SiteCode, seq: number, body: LogBody, bytes: number) => {
      this.replication.committed(site, seq, body, bytes)
      this.copyCommitted(site, seq, body)
      this.maybeCheckpoint(site)
    },
    catalogChanged: (site: SiteCode) => this.replication.catalogChanged(site),
    beforeCommit: (site: SiteCode, changes: readonly Change[]) => { this.replication.beforeCommit(site); Dim.of(this).guard(site, changes) }, // synchronous backup feed, then the DIM
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
    c.loadReplicationSchedules()
    c.scheduleRefresh()
    backupSchedules(c).load()
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
  protected openSiteLogs(s: Site): number {
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

  protected attachLogs(): void {
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

  /** Writes every database image atomically, then truncates the logs to what is still needed. */
  checkpoint(): void {
    if (!this.persistence) return
    if (this.readers > 0) throw new EngineError('CONFLICT', 'a fragmentation check is running; checkpoint after it finishes')
    if (this.media.size) this.checkAllMedia() // writing the images reads them: a damaged medium is found first
    this.persistence.checkpoint(this.clusterFile(), [...this.sites.values()], (s) => this.damaged.has(`${s.code}.primary`))
  }

  /** Logs are folded into the images once one grows past this size (keeps reopen fast). */
  static LOG_CHECKPOINT_BYTES = 32 * 2 ** 20

  protected maybeCheckpoint(site: SiteCode): void {
    const log = this.sites.get(site)?.log
    if (!this.persistence || !log || log.bytes - log.baseBytes < Cluster.LOG_CHECKPOINT_BYTES || this.readers > 0) return
    for (const s of this.sites.values()) for (const db of [s.primary, s.backup, s.repository]) if (db?.inTransaction) return // next commit
    this.checkpoint()
  }

  protected clusterFile(): ClusterFile {
    const links: ClusterFile['links'] = {}
    for (const [id, l] of this.net.links) if (l.state !== 'up') links[id] = { state: l.state, degradation: l.degradation }
    return { format: 'iddb-cluster', version: 1, seed: this.sim.seed, clock: this.sim.now, topology: this.topology, down: [...this.serverDown], links, generated: this.lastGenerate, logs: [...this.expectedLogs].sort() }
  }

  protected saveState(): void { this.persistence?.writeClusterFile(this.clusterFile()) }

  /** Closes the databases (checkpointing first unless told not to: the logs make that safe). */
  close(opts: { checkpoint?: boolean } = {}): void {
    if (!this.SQL) { this.subsystems.dispose(); return }
    if (opts.checkpoint !== false) this.checkpoint()
    this.subsystems.dispose()
    for (const s of this.sites.values()) s.close()
    this.sites.clear()
    this.persistence?.unlock()
    this.SQL = undefined
  }

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
  protected rebaseline(): void {
    for (const s of this.sites.values()) { s.retained = []; s.repository?.clearVersions() }
    for (const origin of this.sites.values()) {
      for (const t of this.sites.values()) for (const db of [t.primary, t.backup, t.repository]) db?.setMeta(`src.${origin.code}`, origin.seq)
    }
    this.replication.build()
    this.replication.syncCatalogsNow()
    this.resetCopyLogs()
    if (this.persistence) this.checkpoint()
  }

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

  // ---- views (engine/api/builders/views.ts) -------------------------------------------------
  siteHealth(code: SiteCode): Health { return siteHealth(this, code) }

  topologyView(): TopologyView { return topologyView(this, this.startedAt ??= this.sim.now) }
  private startedAt?: number

  clockView(speed: number, running: boolean): ClockView { return clockView(this.sim, speed, running) }
}
