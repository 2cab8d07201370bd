/**
 * Distributed transactions (DTM) and deadlocks: interactive transactions at a site, 2PC timelines,
 * in-doubt transactions and their manual resolution, wait-for graphs and deadlock history.
 * Statements inside transactions are global SQL (no site: localized by the DTM with the DQP's catalog
 * into per-site operations, e.g. UPDATE EMPLOYEES SET SALARY = SALARY * 1.1 WHERE BRCODE = 'KDY'), or
 * fragment-level at a named site (UPDATE Stock_KDY SET QTY = QTY - 5 WHERE STOCKCODE = 'S001' at KDY).
 */
import { z } from 'zod'
import { call, event, noInput, siteCode } from './define'
import { sessionToken } from './security'
import type { DeadlockRecord, InDoubtView, TimelineEvent, TxnView, WfgView } from '../../../engine/api/txn'

export type { DeadlockRecord, InDoubtView, TimelineEvent, TxnView, WfgView }

const gid = z.string().regex(/^[A-Z]{3}-\d{1,9}$/, 'a transaction id looks like CMB-12')
const protocol = z.enum(['centralized', 'linear', 'distributed'])

export interface TxnListView {
  now: number
  protocol: 'centralized' | 'linear' | 'distributed'
  scheme: 'detect' | 'wound-wait'
  victim: 'youngest' | 'oldest' | 'fewest-locks'
  transactions: TxnView[]
  stats: { committed: number; aborted: number; unknown: number; inDoubtResolved: number; messages: number; series: { t: number; committed: number; aborted: number }[] }
  summary: { active: number; inDoubt: number; locks: number; waiting: number; coordinators: number }
  crashHooks: { site: string; step: string }[]
}

export interface TxnExecView {
  gid: string; site: string; ok: boolean; rows: Record<string, string | number | null>[]; affected: number | null; error: string | null; virtualMs: number; pending: boolean
  /** A global statement: the per-site operations it was localized into (null for a fragment-level statement at a site). */
  localized: { site: string; fragment: string; sql: string }[] | null
  errorCode?: string
}
export interface TxnCommitView { gid: string; outcome: 'COMMIT' | 'ABORT' | 'UNKNOWN' | 'PENDING'; reason: string | null; latencyMs: number | null }
export interface TxnTimelineView { gid: string; sites: string[]; events: TimelineEvent[]; txn: TxnView | null }
export interface DeadlockDemoView { victims: string[]; transactions: string[]; detectedAt: number | null; graph: WfgView }

export const txnCalls = {
  'txn/list': call(z.object({ limit: z.number().int().min(1).max(1000).default(200) }).strict()).returns<TxnListView>(),
  /** With `session`, every statement of the transaction is checked against that session's security level. */
  'txn/begin': call(z.object({ site: siteCode, protocol: protocol.optional(), session: sessionToken.optional() }).strict()).returns<{ gid: string }>(),
  'txn/exec': call(z.object({
    gid,
    /** Omitted: a global statement, localized to the fragments' sites. Given: a fragment-level statement at that site. */
    site: siteCode.optional(),
    sql: z.string().min(1, 'the SQL text is empty').max(10_000),
    params: z.array(z.union([z.string().max(1000), z.number(), z.null()])).max(100).default([]),
    /** Virtual milliseconds to let the simulation run while waiting for the result (locks may make it wait). */
    waitMs: z.number().min(0).max(600_000).default(10_000),
  }).strict()).returns<TxnExecView>(),
  'txn/commit': call(z.object({ gid, waitMs: z.number().min(0).max(600_000).default(30_000) }).strict()).returns<TxnCommitView>(),
  'txn/abort': call(z.object({ gid }).strict()).returns<TxnCommitView>(),
  'txn/timeline': call(z.object({ gid }).strict()).returns<TxnTimelineView>(),
  'txn/inDoubt': call(noInput).returns<InDoubtView[]>(),
  'txn/resolve': call(z.object({ gid, site: siteCode, decision: z.enum(['COMMIT', 'ABORT']) }).strict()).returns<InDoubtView[]>(),
  'txn/setProtocol': call(z.object({
    protocol: protocol.optional(),
    scheme: z.enum(['detect', 'wound-wait']).optional(),
    victim: z.enum(['youngest', 'oldest', 'fewest-locks']).optional(),
  }).strict()).returns<TxnListView>(),
  'txn/crashAt': call(z.object({
    site: siteCode,
    step: z.enum(['wait', 'prepare', 'ready', 'vote', 'decide', 'commit', 'ack']),
    restartAfterMs: z.number().min(0).max(3_600_000).optional(),
  }).strict()).returns<TxnListView>(),
  'deadlock/graph': call(noInput).returns<WfgView>(),
  'deadlock/history': call(z.object({ limit: z.number().int().min(1).max(500).default(100) }).strict()).returns<DeadlockRecord[]>(),
  'deadlock/demo': call(z.object({ a: siteCode.default('CMB'), b: siteCode.default('KDY'), resolve: z.boolean().default(true) }).strict()).returns<DeadlockDemoView>(),
}

export const txnEvents = {
  'txn/changed': event<{ at: number; summary: TxnListView['summary'] }>(),
}
