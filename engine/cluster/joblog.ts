/**
 * The engine's job history: every backup, restore, copy refresh and recovery, by hand or scheduled, with its
 * virtual start and end, rows, bytes and error. The engine records them where the work is done (the backup
 * path, the refresh, the handlers' restore and recovery calls), so every host — console, CLI, scenario —
 * sees the same list. Bounded: the newest KEEP_JOBS.
 */
import { toErrorInfo } from '../errors'
import type { Cluster } from '../cluster'
import type { EngineJobKind, EngineJobView, JobFilter } from '../api/schedules'

export const KEEP_JOBS = 500

/** A running job's handle: the work reports how it ended. */
export interface JobEntry {
  readonly view: EngineJobView
  done(r: { rows?: number; bytes?: number; wallMs?: number; detail?: string }): void
  fail(e: unknown, opts?: { wallMs?: number }): void
  /** Missed (a down link or server): a retry is pending at `nextRetryAt`. */
  missed(e: unknown, nextRetryAt: number | null): void
  /** A retry begins. */
  retrying(): void
  cancelled(): void
  update(p: Partial<Pick<EngineJobView, 'rows' | 'bytes' | 'detail' | 'hostJob'>>): void
}

export interface JobStart {
  kind: EngineJobKind
  site: string
  label: string
  trigger?: 'manual' | 'scheduled'
  schedule?: string | null
  hostJob?: string | null
}

export class JobLog {
  private jobs: EngineJobView[] = []
  private seq = 0
  private listeners: ((j: EngineJobView) => void)[] = []
  constructor(private now: () => number) {}

  start(s: JobStart): JobEntry {
    const view: EngineJobView = {
      id: `ej-${++this.seq}`, kind: s.kind, site: s.site, label: s.label, trigger: s.trigger ?? 'manual', schedule: s.schedule ?? null,
      status: 'running', startAt: this.now(), endAt: null, durationMs: null, wallMs: null, rows: 0, bytes: 0, error: null,
      attempts: 1, nextRetryAt: null, detail: null, hostJob: s.hostJob ?? null,
    }
    this.jobs.push(view)
    if (this.jobs.length > KEEP_JOBS) {
      const i = this.jobs.findIndex((j) => j.status !== 'running' && j.status !== 'missed')
      this.jobs.splice(i < 0 ? 0 : i, 1)
    }
    const end = () => { view.endAt = this.now(); view.durationMs = view.endAt - view.startAt; view.nextRetryAt = null }
    const entry: JobEntry = {
      view,
      done: (r) => {
        end(); view.status = 'done'; view.error = null
        if (r.rows !== undefined) view.rows = r.rows
        if (r.bytes !== undefined) view.bytes = r.bytes
        if (r.wallMs !== undefined) view.wallMs = r.wallMs
        if (r.detail !== undefined) view.detail = r.detail
        this.emit(view)
      },
      fail: (e, o) => {
        end(); const info = toErrorInfo(e)
        view.status = info.code === 'CANCELLED' ? 'cancelled' : 'failed'; view.error = info
        if (o?.wallMs !== undefined) view.wallMs = o.wallMs
        this.emit(view)
      },
      missed: (e, next) => { view.status = 'missed'; view.error = toErrorInfo(e); view.nextRetryAt = next; this.emit(view) },
      retrying: () => { view.status = 'running'; view.attempts++; view.nextRetryAt = null; this.emit(view) },
      cancelled: () => { end(); view.status = 'cancelled'; this.emit(view) },
      update: (p) => { Object.assign(view, p); this.emit(view) },
    }
    this.emit(view)
    return entry
  }

  get(id: string): EngineJobView | undefined { const j = this.jobs.find((x) => x.id === id); return j && { ...j } }

  /** Newest first, filtered. */
  list(f: JobFilter = {}): EngineJobView[] {
    const out: EngineJobView[] = []
    for (let i = this.jobs.length - 1; i >= 0; i--) {
      const j = this.jobs[i]
      if ((f.kind && j.kind !== f.kind) || (f.site && j.site !== f.site) || (f.status && j.status !== f.status)) continue
      out.push({ ...j })
    }
    return out
  }

  onChange(fn: (j: EngineJobView) => void): () => void {
    this.listeners.push(fn)
    return () => { this.listeners = this.listeners.filter((x) => x !== fn) }
  }

  private emit(j: EngineJobView): void { for (const l of this.listeners) l({ ...j }) }
}

const logs = new WeakMap<object, JobLog>()
/** The cluster's job history (built on first use). */
export function jobLog(c: Pick<Cluster, 'sim'>): JobLog {
  let l = logs.get(c)
  if (!l) { l = new JobLog(() => c.sim.now); logs.set(c, l) }
  return l
}
