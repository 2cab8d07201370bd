/**
 * Scheduled copies (Stock_MBI at CMB from Stock_MBI_LCL at MBI) and the main repository's feed schedule.
 *
 *  - Schedule: each copy's refresh times, site-local 'HH:MM' or 'eod' (the end of the working day of the
 *    source's site: the topology's `endOfDay`, 18:00 by default); default 12:00 and end of day. Editable, and
 *    kept beside the cluster (replication-schedules.json).
 *  - Incremental: a refresh ships only the rows changed since the copy's last refresh, from the copy's change
 *    log (engine/site/refresh.ts); a full snapshot when the log does not cover the gap.
 *  - Consistent: the target applies the payload in ONE local transaction (the copy's rows, its COPY_REFRESH
 *    row and its refresh marker together): a crash mid-apply leaves the old copy whole.
 *  - Missed refreshes: a refresh that meets a down link, site or server is a job marked missed with its
 *    reason; it is retried with backoff (30 s doubling, at most 15 min) and at once when a link or server
 *    comes back, and runs when the path returns.
 *  - Staleness: how long the copy has not been current — since the first source change after the data it
 *    holds (0 while the source has not changed since).
 */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { nextLocalTime, type SimEvent } from '../sim/kernel'
import type { SiteCode } from '../topology/types'
import { EngineError } from '../errors'
import { fragments, globalRelations, type FragmentDef } from '../data/schema'
import type { LogBody } from '../site/site'
import { CopyLog, applyStatements, payloadBytes, type RefreshPayload } from '../site/refresh'
import { writeFileAtomic } from '../storage/files'
import {
  DEFAULT_END_OF_DAY, DEFAULT_REFRESH_TIMES, describeFeed, parseHhMm,
  type FeedSchedule, type FeedScheduleView, type PendingRefresh, type RefreshScheduleView, type RefreshTime, type ReplicationSchedulesView,
} from '../api/schedules'
import { jobLog, type JobEntry } from './joblog'
import { ClusterBase } from './base'

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
  /** Virtual time the source was read for the data the copy holds (null: unknown, e.g. the generated load). */
  asOf: number | null
  /** How long the copy has not been current (0: the source has not changed since its data). */
  stalenessMs: number
  /** A missed refresh waiting for its retry (null when none). */
  pending: PendingRefresh | null
  lastMode: 'incremental' | 'full' | null
}

export const REPLICATION_SCHEDULES_FILE = 'replication-schedules.json'
export const REFRESH_RETRY_BASE_MS = 30_000
export const REFRESH_RETRY_MAX_MS = 15 * 60_000

interface RefreshRun {
  copy: string
  job: JobEntry
  since: number
  inflight: boolean
  retry?: SimEvent
  reason: string
}

const metaSeq = (copy: string) => `copy.${copy}.seq`
const metaAsOf = (copy: string) => `copy.${copy}.asof`
const metaMode = (copy: string) => `copy.${copy}.mode`

export abstract class ClusterCopies extends ClusterBase {
  protected refreshTimers = new Map<string, SimEvent>()
  private refreshTimes = new Map<string, RefreshTime[]>()
  private copyLogs = new Map<string, CopyLog>()
  private runs = new Map<string, RefreshRun>()
  private feed: FeedSchedule = { mode: 'continuous' }
  /** Per origin: the highest commit the scheduled feed has released to the main repository. */
  protected feedReleased = new Map<SiteCode, number>()
  private feedTimer?: SimEvent
  private copyListening = false
  /** Test hook: called before each statement of a refresh's apply (throw to crash the apply mid-way). */
  copyApplyFault?: (copy: string, statement: number) => void

  // ---- copies ------------------------------------------------------------------------------
  protected copies() { return fragments(this.topology).filter((f) => f.kind === 'copy' && f.copyOf) }
  /** The copies and their source fragments, taken once (every local commit asks: copyCommitted). */
  private copySources(): { f: FragmentDef; src: FragmentDef | undefined }[] {
    if (!this.copySrc) {
      const frs = fragments(this.topology)
      this.copySrc = this.copies().map((f) => ({ f, src: frs.find((x) => x.name === f.copyOf) }))
    }
    return this.copySrc
  }
  private copySrc?: { f: FragmentDef; src: FragmentDef | undefined }[]

  private copyDef(name: string): { f: FragmentDef; src: FragmentDef; key: string[] } {
    const f = this.copies().find((x) => x.name === name)
    if (!f) throw new EngineError('UNKNOWN_TABLE', `${name} is not a scheduled copy; copies: ${this.copies().map((x) => x.name).join(', ') || 'none'}`)
    const src = fragments(this.topology).find((x) => x.name === f.copyOf)!
    const key = globalRelations(this.topology).find((r) => r.name === f.relation)?.key ?? [f.columns[0]]
    return { f, src, key }
  }

