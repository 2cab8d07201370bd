/**
 * Failover (spec §2, §7; docs/FAILOVER.md): each site's backup server is fed continuously over the site's LAN
 * (its data through the replication channel `<SITE>><SITE>.backup`, its copy of the 2PC log here), and an
 * administrator promotes it to primary by hand (or the optional automatic failover does, on health checks).
 *
 * Roles and hosts: the server ids `<SITE>.primary` / `<SITE>.backup` name roles; each site has two database
 * hosts, `<SITE>-db1` (the original primary) and `<SITE>-db2`, and a promotion swaps which host holds which
 * role. The host name travels in each image's __meta `failover.host`, so a persisted cluster keeps it.
 *
 * A promotion, in virtual time: the command sends `failover.promote` to the backup host over the LAN; the old
 * primary is fenced (stopped) if it still runs; the backup applies what it has received (the batches on the
 * LAN land, its apply window runs), then its image becomes the primary's, the batches it never received are
 * the RPO (counted, listed, and dropped with the old host), the DTM restarts the site from the backup's copy of
 * the 2PC log (in-doubt participants READY again, coordinator decisions carried on), and the site accepts
 * writes: the RTO is that instant minus the command's. The old primary, once repaired, rejoins as the backup:
 * a base copy of the new primary crosses the LAN, then the feed continues. Fail back is a switchover back.
 */
import type { Cluster } from '../cluster'
import { EngineError } from '../errors'
import type { SiteCode } from '../topology/types'
import { Dtm } from '../txn/dtm'
import { FileTxnLog } from '../txn/filelog'
import { TailedLog, recordsToKeep, type TxnLogRecord } from '../txn/log'
import { installCatalogs } from '../catalog/catalog'
import type { FailoverView, FeedMode, FeedView, PromotionKind, PromotionReport } from '../api/failover'
import type { Site } from '../site/site'

const PROMOTE_BYTES = 64
const COPY_CAP = 20_000
/** How often a promotion looks again whether the backup has landed what was on the LAN (virtual ms). */
const DRAIN_POLL_MS = 1
const DRAIN_MAX_MS = 60_000

/** The promoted server's 2PC log: the backup's copy, as stable storage from here on. */
class CopiedLog extends TailedLog {
  constructor(records: readonly TxnLogRecord[]) {
    super()
    this.stable = records.slice()
    this.lsn = records.reduce((m, r) => Math.max(m, r.lsn ?? 0), 0)
  }
  protected persist(): void {}
  protected afterForce(): void { if (this.stable.length > COPY_CAP) this.stable = recordsToKeep(this.stable) }
}

interface TwopcCopy {
  /** Stable records on the backup server. */
  records: TxnLogRecord[]
  /** Records written without force at the primary: they become stable (and are shipped) with the next forced one. */
  tail: TxnLogRecord[]
  inflight: number
  /** A shipment was lost or the backup was down: the next one sends the whole stable log again. */
  gap: boolean
}

interface Promotion { kind: PromotionKind; by: 'hand' | 'auto'; commandAt: number; done: Promise<PromotionReport> }

interface Hosts { primary: string; backup: string }
/**
 * Which host holds which role: kept in both images' __meta `failover.hosts`, so any image copied from one slot to
 * the other (a promotion, a reseed, a media recovery) carries the same assignment.
 */
function hostsOf(s: Site): Hosts {
  const v = s.primary.getMeta('failover.hosts') ?? s.backup.getMeta('failover.hosts')
  if (typeof v === 'string') { try { const h = JSON.parse(v) as Hosts; if (h.primary && h.backup) return h } catch { /* default below */ } }
  return { primary: `${s.code}-db1`, backup: `${s.code}-db2` }
}
function setHosts(s: Site, h: Hosts): void { for (const db of [s.primary, s.backup]) db.setMeta('failover.hosts', JSON.stringify(h)) }

const registry = new WeakMap<Cluster, Failover>()

export class Failover {
  private twopc = new Map<SiteCode, TwopcCopy>()
  private promoting = new Map<SiteCode, Promotion>()
  /** Sites whose old primary rejoins as backup once repaired (the value: reseed on the LAN now). */
  private rejoin = new Map<SiteCode, boolean>()
  private last = new Map<SiteCode, PromotionReport>()
  readonly history: PromotionReport[] = []
  readonly auto = { enabled: false, checks: 3, intervalMs: 1_000 }
  private watching = new Set<SiteCode>()
  private tapped = new WeakSet<Dtm>()

