/**
 * Backups by hand and restores from them (calls backup/*). A backup and a restore are engine jobs (their
 * progress and cancel through the jobs store); the engine holds the newest backups, which the console saves
 * file by file (a download in the browser, a save dialog in Electron) and restores from; a backup kept
 * earlier comes back by upload. A restore is planned first (validation and what it loses), then confirmed by
 * typing the site's code.
 */
import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import type { JobView } from '../../../engine/api/views'
import type { BackupJobResult, BackupView, RestoreJobResult, RestorePlan } from '../../../src-main/ipc/contract/backup'
// a value from the engine's plain API file, not the contract (the contract's zod schemas must stay out of the page)
import { BACKUP_CHUNK_BYTES } from '../../../engine/api/backup'
import { ipc } from '../ipc/client'
import { useAction } from '../composables/useAction'
import { useJobsStore } from './jobs'

type BackupFile = `${string}.sqlite` | 'manifest.json'

const toBase64 = (b: Uint8Array): string => { let s = ''; for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000)); return btoa(s) }
const fromBase64 = (s: string): Uint8Array => Uint8Array.from(atob(s), (c) => c.charCodeAt(0))

export const useBackupStore = defineStore('backup', () => {
  const action = useAction()
  const held = ref<BackupView[]>([])
  /** The running backup or restore job (one at a time from this console). */
  const job = ref<JobView | null>(null)
  const last = ref<string | null>(null)
  const plan = ref<RestorePlan | null>(null)
  const planFor = ref<{ key: string; site: string } | null>(null)
  const jobs = useJobsStore()
  const running = computed(() => (job.value ? jobs.byId[job.value.id] ?? job.value : null))

  async function load(): Promise<void> {
    const r = await action.run('list backups', () => ipc().call('backup/list', {}))
    if (r) held.value = r
  }

  async function runJob<T>(label: string, start: () => Promise<JobView>): Promise<T | null> {
    last.value = null
    const r = await action.run(label, async () => {
      const j = await start()
      jobs.upsert(j)
      job.value = j
      const end = await jobs.waitFor(j.id)
      if (end.status !== 'done') throw end.error ?? { code: 'CANCELLED', message: `${label} ${end.status}` }
      return end.result as T
    })
    job.value = null
    return r ?? null
  }

  async function take(sites: string[] | 'all'): Promise<BackupView | null> {
    const r = await runJob<BackupJobResult>(sites === 'all' ? 'back up every site' : `back up ${sites.join(', ')}`, () => ipc().call('backup/take', { sites }))
    await load()
    if (r) last.value = `backup ${r.backup.id}: ${r.backup.sites.join(', ')} at ${r.backup.virtualLocal}, ${r.bytes.toLocaleString('en')} bytes, ${r.rows.toLocaleString('en')} rows in ${r.durationMs} ms`
    return r?.backup ?? null
  }

  async function cancel(): Promise<void> { if (job.value) await jobs.cancel(job.value.id) }

  /** The bytes of one file of a held backup, fetched chunk by chunk. */
  async function fileBlob(key: string, file: BackupFile): Promise<Blob | null> {
    const r = await action.run(`save ${file}`, async () => {
      const parts: Uint8Array[] = []
      for (let off = 0, total = 1; off < total;) {
        const c = await ipc().call('backup/read', { key, file, offset: off })
        parts.push(fromBase64(c.data))
        total = c.total
        off += c.length
        if (!c.length) break
      }
      return new Blob(parts as BlobPart[], { type: file.endsWith('.json') ? 'application/json' : 'application/vnd.sqlite3' })
    })
    return r ?? null
  }

  /** Uploads kept files (manifest.json and the .sqlite files) as one backup; it is listed when all have arrived. */
  async function upload(files: { name: string; bytes: Uint8Array }[]): Promise<BackupView | null> {
    const id = `u${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`
    const r = await action.run('upload a backup', async () => {
      let got: BackupView | null = null
      for (const f of files) {
        if (!/^([A-Z]{3}\.sqlite|manifest\.json)$/.test(f.name)) throw { code: 'BAD_INPUT', message: `${f.name} is not a backup file (manifest.json or <SITE>.sqlite)` }
        for (let off = 0; off < Math.max(1, f.bytes.length); off += BACKUP_CHUNK_BYTES) {
          const s = await ipc().call('backup/upload', { upload: id, file: f.name as BackupFile, offset: off, total: f.bytes.length, data: toBase64(f.bytes.subarray(off, off + BACKUP_CHUNK_BYTES)) })
          if (s.backup) got = s.backup
        }
      }
      if (!got) throw { code: 'BAD_INPUT', message: 'the upload is incomplete: choose manifest.json together with every .sqlite file it lists' }
      return got
    })
    await load()
    if (r) last.value = `uploaded backup ${r.id} (${r.sites.join(', ')}, taken at ${r.virtualLocal})`
    return r ?? null
  }

  async function makePlan(key: string, site: string): Promise<RestorePlan | null> {
    plan.value = null
    planFor.value = null
    const r = await action.run(`plan the restore of ${site}`, () => ipc().call('backup/plan', { key, site }))
    if (r) { plan.value = r; planFor.value = { key, site } }
    return r ?? null
  }

  async function restore(confirm: string): Promise<RestoreJobResult | null> {
    const p = planFor.value
    if (!p) return null
    const r = await runJob<RestoreJobResult>(`restore ${p.site}`, () => ipc().call('backup/restore', { key: p.key, site: p.site, confirm }))
    if (r) { last.value = `${p.site} restored from backup ${r.plan.backupId}: ${r.rows} row(s) written`; plan.value = null; planFor.value = null }
    return r
  }

  function clearPlan(): void { plan.value = null; planFor.value = null }

  return { held, running, last, plan, planFor, pending: action.pending, error: action.error, load, take, cancel, fileBlob, upload, makePlan, restore, clearPlan }
})