  /** The end of the working day at a site (topology data, default 18:00). */
  endOfDay(site: SiteCode): string {
    const e = this.topology.sites.find((s) => s.code === site)?.endOfDay
    return e && parseHhMm(e) ? e : DEFAULT_END_OF_DAY
  }

  private resolvedTimes(name: string): string[] {
    const { src } = this.copyDef(name)
    return (this.refreshTimes.get(name) ?? [...DEFAULT_REFRESH_TIMES]).map((t) => (t === 'eod' ? this.endOfDay(src.site) : t))
  }

  private nextOf(times: string[]): number {
    return Math.min(...times.map((t) => { const [h, m] = parseHhMm(t)!; return nextLocalTime(this.sim.now, h, m) }))
  }

  protected scheduleRefresh(): void {
    this.listenForPaths()
    for (const t of this.refreshTimers.values()) this.sim.cancel(t)
    this.refreshTimers.clear()
    for (const f of this.copies()) {
      const next = this.nextOf(this.resolvedTimes(f.name))
      this.refreshTimers.set(f.name, this.sim.scheduleDaemon(next - this.sim.now, 'copy.schedule', () => {
        this.refreshTimers.delete(f.name)
        this.refreshCopy(f.name, 'scheduled')
        this.scheduleRefresh()
      }))
    }
    this.scheduleFeed()
  }

  /** The next scheduled refresh (of `name`, or of any copy). */
  nextRefreshAt(name?: string): number {
    const names = name ? [name] : this.copies().map((f) => f.name)
    return Math.min(...names.map((n) => this.nextOf(this.resolvedTimes(n))))
  }

  /** A retry waits for the path: any link or server coming back tries every pending refresh at once. */
  private listenForPaths(): void {
    if (this.copyListening) return
    this.copyListening = true
    this.on((e) => {
      if (e.type === 'site.recovered') for (const l of this.copyLogs.values()) l.coveredFrom = null // restored data: the next refresh is full
      if (e.type === 'link.up' || e.type === 'server.up' || e.type === 'site.recovered') {
        for (const r of this.runs.values()) if (!r.inflight) { this.sim.cancel(r.retry); r.retry = undefined; this.sim.schedule(0, 'copy.retry', () => this.retryRun(r)) }
      }
    })
  }

  private copyLog(name: string): CopyLog {
    let l = this.copyLogs.get(name)
    if (!l) {
      const { src, key, f } = this.copyDef(name)
      l = new CopyLog(src.name, key.map((k) => f.columns.indexOf(k)))
      l.reset(this.internalSite(src.site).seq)
      this.copyLogs.set(name, l)
    }
    return l
  }

  /** A durable commit at `site`: folded into the change log of every copy whose source is there. */
  protected copyCommitted(site: SiteCode, seq: number, body: LogBody): void {
    for (const { f, src } of this.copySources()) {
      if (src?.site !== site || !body.c.some((c) => c.t === src.name)) continue
      const existed = this.copyLogs.has(f.name)
      const l = this.copyLog(f.name)
      if (!existed) l.reset(seq - 1)
      l.record(seq, body.at, body.c)
    }
  }

  /** The sources were replaced wholesale (a bulk load): every copy's log starts again, its next refresh is full. */
  protected resetCopyLogs(): void {
    for (const f of this.copies()) this.copyLog(f.name).coveredFrom = null
  }

  /**
   * Refreshes a copy now (by hand or from its schedule): a job in the engine's history. If a refresh of the
   * copy is already pending (missed), it is retried now; if one is in flight, that one is returned.
   */
  refreshCopy(name: string, trigger: 'manual' | 'scheduled' = 'manual'): string {
    const { f } = this.copyDef(name)
    const cur = this.runs.get(name)
    if (cur) {
      if (!cur.inflight) { this.sim.cancel(cur.retry); cur.retry = undefined; this.retryRun(cur) }
      return cur.job.view.id
    }
    const job = jobLog(this).start({ kind: 'refresh', site: f.site, label: `refresh of ${name}@${f.site}`, trigger, schedule: trigger === 'scheduled' ? `refresh:${name}` : null })
    const run: RefreshRun = { copy: name, job, since: this.sim.now, inflight: false, reason: '' }
    this.runs.set(name, run)
    this.attemptRefresh(run)
    return job.view.id
  }