  static of(cluster: Cluster): Failover {
    const f = Failover.get(cluster)
    const dtm = Dtm.existing(cluster)
    if (dtm) f.attachDtm(dtm)
    return f
  }

  /** Called as a DTM is built (cluster/subsystems.ts): its 2PC logs are fed from their first record. */
  static attach<D extends Dtm>(cluster: Cluster, dtm: D): D { Failover.get(cluster).attachDtm(dtm); return dtm }

  private static get(cluster: Cluster): Failover {
    let f = registry.get(cluster)
    if (!f) { f = new Failover(cluster); registry.set(cluster, f) }
    return f
  }

  private constructor(private readonly cluster: Cluster) {
    for (const code of cluster.siteCodes) this.twopc.set(code, { records: [], tail: [], inflight: 0, gap: true })
    cluster.on((e) => {
      if (e.type === 'server.down' && e.role === 'primary') {
        const c = this.twopc.get(e.site)
        if (c) c.tail = [] // the volatile tail dies with the primary
        if (this.auto.enabled) this.watch(e.site)
      }
      if (e.type === 'server.down' && e.role === 'backup') { const c = this.twopc.get(e.site); if (c) c.gap = true }
      if (e.type === 'server.up' && e.role === 'backup' && this.rejoin.get(e.site) === false) this.reseed(e.site)
    })
  }

  // ---- the 2PC log feed -------------------------------------------------------------------------
  /** Feeds every site's 2PC log to its backup server from now on (a DTM built later is attached when it is built). */
  attachDtm(dtm: Dtm): void {
    if (this.tapped.has(dtm)) return
    this.tapped.add(dtm)
    const prev = dtm.opts.onLog
    dtm.opts.onLog = (site, rec, forced) => { prev?.(site, rec, forced); this.logged(dtm, site, rec, forced) }
    for (const code of this.cluster.siteCodes) this.twopc.get(code)!.gap = true
    for (const code of this.cluster.siteCodes) if (this.cluster.isServerUp(`${code}.primary`)) this.shipTwopc(dtm, code, [])
  }

  private logged(dtm: Dtm, site: SiteCode, rec: TxnLogRecord, forced: boolean): void {
    const c = this.twopc.get(site)
    if (!c) return
    if (!forced) { c.tail.push(rec); return }
    const batch = c.tail.concat(rec)
    c.tail = []
    this.shipTwopc(dtm, site, batch)
  }

  /** Ships records (or, after a gap, the primary's whole stable log) to the backup over the LAN. */
  private shipTwopc(dtm: Dtm, site: SiteCode, batch: TxnLogRecord[]): void {
    const c = this.twopc.get(site)!
    const whole = c.gap
    const recs = whole ? dtm.log(site).records().slice() : batch
    if (!recs.length && !whole) return
    try {
      this.cluster.net.send({
        from: site, to: site, kind: 'feed.2pc', bytes: Math.max(16, JSON.stringify(recs).length), payload: recs.length,
        onDeliver: () => {
          c.inflight--
          if (!this.cluster.isServerUp(`${site}.backup`)) { c.gap = true; return }
          if (whole) c.records = recs
          else for (const r of recs) c.records.push(r)
          if (c.records.length > COPY_CAP) c.records = recordsToKeep(c.records)
        },
        onDrop: () => { c.inflight--; c.gap = true },
      })
      c.inflight++
      if (whole) c.gap = false
    } catch (e) {
      if (!(e instanceof EngineError)) throw e
      c.gap = true
    }
  }

  // ---- the data feed ------------------------------------------------------------------------------
  setFeedMode(code: SiteCode, mode: FeedMode): FeedView {
    this.cluster.site(code)
    if (mode !== 'sync' && mode !== 'async') throw new EngineError('BAD_INPUT', `feed mode is sync or async, not ${String(mode)}`)
    const s = this.cluster.siteInternals(code)
    for (const db of [s.primary, s.backup]) db.setMeta('feed.mode', mode)
    const r = this.cluster.replication
    if (mode === 'sync') r.syncBackup.add(code)
    else { r.syncBackup.delete(code); r.degraded.delete(code) }
    this.cluster.log('replication', `${code}: backup feed ${mode === 'sync' ? 'synchronous (a commit is acknowledged only once the backup has it)' : 'asynchronous (commits are acknowledged at once; the backup follows over the LAN)'}`, code)
    return this.feedView(code)
  }

