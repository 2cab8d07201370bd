/**
 * What the console, the CLI and scenarios read about failover (engine/cluster/failover.ts, docs/FAILOVER.md):
 * each site's backup feed and its lag, which host serves which role, and the report of a promotion.
 */
import type { SiteCode } from '../topology/types'

/** Asynchronous is the default (spec §2: the backup server is "continuously fed from the primary"). */
export type FeedMode = 'sync' | 'async'
export const FEED_MODES: readonly FeedMode[] = ['async', 'sync']

export type PromotionKind = 'failover' | 'switchover' | 'failback'

export interface PromotionReport {
  site: SiteCode
  kind: PromotionKind
  by: 'hand' | 'auto'
  /** The feed mode in force at promotion. */
  mode: FeedMode
  /** Virtual time of the command, and of the promoted server accepting writes. */
  commandAt: number
  acceptingAt: number
  /** Recovery time objective met: acceptingAt − commandAt, virtual ms. */
  rtoMs: number
  /** Recovery point: committed (acknowledged) local transactions not on the backup at promotion, and their rows. */
  rpoTxns: number
  rpoRows: number
  /** The site's commit sequence numbers of the transactions lost (at most 50 listed). */
  lostSeqs: number[]
  /** Host names (each site has two database hosts, db1 and db2, whose roles swap). */
  promotedHost: string
  demotedHost: string
  /** From the promoted server's copy of the 2PC log: participants in doubt (READY) and coordinator records carried on. */
  inDoubt: number
  coordinators: number
  /** Records of the 2PC log copy the promotion read. */
  twopcRecords: number
}

export interface FeedView {
  site: SiteCode
  mode: FeedMode
  /** Synchronous feed that could not reach the backup at the last commit (running alone). */
  degraded: boolean
  primaryHost: string
  backupHost: string
  /** The site runs on its original primary host (false after a failover, until a fail back). */
  original: boolean
  primaryUp: boolean
  backupUp: boolean
  /** Committed local batches (transactions) not yet applied at the backup, their rows, and the age of the oldest (virtual ms). */
  lagBatches: number
  lagRows: number
  lagMs: number
  /** Last commit seq at the site and the last one applied at the backup. */
  seq: number
  backupSeq: number
  /** Feed batches on the LAN now. */
  inflight: number
  /** The backup's copy of the site's 2PC log: records held, records on the LAN. */
  twopcRecords: number
  twopcInflight: number
  /** The old primary rejoins as backup: waiting for its repair, or its base copy is on the LAN. */
  rejoin: 'none' | 'waiting-repair' | 'reseeding'
  promoting: boolean
  last?: PromotionReport
}

export interface FailoverView {
  sites: FeedView[]
  auto: { enabled: boolean; checks: number; intervalMs: number }
  /** Every promotion so far, newest last. */
  history: PromotionReport[]
}
