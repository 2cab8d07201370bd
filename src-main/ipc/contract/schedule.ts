/**
 * Backup schedules, replication schedules and the engine's job history (issue 12). Views: engine/api/schedules.ts.
 */
import { z } from 'zod'
import { call, event, noInput, siteCode } from './define'
import type { BackupScheduleView, EngineJobView, FeedScheduleView, RefreshScheduleView, ReplicationSchedulesView } from '../../../engine/api/schedules'

const scheduleId = z.string().regex(/^bs-\d{1,9}$/, 'a backup schedule id is bs-<n>')
const hhmm = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'a time is HH:MM (site-local, 00:00–23:59)')
/** A site code, or 'all' (every site at one consistent cut). */
const scheduleSite = z.union([siteCode, z.literal('all')])
const recurrence = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('daily'), at: hhmm }).strict(),
  z.object({ kind: z.literal('every'), hours: z.number().int().min(1).max(168) }).strict(),
])
const retain = z.number().int().min(1).max(100)
const copy = z.string().regex(/^[A-Za-z_]{1,40}$/)

export const scheduleCalls = {
  /** Every backup, restore, refresh and recovery the engine ran (newest first), filtered by kind, site or status. */
  'jobs/history': call(z.object({
    kind: z.enum(['backup', 'restore', 'refresh', 'recovery']).optional(),
    site: z.union([siteCode, z.literal('ALL')]).optional(),
    status: z.enum(['running', 'done', 'failed', 'missed', 'cancelled']).optional(),
  }).strict()).returns<EngineJobView[]>(),
  'schedule/list': call(noInput).returns<BackupScheduleView[]>(),
  /** A backup schedule for a site (or every site at one cut): daily at a time, or every N hours; keeps the newest `retain`. */
  'schedule/create': call(z.object({ site: scheduleSite, recurrence, retain, paused: z.boolean().optional() }).strict()).returns<BackupScheduleView>(),
  /** Edit a schedule: `site` names the site it backs up now (the call is checked against it); `to` moves it. */
  'schedule/update': call(z.object({ id: scheduleId, site: scheduleSite, to: scheduleSite.optional(), recurrence: recurrence.optional(), retain: retain.optional() }).strict()).returns<BackupScheduleView>(),
  'schedule/pause': call(z.object({ id: scheduleId, site: scheduleSite, paused: z.boolean() }).strict()).returns<BackupScheduleView>(),
  'schedule/delete': call(z.object({ id: scheduleId, site: scheduleSite }).strict()).returns<{ id: string }>(),
  /** The scheduled copies' refresh schedules and the main repository's feed schedule. */
  'replication/schedules': call(noInput).returns<ReplicationSchedulesView>(),
  /** A copy's refresh times: site-local HH:MM, or 'eod' (the end of the source site's working day). */
  'replication/setRefreshSchedule': call(z.object({ copy, times: z.array(z.union([hhmm, z.literal('eod')])).min(1).max(24) }).strict()).returns<RefreshScheduleView>(),
  /** The main repository's feed: continuous, every N minutes, or at times. */
  'replication/setFeedSchedule': call(z.object({
    schedule: z.discriminatedUnion('mode', [
      z.object({ mode: z.literal('continuous') }).strict(),
      z.object({ mode: z.literal('every'), minutes: z.number().int().min(1).max(1440) }).strict(),
      z.object({ mode: z.literal('times'), times: z.array(hhmm).min(1).max(24) }).strict(),
    ]),
  }).strict()).returns<FeedScheduleView>(),
}

export const scheduleEvents = {
  /** A job of the engine's history started, changed state or ended (the Jobs page and the schedules follow it). */
  'jobs/changed': event<EngineJobView>(),
}
