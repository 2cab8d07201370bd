/**
 * The Replication & Backup and Backups consoles over live PostgreSQL servers (live mode only; in the simulation
 * every call is refused with UNSUPPORTED): the servers' replication state, backups with pg_dump kept with the
 * deployment (DIR/backups) and restores from them, failover with pg_promote and a standby rebuilt from the
 * promoted server, and the Stock_MBI refresh between the real servers. Long work is a job (its result below).
 */
import { z } from 'zod'
import { call, noInput, siteCode } from './define'
import type { JobView } from '../../../engine/api/views'
import type { ErrorInfo } from '../../../engine/errors'

/** A backup's manifest (src-main/pg/backup.ts writes it beside the dump as <file>.json). */
export interface PgBackupManifest {
  format: 'iddb-pg-backup'
  version: 1
  site: string
  database: string
  server: string
  pgVersion: string
  takenAt: string
  file: string
  bytes: number
  sha256: string
  tables: Record<string, { rows: number; md5: string }>
}

export interface LiveStandbyLink {
  /** The standby's application_name as the primary sees it. */
  application: string
  state: string
  sync: string
  /** WAL sent to the standby but not yet replayed there, bytes (null until it reports). */
  lagBytes: number | null
  /** pg_stat_replication.replay_lag, ms (null when there is nothing to wait for). */
  replayLagMs: number | null
}

export interface LiveServerState {
  id: string
  /** The role pg.json gives the server. */
  role: 'primary' | 'standby'
  port: number
  running: boolean
  /** What the server says (pg_is_in_recovery); null when it could not be asked. */
  inRecovery: boolean | null
  /** Its current WAL position (pg_current_wal_lsn at a primary, pg_last_wal_replay_lsn at a standby). */
  lsn: string | null
  error?: string
}

export interface LiveSiteReplication {
  site: string
  primary: LiveServerState
  standby: LiveServerState
  /** The primary's standbys (pg_stat_replication). */
  links: LiveStandbyLink[]
  /** Standby: how far behind its last replayed transaction is, ms (null: nothing replayed yet, or not a standby). */
  replayDelayMs: number | null
  /** The port the console's connections to the site go to now. */
  consolePort: number | null
  /** Primary up and writable, and its standby streaming. */
  healthy: boolean
  /** What is wrong, in a sentence (null when healthy). */
  problem: string | null
}

/** One origin site of the live replication applier (src-main/pg/propagate.ts), as of the applier's last pass over it. */
export interface LivePropagationOrigin {
  site: string
  /** Committed changes waiting in its outbox for a copy elsewhere; null until the applier has read it. */
  pending: number | null
  /** The outbox held a full batch: `pending` is a lower bound. */
  more: boolean
  /** Why its changes wait (a target that cannot be reached, …); null when the last pass drained it. */
  error: string | null
  /** When the applier last read its outbox (ms since the epoch); null: not yet. */
  checkedAt: number | null
  /** Where its changes go: `<site>` (a primary's copy) or `<site> repository`. */
  targets: string[]
  /** Its tables whose change capture (the outbox trigger) is not in place yet: writes made there beside the console wait for it. */
  uncaptured: string[]
}

/** The live replication applier: every site's committed changes carried to the other copies (transactional outbox). */
export interface LivePropagationStatus {
  origins: LivePropagationOrigin[]
  /** Outbox entries applied at every target and removed since the console started. */
  applied: number
}

export interface LiveReplicationStatus {
  deployment: string
  at: string
  /** Where the main repository is (its site's server) and its database. */
  repository: { site: string; database: string }
  sites: LiveSiteReplication[]
  /** The applier between the sites' servers; null when the console runs no applier (no live sites open). */
  propagation: LivePropagationStatus | null
}

export interface LiveBackupEntry {
  /** The manifest's file name in DIR/backups (what a restore names). */
  name: string
  /** Whether the manifest and its dump check out (present, right size, right SHA-256). */
  ok: boolean
  error?: ErrorInfo
  manifest: PgBackupManifest | null
  /** Rows over every table, as the manifest records them. */
  rows: number
}

export interface StockRefreshResult {
  copy: string
  site: string
  source: string
  sourceSite: string
  rows: number
  /** md5 over the rows in key order (backup.ts's table checksum), equal at the source and at the copy. */
  md5: string
  ms: number
}


/** The result of a liveBackup/take job. */
/** A physical backup (pg_basebackup) in DIR/backups: its directory, checked against its manifest when listed. */
export interface LiveBaseBackupEntry {
  /** The backup's directory name. */
  name: string
  ok: boolean
  site: string | null
  server: string | null
  takenAt: string | null
  /** The WAL position the backup is consistent as of. */
  endLsn: string | null
  bytes: number
  /** Why it does not check out (a file whose size or SHA-256 differs, a manifest that cannot be read). */
  error: ErrorInfo | null
}

export interface LiveBaseBackupJobResult { backup: LiveBaseBackupEntry; tables: number; durationMs: number }

