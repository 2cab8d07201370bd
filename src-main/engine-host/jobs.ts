/**
 * Long-running engine work as jobs: {id, status, progress 0..1, cancel}. Work runs in chunks that
 * yield to the event loop (setImmediate) roughly every CHUNK_MS of wall time, so the worker keeps
 * answering calls (pings) while a job runs. Progress is reported through `onProgress` (the worker
 * turns it into 'job/progress' events), throttled to a few per second plus start and finish.
 */
import { EngineError, toErrorInfo } from '../../engine/errors'
import type { JobView } from '../../engine/api/views'

/** Wall-time budget of one chunk before a job must yield. */
export const CHUNK_MS = 10
const PROGRESS_EVERY_MS = 100
const KEEP_FINISHED = 200

export interface JobHandle {
  readonly id: string
  readonly cancelled: boolean
  /** Reports progress (clamped to 0..1) and an optional detail line. */
  progress(p: number, detail?: string): void
  /**
   * Call often inside loops: yields to the event loop when the current chunk has used its time budget,
   * and throws CANCELLED once the job has been cancelled.
   */
  checkpoint(): Promise<void>
  /** Yields unconditionally (and throws CANCELLED if cancelled). */
  yieldNow(): Promise<void>
}

interface JobRecord {
  view: JobView
  cancelled: boolean
  lastEmit: number
  done: Promise<JobView>
}

const now = () => performance.now()
const tick = () => new Promise<void>((r) => setImmediate(r))

export class JobRunner {
  private jobs = new Map<string, JobRecord>()
  private seq = 0

  constructor(private onProgress: (job: JobView) => void = () => {}, private clock: () => number = () => Date.now()) {}

  /** Starts `work` as a job and returns its view at once; the work runs asynchronously. */
  start<T>(kind: string, label: string, work: (job: JobHandle) => Promise<T>): JobView {
    const id = `job-${++this.seq}`
    const view: JobView = { id, kind, label, status: 'running', progress: 0, startedAt: this.clock() }
    const rec = { view, cancelled: false, lastEmit: 0 } as JobRecord
    let chunkStart = now()
    const handle: JobHandle = {
      id,
      get cancelled() { return rec.cancelled },
      progress: (p, detail) => {
        view.progress = Math.max(0, Math.min(1, Number.isFinite(p) ? p : 0))
        if (detail !== undefined) view.detail = detail
        const t = now()
        if (t - rec.lastEmit >= PROGRESS_EVERY_MS) { rec.lastEmit = t; this.emit(rec) }
      },
      checkpoint: async () => {
        if (rec.cancelled) throw new EngineError('CANCELLED', `job ${id} cancelled`)
        if (now() - chunkStart >= CHUNK_MS) {
          await tick()
          chunkStart = now()
          if (rec.cancelled) throw new EngineError('CANCELLED', `job ${id} cancelled`)
        }
      },
      yieldNow: async () => {
        await tick()
        chunkStart = now()
        if (rec.cancelled) throw new EngineError('CANCELLED', `job ${id} cancelled`)
      },
    }
    this.jobs.set(id, rec)
    this.prune()
    rec.done = (async () => {
      await tick() // the caller gets the job view before any work happens
      chunkStart = now()
      try {
        if (rec.cancelled) throw new EngineError('CANCELLED', `job ${id} cancelled`)
        const result = await work(handle)
        view.status = 'done'
        view.progress = 1
        if (result !== undefined) view.result = result
      } catch (e) {
        const info = toErrorInfo(e)
        view.status = info.code === 'CANCELLED' || rec.cancelled ? 'cancelled' : 'failed'
        view.error = info
      }
      view.finishedAt = this.clock()
      this.emit(rec)
      return { ...view }
    })()
    this.emit(rec)
    return { ...view }
  }

  get(id: string): JobView {
    const rec = this.jobs.get(id)
    if (!rec) throw new EngineError('NOT_FOUND', `no job ${id}`)
    return { ...rec.view }
  }

  list(): JobView[] { return [...this.jobs.values()].map((r) => ({ ...r.view })) }

  /** Requests cancellation; the job stops at its next checkpoint. Cancelling a finished job is a no-op. */
  cancel(id: string): JobView {
    const rec = this.jobs.get(id)
    if (!rec) throw new EngineError('NOT_FOUND', `no job ${id}`)
    if (rec.view.status === 'running') rec.cancelled = true
    return { ...rec.view }
  }

  /** Resolves with the final view once the job has finished (for the CLI and tests). */
  wait(id: string): Promise<JobView> {
    const rec = this.jobs.get(id)
    if (!rec) return Promise.reject(new EngineError('NOT_FOUND', `no job ${id}`))
    return rec.done
  }

  get running(): number { return [...this.jobs.values()].filter((r) => r.view.status === 'running').length }

  private emit(rec: JobRecord): void { this.onProgress({ ...rec.view }) }

  private prune(): void {
    if (this.jobs.size <= KEEP_FINISHED) return
    for (const [id, r] of this.jobs) {
      if (this.jobs.size <= KEEP_FINISHED) break
      if (r.view.status !== 'running') this.jobs.delete(id)
    }
  }
}

/** A busy job: burns `ms` of wall time in CHUNK_MS slices (diagnostics and responsiveness tests). */
export async function busyWork(job: JobHandle, ms: number): Promise<{ busyMs: number; chunks: number }> {
  const t0 = now()
  let chunks = 0
  let x = 0
  while (now() - t0 < ms) {
    const sliceEnd = Math.min(now() + CHUNK_MS, t0 + ms)
    while (now() < sliceEnd) x = (x * 1103515245 + 12345) % 2147483648 // real CPU work, not a sleep
    chunks++
    job.progress((now() - t0) / ms, `${Math.round(now() - t0)} / ${ms} ms`)
    await job.yieldNow()
  }
  return { busyMs: Math.round(now() - t0), chunks: x >= 0 ? chunks : chunks }
}