  private retryRun(r: RefreshRun): void {
    if (this.runs.get(r.copy) !== r || r.inflight) return
    r.job.retrying()
    this.attemptRefresh(r)
  }

  private missRefresh(r: RefreshRun, e: EngineError): void {
    r.inflight = false
    r.reason = e.message
    const n = r.job.view.attempts
    const delay = Math.min(REFRESH_RETRY_MAX_MS, REFRESH_RETRY_BASE_MS * 2 ** (n - 1))
    r.job.missed(e, this.sim.now + delay)
    this.sim.cancel(r.retry)
    r.retry = this.sim.scheduleDaemon(delay, 'copy.retry', () => { r.retry = undefined; this.retryRun(r) })
    this.log('replication', `refresh of ${r.copy} missed (attempt ${n}): ${e.message}; pending, retried in ${Math.round(delay / 1000)} s or when the path returns`, e.site ?? undefined)
  }

  private attemptRefresh(r: RefreshRun): void {
    const { f, src, key } = this.copyDef(r.copy)
    if (!this.isServerUp(`${src.site}.primary`)) return this.missRefresh(r, new EngineError('SITE_DOWN', `${src.site}.primary is down: ${src.name} cannot be read`, { site: src.site }))
    if (!this.isServerUp(`${f.site}.primary`)) return this.missRefresh(r, new EngineError('SITE_DOWN', `${f.site}.primary is down: ${f.name} cannot be refreshed`, { site: f.site }))
    const from = this.internalSite(src.site)
    const target = this.internalSite(f.site).primary
    const log = this.copyLog(r.copy)
    const copySeq = target.getMetaNum(metaSeq(r.copy), -1)
    const toSeq = from.seq
    let payload: RefreshPayload
    const delta = copySeq >= 0 && log.covers(copySeq) ? log.delta(copySeq) : null
    if (delta && delta.rows.length + delta.deletes.length < Math.max(1, from.primary.count(src.name))) {
      payload = { mode: 'incremental', toSeq, asOf: this.sim.now, rows: delta.rows, deletes: delta.deletes, bytes: payloadBytes(delta.rows, delta.deletes) }
    } else {
      const rows = from.primary.query(`SELECT ${f.columns.map((c) => `"${c}"`).join(', ')} FROM "${src.name}" ORDER BY 1`).rows
      payload = { mode: 'full', toSeq, asOf: this.sim.now, rows, deletes: [], bytes: payloadBytes(rows, []) }
    }
    r.inflight = true
    r.job.update({ rows: payload.rows.length + payload.deletes.length, bytes: payload.bytes, detail: `${payload.mode}: ${payload.rows.length} row(s) upserted, ${payload.deletes.length} deleted` })
    try {
      this.net.send({
        from: src.site, to: f.site, kind: 'copy.refresh', bytes: Math.max(1, payload.bytes), payload: payload.rows.length,
        onDeliver: () => this.applyRefresh(r, payload, f, src, key),
        onDrop: (reason) => this.missRefresh(r, new EngineError('UNREACHABLE', `the refresh of ${r.copy} was lost in transit: ${reason}`, { site: f.site })),
      })
    } catch (e) {
      if (e instanceof EngineError) return this.missRefresh(r, e)
      throw e
    }
  }

  private applyRefresh(r: RefreshRun, p: RefreshPayload, f: FragmentDef, src: FragmentDef, key: string[]): void {
    if (this.runs.get(r.copy) !== r) return
    if (!this.isServerUp(`${f.site}.primary`)) return this.missRefresh(r, new EngineError('SITE_DOWN', `${f.site}.primary went down before the refresh of ${r.copy} arrived`, { site: f.site }))
    const db = this.internalSite(f.site).primary
    if (db.inTransaction) { this.sim.schedule(1, 'copy.busy', () => this.applyRefresh(r, p, f, src, key)); return }
    const stmts = applyStatements(f.name, f.columns, key, p)
    try {
      this.siteStore(f.site).maintain((tx) => {
        stmts.forEach((s, i) => { this.copyApplyFault?.(r.copy, i); tx.exec(s.sql, s.params) })
        const n = Number(tx.query(`SELECT COUNT(*) FROM "${f.name}"`).rows[0][0])
        tx.exec('INSERT OR REPLACE INTO COPY_REFRESH VALUES (?, ?, ?, ?)', [f.name, src.name, this.sim.now, n])
        db.setMeta(metaSeq(r.copy), p.toSeq)
        db.setMeta(metaAsOf(r.copy), p.asOf)
        db.setMeta(metaMode(r.copy), p.mode)
      })
    } catch (e) {
      const err = e instanceof EngineError ? e : new EngineError('INTERNAL', `the refresh of ${r.copy} failed while applying: ${e instanceof Error ? e.message : String(e)}; the copy was left as it was`, { site: f.site })
      return this.missRefresh(r, err)
    }
    this.copyLog(r.copy).applied(p.toSeq)
    if (p.mode === 'full' && this.copyLog(r.copy).coveredFrom === null) this.copyLog(r.copy).reset(p.toSeq)
    this.sim.cancel(r.retry)
    this.runs.delete(r.copy)
    r.job.done({ rows: p.rows.length + p.deletes.length, bytes: p.bytes, detail: `${p.mode}: ${p.rows.length} row(s) upserted, ${p.deletes.length} deleted` })
    this.log('replication', `${r.copy} refreshed at ${f.site} from ${src.name}@${src.site} (${p.mode}: ${p.rows.length} upserted, ${p.deletes.length} deleted, ${p.bytes.toLocaleString('en')} bytes)`, f.site)
  }