  /** The configured mode (a synchronous feed is suspended while a promoted site has no backup yet). */
  feedMode(code: SiteCode): FeedMode { return this.cluster.siteInternals(code).primary.getMeta('feed.mode') === 'sync' ? 'sync' : 'async' }

  /** Committed batches of the site's own the backup has not applied: the lag, and (at promotion) the loss. */
  private behind(code: SiteCode): { seq: number; rows: number; at: number }[] {
    const s = this.cluster.siteInternals(code)
    const applied = s.backup.getMetaNum(`src.${code}`)
    return s.retained.filter((r) => r.seq > applied).map((r) => ({ seq: r.seq, rows: r.body.c.length, at: r.body.at }))
  }

  feedView(code: SiteCode): FeedView {
    this.cluster.site(code)
    const s = this.cluster.siteInternals(code)
    const behind = this.behind(code)
    const ch = this.cluster.replication.backupChannel(code)
    const c = this.twopc.get(code)!
    const hosts = hostsOf(s)
    const primaryHost = hosts.primary
    const last = this.last.get(code)
    return {
      site: code, mode: this.feedMode(code), degraded: this.cluster.replication.degraded.has(code) || this.cluster.replication.syncSuspended.has(code),
      primaryHost, backupHost: hosts.backup, original: primaryHost === `${code}-db1`,
      primaryUp: this.cluster.isServerUp(`${code}.primary`), backupUp: this.cluster.isServerUp(`${code}.backup`),
      lagBatches: behind.length, lagRows: behind.reduce((a, b) => a + b.rows, 0), lagMs: behind.length ? this.cluster.sim.now - behind[0].at : 0,
      seq: s.seq, backupSeq: s.backup.getMetaNum(`src.${code}`), inflight: ch?.inflight.size ?? 0,
      twopcRecords: c.records.length, twopcInflight: c.inflight,
      rejoin: !this.rejoin.has(code) ? 'none' : this.rejoin.get(code) ? 'reseeding' : 'waiting-repair',
      promoting: this.promoting.has(code), ...(last ? { last } : {}),
    }
  }

  view(): FailoverView {
    return { sites: this.cluster.siteCodes.map((c) => this.feedView(c)), auto: { ...this.auto }, history: this.history.slice(-50) }
  }

