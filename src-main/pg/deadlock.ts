/**
 * Global deadlock detection over live PostgreSQL sites. Each server knows only its own waits, so a cycle that
 * crosses servers (T1 waits for T2 at KDY, T2 for T1 at CMB) is invisible to every server's own detector and
 * would hold both transactions until a lock timeout. The detector polls every server's waits
 * (pg_stat_activity × pg_blocking_pids), names each backend by the global transaction it works for
 * (application_name `iddb:<txn>`, set by whoever opens the connection), merges the per-server wait-for graphs
 * into one (the same Tarjan detector as the embedded sites: engine/txn/wfg.ts), confirms a cycle on two
 * consecutive polls (a wait seen once may be ending), and cancels the youngest member's waiting statements
 * (pg_cancel_backend): its client sees the cancellation, rolls the transaction back at every site, and the
 * others go on.
 *
 * The analysis of one poll (analyseWaits) is pure; the detector adds the servers and the state between polls.
 * The console's live mode runs one detector on a timer (livedeadlock.ts).
 */
import type pg from 'pg'
import { cycleIn, deadlockedComponents, unionWfg, type Wfg } from '../../engine/txn/wfg'

export const TXN_PREFIX = 'iddb:'

/** One monitoring connection per server (the detector never runs statements of its own transactions on it). */
export interface WatchedServer { site: string; client: pg.Client }

export interface WaitEdge {
  site: string; waiter: string; holder: string; waiterPid: number; holderPid: number
  /**
   * The lock the waiter asked for there, as pg_locks names it, and the table of the row it waits for when it holds
   * that row's tuple lock (a row update waiting for the holder's transaction: 'ShareLock on transactionid (a row of "Stock_KDY")').
   */
  lock: string
  /** The waiter's statement (its first 200 characters). */
  query: string
}
export interface ServerWaits {
  site: string; edges: WaitEdge[]; started: Map<string, number>
  /** The names that are global transactions (application_name iddb:<txn>), not anonymous backends. */
  global: Set<string>
  ms: number
  /** Why the server could not be polled (then it has no edges). */
  error?: string
}

export interface DeadlockFound {
  cycle: string[]
  victim: string
  /** The waiting backends of the victim that were cancelled. */
  cancelled: { site: string; pid: number }[]
  /** Each server's part of the cycle (who waits for whom there). */
  edges: WaitEdge[]
}

/** A backend's global name: its transaction when it works for one, else the backend itself. */
const nameOf = (site: string, app: string | null, pid: number) => (app && app.startsWith(TXN_PREFIX) && app.length > TXN_PREFIX.length ? app.slice(TXN_PREFIX.length) : `${site}:pid${pid}`)

const WAITS_SQL = `
SELECT w.pid AS wpid, w.application_name AS wapp, b.pid AS bpid, b.application_name AS bapp,
       (EXTRACT(EPOCH FROM w.xact_start) * 1000)::float8 AS wstart, (EXTRACT(EPOCH FROM b.xact_start) * 1000)::float8 AS bstart,
       left(w.query, 200) AS wquery,
       (SELECT l.mode || ' on ' || l.locktype || COALESCE(' of ' || l.relation::regclass::text, '')
          FROM pg_locks l WHERE l.pid = w.pid AND NOT l.granted LIMIT 1) AS wlock,
       (SELECT string_agg(DISTINCT l.relation::regclass::text, ', ') FROM pg_locks l WHERE l.pid = w.pid AND l.locktype = 'tuple') AS wrow
FROM pg_stat_activity w
CROSS JOIN LATERAL unnest(pg_blocking_pids(w.pid)) AS bp(pid)
JOIN pg_stat_activity b ON b.pid = bp.pid
WHERE w.wait_event_type = 'Lock'`

/** One server's waits, as edges between global transactions. */
export async function serverWaits(s: WatchedServer): Promise<ServerWaits> {
  const t0 = performance.now()
  const r = await s.client.query(WAITS_SQL)
  const started = new Map<string, number>()
  const global = new Set<string>()
  const edges: WaitEdge[] = []
  type Row = { wpid: number; wapp: string | null; bpid: number; bapp: string | null; wstart: number | null; bstart: number | null; wquery: string | null; wlock: string | null; wrow: string | null }
  for (const x of r.rows as Row[]) {
    const waiter = nameOf(s.site, x.wapp, x.wpid)
    const holder = nameOf(s.site, x.bapp, x.bpid)
    if (waiter === holder) continue // two backends of one transaction at one site: not a wait between transactions
    edges.push({ site: s.site, waiter, holder, waiterPid: x.wpid, holderPid: x.bpid, lock: `${x.wlock ?? 'a lock'}${x.wrow ? ` (a row of ${x.wrow})` : ''}`, query: x.wquery ?? '' })
    for (const [n, app] of [[waiter, x.wapp], [holder, x.bapp]] as const) if (app?.startsWith(TXN_PREFIX)) global.add(n)
    for (const [n, t] of [[waiter, x.wstart], [holder, x.bstart]] as const) if (t !== null) started.set(n, Math.min(started.get(n) ?? Infinity, t))
  }
  return { site: s.site, edges, started, global, ms: performance.now() - t0 }
}