  /** How long a copy has not been current: 0 while its source has not changed since the data it holds. */
  copyStaleness(name: string): { asOf: number | null; stalenessMs: number } {
    const { f } = this.copyDef(name)
    const db = this.internalSite(f.site).primary
    const seq = db.getMetaNum(metaSeq(name), -1)
    const asOfRaw = db.getMeta(metaAsOf(name))
    const refreshed = db.scalar('SELECT REFRESHED_AT FROM COPY_REFRESH WHERE COPY_NAME = ?', [f.name])
    const asOf = asOfRaw !== null ? Number(asOfRaw) : refreshed !== null ? Number(refreshed) : null
    const log = this.copyLog(name)
    if (seq >= 0 && log.covers(seq)) {
      const first = log.firstChangeAfter(seq)
      return { asOf, stalenessMs: first === null ? 0 : Math.max(0, this.sim.now - first) }
    }
    return { asOf, stalenessMs: asOf === null ? 0 : Math.max(0, this.sim.now - asOf) }
  }

  copyStatus(name: string): CopyStatus {
    const { f, src } = this.copyDef(name)
    const copyDb = this.internalSite(f.site).primary
    const srcDb = this.internalSite(src.site).primary
    const at = copyDb.scalar('SELECT REFRESHED_AT FROM COPY_REFRESH WHERE COPY_NAME = ?', [f.name])
    const cols = f.columns.map((c) => `"${c}"`).join(', ')
    const a = JSON.stringify(copyDb.query(`SELECT ${cols} FROM "${f.name}" ORDER BY 1`).rows)
    const b = JSON.stringify(srcDb.query(`SELECT ${cols} FROM "${src.name}" ORDER BY 1`).rows)
    const st = this.copyStaleness(name)
    const run = this.runs.get(name)
    const mode = copyDb.getMeta(metaMode(name))
    return {
      copy: f.name, site: f.site, source: src.name, sourceSite: src.site, lastRefreshAt: at === null ? null : Number(at),
      ageMs: at === null ? null : this.sim.now - Number(at), nextRefreshAt: this.nextRefreshAt(name), stale: a !== b, rows: copyDb.count(f.name),
      asOf: st.asOf, stalenessMs: st.stalenessMs,
      pending: run && run.job.view.status === 'missed' ? { job: run.job.view.id, since: run.since, attempts: run.job.view.attempts, nextRetryAt: run.job.view.nextRetryAt, reason: run.reason } : null,
      lastMode: mode === 'incremental' || mode === 'full' ? mode : null,
    }
  }

  // ---- schedules ---------------------------------------------------------------------------
  /** Sets a copy's refresh times ('HH:MM' site-local, or 'eod'); an empty list is refused. */
  setRefreshSchedule(name: string, times: RefreshTime[]): RefreshScheduleView {
    this.copyDef(name)
    const clean = [...new Set(times.map((t) => t.trim().toLowerCase() === 'eod' ? 'eod' : t.trim()))]
    if (!clean.length) throw new EngineError('BAD_INPUT', `${name} needs at least one refresh time (HH:MM or eod)`)
    const bad = clean.filter((t) => t !== 'eod' && !parseHhMm(t))
    if (bad.length) throw new EngineError('BAD_INPUT', `refresh times are site-local HH:MM (00:00–23:59) or eod (the end of the source site's working day); not ${bad.join(', ')}`)
    this.refreshTimes.set(name, clean.sort())
    this.scheduleRefresh()
    this.saveReplicationSchedules()
    this.log('replication', `${name} refresh schedule set to ${clean.join(', ')} (${this.resolvedTimes(name).join(', ')})`)
    return this.refreshScheduleView(name)
  }

