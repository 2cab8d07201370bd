/**
 * `iddb schedule`: backup schedules (list, create, edit, pause, resume, delete), the scheduled copies' refresh
 * times and the main repository's feed, kept beside the cluster in its data directory (the console arms them
 * when it opens the cluster). Every change is checked against the acting role, like the console's calls.
 */
import { parseArgs } from 'node:util'
import { Cluster } from '../../../engine/cluster'
import { backupSchedules } from '../../../engine/backup/schedule'
import { formatSiteTime } from '../../../engine/sim/kernel'
import type { BackupScheduleView, FeedSchedule, ScheduleRecurrence } from '../../../engine/api/schedules'
import { UsageError, intOption, type CliCommand } from '../registry'
import { AS_USAGE, actAs } from '../actor'

const out = (s: string) => process.stdout.write(s)
const at = (ms: number | null) => (ms === null ? '—' : formatSiteTime(ms).slice(0, 16))
const line = (s: BackupScheduleView) => `${s.id}  ${s.site.padEnd(4)} ${s.describe.padEnd(16)} keep ${String(s.retain).padEnd(3)} ${s.paused ? 'paused ' : 'active '} next ${at(s.nextRunAt)}  last ${at(s.lastRunAt)} ${s.lastStatus ?? ''}${s.lastError ? ` (${s.lastError})` : ''}`

export const schedule: CliCommand = {
  name: 'schedule',
  summary: 'backup schedules (daily or every N hours, per site), refresh times of scheduled copies, the repository feed',
  usage: `iddb schedule list --data DIR [--json]
iddb schedule create --data DIR --site CODE|all (--daily HH:MM | --every HOURS) [--keep N] [--paused]
iddb schedule edit --data DIR --id bs-N [--site CODE|all] [--daily HH:MM | --every HOURS] [--keep N]
iddb schedule pause|resume|delete --data DIR --id bs-N
iddb schedule refresh --data DIR --copy Stock_MBI --times 12:00,eod
iddb schedule feed --data DIR (--continuous | --every-minutes N | --times HH:MM,…)

Backup schedules run on the cluster's virtual clock; each run is a backup job kept under the schedule's
retention (the newest --keep, default 7). Times are site-local; eod is the end of the source site's working
day (the topology's endOfDay, default 18:00). The schedules are written beside the cluster in DIR.
${AS_USAGE}`,
  async run(argv) {
    const [sub, ...rest] = argv
    const { values } = parseArgs({
      args: rest, strict: true, options: {
        data: { type: 'string' }, site: { type: 'string' }, daily: { type: 'string' }, every: { type: 'string' }, keep: { type: 'string' }, paused: { type: 'boolean' },
        id: { type: 'string' }, copy: { type: 'string' }, times: { type: 'string' }, continuous: { type: 'boolean' }, 'every-minutes': { type: 'string' }, json: { type: 'boolean' }, as: { type: 'string' },
      },
    })
    if (!values.data) throw new UsageError('--data DIR is required')
    const recurrence = (): ScheduleRecurrence | undefined => {
      if (values.daily && values.every) throw new UsageError('give --daily HH:MM or --every HOURS, not both')
      if (values.daily) return { kind: 'daily', at: values.daily }
      if (values.every) return { kind: 'every', hours: intOption('every', values.every, 1, 168)! }
      return undefined
    }
    const site = values.site === undefined ? undefined : values.site.toLowerCase() === 'all' ? 'all' : values.site.toUpperCase()
    const c = await Cluster.open(values.data, { readOnly: sub === 'list' })
    let changed = false
    try {
      const b = backupSchedules(c)
      const show = (v: unknown, text: string) => out(values.json ? `${JSON.stringify(v)}\n` : `${text}\n`)
      const needId = () => { if (!values.id) throw new UsageError('--id bs-N is required'); return values.id }
      switch (sub) {
        case 'list': {
          const v = { backups: b.views(), replication: c.replicationSchedules() }
          show(v, [...v.backups.map(line), ...(v.backups.length ? [] : ['no backup schedules']),
            ...v.replication.copies.map((r) => `refresh ${r.copy}@${r.site} at ${r.times.join(', ')} (${r.resolved.join(', ')}); next ${at(r.nextRefreshAt)}`),
            `main repository feed: ${v.replication.feed.describe}`].join('\n'))
          break
        }
        case 'create': {
          const r = recurrence()
          if (!site || !r) throw new UsageError('--site CODE|all and --daily HH:MM or --every HOURS are required')
          const input = { site, recurrence: r, retain: intOption('keep', values.keep, 1, 100) ?? 7, paused: !!values.paused }
          await actAs(c, values.as, 'schedule/create', input, async () => { const v = b.create(input); show(v, line(v)) })
          changed = true
          break
        }
        case 'edit': case 'pause': case 'resume': case 'delete': {
          const id = needId()
          const own = b.siteOf(id) ?? b.get(id).site
          const action = sub === 'edit' ? 'schedule/update' : sub === 'delete' ? 'schedule/delete' : 'schedule/pause'
          await actAs(c, values.as, action, { id, site: own, to: site }, async () => {
            if (sub === 'delete') { b.delete(id); show({ id }, `${id} deleted`) }
            else {
              const v = sub === 'edit' ? b.update(id, { site, recurrence: recurrence(), retain: intOption('keep', values.keep, 1, 100) }) : b.pause(id, sub === 'pause')
              show(v, line(v))
            }
          })
          changed = true
          break
        }
        case 'refresh': {
          if (!values.copy || !values.times) throw new UsageError('--copy NAME and --times HH:MM,eod,… are required')
          const times = values.times.split(',').map((t) => t.trim()).filter(Boolean)
          await actAs(c, values.as, 'replication/setRefreshSchedule', { copy: values.copy, times }, async () => {
            const v = c.setRefreshSchedule(values.copy!, times)
            show(v, `refresh ${v.copy}@${v.site} at ${v.times.join(', ')} (${v.resolved.join(', ')}); next ${at(v.nextRefreshAt)}`)
          })
          changed = true
          break
        }
        case 'feed': {
          const s: FeedSchedule | undefined = values.continuous ? { mode: 'continuous' }
            : values['every-minutes'] ? { mode: 'every', minutes: intOption('every-minutes', values['every-minutes'], 1, 1440)! }
              : values.times ? { mode: 'times', times: values.times.split(',').map((t) => t.trim()) } : undefined
          if (!s) throw new UsageError('give --continuous, --every-minutes N or --times HH:MM,…')
          await actAs(c, values.as, 'replication/setFeedSchedule', { schedule: s }, async () => { const v = c.setFeedSchedule(s); show(v, `main repository feed: ${v.describe}`) })
          changed = true
          break
        }
        default: throw new UsageError(`iddb schedule list|create|edit|pause|resume|delete|refresh|feed (got "${sub ?? ''}")`)
      }
    } finally { c.close({ checkpoint: changed }) }
    return 0
  },
}
