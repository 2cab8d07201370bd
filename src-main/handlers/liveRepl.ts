/**
 * The Replication & Backup and Backups consoles over live PostgreSQL servers (contract/liveRepl.ts). Every call
 * needs the live mode (ctx.live); in the simulation it is refused with UNSUPPORTED and nothing runs. The work
 * at the servers is src-main/pg: backup.ts (pg_dump / verified pg_restore), servers.ts (failover with pg_promote,
 * rebuildStandby) and liveops.ts (status, the backups kept in DIR/backups, the Stock_MBI refresh).
 *
 * One operation at a time per site (a restore while the site fails over would restore into a server that is
 * going away): a second one is refused with CONFLICT naming the first. A failover repoints the console's own
 * connections to the site (LiveSites.repoint) before it answers, so the next query or transaction of the
 * console reaches the promoted server.
 */
import { EngineError } from '../../engine/errors'
import type { LiveSites } from '../pg/live'
import { pgBackup, pgRestore } from '../pg/backup'
import { failover, rebuildStandby, readDeployment, requireLocalServers } from '../pg/servers'
import { LiveRoles } from '../pg/roles'
import { backupDir, backupManifestPath, listBackups, listBaseBackups, refreshStockCopy, replicationStatus } from '../pg/liveops'
import { pgBaseBackup, restoreBaseBackup, verifyBaseBackup } from '../pg/basebackup'
import { join } from 'node:path'
import type { HandlerContext, HandlerMap } from './context'
import type { LiveBackupJobResult, LiveBaseBackupJobResult, LiveBaseRestoreResult, LiveBaseVerifyResult, LiveFailoverResult, LiveRebuildJobResult, LiveRestoreJobResult, StockRefreshResult } from '../ipc/contract/liveRepl'
import type { JobHandle } from '../engine-host/jobs'
import { jobLog } from '../../engine/cluster/joblog'

type LiveReplCall = 'liveRepl/status' | 'liveRepl/refresh' | 'liveBackup/take' | 'liveBackup/list' | 'liveBackup/restore' | 'liveFailover/promote' | 'liveFailover/rebuildStandby'
  | 'liveBackup/takeBase' | 'liveBackup/listBase' | 'liveBackup/verifyBase' | 'liveBackup/restoreBase'

function liveOf(ctx: HandlerContext, what: string): LiveSites {
  if (!ctx.live) throw new EngineError('UNSUPPORTED', `${what} needs the live mode (the sites as PostgreSQL servers: npm start -- --pg DIR); the simulation's own consoles do it here`)
  return ctx.live
}

function siteIn(live: LiveSites, site: string): void {
  if (!live.deployment.sites.some((s) => s.code === site)) throw new EngineError('UNKNOWN_SITE', `no site ${site} in this deployment (sites: ${live.deployment.sites.map((s) => s.code).join(', ')})`)
}

function confirmed(site: string, confirm: string, what: string): void {
  if (confirm !== site) throw new EngineError('BAD_INPUT', `type the site's code ${site} to confirm ${what} (got "${confirm}")`, { site })
}

/** What runs at each site now, per deployment (one operation at a time per site). */
const busy = new WeakMap<LiveSites, Map<string, string>>()

function claim(live: LiveSites, site: string, what: string): () => void {
  let m = busy.get(live)
  if (!m) { m = new Map(); busy.set(live, m) }
  const running = m.get(site)
  if (running) throw new EngineError('CONFLICT', `${site} is busy with ${running}: one backup, restore, failover or rebuild at a time per site`, { site })
  m.set(site, what)
  return () => m.delete(site)
}

/** An AbortSignal that fires when the job is cancelled (the jobs runner only sets a flag): polled every 100 ms. */
function signalOf(job: JobHandle): { signal: AbortSignal; stop: () => void } {
  const ac = new AbortController()
  const t = setInterval(() => { if (job.cancelled) ac.abort() }, 100)
  return { signal: ac.signal, stop: () => clearInterval(t) }
}

/** The live Stock_MBI refresh (at the repository site, from Mumbai), one at a time per site like the others. */
async function liveRefresh(ctx: HandlerContext, live: LiveSites): Promise<StockRefreshResult> {
  const d = live.deployment
  for (const s of ['MBI', d.repository.site]) siteIn(live, s)
  const release = claim(live, d.repository.site, 'the Stock_MBI refresh')
  try {
    const r = await refreshStockCopy(live.dataDir)
    live.stores[r.site]?.invalidate()
    ctx.emit('catalog/changed', { reason: `${r.copy} refreshed at ${r.site} from ${r.source}@${r.sourceSite} (live)` })
    return r
  } finally { release() }
}

