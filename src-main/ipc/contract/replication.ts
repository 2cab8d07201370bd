import { z } from 'zod'
import { call, siteCode } from './define'

/** What an administrator's recovery action did, for the console and the CLI. */
export interface RecoveryResult {
  site: string
  from: 'backup' | 'repository'
  /** Rows now at the site (repository restore) or log records redone after loading the backup image. */
  rows: number
  /** Virtual milliseconds the transfer over the network took (0 for the site-local backup). */
  virtualMs: number
  message: string
  /** The site serves again (its router and primary are up). */
  serving: boolean
  /** What is left to do before the site serves (null when it serves). */
  stepLeft: string | null
}

export interface CopyRefreshResult {
  copy: string; site: string; rows: number; virtualMs: number; refreshedAt: number
  /** Rows the refresh shipped (upserted + deleted), its bytes on the wire, and whether it was incremental. */
  changed: number; bytes: number; mode: 'incremental' | 'full'
}

export const replicationCalls = {
  /**
   * Recover a branch by hand: `backup` reloads the site's primary from its backup server and redoes the
   * primary's log past it (media recovery); `repository` restores the branch's fragments from the Colombo
   * main repository over the WAN.
   */
  /** A restore of the site's data (from its backup server, or a branch's from the main repository): `confirm` is the site's code typed by the administrator. */
  'replication/recover': call(z.object({ site: siteCode, from: z.enum(['backup', 'repository']), confirm: z.string().max(16) }).strict()).returns<RecoveryResult>(),
  /** Refresh a scheduled copy now (e.g. Stock_MBI at Colombo), as the noon / end-of-day schedule does. */
  'replication/refreshCopy': call(z.object({ copy: z.string().regex(/^[A-Za-z_]{1,40}$/) }).strict()).returns<CopyRefreshResult>(),
}
