/**
 * Backups by hand and restores from them (engine/backup). A backup is a job (progress, cancel, rows, bytes,
 * duration); the engine keeps the newest few in memory for the console to save (backup/read, chunked) and to
 * restore from; a backup the administrator kept comes back by upload (backup/upload, chunked). A restore is a
 * job too, preceded by its plan (backup/plan: validation and what it loses) and confirmed by the site's code.
 */
import { EngineError } from '../../engine/errors'
import { MANIFEST_FILE, parseManifest } from '../../engine/backup/format'
import { backupBytes, backupRows, takeBackup } from '../../engine/backup/snapshot'
import { planRestore, restoreFromFile } from '../../engine/backup/restore'
import { backupStore, type Held } from '../../engine/backup/store'
import { jobLog } from '../../engine/cluster/joblog'
import type { HandlerMap } from './context'
import { BACKUP_CHUNK_BYTES, type BackupJobResult, type BackupView, type RestoreJobResult, type UploadState } from '../ipc/contract/backup'

type BackupCall = 'backup/take' | 'backup/list' | 'backup/read' | 'backup/upload' | 'backup/plan' | 'backup/restore'

export { KEEP_BACKUPS, KEEP_BACKUP_BYTES, backupStore } from '../../engine/backup/store'

export function backupView(h: Held): BackupView {
  const m = h.set.manifest
  return {
    key: h.key, id: m.id, origin: h.origin, schedule: h.schedule, scope: m.scope, sites: m.sites, virtualAt: m.virtualAt, virtualLocal: m.virtualLocal, wallAt: m.wallAt,
    files: m.files, bytes: backupBytes(h.set), rows: backupRows(h.set), durationMs: h.durationMs,
  }
}

const fileBytes = (h: Held, file: string): Uint8Array => {
  if (file === MANIFEST_FILE) return new TextEncoder().encode(`${JSON.stringify(h.set.manifest, null, 2)}\n`)
  const b = h.set.files.get(file)
  if (!b) throw new EngineError('NOT_FOUND', `backup ${h.key} has no file ${file} (it holds ${[...h.set.files.keys()].join(', ')})`)
  return b
}

export const backupHandlers: HandlerMap<BackupCall> = {
  'backup/take': async (ctx, { sites }) => {
    const c = ctx.cluster
    if (sites !== 'all') for (const s of sites) c.site(s) // UNKNOWN_SITE before the job starts
    const label = sites === 'all' ? 'backup of every site (one cut)' : `backup of ${sites.join(', ')}`
    return ctx.jobs.start('backup', label, async (job): Promise<BackupJobResult> => {
      const t0 = performance.now()
      const set = await takeBackup(c, sites, job, Date.now, { hostJob: job.id })
      const durationMs = Math.round(performance.now() - t0)
      const h = backupStore(c).add(set, 'taken', durationMs)
      const view = backupView(h)
      job.progress(1, `${view.bytes.toLocaleString('en')} bytes, ${view.rows.toLocaleString('en')} rows`)
      return { backup: view, rows: view.rows, bytes: view.bytes, durationMs }
    })
  },
  'backup/list': async (ctx) => backupStore(ctx.cluster).held.map(backupView).reverse(),
  'backup/read': async (ctx, { key, file, offset }) => {
    const h = backupStore(ctx.cluster).get(key)
    const b = fileBytes(h, file)
    if (offset > b.length) throw new EngineError('BAD_INPUT', `${file} of backup ${key} has ${b.length} bytes; offset ${offset} is past its end`)
    const part = b.subarray(offset, Math.min(b.length, offset + BACKUP_CHUNK_BYTES))
    return { key, file, offset, length: part.length, total: b.length, data: Buffer.from(part).toString('base64') }
  },
  'backup/upload': async (ctx, { upload, file, offset, total, data }) => {
    const st = backupStore(ctx.cluster)
    let u = st.uploads.get(upload)
    if (!u) {
      u = { files: new Map(), touched: Date.now() }
      st.uploads.set(upload, u)
      for (const [k, x] of st.uploads) if (st.uploads.size > 4 && x !== u) st.uploads.delete(k) // bounded: the oldest go
    }
    let f = u.files.get(file)
    if (!f) { f = { total, received: 0, chunks: [] }; u.files.set(file, f) }
    if (f.total !== total) throw new EngineError('BAD_INPUT', `${file}: upload ${upload} began with ${f.total} bytes, this chunk says ${total}`)
    if (offset !== f.received) throw new EngineError('BAD_INPUT', `${file}: expected the chunk at offset ${f.received}, got ${offset}`)
    const bytes = new Uint8Array(Buffer.from(data, 'base64'))
    if (f.received + bytes.length > total) throw new EngineError('BAD_INPUT', `${file}: more bytes than the ${total} announced`)
    f.chunks.push(bytes)
    f.received += bytes.length
    const state: UploadState = { upload, files: [...u.files].map(([n, x]) => ({ file: n, received: x.received, total: x.total })), backup: null }
    const whole = (x: { received: number; total: number }) => x.received === x.total
    const m = u.files.get(MANIFEST_FILE)
    if (!m || !whole(m)) return state
    const manifest = parseManifest(Buffer.concat(m.chunks).toString('utf8'), `uploaded ${MANIFEST_FILE}`)
    const pending = manifest.files.filter((e) => { const x = u.files.get(e.file); return !x || !whole(x) })
    if (pending.length) return state
    const files = new Map<string, Uint8Array>()
    for (const [n, x] of u.files) if (n !== MANIFEST_FILE) files.set(n, new Uint8Array(Buffer.concat(x.chunks)))
    st.uploads.delete(upload)
    const h = st.add({ manifest, files }, 'uploaded', null)
    return { ...state, backup: backupView(h) }
  },
  'backup/plan': async (ctx, { key, site }) => planRestore(ctx.cluster, backupStore(ctx.cluster).get(key).set, site),
  'backup/restore': async (ctx, { key, site, confirm }) => {
    const c = ctx.cluster
    const h = backupStore(c).get(key)
    planRestore(c, h.set, site) // a bad file or site is refused here, before any job starts
    if (confirm !== site) throw new EngineError('BAD_INPUT', `type the site's code ${site} to confirm the restore (got "${confirm}")`, { site })
    return ctx.jobs.start('restore', `restore of ${site} from backup ${key}`, async (job): Promise<RestoreJobResult> => {
      const t0 = performance.now()
      const rec = jobLog(c).start({ kind: 'restore', site, label: `restore of ${site} from backup ${key}`, hostJob: job.id })
      let done: Awaited<ReturnType<typeof restoreFromFile>>
      try { done = await restoreFromFile(c, h.set, site, confirm, job) } catch (e) { rec.fail(e, { wallMs: Math.round(performance.now() - t0) }); throw e }
      rec.done({ rows: done.changes, bytes: h.set.manifest.files.find((f) => f.site === site)?.bytes ?? 0, wallMs: Math.round(performance.now() - t0), detail: `record ${done.seq}` })
      ctx.emit('catalog/changed', { reason: `${site} restored from backup ${key}` })
      const entry = h.set.manifest.files.find((f) => f.site === site)!
      return { plan: done, seq: done.seq, rows: done.changes, bytes: entry.bytes, durationMs: Math.round(performance.now() - t0) }
    })
  },
}