/**
 * The Stock_MBI refresh group on the console's schedule (live mode): whenever the console's clock runs the
 * scheduled refresh of Stock_MBI (noon and end of day, or as the Replication console's schedule was set), the
 * same refresh runs between the real servers, recorded in the engine's job history as a job of its own (the
 * Jobs console lists it: rows, wall time, the checksum, or why it failed). Returns the function that stops it.
 */
export function followLiveRefreshSchedule(ctx: HandlerContext): () => void {
  const live = liveOf(ctx, 'the scheduled Stock_MBI refresh between the servers')
  const log = jobLog(ctx.cluster)
  const seen = new Set<string>()
  return log.onChange((j) => {
    if (j.kind !== 'refresh' || j.trigger !== 'scheduled' || j.schedule !== 'refresh:Stock_MBI' || seen.has(j.id)) return
    seen.add(j.id)
    if (seen.size > 1000) seen.delete(seen.values().next().value!)
    const rec = log.start({ kind: 'refresh', site: live.deployment.repository.site, label: 'refresh of Stock_MBI between the live servers (Stock_MBI_LCL@MBI → Stock_MBI)', trigger: 'scheduled', schedule: 'live:refresh:Stock_MBI' })
    const t0 = performance.now()
    liveRefresh(ctx, live).then(
      (r) => rec.done({ rows: r.rows, wallMs: Math.round(performance.now() - t0), detail: `full, md5 ${r.md5}` }),
      (e) => rec.fail(e, { wallMs: Math.round(performance.now() - t0) }),
    )
  })
}

/**
 * Runs a restore with the console's replication applier paused: a restored main repository is pruned under a lock
 * (pruneRepository) that the applier's synchronous writes, run from a timer on this same thread, would wait for.
 */
async function withApplierPaused<T>(live: LiveSites, fn: () => Promise<T>): Promise<T> {
  const resume = live.propagation?.pause()
  try { return await fn() } finally { resume?.() }
}

/** The site of a base backup in the deployment's backups directory; refused (NOT_FOUND, its damage) otherwise, saying `then`. */
function baseBackupSite(dataDir: string, name: string, then: string): string {
  const entry = listBaseBackups(dataDir).find((e) => e.name === name)
  if (!entry) throw new EngineError('NOT_FOUND', `no base backup ${name} in ${backupDir(dataDir)}`)
  if (!entry.ok || !entry.site) throw new EngineError(entry.error?.code ?? 'CORRUPT_DATA', `${name}: ${entry.error?.message ?? 'the backup does not check out'}; ${then}`, entry.site ? { site: entry.site } : undefined)
  return entry.site
}

