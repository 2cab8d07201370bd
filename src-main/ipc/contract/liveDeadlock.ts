/**
 * The Deadlocks console over live PostgreSQL servers (src-main/pg/livedeadlock.ts): the global wait-for graph the
 * live mode's detector merges from every server's pg_stat_activity × pg_blocking_pids, its cycles and the victims
 * it cancelled; and the cross-server deadlock demo (a job) between two real sessions per transaction. Refused in
 * the simulation (UNSUPPORTED): there the embedded calls deadlock/* serve the console.
 */
import { z } from 'zod'
import { call, siteCode } from './define'
import type { JobView } from '../../../engine/api/views'

/** One wait at one server: `from` waits for `to` there (the backends' pids, the lock asked for, the waiting statement). */
export interface LiveWaitEdge { site: string; from: string; to: string; fromPid: number; toPid: number; lock: string; query: string }
/** A transaction of the graph: a global one (application_name iddb:<txn>) or an anonymous backend (`CMB:pid123`). */
export interface LiveWfgNode { name: string; global: boolean; startedAt: string | null; waitingAt: string[]; holdsAt: string[] }
export interface LiveWfgGraph {
  /** Every server's waits (per-server edges). */
  edges: LiveWaitEdge[]
  /** The merged global graph (one edge per waiter → holder, whichever servers it holds at). */
  global: { from: string; to: string }[]
  /** One elementary cycle per deadlocked group, in wait order. */
  cycles: string[][]
  nodes: LiveWfgNode[]
}
/** A deadlock the detector broke. */
export interface LiveDeadlockRecord {
  id: number
  /** Wall time of the cancellation (ISO). */
  at: string
  /** The group's members, sorted. */
  cycle: string[]
  victim: string
  /** The victim's waiting backends that were cancelled (pg_cancel_backend). */
  cancelled: { site: string; pid: number }[]
  /** The servers the cycle crosses. */
  sites: string[]
  /** From the poll that first saw the cycle to its cancellation, ms. */
  confirmMs: number
  /** The graph as the cycle stood (the confirming poll). */
  graph: LiveWfgGraph
}
export interface LiveWfgView extends LiveWfgGraph {
  running: boolean
  intervalMs: number
  polls: number
  /** The last poll's wall time (ISO; null before the first) and how long it took, ms (every server at once). */
  at: string | null
  pollMs: number | null
  /** Each site's primary as the detector watches it: its port, the last poll's ms there, or why it could not be polled. */
  servers: { site: string; port: number; ms: number | null; error?: string }[]
  /** Cycles seen once, awaiting confirmation on the next poll. */
  suspects: string[][]
  /** Cycles with a member that is not a global transaction: left to that server's own deadlock detector. */
  ignored: string[][]
  /** The detector's victims, newest first. */
  history: LiveDeadlockRecord[]
  demoRunning: boolean
}
/** What the demo did: the cycle, the victim rolled back at both servers, the survivor committed at both (2PC). */
export interface LiveDeadlockDemoResult {
  transactions: string[]
  sites: [string, string]
  /** The rows locked: one stock row at each site (each transaction writes both; the updates add zero). */
  rows: { site: string; table: string; key: string }[]
  cycle: string[]
  victim: string
  survivor: string
  cancelled: { site: string; pid: number }[]
  /** Sites where the victim was rolled back / the survivor committed (PREPARE TRANSACTION, COMMIT PREPARED). */
  victimRolledBack: string[]
  survivorCommitted: string[]
  /** Each transaction's xid at each server (txid_current), and what the server says of it afterwards (txid_status). */
  xids: Record<string, Record<string, { xid: string; status: string }>>
  /** From the moment both waits were sent (the cycle formed) to the victim's statement cancelled, ms. */
  detectionMs: number
  elapsedMs: number
  /** The detector's record of it. */
  record: LiveDeadlockRecord
}

export const liveDeadlockCalls = {
  'liveDeadlock/graph': call(z.object({ history: z.number().int().min(0).max(200).default(50) }).strict()).returns<LiveWfgView>(),
  /** A job whose result is a LiveDeadlockDemoResult; one at a time. */
  'liveDeadlock/demo': call(z.object({ a: siteCode.default('CMB'), b: siteCode.default('KDY') }).strict()).returns<JobView>(),
}