/** What one poll shows: the merged graph, its deadlocked groups, and those confirmed (seen by the previous poll too). */
export interface WaitsAnalysis {
  wfg: Wfg
  /** Every deadlocked group, its members sorted (the confirmation key). */
  groups: string[][]
  /** One elementary cycle per group, in wait order (a waits for b waits for … a), for drawing. */
  cycles: string[][]
  /** Groups seen by the previous poll as well: broken now, each with its victim and its edges at the servers. */
  confirmed: { cycle: string[]; victim: string; edges: WaitEdge[] }[]
  /** Groups seen for the first time, awaiting confirmation; and groups left to the servers (not all global transactions). */
  suspects: string[][]
  ignored: string[][]
  /** The keys to remember for the next poll. */
  seen: Set<string>
}

/**
 * The pure part of a detection round. `lastSeen`: the group keys of the previous poll. With `globalOnly`, a group
 * with a member that is not a global transaction (an anonymous backend, `CMB:pid123`) is left alone: such a cycle
 * lies within one server, whose own deadlock detector breaks it.
 */
export function analyseWaits(waits: readonly ServerWaits[], lastSeen: ReadonlySet<string>, o: { globalOnly?: boolean } = {}): WaitsAnalysis {
  const parts = waits.map((w) => {
    const m = new Map<string, string[]>()
    for (const e of w.edges) m.set(e.waiter, [...(m.get(e.waiter) ?? []), e.holder])
    return m
  })
  const wfg = unionWfg(parts)
  const comps = deadlockedComponents(wfg)
  const global = new Set(waits.flatMap((w) => [...w.global]))
  const started = new Map<string, number>()
  for (const w of waits) for (const [n, t] of w.started) started.set(n, Math.min(started.get(n) ?? Infinity, t))
  const edges = waits.flatMap((w) => w.edges)
  const groups = comps.map((c) => [...c].sort())
  const out: WaitsAnalysis = { wfg, groups, cycles: comps.map((c) => cycleIn(wfg, c)), confirmed: [], suspects: [], ignored: [], seen: new Set() }
  for (const cycle of groups) {
    if (o.globalOnly && !cycle.every((n) => global.has(n))) { out.ignored.push(cycle); continue }
    const key = cycle.join(',')
    if (!lastSeen.has(key)) { out.suspects.push(cycle); out.seen.add(key); continue }
    // the youngest transaction (latest start; ties: the greatest name) loses the least work
    const victim = [...cycle].sort((a, b) => (started.get(b) ?? 0) - (started.get(a) ?? 0) || (a < b ? 1 : -1))[0]
    const members = new Set(cycle)
    out.confirmed.push({ cycle, victim, edges: edges.filter((e) => members.has(e.waiter) && members.has(e.holder)) })
  }
  return out
}

export class GlobalDeadlockDetector {
  /** Cycles seen by the last poll (sorted member lists), for the two-poll confirmation. */
  private lastSeen = new Set<string>()
  lastPollMs = 0
  /** What the last poll saw (null before the first). */
  last: { waits: ServerWaits[]; analysis: WaitsAnalysis; at: number } | null = null

  /**
   * `servers`: the monitoring connections, or a function giving them at each poll (a watcher that reconnects).
   * `globalOnly`: break only cycles among global transactions (see analyseWaits).
   */
  constructor(private servers: WatchedServer[] | (() => WatchedServer[]), private opts: { globalOnly?: boolean } = {}) {}

  private list(): WatchedServer[] { return typeof this.servers === 'function' ? this.servers() : this.servers }

  /** The merged wait-for graph of every server right now (all servers polled at once; one that fails has no edges and its error). */
  async graph(): Promise<{ wfg: Wfg; waits: ServerWaits[] }> {
    const t0 = performance.now()
    const waits = await Promise.all(this.list().map((s) => serverWaits(s).catch((e: Error): ServerWaits => ({ site: s.site, edges: [], started: new Map(), global: new Set(), ms: performance.now() - t0, error: e.message }))))
    this.lastPollMs = performance.now() - t0
    const parts = waits.map((w) => {
      const m = new Map<string, string[]>()
      for (const e of w.edges) m.set(e.waiter, [...(m.get(e.waiter) ?? []), e.holder])
      return m
    })
    return { wfg: unionWfg(parts), waits }
  }

  /**
   * One detection round: poll, find the cycles, and break each one seen in the previous round as well
   * (confirmed) by cancelling its youngest transaction's waiting statements. Returns what it broke.
   */
  async poll(): Promise<DeadlockFound[]> {
    const at = Date.now()
    const { waits } = await this.graph()
    const analysis = analyseWaits(waits, this.lastSeen, this.opts)
    this.lastSeen = analysis.seen
    this.last = { waits, analysis, at }
    const found: DeadlockFound[] = []
    for (const { cycle, victim, edges } of analysis.confirmed) {
      const cancelled: { site: string; pid: number }[] = []
      for (const e of edges.filter((x) => x.waiter === victim)) {
        const server = this.list().find((s) => s.site === e.site)
        if (!server) continue
        const r = await server.client.query('SELECT pg_cancel_backend($1) AS ok', [e.waiterPid]).catch(() => null)
        if (r?.rows[0]?.ok) cancelled.push({ site: e.site, pid: e.waiterPid })
      }
      found.push({ cycle, victim, cancelled, edges })
    }
    return found
  }
}