  // ---- promotion ------------------------------------------------------------------------------
  /**
   * Promotes the site's backup server to primary. Checks first and changes nothing on a refusal; then returns
   * the promotion's completion (run the simulation: it takes virtual time). `kind` failback: only when the site
   * runs on its promoted host and the old primary has rejoined and caught up.
   */
  promote(code: SiteCode, opts: { by?: 'hand' | 'auto'; failback?: boolean } = {}): Promise<PromotionReport> {
    const c = this.cluster
    c.site(code)
    const s = c.siteInternals(code)
    const p = `${code}.primary`, b = `${code}.backup`
    const by = opts.by ?? 'hand'
    if (this.promoting.has(code)) throw new EngineError('CONFLICT', `${code}: a promotion is already under way`, { site: code })
    const view = this.feedView(code)
    if (opts.failback && view.original) throw new EngineError('CONFLICT', `${code} runs on its original primary host ${view.primaryHost}: there is nothing to fail back`, { site: code })
    if (view.rejoin !== 'none') throw new EngineError('CONFLICT', `${code}.backup (host ${view.backupHost}) has not rejoined yet (${view.rejoin === 'reseeding' ? 'its base copy is on the LAN' : 'repair it first: restore the server'}): it holds no current copy to promote`, { site: code })
    if (!c.isServerUp(b)) throw new EngineError('SITE_DOWN', `${b} is down: there is no backup server to promote`, { site: code })
    const damage = c.needsRestore().get(p)
    if (damage) throw new EngineError('CORRUPT_DATA', `${p}'s stored data is damaged (${damage}): recover it from ${b} instead (Backups → recover from the backup server)`, { site: code })
    if (s.primary.inTransaction || s.backup.inTransaction) throw new EngineError('CONFLICT', `${code} has an open local transaction: promote after it ends`, { site: code })
    const primaryUp = c.isServerUp(p)
    if (primaryUp && (view.lagBatches || view.inflight)) {
      throw new EngineError('CONFLICT', `${b} is ${view.lagBatches} batch(es) (${view.lagRows} rows) behind ${p}: a switchover while the primary runs loses nothing, so wait until the backup has caught up`, { site: code })
    }
    const kind: PromotionKind = opts.failback ? 'failback' : primaryUp ? 'switchover' : 'failover'
    const commandAt = c.sim.now
    let resolve!: (r: PromotionReport) => void, reject!: (e: unknown) => void
    const done = new Promise<PromotionReport>((res, rej) => { resolve = res; reject = rej })
    // the command reaches the backup host over the LAN (an error here, a LAN cut, changes nothing)
    c.net.send({
      from: code, to: code, kind: 'failover.promote', bytes: PROMOTE_BYTES, payload: code,
      onDeliver: () => this.drain(code, commandAt, () => {
        try { resolve(this.complete(code, kind, by, commandAt)) } catch (e) { this.promoting.delete(code); c.log('failover', `${code}: promotion failed: ${e instanceof Error ? e.message : String(e)}`, code); reject(e) }
      }),
      onDrop: (reason) => {
        this.promoting.delete(code)
        c.log('failover', `${code}: the promote command was lost on the LAN (${reason}); ${b} was not promoted`, code)
        reject(new EngineError('UNREACHABLE', `the promote command to ${b} was lost on the LAN: ${reason}`, { site: code }))
      },
    })
    this.promoting.set(code, { kind, by, commandAt, done })
    c.log('failover', `${code}: ${kind} ${by === 'auto' ? 'decided automatically' : 'by hand'}: promoting ${b} (host ${view.backupHost}) to primary (${this.feedMode(code)} feed, ${view.lagBatches} batch(es) behind)`, code)
    if (primaryUp) { c.log('failover', `${code}: fencing ${p} (host ${view.primaryHost}): it stops serving for the ${kind}`, code); c.failServer(p) }
    done.catch(() => {}) // a caller that drops the promise still sees the failure in the event log
    return done
  }

  /** Fails back: the original primary host, rejoined as backup and caught up, is promoted again. */
  failback(code: SiteCode): Promise<PromotionReport> { return this.promote(code, { failback: true }) }

  /** Waits until what was on the LAN for the backup (data batches, 2PC records) has landed and been applied. */
  private drain(code: SiteCode, since: number, then: () => void): void {
    const c = this.cluster
    const ch = c.replication.backupChannel(code)
    const tp = this.twopc.get(code)!
    const settled = (!ch || (ch.inflight.size === 0 && ch.arrived.length === 0 && !ch.applyScheduled)) && tp.inflight === 0
    if (settled || c.sim.now - since > DRAIN_MAX_MS) { then(); return }
    c.sim.schedule(DRAIN_POLL_MS, 'failover.drain', () => this.drain(code, since, then))
  }

