/**
 * Scenario verbs for backup schedules, refresh and feed schedules, and the job history (issue 12):
 *   schedule backup SITE|all daily HH:MM [keep N]      schedule backup SITE|all every NUMh [keep N]
 *   schedule pause|resume|delete SITE|all              (the site's newest schedule)
 *   refresh schedule COPY TIME…                         TIME: HH:MM or eod
 *   feed schedule continuous | every MINUTES | at HH:MM…
 *   expect scheduled backups SITE|all N                 backups of the site's schedules held
 *   expect job KIND [SITE] STATUS                       the newest job of a kind (backup, restore, refresh, recovery)
 *   expect pending COPY                                 a missed refresh of the copy waits for its retry
 * and backups by hand (the console's Backups → Take a backup / Restore, a job each):
 *   backup SITE|all                                     a backup, held in the engine's backup list
 *   backup restore SITE [ID] --yes                      restore SITE's own data from the newest held backup
 *                                                       holding it (or backup ID); destructive: refused
 *                                                       without --yes, changing nothing
 */
import { EngineError } from '../errors'
import { registerCommand, registerExpectation, type ScenarioContext } from '../scenario/runner'
import { ENGINE_JOB_KINDS, ENGINE_JOB_STATUSES, type EngineJobKind, type ScheduleRecurrence } from '../api/schedules'
import { jobLog } from '../cluster/joblog'
import { backupSchedules } from './schedule'
import { backupStore } from './store'
import { backupBytes, takeBackup } from './snapshot'
import { restoreFromFile } from './restore'

const USAGE = 'schedule backup SITE|all daily HH:MM [keep N] | schedule backup SITE|all every 6h [keep N] | schedule pause|resume|delete SITE|all'
const siteArg = (s: string | undefined) => (s === undefined ? '' : s.toLowerCase() === 'all' ? 'all' : s.toUpperCase())

function recurrenceOf(a: string[]): ScheduleRecurrence {
  if (a[2] === 'daily' && a[3]) return { kind: 'daily', at: a[3] }
  const h = /^(\d+)h?$/.exec(a[3] ?? '')
  if (a[2] === 'every' && h) return { kind: 'every', hours: Number(h[1]) }
  throw new EngineError('BAD_INPUT', `usage: ${USAGE}`)
}
const keepOf = (a: string[]) => { const i = a.indexOf('keep'); return i < 0 ? 7 : Number(a[i + 1]) }

/** The newest schedule backing up `site`. */
function newestOf(ctx: ScenarioContext, site: string): string {
  const s = backupSchedules(ctx.cluster).views().filter((v) => v.site === site).pop()
  if (!s) throw new EngineError('NOT_FOUND', `no backup schedule backs up ${site === 'all' ? 'every site' : site}`)
  return s.id
}

registerCommand({
  name: 'schedule', usage: USAGE, summary: 'create, pause, resume or delete a backup schedule (each run a backup job kept under the schedule\'s retention)',
  action: (a) => {
    const site = siteArg(a[1])
    if (a[0] === 'backup') return { action: 'schedule/create', input: { site } }
    if (a[0] === 'pause' || a[0] === 'resume') return { action: 'schedule/pause', input: { site } }
    if (a[0] === 'delete') return { action: 'schedule/delete', input: { site } }
    return undefined
  },
  run: (ctx, a) => {
    const site = siteArg(a[1])
    if (!site) throw new EngineError('BAD_INPUT', `usage: ${USAGE}`)
    const b = backupSchedules(ctx.cluster)
    if (a[0] === 'backup') { const v = b.create({ site, recurrence: recurrenceOf(a), retain: keepOf(a) }); ctx.out.push(`${v.id}: ${site} ${v.describe}, keeping ${v.retain}`) }
    else if (a[0] === 'pause' || a[0] === 'resume') b.pause(newestOf(ctx, site), a[0] === 'pause')
    else if (a[0] === 'delete') b.delete(newestOf(ctx, site))
    else throw new EngineError('BAD_INPUT', `usage: ${USAGE}`)
  },
})

const BACKUP_USAGE = 'backup SITE|all | backup restore SITE [ID] --yes'