/** A base backup restored into a scratch server and compared with the tables' checksums its manifest records. */
export interface LiveBaseVerifyResult {
  name: string
  site: string
  endLsn: string
  sourceLsn: string
  /** pg_verifybackup's verdict on the extracted backup. */
  verifybackup: string
  tables: { table: string; rows: number; expectedRows: number; equal: boolean }[]
  equal: boolean
  ms: number
}

/** A base backup restored in place at its site (verified in a scratch server first); what the restored tables hold. */
export interface LiveBaseRestoreResult {
  name: string
  site: string
  endLsn: string
  sourceLsn: string
  /** The primary's data directory as it was before, kept aside (nothing of it deleted). */
  kept: string
  /** Whether the scratch server's tables equalled the manifest before the site was touched. */
  verifiedFirst: boolean
  /** Rows the site held before the restore and not after, deleted at its copies through the outbox (null: not known, the primary did not answer). */
  deletedAtCopies: number | null
  /** The repository's server restored (the main repository with it): its rows the sites had deleted after the backup, deleted from it. */
  prunedFromRepository?: number
  tables: { table: string; rows: number; expectedRows: number; equal: boolean }[]
  equal: boolean
  ms: number
}

export interface LiveBackupJobResult { backup: LiveBackupEntry; rows: number; bytes: number; durationMs: number }
/** The result of a liveBackup/restore job: what the restored database holds (equal to the manifest). */
export interface LiveRestoreJobResult {
  site: string; database: string; manifest: string; tables: number; rows: number; durationMs: number
  /** The main repository restored: its rows that the sites had deleted after the backup, deleted from it too. */
  pruned?: number
}
export interface LiveFailoverResult {
  site: string
  /** The server that is the site's primary now, and its port (the console's connections go there). */
  promoted: string
  port: number
  /** Wall time from the command to the promoted server accepting writes, ms. */
  rtoMs: number
  oldPrimaryWasRunning: boolean
  /** An attached site's: how the old primary was fenced, and what is left to the servers' own machines. */
  notes?: string[]
}
export interface LiveRebuildJobResult { site: string; standby: string; port: number; durationMs: number }

/** The site's code typed by the administrator (checked again by the handler). */
const confirm = z.string().max(16)
/** A manifest's file name in DIR/backups (the handler checks it further). */
const manifest = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,150}\.dump\.json$/, 'a backup manifest is named <SITE>-<time>.dump.json')

export const liveReplCalls = {
  /** Each site's primary and standby as they say of themselves, pg_stat_replication's state, sync state and lag. */
  'liveRepl/status': call(noInput).returns<LiveReplicationStatus>(),
  /** Copy Stock_MBI from Mumbai's server into Colombo's copy in one transaction (rows and checksum). */
  'liveRepl/refresh': call(noInput).returns<StockRefreshResult>(),
  /** pg_dump of a site's database (or, with repository, the main repository) into DIR/backups: a job. */
  'liveBackup/take': call(z.object({ site: siteCode, repository: z.boolean().default(false) }).strict()).returns<JobView>(),
  /** The backups in DIR/backups, newest first, each checked against its manifest. */
  'liveBackup/list': call(noInput).returns<LiveBackupEntry[]>(),
  /** pg_basebackup of a site's primary (a physical copy of its whole server, WAL included) into DIR/backups: a job. */
  'liveBackup/takeBase': call(z.object({ site: siteCode }).strict()).returns<JobView>(),
  /** The physical backups in DIR/backups, newest first, each checked against its manifest. */
  'liveBackup/listBase': call(noInput).returns<LiveBaseBackupEntry[]>(),
  /** Restores a physical backup into a scratch server (pg_verifybackup, then every table's checksum compared) and removes it: a job. */
  'liveBackup/verifyBase': call(z.object({ name: z.string().regex(/^[A-Z]{3}-base-[0-9TZ-]{10,40}$/, 'a base backup\'s directory name') }).strict()).returns<JobView>(),
  /** Restores a site's primary from a physical backup, in place (verified in a scratch server first; the old data directory kept aside; the standby rebuilt): `confirm` is the site's code. A job. */
  'liveBackup/restoreBase': call(z.object({ name: z.string().regex(/^[A-Z]{3}-base-[0-9TZ-]{10,40}$/, 'a base backup\'s directory name'), confirm }).strict()).returns<JobView>(),
  /** Restore a site's database from a backup (verified in a scratch database first): `confirm` is the site's code. A job. */
  'liveBackup/restore': call(z.object({ manifest, site: siteCode, confirm }).strict()).returns<JobView>(),
  /** Promote the site's standby (pg_promote); the console's connections to the site follow it. */
  'liveFailover/promote': call(z.object({ site: siteCode, confirm }).strict()).returns<LiveFailoverResult>(),
  /** Build the site's standby afresh from its primary (pg_basebackup) and make it synchronous: a job. */
  'liveFailover/rebuildStandby': call(z.object({ site: siteCode, confirm }).strict()).returns<JobView>(),
}