  private complete(code: SiteCode, kind: PromotionKind, by: 'hand' | 'auto', commandAt: number): PromotionReport {
    const c = this.cluster
    const s = c.siteInternals(code)
    const p = `${code}.primary`, b = `${code}.backup`
    if (!c.isServerUp(b)) throw new EngineError('SITE_DOWN', `${b} went down before it could be promoted`, { site: code })
    const mode = this.feedMode(code)
    const lost = this.behind(code)
    const { backup: promotedHost, primary: demotedHost } = hostsOf(s)
    // the backup's image becomes the primary (the host takes the role), its catalogs rebuilt
    s.primary.load(s.backup.export())
    s.primary.setMeta('iddb.db', s.primary.id)
    s.primary.installAllTriggers()
    installCatalogs(s.primary, c.topology, code)
    s.catalog.rebuild()
    setHosts(s, { primary: promotedHost, backup: demotedHost })
    // a new timeline: the promoted server's commits continue after every seq the old one issued, so no copy
    // mistakes a new batch for a lost one; the lost batches leave with the old host
    s.primary.setMeta('seq', s.seq)
    const lostSet = new Set(lost.map((l) => l.seq))
    s.retained = s.retained.filter((r) => !lostSet.has(r.seq))
    c.replication.build()
    c.replication.catalogChanged(code)
    c.replication.resendCatalogsTo(code)
    // the DTM restarts the site from the promoted server's copy of the 2PC log
    const copy = this.twopc.get(code)!
    const recs = copy.records.slice()
    const dtm = Dtm.existing(c)
    if (dtm) {
      const current = dtm.log(code)
      if (current instanceof FileTxnLog) {
        const have = new Set(recs.map((r) => r.lsn))
        const missing = current.records().filter((r) => !have.has(r.lsn)).length
        if (missing) c.log('failover', `${code}: ${missing} record(s) of the 2PC log file were not on ${b}'s copy`, code)
      } else dtm.setLog(code, new CopiedLog(recs))
    }
    const { inDoubt, coordinators } = openIn(recs)
    if (kind === 'failover') {
      this.rejoin.set(code, false) // the old host rejoins once repaired
      // no backup to wait for until then: a synchronous feed is suspended (the site serves writes alone)
      c.replication.syncSuspended.add(code)
      if (c.replication.syncBackup.delete(code)) c.log('failover', `${code}: synchronous feed suspended until ${demotedHost} rejoins as ${b}: commits are acknowledged by the primary alone`, code)
    }
    this.promoting.delete(code)
    if (c.dataDir && !c.readOnly) {
      try { c.checkpoint() } catch (e) { c.log('failover', `${code}: checkpoint after the promotion postponed: ${e instanceof Error ? e.message : String(e)}`, code) }
    }
    if (kind === 'failover') c.failServer(b) // the slot now stands for the old host, which is down
    c.restoreServer(p) // server.up: the DTM recovers the site from the log it now has
    const acceptingAt = c.sim.now
    const report: PromotionReport = {
      site: code, kind, by, mode, commandAt, acceptingAt, rtoMs: acceptingAt - commandAt,
      rpoTxns: lost.length, rpoRows: lost.reduce((a, l) => a + l.rows, 0), lostSeqs: lost.slice(0, 50).map((l) => l.seq),
      promotedHost, demotedHost, inDoubt, coordinators, twopcRecords: recs.length,
    }
    this.last.set(code, report)
    this.history.push(report)
    if (this.history.length > 200) this.history.shift()
    c.log('failover', `${code}: ${b}'s host ${promotedHost} is primary and accepts writes: RTO ${report.rtoMs} ms (virtual, from the command); RPO ${report.rpoTxns === 0
      ? `0: every committed transaction was on the backup (${mode} feed)`
      : `${report.rpoTxns} committed transaction(s) (${report.rpoRows} rows) were not on the backup and are lost (${mode} feed; seq ${lost[0].seq}–${lost[lost.length - 1].seq})`}; 2PC log copy: ${recs.length} record(s), ${inDoubt} in doubt, ${coordinators} coordinator record(s) carried on${kind === 'failover' ? `; ${demotedHost} rejoins as ${b} once repaired` : `; ${demotedHost} is ${b}`}`, code)
    return report
  }

  /** The old primary host was repaired (server.up on the backup role): a base copy of the new primary crosses the LAN. */
  private reseed(code: SiteCode): void {
    const c = this.cluster
    const s = c.siteInternals(code)
    const bytes = s.primary.export().length
    this.rejoin.set(code, true)
    const b = `${code}.backup`
    c.log('failover', `${code}: ${hostsOf(s).backup} repaired: it rejoins as ${b}, a base copy of the primary (${bytes.toLocaleString('en')} bytes) on the LAN`, code)
    const fail = (why: string) => { this.rejoin.set(code, false); c.log('failover', `${code}: the base copy for ${b} did not arrive (${why}); it is sent again when ${b} is restored`, code) }
    try {
      c.net.send({
        from: code, to: code, kind: 'failover.reseed', bytes, payload: code,
        onDeliver: () => {
          if (!c.isServerUp(b)) { fail(`${b} is down`); return }
          if (s.backup.inTransaction || s.primary.inTransaction) { c.sim.schedule(1, 'failover.reseed', () => this.finishReseed(code)); return }
          this.finishReseed(code)
        },
        onDrop: (reason) => fail(reason),
      })
    } catch (e) {
      if (!(e instanceof EngineError)) throw e
      fail(e.message)
    }
  }

