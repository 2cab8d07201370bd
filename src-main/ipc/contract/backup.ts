import { z } from 'zod'
import { call, noInput, siteCode } from './define'
import type { BackupFileEntry, RestorePlan } from '../../../engine/api/backup'
import type { JobView } from '../../../engine/api/views'
import { BACKUP_CHUNK_BYTES } from '../../../engine/api/backup'

export type { RestorePlan }

/** A backup the engine holds (taken in this session, or uploaded from a file the administrator kept). */
export interface BackupView {
  /** The store's key (the manifest id; an uploaded copy of a backup still held gets `…~up<n>`). */
  key: string
  id: string
  origin: 'taken' | 'uploaded' | 'scheduled'
  /** The backup schedule that made it (scheduled ones). */
  schedule: string | null
  scope: 'site' | 'cluster'
  sites: string[]
  virtualAt: number
  virtualLocal: string
  wallAt: string
  files: BackupFileEntry[]
  bytes: number
  rows: number
  /** Wall milliseconds the backup took (taken ones). */
  durationMs: number | null
}

/** The result of a backup job: the backup, plus the job's rows and bytes (the Jobs page shows them). */
export interface BackupJobResult { backup: BackupView; rows: number; bytes: number; durationMs: number }
export interface RestoreJobResult { plan: RestorePlan; rows: number; bytes: number; durationMs: number; seq: number }

/** One chunk of a backup file (download): base64 of bytes [offset, offset + length). */
export interface BackupChunk { key: string; file: string; offset: number; length: number; total: number; data: string }

export interface UploadState { upload: string; files: { file: string; received: number; total: number }[]; backup: BackupView | null }

/** Largest chunk a download returns and an upload takes (raw bytes; base64 is a third larger); defined in engine/api so the renderer can import it without the contract's zod. */
export { BACKUP_CHUNK_BYTES }

const key = z.string().regex(/^[A-Za-z0-9+~_-]{1,100}$/)
const fileName = z.string().regex(/^([A-Z]{3}\.sqlite|manifest\.json)$/, 'a backup file is <SITE>.sqlite or manifest.json')

export const backupCalls = {
  /** Back up sites by hand ('all' = every site at one consistent cut): a job whose result is the backup. */
  'backup/take': call(z.object({ sites: z.union([z.literal('all'), z.array(siteCode).min(1).max(32)]) }).strict()).returns<JobView>(),
  'backup/list': call(noInput).returns<BackupView[]>(),
  /** Fetch a backup file in chunks (the console saves them: a download in the browser, a save dialog in Electron). */
  'backup/read': call(z.object({ key, file: fileName, offset: z.number().int().min(0) }).strict()).returns<BackupChunk>(),
  /** Upload a kept backup's files in chunks (manifest.json and the .sqlite files); the backup is listed when all have arrived. */
  'backup/upload': call(z.object({
    upload: z.string().regex(/^[A-Za-z0-9_-]{1,40}$/), file: fileName, offset: z.number().int().min(0), total: z.number().int().min(1).max(2 ** 31),
    data: z.string().max(Math.ceil(BACKUP_CHUNK_BYTES / 3) * 4),
  }).strict()).returns<UploadState>(),
  /** Validate a backup for a site and state what restoring it would change and lose (changes nothing). */
  'backup/plan': call(z.object({ key, site: siteCode }).strict()).returns<RestorePlan>(),
  /** Restore a site's own data from a backup: `confirm` is the site's code typed by the administrator. A job. */
  'backup/restore': call(z.object({ key, site: siteCode, confirm: z.string().max(16) }).strict()).returns<JobView>(),
}