registerCommand({
  name: 'backup', usage: BACKUP_USAGE, summary: "take a backup by hand (held in the backup list), or restore a site's own data from a held one (--yes)",
  action: (a) => (a[0]?.toLowerCase() === 'restore'
    ? { action: 'backup/restore', input: { site: siteArg(a[1]) } }
    : { action: 'backup/take', input: { sites: siteArg(a[0]) === 'all' ? 'all' : [siteArg(a[0])] } }),
  run: async (ctx, a) => {
    const c = ctx.cluster
    if (a[0]?.toLowerCase() !== 'restore') {
      const site = siteArg(a[0])
      if (!site || a.length > 1) throw new EngineError('BAD_INPUT', `usage: ${BACKUP_USAGE}`)
      const t0 = performance.now()
      const set = await takeBackup(c, site === 'all' ? 'all' : [site])
      backupStore(c).add(set, 'taken', Math.round(performance.now() - t0))
      // (its id carries a per-process counter: not printed, so a scenario's output is the same run after run)
      ctx.out.push(`backup of ${set.manifest.sites.join(', ')} at ${set.manifest.virtualLocal} held (${backupBytes(set).toLocaleString('en')} bytes)`)
      return
    }
    const site = siteArg(a[1])
    const id = a.slice(2).find((x) => x !== '--yes')
    if (!site || site === 'all' || a.slice(2).filter((x) => x !== '--yes').length > 1) throw new EngineError('BAD_INPUT', `usage: ${BACKUP_USAGE}`)
    c.site(site)
    if (!a.includes('--yes')) throw new EngineError('BAD_INPUT', `backup restore ${site} replaces ${site}'s own data with the backup's (commits made after it are lost): add --yes to confirm`, { site })
    const store = backupStore(c)
    const h = id ? store.get(id) : [...store.held].reverse().find((x) => x.set.manifest.files.some((f) => f.site === site))
    if (!h) throw new EngineError('NOT_FOUND', `no held backup holds ${site}: take one first (backup ${site})`, { site })
    const rec = jobLog(c).start({ kind: 'restore', site, label: `restore of ${site} from backup ${h.key}` })
    const t0 = performance.now()
    try {
      const done = await restoreFromFile(c, h.set, site, site)
      rec.done({ rows: done.changes, bytes: h.set.manifest.files.find((f) => f.site === site)?.bytes ?? 0, wallMs: Math.round(performance.now() - t0), detail: `record ${done.seq}` })
      ctx.out.push(done.message)
    } catch (e) { rec.fail(e, { wallMs: Math.round(performance.now() - t0) }); throw e }
  },
})

// `feed schedule …` is a form of the one `feed` verb, defined with the backup feed's in engine/cluster/failover-scenario.ts

registerExpectation({
  name: 'scheduled', usage: 'expect scheduled backups SITE|all N',
  check: async (ctx, a) => {
    await backupSchedules(ctx.cluster).settled()
    const site = siteArg(a[1])
    const ids = new Set(backupSchedules(ctx.cluster).views().filter((v) => v.site === site).map((v) => v.id))
    const n = backupStore(ctx.cluster).held.filter((h) => h.schedule !== null && ids.has(h.schedule)).length
    return n === Number(a[2]) ? undefined : `${n} scheduled backup(s) of ${site} held, expected ${a[2]}`
  },
})

registerExpectation({
  name: 'job', usage: 'expect job backup|restore|refresh|recovery [SITE] STATUS',
  check: async (ctx, a) => {
    await backupSchedules(ctx.cluster).settled()
    const kind = a[0] as EngineJobKind
    if (!ENGINE_JOB_KINDS.includes(kind)) return `a job kind is one of ${ENGINE_JOB_KINDS.join(', ')}`
    const status = a[a.length - 1]
    if (!(ENGINE_JOB_STATUSES as readonly string[]).includes(status)) return `a job status is one of ${ENGINE_JOB_STATUSES.join(', ')}`
    const site = a.length > 2 ? siteArg(a[1]) : undefined
    const [j] = jobLog(ctx.cluster).list({ kind, site: site === 'all' ? 'ALL' : site })
    if (!j) return `no ${kind} job${site ? ` at ${site}` : ''}`
    return j.status === status ? undefined : `the newest ${kind} job (${j.label}) is ${j.status}${j.error ? `: ${j.error.message}` : ''}`
  },
})

registerExpectation({
  name: 'pending', usage: 'expect pending COPY',
  check: (ctx, a) => { const p = ctx.cluster.copyStatus(a[0]).pending; return p ? undefined : `no refresh of ${a[0]} is pending` },
})
