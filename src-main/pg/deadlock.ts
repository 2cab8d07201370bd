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
 */
import type pg from 'pg'
import { deadlockedComponents, unionWfg, type Wfg } from '../../engine/txn/wfg'

export const TXN_PREFIX = 'iddb:'

/** One monitoring connection per server (the detector never runs statements of its own transactions on it). */
export interface WatchedServer { site: string; client: pg.Client }

export interface WaitEdge { site: string; waiter: string; holder: string; waiterPid: number; holderPid: number }
export interface ServerWaits { site: string; edges: WaitEdge[]; started: Map<string, number>; ms: number }

export interface DeadlockFound {
  cycle: string[]
  victim: string
  /** The waiting backends of the victim that were cancelled. */
  cancelled: { site: string; pid: number }[]
  /** Each server's part of the cycle (who waits for whom there). */
  edges: WaitEdge[]
}

/** A backend's global name: its transaction when it works for one, else the backend itself. */
const nameOf = (site: string, app: string | null, pid: number) => (app && app.startsWith(TXN_PREFIX) ? app.slice(TXN_PREFIX.length) : `${site}:pid${pid}`)

const WAITS_SQL = `
SELECT w.pid AS wpid, w.application_name AS wapp, b.pid AS bpid, b.application_name AS bapp,
       (EXTRACT(EPOCH FROM w.xact_start) * 1000)::float8 AS wstart, (EXTRACT(EPOCH FROM b.xact_start) * 1000)::float8 AS bstart
FROM pg_stat_activity w
CROSS JOIN LATERAL unnest(pg_blocking_pids(w.pid)) AS bp(pid)
JOIN pg_stat_activity b ON b.pid = bp.pid
WHERE w.wait_event_type = 'Lock'`

/** One server's waits, as edges between global transactions. */
export async function serverWaits(s: WatchedServer): Promise<ServerWaits> {
  const t0 = performance.now()
  const r = await s.client.query(WAITS_SQL)
  const started = new Map<string, number>()
  const edges: WaitEdge[] = []
  for (const x of r.rows as { wpid: number; wapp: string | null; bpid: number; bapp: string | null; wstart: number | null; bstart: number | null }[]) {
    const waiter = nameOf(s.site, x.wapp, x.wpid)
    const holder = nameOf(s.site, x.bapp, x.bpid)
    if (waiter === holder) continue // two backends of one transaction at one site: not a wait between transactions
    edges.push({ site: s.site, waiter, holder, waiterPid: x.wpid, holderPid: x.bpid })
    for (const [n, t] of [[waiter, x.wstart], [holder, x.bstart]] as const) if (t !== null) started.set(n, Math.min(started.get(n) ?? Infinity, t))
  }
  return { site: s.site, edges, started, ms: performance.now() - t0 }
}

export class GlobalDeadlockDetector {
  /** Cycles seen by the last poll (sorted member lists), for the two-poll confirmation. */
  private lastSeen = new Set<string>()
  lastPollMs = 0

  constructor(private servers: WatchedServer[]) {}

  /** The merged wait-for graph of every server right now (all servers polled at once). */
  async graph(): Promise<{ wfg: Wfg; waits: ServerWaits[] }> {
    const t0 = performance.now()
    const waits = await Promise.all(this.servers.map((s) => serverWaits(s)))
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
    const { wfg, waits } = await this.graph()
    const comps = deadlockedComponents(wfg).map((c) => [...c].sort())
    const seen = new Set(comps.map((c) => c.join(',')))
    const confirmed = comps.filter((c) => this.lastSeen.has(c.join(',')))
    this.lastSeen = seen
    const found: DeadlockFound[] = []
    const started = new Map<string, number>()
    for (const w of waits) for (const [n, t] of w.started) started.set(n, Math.min(started.get(n) ?? Infinity, t))
    const edges = waits.flatMap((w) => w.edges)
    for (const cycle of confirmed) {
      // the youngest transaction (latest start; ties: the greatest name) loses the least work
      const victim = [...cycle].sort((a, b) => (started.get(b) ?? 0) - (started.get(a) ?? 0) || (a < b ? 1 : -1))[0]
      const members = new Set(cycle)
      const mine = edges.filter((e) => members.has(e.waiter) && members.has(e.holder))
      const cancelled: { site: string; pid: number }[] = []
      for (const e of mine.filter((x) => x.waiter === victim)) {
        const server = this.servers.find((s) => s.site === e.site)!
        const r = await server.client.query('SELECT pg_cancel_backend($1) AS ok', [e.waiterPid])
        if (r.rows[0]?.ok) cancelled.push({ site: e.site, pid: e.waiterPid })
      }
      found.push({ cycle, victim, cancelled, edges: mine })
      this.lastSeen.delete(cycle.join(','))
    }
    return found
  }
}