export const liveReplHandlers: HandlerMap<LiveReplCall> = {
  'liveRepl/status': async (ctx) => {
    const live = liveOf(ctx, 'the live replication status')
    return { ...await replicationStatus(live.dataDir, (site) => live.connectedPort(site)), propagation: live.propagation?.status() ?? null }
  },

  'liveRepl/refresh': async (ctx) => liveRefresh(ctx, liveOf(ctx, 'the Stock_MBI refresh between the servers')),

  'liveBackup/take': async (ctx, { site, repository }) => {
    const live = liveOf(ctx, 'a backup with pg_dump')
    siteIn(live, site)
    if (repository && site !== live.deployment.repository.site) throw new EngineError('BAD_INPUT', `the main repository is at ${live.deployment.repository.site}, not ${site}`, { site })
    const what = `backup of ${site}${repository ? '\'s main repository' : ''} (pg_dump)`
    const release = claim(live, site, what)
    try {
      return ctx.jobs.start('backup', what, async (job): Promise<LiveBackupJobResult> => {
        const t0 = performance.now()
        const { signal, stop } = signalOf(job)
        try {
          const m = await pgBackup(live.dataDir, { site, outDir: backupDir(live.dataDir), repository, signal, onProgress: (p, d) => job.progress(p, d) })
          const entry = listBackups(live.dataDir).find((e) => e.name === `${m.file}.json`)
          if (!entry) throw new EngineError('INTERNAL', `the backup ${m.file} is not in ${backupDir(live.dataDir)} after it was written`)
          if (!entry.ok) throw new EngineError(entry.error?.code ?? 'CORRUPT_DATA', `the backup just written does not check out: ${entry.error?.message}`)
          job.progress(1, `${m.bytes.toLocaleString('en')} bytes, ${entry.rows.toLocaleString('en')} rows`)
          return { backup: entry, rows: entry.rows, bytes: m.bytes, durationMs: Math.round(performance.now() - t0) }
        } finally { stop(); release() }
      })
    } catch (e) { release(); throw e }
  },

  'liveBackup/list': async (ctx) => listBackups(liveOf(ctx, 'the list of pg_dump backups').dataDir),

  'liveBackup/takeBase': async (ctx, { site }) => {
    const live = liveOf(ctx, 'a physical backup with pg_basebackup')
    siteIn(live, site)
    requireLocalServers(live.deployment, 'a physical backup (pg_basebackup runs here and needs a replication connection)')
    const what = `physical backup of ${site} (pg_basebackup)`
    const release = claim(live, site, what)
    try {
      return ctx.jobs.start('backup', what, async (job): Promise<LiveBaseBackupJobResult> => {
        const t0 = performance.now()
        const { signal, stop } = signalOf(job)
        try {
          const m = await pgBaseBackup(live.dataDir, { site, outDir: backupDir(live.dataDir), signal, onProgress: (p, d) => job.progress(p, d) })
          const entry = listBaseBackups(live.dataDir).find((e) => e.name === m.dir)
          if (!entry) throw new EngineError('INTERNAL', `the base backup ${m.dir} is not in ${backupDir(live.dataDir)} after it was written`)
          if (!entry.ok) throw new EngineError(entry.error?.code ?? 'CORRUPT_DATA', `the base backup just written does not check out: ${entry.error?.message}`)
          job.progress(1, `${m.bytes.toLocaleString('en')} bytes up to ${m.endLsn}`)
          return { backup: entry, tables: Object.keys(m.tables).length, durationMs: Math.round(performance.now() - t0) }
        } finally { stop(); release() }
      })
    } catch (e) { release(); throw e }
  },

  'liveBackup/listBase': async (ctx) => listBaseBackups(liveOf(ctx, 'the list of physical backups').dataDir),

  'liveBackup/verifyBase': async (ctx, { name }) => {
    const live = liveOf(ctx, 'verifying a physical backup')
    requireLocalServers(live.deployment, 'verifying a physical backup (a scratch server is started here)')
    const site = baseBackupSite(live.dataDir, name, 'nothing was started')
    const release = claim(live, site, `verification of ${name}`)
    try {
      return ctx.jobs.start('restore', `verify ${name} (pg_verifybackup, a scratch server)`, async (job): Promise<LiveBaseVerifyResult> => {
        const { signal, stop } = signalOf(job)
        try {
          const r = await verifyBaseBackup(live.dataDir, join(backupDir(live.dataDir), name), { signal, onProgress: (p, d) => job.progress(p, d) })
          ctx.cluster.log('backup', `${name} verified by restore into a scratch server: ${r.equal ? 'every table equal to the manifest' : `${r.tables.filter((t) => !t.equal).map((t) => t.table).join(', ')} differ`} (${r.verifybackup})`, site)
          return { name, ...r }
        } finally { stop(); release() }
      })
    } catch (e) { release(); throw e }
  },

  'liveBackup/restoreBase': async (ctx, { name, confirm }) => {
    const live = liveOf(ctx, 'a physical restore')
    requireLocalServers(live.deployment, 'a physical restore (the site\'s server is stopped and started here)')
    // refusals before any job: a backup that is missing or damaged, an unconfirmed restore
    const site = baseBackupSite(live.dataDir, name, 'nothing was restored')
    siteIn(live, site)
    confirmed(site, confirm, `the physical restore of ${site}: its server is stopped and started on the backup (its data directory kept aside), commits made there after the backup are no longer at the site`)
    const what = `physical restore of ${site} from ${name}`
    const release = claim(live, site, what)
    try {
      return ctx.jobs.start('restore', what, async (job): Promise<LiveBaseRestoreResult> => {
        const { signal, stop } = signalOf(job)
        try {
          const r = await withApplierPaused(live, () => restoreBaseBackup(live.dataDir, join(backupDir(live.dataDir), name), { signal, onProgress: (p, d) => job.progress(p, d), topology: ctx.cluster.topology }))
          live.stores[site]?.invalidate() // the site's statistics are read again
          ctx.cluster.log('backup', `${site} restored in place from ${name} (as of ${r.endLsn}); its data directory as it was is kept at ${r.kept}; standby rebuilt; ${r.equal ? 'every table equal to the manifest' : `${r.tables.filter((t) => !t.equal).map((t) => t.table).join(', ')} differ from the manifest`}`, site)
          ctx.emit('catalog/changed', { reason: `${site} restored from ${name} (live)` })
          return { name, ...r }
        } finally { stop(); release() }
      })
    } catch (e) { release(); throw e }
  },

  'liveBackup/restore': async (ctx, { manifest, site, confirm }) => {
    const live = liveOf(ctx, 'a restore with pg_restore')
    siteIn(live, site)
    const path = backupManifestPath(live.dataDir, manifest)
    // refusals before any job: a backup that is missing, damaged or of another site, an unconfirmed restore
    const entry = listBackups(live.dataDir).find((e) => e.name === manifest)
    if (!entry) throw new EngineError('NOT_FOUND', `no backup ${manifest} in ${backupDir(live.dataDir)}`, { site })
    if (!entry.ok || !entry.manifest) throw new EngineError(entry.error?.code ?? 'CORRUPT_DATA', `${manifest}: ${entry.error?.message ?? 'the backup does not check out'}; nothing was restored`, { site })
    if (entry.manifest.site !== site) throw new EngineError('BAD_INPUT', `${manifest} is a backup of ${entry.manifest.site}, not ${site}: restoring it would put another site's data here`, { site })
    confirmed(site, confirm, `the restore of ${entry.manifest.database} at ${site}: it replaces the database with the backup taken at ${entry.manifest.takenAt}`)
    const what = `restore of ${site} (${entry.manifest.database}) from ${manifest}`
    const release = claim(live, site, what)
    try {
      return ctx.jobs.start('restore', what, async (job): Promise<LiveRestoreJobResult> => {
        const t0 = performance.now()
        const { signal, stop } = signalOf(job)
        try {
          const r = await withApplierPaused(live, () => pgRestore(live.dataDir, { manifest: path, site, signal, onProgress: (p, d) => job.progress(p, d), topology: ctx.cluster.topology }))
          live.stores[site]?.invalidate() // the site's statistics are read again
          ctx.emit('catalog/changed', { reason: `${site} restored from ${manifest} (live)` })
          return { site, database: entry.manifest!.database, manifest, tables: r.tables, rows: r.rows, durationMs: Math.round(performance.now() - t0), ...(r.pruned !== undefined ? { pruned: r.pruned } : {}) }
        } finally { stop(); release() }
      })
    } catch (e) { release(); throw e }
  },

  'liveFailover/promote': async (ctx, { site, confirm }) => {
    const live = liveOf(ctx, 'a failover with pg_promote')
    siteIn(live, site)
    const d = readDeployment(live.dataDir)
    const s = d.sites.find((x) => x.code === site)!
    if (!s.standby) throw new EngineError('UNSUPPORTED', `${d.attached?.topologyFile ?? 'pg.json'} names no standby for ${site}: there is nothing to promote`, { site })
    confirmed(site, confirm, d.attached
      ? `the failover of ${site} to ${s.standby.id} (${s.standby.host}:${s.standby.port}): ${s.primary.id} is fenced if it still answers (its databases closed to connections, its sessions ended)`
      : `the failover of ${site} to ${s.standby.id} (port ${s.standby.port}): ${s.primary.id} is stopped if it still runs`)
    const release = claim(live, site, `the failover of ${site}`)
    try {
      const f = await failover(live.dataDir, site)
      const now = live.repoint(site)
      // the home server that checks its users' logins is the promoted one now
      LiveRoles.of(ctx.cluster)?.repoint(site, live.deployment)
      ctx.emit('catalog/changed', { reason: `${site} failed over to ${now.id} on port ${now.port} (live)` })
      for (const n of f.notes ?? []) ctx.cluster.log('replication', `failover of ${site}: ${n}`, site)
      const r: LiveFailoverResult = { site, promoted: now.id, port: now.port, rtoMs: Math.round(f.rtoMs), oldPrimaryWasRunning: f.oldPrimaryWasRunning, ...(f.notes ? { notes: f.notes } : {}) }
      return r
    } finally { release() }
  },

  'liveFailover/rebuildStandby': async (ctx, { site, confirm }) => {
    const live = liveOf(ctx, 'a standby rebuilt with pg_basebackup')
    siteIn(live, site)
    const s = requireLocalServers(readDeployment(live.dataDir), 'rebuilding a standby').sites.find((x) => x.code === site)!
    confirmed(site, confirm, `the rebuild of ${s.standby.id}: its contents are replaced by a copy of ${s.primary.id}`)
    const release = claim(live, site, `the rebuild of ${site}'s standby`)
    try {
      return ctx.jobs.start('rebuild', `rebuild of ${s.standby.id} from ${s.primary.id} (pg_basebackup)`, async (job): Promise<LiveRebuildJobResult> => {
        const t0 = performance.now()
        try {
          job.progress(0.1, `pg_basebackup ${s.primary.id} → ${s.standby.id}`)
          // not cancellable: pg_basebackup runs to its end (an interrupted one would leave no standby at all)
          await rebuildStandby(live.dataDir, site)
          const st = requireLocalServers(readDeployment(live.dataDir), 'rebuilding a standby').sites.find((x) => x.code === site)!.standby
          return { site, standby: st.id, port: st.port, durationMs: Math.round(performance.now() - t0) }
        } finally { release() }
      })
    } catch (e) { release(); throw e }
  },
}