  private finishReseed(code: SiteCode): void {
    const c = this.cluster
    const s = c.siteInternals(code)
    const host = hostsOf(s).backup
    // the copy streamed, then the feed carried on from where it ended: the backup holds the primary as of now
    s.backup.load(s.primary.export())
    s.backup.setMeta('iddb.db', s.backup.id)
    s.backup.setMeta(`src.${code}`, s.seq)
    c.replication.syncSuspended.delete(code)
    c.replication.build() // reads feed.mode again: a suspended synchronous feed resumes
    this.rejoin.delete(code)
    const tp = this.twopc.get(code)!
    tp.gap = true
    const dtm = Dtm.existing(c)
    if (dtm) this.shipTwopc(dtm, code, [])
    c.replication.kick()
    c.log('failover', `${code}: ${host} has rejoined as ${code}.backup, fed from the primary (up to seq ${s.seq})`, code)
  }

  // ---- automatic failover ---------------------------------------------------------------------
  setAuto(opts: { enabled: boolean; checks?: number; intervalMs?: number }): FailoverView {
    if (opts.checks !== undefined && (!Number.isInteger(opts.checks) || opts.checks < 1 || opts.checks > 100)) throw new EngineError('BAD_INPUT', 'checks is a whole number from 1 to 100')
    if (opts.intervalMs !== undefined && (!(opts.intervalMs >= 10) || opts.intervalMs > 600_000)) throw new EngineError('BAD_INPUT', 'intervalMs is from 10 to 600000')
    this.auto.enabled = opts.enabled
    if (opts.checks !== undefined) this.auto.checks = opts.checks
    if (opts.intervalMs !== undefined) this.auto.intervalMs = opts.intervalMs
    this.cluster.log('failover', `automatic failover ${opts.enabled ? `on: a primary that misses ${this.auto.checks} health check(s), ${this.auto.intervalMs} ms apart, is replaced by its backup` : 'off'}`)
    if (opts.enabled) for (const code of this.cluster.siteCodes) if (!this.cluster.isServerUp(`${code}.primary`)) this.watch(code)
    return this.view()
  }

  /** Health checks from the site's router to its primary over the LAN; after `checks` misses, decide. */
  private watch(code: SiteCode): void {
    if (this.watching.has(code)) return
    this.watching.add(code)
    const c = this.cluster
    let missed = 0
    let answeredNow = false
    // a health check is a small message from the router to the primary host over the LAN and back
    const probe = () => {
      answeredNow = false
      try {
        c.net.send({
          from: code, to: code, kind: 'failover.health', bytes: 32, payload: code,
          onDeliver: () => { answeredNow = c.isServerUp(`${code}.primary`); tick() },
          onDrop: () => tick(),
        })
      } catch (e) {
        if (!(e instanceof EngineError)) throw e
        tick()
      }
    }
    const tick = () => {
      if (!this.auto.enabled) { this.watching.delete(code); return }
      const answered = () => {
        this.watching.delete(code)
        if (missed) c.log('failover', `automatic failover: ${code}.primary answered its health check after ${missed} miss(es): no failover`, code)
      }
      if (answeredNow) { answered(); return }
      missed++
      if (missed < this.auto.checks) { c.sim.schedule(this.auto.intervalMs, 'failover.health', probe); return }
      this.watching.delete(code)
      try {
        c.log('failover', `automatic failover: ${code}.primary missed ${missed} health checks (${missed * this.auto.intervalMs} ms): promoting ${code}.backup`, code)
        this.promote(code, { by: 'auto' }).catch(() => {})
      } catch (e) {
        c.log('failover', `automatic failover: ${code}.primary is down but ${code}.backup is not promoted: ${e instanceof Error ? e.message : String(e)}`, code)
      }
    }
    c.sim.schedule(this.auto.intervalMs, 'failover.health', probe)
  }
}

/** Participants still READY and coordinators not ENDed in a 2PC log. */
function openIn(recs: readonly TxnLogRecord[]): { inDoubt: number; coordinators: number } {
  const ready = new Set<string>(), coord = new Set<string>()
  for (const r of recs) {
    if (r.role === 'part') { if (r.type === 'READY') ready.add(r.gid); else if (r.type !== 'RO') ready.delete(r.gid) }
    else if (r.type === 'WAIT' || r.type === 'COMMIT') coord.add(r.gid)
    else if (r.type === 'END' || r.type === 'ABORT') coord.delete(r.gid)
  }
  return { inDoubt: ready.size, coordinators: coord.size }
}
