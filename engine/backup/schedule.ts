/**
 * Backup schedules (like CockroachDB's Schedules page): per site (or every site at one cut), daily at a
 * site-local time or every N hours, on the virtual clock. Each run takes a backup through the one backup path
 * (snapshot.ts `backupNow`: the cut at the scheduled instant), is a job in the engine's history, and is kept in
 * the engine's backup list under the schedule's retention (the newest N). A paused schedule does not fire.
 * Persisted beside the cluster (backup-schedules.json) when the cluster has a data directory.
 */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { EngineError } from '../errors'
import type { Cluster } from '../cluster'
import type { SimEvent } from '../sim/kernel'
import { nextLocalTime } from '../sim/kernel'
import { writeFileAtomic } from '../storage/files'
import { describeRecurrence, parseHhMm, type BackupScheduleSpec, type BackupScheduleView, type EngineJobStatus, type ScheduleRecurrence } from '../api/schedules'
import { backupNow } from './snapshot'
import { backupStore } from './store'
import { jobLog } from '../cluster/joblog'

export const SCHEDULES_FILE = 'backup-schedules.json'
export const MAX_RETAIN = 100
export const MAX_EVERY_HOURS = 168

interface Schedule {
  id: string
  site: string
  recurrence: ScheduleRecurrence
  retain: number
  paused: boolean
  createdAt: number
  lastRunAt: number | null
  lastStatus: EngineJobStatus | null
  lastError: string | null
  lastJob: string | null
  timer?: SimEvent
}

export class BackupScheduler {
  private list: Schedule[] = []
  private seq = 0
  private inflight = new Set<Promise<unknown>>()
  private listeners: (() => void)[] = []

  constructor(private c: Cluster) {}

  /** Checks a spec (BAD_INPUT / UNKNOWN_SITE naming the field); returns it normalised. */
  private check(spec: BackupScheduleSpec): BackupScheduleSpec {
    const site = spec.site.toLowerCase() === 'all' ? 'all' : spec.site.toUpperCase()
    if (site !== 'all') this.c.site(site) // UNKNOWN_SITE
    const r = spec.recurrence
    if (r.kind === 'daily') {
      if (!parseHhMm(r.at)) throw new EngineError('BAD_INPUT', `a daily schedule runs at a site-local time HH:MM (00:00–23:59), got "${r.at}"`)
    } else if (r.kind === 'every') {
      if (!Number.isInteger(r.hours) || r.hours < 1 || r.hours > MAX_EVERY_HOURS) throw new EngineError('BAD_INPUT', `every N hours: N is a whole number from 1 to ${MAX_EVERY_HOURS}, got ${r.hours}`)
    } else throw new EngineError('BAD_INPUT', 'a schedule is daily at a time or every N hours')
    if (!Number.isInteger(spec.retain) || spec.retain < 1 || spec.retain > MAX_RETAIN) throw new EngineError('BAD_INPUT', `retention keeps the newest N backups: N from 1 to ${MAX_RETAIN}, got ${spec.retain}`)
    return { site, recurrence: r.kind === 'daily' ? { kind: 'daily', at: r.at } : { kind: 'every', hours: r.hours }, retain: spec.retain, paused: !!spec.paused }
  }

  create(spec: BackupScheduleSpec): BackupScheduleView {
    const s0 = this.check(spec)
    const s: Schedule = { id: `bs-${++this.seq}`, site: s0.site, recurrence: s0.recurrence, retain: s0.retain, paused: !!s0.paused, createdAt: this.c.sim.now, lastRunAt: null, lastStatus: null, lastError: null, lastJob: null }
    this.list.push(s)
    backupStore(this.c).setRetention(s.id, s.retain)
    this.arm(s)
    this.changed(`backup schedule ${s.id} created: ${this.siteLabel(s)} ${describeRecurrence(s.recurrence)}, keeping ${s.retain}`)
    return this.view(s)
  }

  /** Edits a schedule: any of site, recurrence, retention, paused. */
  update(id: string, patch: Partial<BackupScheduleSpec>): BackupScheduleView {
    const s = this.get(id)
    const next = this.check({ site: patch.site ?? s.site, recurrence: patch.recurrence ?? s.recurrence, retain: patch.retain ?? s.retain, paused: patch.paused ?? s.paused })
    Object.assign(s, { site: next.site, recurrence: next.recurrence, retain: next.retain, paused: !!next.paused })
    backupStore(this.c).setRetention(s.id, s.retain)
    this.arm(s)
    this.changed(`backup schedule ${s.id} ${patch.paused === true ? 'paused' : patch.paused === false ? 'resumed' : 'edited'}: ${this.siteLabel(s)} ${describeRecurrence(s.recurrence)}, keeping ${s.retain}`)
    return this.view(s)
  }

  pause(id: string, paused: boolean): BackupScheduleView { return this.update(id, { paused }) }

  delete(id: string): void {
    const s = this.get(id)
    this.c.sim.cancel(s.timer)
    this.list = this.list.filter((x) => x !== s)
    backupStore(this.c).setRetention(s.id, undefined)
    this.changed(`backup schedule ${s.id} deleted`)
  }