  refreshScheduleView(name: string): RefreshScheduleView {
    const { f, src } = this.copyDef(name)
    return {
      copy: name, site: f.site, source: src.name, sourceSite: src.site, times: this.refreshTimes.get(name) ?? [...DEFAULT_REFRESH_TIMES],
      resolved: this.resolvedTimes(name), endOfDay: this.endOfDay(src.site), nextRefreshAt: this.nextRefreshAt(name),
    }
  }

  /** The main repository's feed: continuous, every N minutes, or at site-local times. */
  setFeedSchedule(s: FeedSchedule): FeedScheduleView {
    let clean: FeedSchedule
    if (s.mode === 'continuous') clean = { mode: 'continuous' }
    else if (s.mode === 'every') {
      if (!Number.isInteger(s.minutes) || s.minutes < 1 || s.minutes > 1440) throw new EngineError('BAD_INPUT', `the feed runs every N minutes, N from 1 to 1440; got ${s.minutes}`)
      clean = { mode: 'every', minutes: s.minutes }
    } else if (s.mode === 'times') {
      const bad = s.times.filter((t) => !parseHhMm(t))
      if (!s.times.length || bad.length) throw new EngineError('BAD_INPUT', `feed times are site-local HH:MM; ${s.times.length ? `not ${bad.join(', ')}` : 'give at least one'}`)
      clean = { mode: 'times', times: [...new Set(s.times)].sort() }
    } else throw new EngineError('BAD_INPUT', 'the feed is continuous, every N minutes or at times')
    this.feed = clean
    this.releaseFeed()
    this.scheduleFeed()
    this.saveReplicationSchedules()
    this.log('replication', `main repository feed set to ${describeFeed(clean)}`)
    return this.feedView()
  }

  private nextFeedAt(): number | null {
    const f = this.feed
    if (f.mode === 'continuous') return null
    if (f.mode === 'every') { const p = f.minutes * 60_000; return (Math.floor(this.sim.now / p) + 1) * p }
    return this.nextOf(f.times)
  }

  feedView(): FeedScheduleView { return { schedule: structuredClone(this.feed), describe: describeFeed(this.feed), nextFeedAt: this.nextFeedAt() } }

  replicationSchedules(): ReplicationSchedulesView { return { copies: this.copies().map((f) => this.refreshScheduleView(f.name)), feed: this.feedView() } }

  /** The highest commit of `origin` the main repository's channel may ship now (Infinity: continuous feed). */
  protected feedLimit(origin: SiteCode): number {
    return this.feed.mode === 'continuous' ? Infinity : this.feedReleased.get(origin) ?? 0
  }

  /** A feed time: every commit made so far is released to the main repository. */
  private releaseFeed(): void {
    for (const s of this.topology.sites) { const site = this.sites.get(s.code); if (site) this.feedReleased.set(s.code, site.seq) }
    this.replication?.kick()
  }

  private scheduleFeed(): void {
    this.sim.cancel(this.feedTimer)
    this.feedTimer = undefined
    const at = this.nextFeedAt()
    if (at === null) return
    this.feedTimer = this.sim.scheduleDaemon(at - this.sim.now, 'repository.feed', () => { this.feedTimer = undefined; this.releaseFeed(); this.scheduleFeed() })
  }

  private saveReplicationSchedules(): void {
    const dir = this.dataDir
    if (!dir || this.readOnly) return
    writeFileAtomic(join(dir, REPLICATION_SCHEDULES_FILE), JSON.stringify({ copies: Object.fromEntries(this.refreshTimes), feed: this.feed }, null, 2))
  }

  /** Reads the schedules kept beside the cluster (Cluster.open). */
  protected loadReplicationSchedules(): void {
    const dir = this.dataDir
    if (!dir || !existsSync(join(dir, REPLICATION_SCHEDULES_FILE))) return
    try {
      const d = JSON.parse(readFileSync(join(dir, REPLICATION_SCHEDULES_FILE), 'utf8')) as { copies?: Record<string, RefreshTime[]>; feed?: FeedSchedule }
      for (const [copy, times] of Object.entries(d.copies ?? {})) {
        if (this.copies().some((f) => f.name === copy) && times.every((t) => t === 'eod' || parseHhMm(t))) this.refreshTimes.set(copy, times)
      }
      if (d.feed) this.feed = d.feed
    } catch (e) {
      this.log('failure', `${REPLICATION_SCHEDULES_FILE} cannot be read (${e instanceof Error ? e.message : String(e)}): default schedules apply`)
    }
  }
}
