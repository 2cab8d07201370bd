/**
 * Backup schedules (engine/backup/schedule.ts), the scheduled copies' refresh schedules and the main
 * repository's feed (engine/cluster/copies.ts), and the engine's job history (engine/cluster/joblog.ts).
 * A schedule is edited, paused or deleted naming the site it backs up: the authorization is checked against
 * that site, and the handler refuses a schedule that backs up another one.
 */
import { EngineError } from '../../engine/errors'
import { backupSchedules } from '../../engine/backup/schedule'
import { jobLog } from '../../engine/cluster/joblog'
import type { Cluster } from '../../engine/cluster'
import type { HandlerMap } from './context'

type ScheduleCall = 'jobs/history' | 'schedule/list' | 'schedule/create' | 'schedule/update' | 'schedule/pause' | 'schedule/delete'
  | 'replication/schedules' | 'replication/setRefreshSchedule' | 'replication/setFeedSchedule'

const norm = (s: string) => (s.toLowerCase() === 'all' ? 'all' : s)

/** The schedule `id`, checked to back up `site` (the site the call was authorized for). */
function owned(c: Cluster, id: string, site: string) {
  const have = backupSchedules(c).siteOf(id)
  if (have === undefined) return backupSchedules(c).get(id) // NOT_FOUND naming the schedules
  if (have !== norm(site)) throw new EngineError('BAD_INPUT', `backup schedule ${id} backs up ${have === 'all' ? 'every site' : have}, not ${site}; name its site`, { site })
  return backupSchedules(c).get(id)
}

export const scheduleHandlers: HandlerMap<ScheduleCall> = {
  'jobs/history': async (ctx, f) => jobLog(ctx.cluster).list(f),
  'schedule/list': async (ctx) => backupSchedules(ctx.cluster).views(),
  'schedule/create': async (ctx, spec) => backupSchedules(ctx.cluster).create({ ...spec, site: norm(spec.site) }),
  'schedule/update': async (ctx, { id, site, to, recurrence, retain }) => {
    owned(ctx.cluster, id, site)
    return backupSchedules(ctx.cluster).update(id, { site: to === undefined ? undefined : norm(to), recurrence, retain })
  },
  'schedule/pause': async (ctx, { id, site, paused }) => { owned(ctx.cluster, id, site); return backupSchedules(ctx.cluster).pause(id, paused) },
  'schedule/delete': async (ctx, { id, site }) => { owned(ctx.cluster, id, site); backupSchedules(ctx.cluster).delete(id); return { id } },
  'replication/schedules': async (ctx) => ctx.cluster.replicationSchedules(),
  'replication/setRefreshSchedule': async (ctx, { copy, times }) => {
    const v = ctx.cluster.setRefreshSchedule(copy, times)
    ctx.emit('catalog/changed', { reason: `${copy} refresh schedule set` })
    return v
  },
  'replication/setFeedSchedule': async (ctx, { schedule }) => ctx.cluster.setFeedSchedule(schedule),
}
