/**
 * The Replication & Backup and Backups consoles over live PostgreSQL servers (calls liveRepl/*, liveBackup/*,
 * liveFailover/*; live mode only): the servers' replication state (polled while a live panel is open), the
 * pg_dump backups and the physical (pg_basebackup) ones kept with the deployment, and the administrator's actions — take a backup, restore one,
 * promote a standby, rebuild a standby, refresh Stock_MBI — each confirmed by the typed site code where it
 * replaces data (checked again by the engine). Backups, restores and rebuilds are engine jobs (their progress
 * through the jobs store); one runs at a time from this console.
 */
import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import type { JobView } from '../../../engine/api/views'
import type { LiveBackupEntry, LiveBackupJobResult, LiveBaseBackupEntry, LiveBaseBackupJobResult, LiveBaseRestoreResult, LiveBaseVerifyResult, LiveFailoverResult, LiveRebuildJobResult, LiveReplicationStatus, LiveRestoreJobResult, StockRefreshResult } from '../../../src-main/ipc/contract/liveRepl'
import { ipc } from '../ipc/client'
import { useAction } from '../composables/useAction'
import { useJobsStore } from './jobs'
import { useConnectionStore } from './connection'

export const useLiveReplStore = defineStore('liveRepl', () => {
  const action = useAction()
  /** Background refreshes keep their own error (a failed poll does not hide the last action's error). */
  const refreshing = useAction()
  const status = ref<LiveReplicationStatus | null>(null)
  const backups = ref<LiveBackupEntry[]>([])
  /** Physical backups (pg_basebackup) and the last verification of each, by name. */
  const baseBackups = ref<LiveBaseBackupEntry[]>([])
  const verified = ref<Record<string, LiveBaseVerifyResult>>({})
  /** The running job started from this console (backup, restore, rebuild). */
  const job = ref<JobView | null>(null)
  const last = ref<string | null>(null)
  const lastFailover = ref<LiveFailoverResult | null>(null)
  const lastRefresh = ref<StockRefreshResult | null>(null)
  const jobs = useJobsStore()
  const running = computed(() => (job.value ? jobs.byId[job.value.id] ?? job.value : null))
  const busy = computed(() => action.pending.value !== null || job.value !== null)

  async function loadStatus(): Promise<void> {
    const r = await refreshing.run('replication status', () => ipc().call('liveRepl/status', {}))
    if (r) status.value = r
  }
  async function loadBackups(): Promise<void> {
    const r = await refreshing.run('list backups', () => ipc().call('liveBackup/list', {}))
    if (r) backups.value = r
  }

  let timer: ReturnType<typeof setInterval> | undefined
  let watchers = 0
  /** Polls the servers' state every 2 s while at least one live panel is open. */
  function watch(): void {
    watchers++
    if (watchers === 1) {
      void loadStatus()
      timer = setInterval(() => void loadStatus(), 2000)
    }
  }
  function unwatch(): void {
    watchers = Math.max(0, watchers - 1)
    if (!watchers) clearInterval(timer)
  }

  async function runJob<T>(label: string, start: () => Promise<JobView>): Promise<T | null> {
    last.value = null
    const r = await action.run(label, async () => {
      const j = await start()
      jobs.upsert(j)
      job.value = j
      try {
        const end = await jobs.waitFor(j.id)
        if (end.status !== 'done') throw end.error ?? { code: 'CANCELLED', message: `${label} ${end.status}` }
        return end.result as T
      } finally { job.value = null }
    })
    return r ?? null
  }

  async function take(site: string, repository = false): Promise<LiveBackupJobResult | null> {
    const r = await runJob<LiveBackupJobResult>(`back up ${site}${repository ? '\'s main repository' : ''}`, () => ipc().call('liveBackup/take', { site, repository }))
    await loadBackups()
    if (r) last.value = `backup ${r.backup.name}: ${r.backup.manifest?.database} at ${r.backup.manifest?.server}, ${r.bytes.toLocaleString('en')} bytes, ${r.rows.toLocaleString('en')} rows in ${r.durationMs} ms`
    return r
  }

  async function restore(manifest: string, site: string, confirm: string): Promise<LiveRestoreJobResult | null> {
    const r = await runJob<LiveRestoreJobResult>(`restore ${site}`, () => ipc().call('liveBackup/restore', { manifest, site, confirm }))
    await loadBackups()
    if (r) last.value = `${site} restored from ${r.manifest}: ${r.database} holds ${r.tables} tables, ${r.rows.toLocaleString('en')} rows, every checksum as the manifest records${r.pruned !== undefined ? `; the sites' rows sent to it again, ${r.pruned} rows they had deleted after the backup removed from it` : ''} (${r.durationMs} ms)`
    return r
  }

  async function cancel(): Promise<void> { if (job.value) await jobs.cancel(job.value.id) }

  async function promote(site: string, confirm: string): Promise<LiveFailoverResult | null> {
    last.value = null
    const r = await action.run(`promote ${site}'s standby`, () => ipc().call('liveFailover/promote', { site, confirm }))
    if (r) {
      lastFailover.value = r
      last.value = `${site} failed over: ${r.promoted} on port ${r.port} accepts writes (RTO ${r.rtoMs} ms); the console's connections to ${site} go there now. ${r.notes?.join('. ') ?? 'Rebuild the standby to have one again.'}`
      void useConnectionStore().loadInfo() // the live badge names the promoted server
    }
    await loadStatus()
    return r ?? null
  }

  async function rebuild(site: string, confirm: string): Promise<LiveRebuildJobResult | null> {
    const r = await runJob<LiveRebuildJobResult>(`rebuild ${site}'s standby`, () => ipc().call('liveFailover/rebuildStandby', { site, confirm }))
    await loadStatus()
    if (r) last.value = `${r.standby} rebuilt from ${site}'s primary on port ${r.port} in ${r.durationMs} ms, streaming synchronously`
    return r
  }

  async function loadBaseBackups(): Promise<void> {
    const r = await refreshing.run('list physical backups', () => ipc().call('liveBackup/listBase', {}))
    if (r) baseBackups.value = r
  }

  async function takeBase(site: string): Promise<LiveBaseBackupJobResult | null> {
    const r = await runJob<LiveBaseBackupJobResult>(`physical backup of ${site}`, () => ipc().call('liveBackup/takeBase', { site }))
    await loadBaseBackups()
    if (r) last.value = `physical backup ${r.backup.name}: ${r.backup.server}, ${r.backup.bytes.toLocaleString('en')} bytes, consistent as of ${r.backup.endLsn} (${r.durationMs} ms)`
    return r
  }

  async function verifyBase(name: string): Promise<LiveBaseVerifyResult | null> {
    const r = await runJob<LiveBaseVerifyResult>(`verify ${name}`, () => ipc().call('liveBackup/verifyBase', { name }))
    if (r) {
      verified.value = { ...verified.value, [name]: r }
      last.value = `${name} restored into a scratch server: ${r.verifybackup}; ${r.equal ? `all ${r.tables.length} tables equal to the manifest` : `${r.tables.filter((t) => !t.equal).length} tables differ`} (${r.ms} ms)`
    }
    return r
  }

  async function restoreBase(name: string, confirm: string): Promise<LiveBaseRestoreResult | null> {
    const r = await runJob<LiveBaseRestoreResult>(`physical restore from ${name}`, () => ipc().call('liveBackup/restoreBase', { name, confirm }))
    await loadStatus()
    if (r) last.value = `${r.site} restored in place from ${name} (as of ${r.endLsn}): ${r.equal ? `all ${r.tables.length} tables equal to the manifest` : `${r.tables.filter((t) => !t.equal).length} tables differ from the manifest`}; standby rebuilt; ${r.deletedAtCopies === null ? 'what its copies got after the backup is not known (the primary did not answer before)' : `${r.deletedAtCopies} rows the site no longer has deleted at its copies`}${r.prunedFromRepository !== undefined ? `; the main repository (restored with its server) sent every site's rows again, ${r.prunedFromRepository} rows deleted since the backup removed from it` : ''}; the data directory as it was is kept at ${r.kept} (${r.ms} ms)`
    return r
  }

  async function refreshCopy(): Promise<StockRefreshResult | null> {
    last.value = null
    const r = await action.run('refresh Stock_MBI', () => ipc().call('liveRepl/refresh', {}))
    if (r) { lastRefresh.value = r; last.value = `${r.copy}@${r.site} refreshed from ${r.source}@${r.sourceSite}: ${r.rows.toLocaleString('en')} rows, md5 ${r.md5} at both (${r.ms} ms)` }
    return r ?? null
  }

  return {
    status, backups, baseBackups, verified, running, busy, last, lastFailover, lastRefresh, pending: action.pending, error: action.error, refreshError: refreshing.error,
    loadStatus, loadBackups, loadBaseBackups, watch, unwatch, take, takeBase, verifyBase, restoreBase, restore, cancel, promote, rebuild, refreshCopy,
  }
})
