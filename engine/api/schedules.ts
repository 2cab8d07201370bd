/**
 * Views of backup schedules, replication schedules and the engine's job history (engine/backup/schedule.ts,
 * engine/cluster/copies.ts, engine/cluster/joblog.ts): shared by the engine, the IPC contract and the console.
 */
import type { ErrorInfo } from '../errors'

/** What the Jobs page lists: every backup, restore, copy refresh and recovery, by hand or scheduled. */
export type EngineJobKind = 'backup' | 'restore' | 'refresh' | 'recovery'
export const ENGINE_JOB_KINDS: readonly EngineJobKind[] = ['backup', 'restore', 'refresh', 'recovery']
/** `missed`: the attempt met a down link or server; a retry is pending (attempts, nextRetryAt). */
export type EngineJobStatus = 'running' | 'done' | 'failed' | 'missed' | 'cancelled'
export const ENGINE_JOB_STATUSES: readonly EngineJobStatus[] = ['running', 'done', 'failed', 'missed', 'cancelled']

export interface EngineJobView {
  id: string
  kind: EngineJobKind
  /** The site it concerns ('ALL' for every site at one cut). */
  site: string
  label: string
  trigger: 'manual' | 'scheduled'
  /** The schedule that started it (a backup schedule's id, or the copy's refresh schedule). */
  schedule: string | null
  status: EngineJobStatus
  /** Virtual time it started and ended (ms since the epoch of the simulated clock). */
  startAt: number
  endAt: number | null
  /** Virtual duration (endAt − startAt), null while running. */
  durationMs: number | null
  /** Wall milliseconds the work took in the engine (hashing, applying), when it was measured. */
  wallMs: number | null
  rows: number
  bytes: number
  error: ErrorInfo | null
  /** Attempts made (a missed refresh is retried). */
  attempts: number
  nextRetryAt: number | null
  detail: string | null
  /** The host job (progress, cancel) running it, when there is one. */
  hostJob: string | null
}

export interface JobFilter { kind?: EngineJobKind; site?: string; status?: EngineJobStatus }

/** When a backup schedule fires: daily at a site-local time, or every N hours from its creation. */
export type ScheduleRecurrence = { kind: 'daily'; at: string } | { kind: 'every'; hours: number }

export interface BackupScheduleSpec {
  /** A site code, or 'all' (every site at one consistent cut). */
  site: string
  recurrence: ScheduleRecurrence
  /** Backups of this schedule kept in the engine's backup list (the newest N). */
  retain: number
  paused?: boolean
}

export interface BackupScheduleView {
  id: string
  site: string
  recurrence: ScheduleRecurrence
  /** "daily at 02:00" / "every 6 h". */
  describe: string
  retain: number
  paused: boolean
  createdAt: number
  /** Next firing (null while paused). */
  nextRunAt: number | null
  lastRunAt: number | null
  lastStatus: EngineJobStatus | null
  lastError: string | null
  lastJob: string | null
  /** Backups of this schedule held now. */
  held: number
}

/** A refresh time: a site-local 'HH:MM', or 'eod' (the end of the working day of the source's site). */
export type RefreshTime = string

export interface RefreshScheduleView {
  copy: string
  site: string
  source: string
  sourceSite: string
  times: RefreshTime[]
  /** The times resolved to HH:MM ('eod' → the source site's end of day). */
  resolved: string[]
  endOfDay: string
  nextRefreshAt: number
}

/** The main repository's feed: continuous (each commit shipped when it is durable), or batched on a schedule. */
export type FeedSchedule = { mode: 'continuous' } | { mode: 'every'; minutes: number } | { mode: 'times'; times: string[] }

export interface FeedScheduleView { schedule: FeedSchedule; describe: string; nextFeedAt: number | null }

export interface ReplicationSchedulesView { copies: RefreshScheduleView[]; feed: FeedScheduleView }

/** A pending (missed) refresh of a copy: it is retried with backoff, and at once when the path returns. */
export interface PendingRefresh { job: string; since: number; attempts: number; nextRetryAt: number | null; reason: string }

export const DEFAULT_END_OF_DAY = '18:00'
export const DEFAULT_REFRESH_TIMES: readonly RefreshTime[] = ['12:00', 'eod']

/** 'HH:MM' (00:00–23:59) → [h, m], or null. */
export function parseHhMm(s: string): [number, number] | null {
  const m = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(s)
  return m ? [Number(m[1]), Number(m[2])] : null
}

export function describeRecurrence(r: ScheduleRecurrence): string {
  return r.kind === 'daily' ? `daily at ${r.at}` : `every ${r.hours} h`
}

export function describeFeed(f: FeedSchedule): string {
  return f.mode === 'continuous' ? 'continuous (each commit)' : f.mode === 'every' ? `every ${f.minutes} min` : `at ${f.times.join(', ')}`
}
