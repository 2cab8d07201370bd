/** Views of backups and restores (engine/backup): shared by the engine, the IPC contract and the console. */
import type { SiteCode } from '../topology/types'

export const BACKUP_FORMAT = 'iddb-backup'

/** Bytes per chunk of a backup file sent or received over IPC (a save downloads, an upload sends, chunk by chunk). */
export const BACKUP_CHUNK_BYTES = 128 * 1024

export interface BackupFileEntry {
  site: SiteCode
  file: string
  bytes: number
  sha256: string
  /** The site's last committed record (its commit-log sequence number) the image holds. */
  seq: number
  schemaVersion: string
  /** Rows per fragment table of the site at the cut. */
  rows: Record<string, number>
}

export interface BackupManifest {
  format: typeof BACKUP_FORMAT
  version: number
  id: string
  /** 'cluster' = every site at one consistent cut; 'site' = the listed site(s). */
  scope: 'site' | 'cluster'
  sites: SiteCode[]
  /** Virtual time of the cut (ms since the epoch of the simulated clock) and its local form. */
  virtualAt: number
  virtualLocal: string
  /** Wall-clock time the backup was taken (ISO 8601). */
  wallAt: string
  files: BackupFileEntry[]
}

export interface RestoreTablePlan {
  table: string
  kind: string
  /** Restored from the backup (own data) or kept current (replica, derived fragment, copy). */
  restored: boolean
  insert: number
  delete: number
  revert: number
  rowsNow: number
  rowsAfter: number
}

export interface RestorePlan {
  backupId: string
  site: SiteCode
  backupAt: number
  backupLocal: string
  backupSeq: number
  currentSeq: number
  /** Commits at the site after the backup: their effect on the restored tables is undone. */
  lostCommits: number
  tables: RestoreTablePlan[]
  /** Rows the restore writes (inserted + deleted + reverted). */
  changes: number
  message: string
}