  get(id: string): Schedule {
    const s = this.list.find((x) => x.id === id)
    if (!s) throw new EngineError('NOT_FOUND', `no backup schedule ${id} (schedules: ${this.list.map((x) => x.id).join(', ') || 'none'})`)
    return s
  }

  /** The site a schedule backs up ('all' for every site). */
  siteOf(id: string): string | undefined { return this.list.find((x) => x.id === id)?.site }

  views(): BackupScheduleView[] { return this.list.map((s) => this.view(s)) }

  /** Resolves once every run started so far has finished (tests, the CLI). */
  async settled(): Promise<void> { while (this.inflight.size) await Promise.allSettled([...this.inflight]) }

  onChange(fn: () => void): () => void { this.listeners.push(fn); return () => { this.listeners = this.listeners.filter((x) => x !== fn) } }

  nextRunAt(s: Schedule): number | null {
    if (s.paused) return null
    const now = this.c.sim.now
    if (s.recurrence.kind === 'daily') { const [h, m] = parseHhMm(s.recurrence.at)!; return nextLocalTime(now, h, m) }
    const period = s.recurrence.hours * 3_600_000
    return s.createdAt + (Math.floor((now - s.createdAt) / period) + 1) * period
  }

  private arm(s: Schedule): void {
    this.c.sim.cancel(s.timer)
    s.timer = undefined
    const at = this.nextRunAt(s)
    if (at === null) return
    s.timer = this.c.sim.scheduleDaemon(at - this.c.sim.now, 'backup.schedule', () => { s.timer = undefined; this.fire(s); this.arm(s) })
  }

  private fire(s: Schedule): void {
    s.lastRunAt = this.c.sim.now
    s.lastStatus = 'running'
    s.lastError = null
    const sites = s.site === 'all' ? 'all' as const : [s.site]
    const p = backupNow(this.c, sites, undefined, undefined, { trigger: 'scheduled', schedule: s.id })
    s.lastJob = jobLog(this.c).list({ kind: 'backup' }).find((j) => j.schedule === s.id)?.id ?? null
    const run = p.then((set) => {
      backupStore(this.c).add(set, 'scheduled', null, this.list.includes(s) ? s.id : null)
      s.lastStatus = 'done'
    }, (e: unknown) => {
      s.lastStatus = 'failed'
      s.lastError = e instanceof Error ? e.message : String(e)
      this.c.log('backup', `scheduled backup ${s.id} of ${this.siteLabel(s)} failed: ${s.lastError}`)
    }).finally(() => { this.inflight.delete(run); this.notify() })
    this.inflight.add(run)
    this.notify()
  }

  private siteLabel(s: Schedule): string { return s.site === 'all' ? 'every site' : s.site }

  view(s: Schedule): BackupScheduleView {
    return {
      id: s.id, site: s.site, recurrence: s.recurrence, describe: describeRecurrence(s.recurrence), retain: s.retain, paused: s.paused, createdAt: s.createdAt,
      nextRunAt: this.nextRunAt(s), lastRunAt: s.lastRunAt, lastStatus: s.lastStatus, lastError: s.lastError, lastJob: s.lastJob, held: backupStore(this.c).heldBy(s.id).length,
    }
  }

  private changed(msg: string): void { this.c.log('backup', msg); this.save(); this.notify() }
  private notify(): void { for (const l of this.listeners) l() }

  // ---- persistence ---------------------------------------------------------------------------------
  private save(): void {
    const dir = this.c.dataDir
    if (!dir || this.c.readOnly) return
    const data = { seq: this.seq, schedules: this.list.map(({ timer: _t, ...s }) => s) }
    writeFileAtomic(join(dir, SCHEDULES_FILE), JSON.stringify(data, null, 2))
  }

  /** Reads the schedules kept beside the cluster and arms them (Cluster.open). */
  load(): void {
    const dir = this.c.dataDir
    if (!dir || !existsSync(join(dir, SCHEDULES_FILE))) return
    let data: { seq: number; schedules: Omit<Schedule, 'timer'>[] }
    try { data = JSON.parse(readFileSync(join(dir, SCHEDULES_FILE), 'utf8')) as typeof data } catch (e) {
      this.c.log('failure', `${SCHEDULES_FILE} cannot be read (${e instanceof Error ? e.message : String(e)}): no backup schedule is armed`)
      return
    }
    for (const s of this.list) this.c.sim.cancel(s.timer)
    this.list = []
    this.seq = Number(data.seq) || 0
    for (const raw of data.schedules ?? []) {
      try {
        const ok = this.check(raw)
        const s: Schedule = { ...raw, site: ok.site, recurrence: ok.recurrence, retain: ok.retain, paused: !!ok.paused }
        this.list.push(s)
        backupStore(this.c).setRetention(s.id, s.retain)
        this.arm(s)
      } catch (e) { this.c.log('failure', `backup schedule ${raw.id} not armed: ${e instanceof Error ? e.message : String(e)}`) }
    }
  }
}

const schedulers = new WeakMap<Cluster, BackupScheduler>()
/** The cluster's backup schedules (built on first use). */
export function backupSchedules(c: Cluster): BackupScheduler {
  let s = schedulers.get(c)
  if (!s) { s = new BackupScheduler(c); schedulers.set(c, s) }
  return s
}
