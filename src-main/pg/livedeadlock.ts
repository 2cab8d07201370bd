/**
 * The console's global deadlock detector over live PostgreSQL sites, and its demo. In live mode the engine
 * worker runs one LiveDeadlockWatch: its own monitoring connection to every site's primary (application_name
 * `iddb-deadlock-monitor`, so it is never taken for a transaction), a GlobalDeadlockDetector (deadlock.ts) polled
 * on a timer (every 500 ms wall time, one statement per server, the servers polled at once), which breaks every
 * confirmed cycle among global transactions (application_name `iddb:<txn>`) by cancelling its youngest member's
 * waiting statements. It keeps the last poll's merged graph and the history of its victims for the console.
 *
 * A server that cannot be polled (stopped, failed over) is reported in the view and connected again at a later
 * poll, from the deployment's current pg.json (a failover moves a site's primary to another port); the others
 * are still watched.
 *
 * The demo (runDeadlockDemo) builds a real cross-server deadlock: two global transactions T1 and T2, each with a
 * session of its own at both sites; T1 updates a stock row at a, T2 one at b, then each asks for the other's row.
 * Neither server sees a cycle; the detector confirms it and cancels the victim's waiting statement; the demo rolls
 * the victim back at both servers and commits the survivor at both with two-phase commit (PREPARE TRANSACTION,
 * COMMIT PREPARED). The updates add zero, so the stock is as it was; what changed is which transaction wrote the
 * rows last (their xmin is the survivor's xid at each server).
 */
import pg from 'pg'
import { EngineError } from '../../engine/errors'
import { GlobalDeadlockDetector, TXN_PREFIX, type WaitEdge, type WaitsAnalysis, type ServerWaits } from './deadlock'
import { loginOf, readDeployment, type PgDeployment, type PgLogin, hostOf } from './servers'
import type { LiveDeadlockDemoResult, LiveDeadlockRecord, LiveWfgGraph, LiveWfgView } from '../ipc/contract/liveDeadlock'

export const WATCH_INTERVAL_MS = 500
const KEEP_HISTORY = 200
const MONITOR_APP = 'iddb-deadlock-monitor'
const CONNECT_MS = 3_000
/** No poll waits longer for a server (one that froze is reported, and its connection made again). */
const POLL_TIMEOUT_MS = 2_000

interface Monitor { site: string; port: number; client: pg.Client; lost: boolean }

/** The drawing of one poll: per-server edges, the merged graph, its cycles, and who waits and holds where. */
export function graphOf(waits: readonly ServerWaits[], a: Pick<WaitsAnalysis, 'wfg' | 'cycles'>): LiveWfgGraph {
  const edges = waits.flatMap((w) => w.edges.map((e: WaitEdge) => ({ site: e.site, from: e.waiter, to: e.holder, fromPid: e.waiterPid, toPid: e.holderPid, lock: e.lock, query: e.query })))
  const global: { from: string; to: string }[] = []
  for (const [from, tos] of a.wfg) for (const to of new Set(tos)) global.push({ from, to })
  const started = new Map<string, number>()
  for (const w of waits) for (const [n, t] of w.started) started.set(n, Math.min(started.get(n) ?? Infinity, t))
  const isGlobal = new Set(waits.flatMap((w) => [...w.global]))
  const names = [...new Set(edges.flatMap((e) => [e.from, e.to]))].sort()
  const at = (n: string, k: 'from' | 'to') => [...new Set(edges.filter((e) => e[k] === n).map((e) => e.site))].sort()
  const nodes = names.map((name) => {
    const t = started.get(name)
    return { name, global: isGlobal.has(name), startedAt: t !== undefined && Number.isFinite(t) ? new Date(t).toISOString() : null, waitingAt: at(name, 'from'), holdsAt: at(name, 'to') }
  })
  return { edges, global, cycles: a.cycles, nodes }
}

export class LiveDeadlockWatch {
  private monitors = new Map<string, Monitor>()
  private detector: GlobalDeadlockDetector
  private timer: NodeJS.Timeout | null = null
  private ticking: Promise<void> | null = null
  private stopped = false
  private seq = 0
  private firstSeen = new Map<string, number>()
  private waiters: { pred: (r: LiveDeadlockRecord) => boolean; done: (r: LiveDeadlockRecord) => void }[] = []
  private serverState = new Map<string, { port: number; ms: number | null; error?: string }>()
  readonly history: LiveDeadlockRecord[] = []
  polls = 0
  demoRunning = false

  constructor(readonly dataDir: string, readonly intervalMs = WATCH_INTERVAL_MS) {
    this.detector = new GlobalDeadlockDetector(() => [...this.monitors.values()].filter((m) => !m.lost).map((m) => ({ site: m.site, client: m.client })), { globalOnly: true })
  }

  get running(): boolean { return this.timer !== null || this.ticking !== null }

  /** Starts polling (the first poll at once). */
  start(): this {
    this.stopped = false
    if (!this.running) this.schedule(0)
    return this
  }

  private schedule(ms: number): void {
    if (this.stopped) return
    this.timer = setTimeout(() => {
      this.timer = null
      this.ticking = this.tick().catch((e) => { console.error('[deadlock] a poll failed:', e) }).finally(() => { this.ticking = null; this.schedule(this.intervalMs) })
    }, ms)
    this.timer.unref()
  }

  /** Connects every site's primary that has no working monitoring connection (the deployment read again). */
  private async connect(): Promise<void> {
    const want = [...this.monitors.values()].some((m) => m.lost) || this.monitors.size === 0 || this.serverState.size > this.monitors.size
    if (!want) return
    let d: PgDeployment, logins: Map<string, PgLogin>
    try { d = readDeployment(this.dataDir); const dd = d; logins = new Map(d.sites.map((s) => [s.code, loginOf(this.dataDir, dd, s.primary)])) } catch (e) {
      for (const s of this.serverState.keys()) this.serverState.set(s, { ...this.serverState.get(s)!, ms: null, error: (e as Error).message })
      return
    }
    await Promise.all(d.sites.map(async (s) => {
      const had = this.monitors.get(s.code)
      if (had && !had.lost && had.port === s.primary.port) return
      if (had) { this.monitors.delete(s.code); void had.client.end().catch(() => {}) }
      const client = new pg.Client({ ...logins.get(s.code)!, application_name: MONITOR_APP, connectionTimeoutMillis: CONNECT_MS, statement_timeout: POLL_TIMEOUT_MS, query_timeout: POLL_TIMEOUT_MS + 1_000 })
      const m: Monitor = { site: s.code, port: s.primary.port, client, lost: false }
      client.on('error', () => { m.lost = true }) // a server that went away: connected again at a later poll
      try {
        await client.connect()
        this.monitors.set(s.code, m)
        this.serverState.set(s.code, { port: s.primary.port, ms: null })
      } catch (e) {
        void client.end().catch(() => {})
        this.serverState.set(s.code, { port: s.primary.port, ms: null, error: `cannot connect to ${hostOf(d, s.primary)}:${s.primary.port}: ${(e as Error).message}` })
      }
    }))
  }

  /** One round: connect what is missing, poll every server, break what is confirmed, record it. */
  async tick(): Promise<void> {
    await this.connect()
    const found = await this.detector.poll()
    this.polls++
    const last = this.detector.last!
    for (const w of last.waits) {
      const m = this.monitors.get(w.site)
      if (w.error && m) m.lost = true
      this.serverState.set(w.site, { port: m?.port ?? this.serverState.get(w.site)?.port ?? 0, ms: Math.round(w.ms * 100) / 100, ...(w.error ? { error: w.error } : {}) })
    }
    const now = Date.now()
    const seen = new Set([...last.analysis.suspects.map((c) => c.join(',')), ...found.map((f) => f.cycle.join(','))])
    for (const k of [...this.firstSeen.keys()]) if (!seen.has(k)) this.firstSeen.delete(k)
    for (const c of last.analysis.suspects) if (!this.firstSeen.has(c.join(','))) this.firstSeen.set(c.join(','), last.at)
    if (!found.length) return
    const graph = graphOf(last.waits, last.analysis)
    for (const f of found) {
      const key = f.cycle.join(',')
      const rec: LiveDeadlockRecord = {
        id: ++this.seq, at: new Date(now).toISOString(), cycle: f.cycle, victim: f.victim, cancelled: f.cancelled,
        sites: [...new Set(f.edges.map((e) => e.site))].sort(), confirmMs: now - (this.firstSeen.get(key) ?? last.at), graph,
      }
      this.firstSeen.delete(key)
      this.history.push(rec)
      if (this.history.length > KEEP_HISTORY) this.history.shift()
      for (const w of [...this.waiters]) if (w.pred(rec)) { this.waiters.splice(this.waiters.indexOf(w), 1); w.done(rec) }
    }
  }

  /** The first deadlock broken from now on that `pred` accepts; rejects with TIMEOUT after `timeoutMs`. */
  waitFor(pred: (r: LiveDeadlockRecord) => boolean, timeoutMs: number): Promise<LiveDeadlockRecord> {
    return new Promise((resolve, reject) => {
      const w = { pred, done: (r: LiveDeadlockRecord) => { clearTimeout(t); resolve(r) } }
      const t = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1)
        reject(new EngineError('TIMEOUT', `the deadlock detector broke no such deadlock within ${timeoutMs} ms (${this.running ? 'it is running' : 'it is stopped'})`))
      }, timeoutMs)
      this.waiters.push(w)
    })
  }

  view(historyLimit = 50): LiveWfgView {
    const last = this.detector.last
    const graph = last ? graphOf(last.waits, last.analysis) : { edges: [], global: [], cycles: [], nodes: [] }
    return {
      ...graph,
      running: this.running, intervalMs: this.intervalMs, polls: this.polls,
      at: last ? new Date(last.at).toISOString() : null, pollMs: last ? Math.round(this.detector.lastPollMs * 100) / 100 : null,
      servers: [...this.serverState].map(([site, s]) => ({ site, ...s })).sort((a, b) => a.site.localeCompare(b.site)),
      suspects: last?.analysis.suspects ?? [], ignored: last?.analysis.ignored ?? [],
      history: this.history.slice(-historyLimit).reverse(), demoRunning: this.demoRunning,
    }
  }

  /** Stops polling and closes the monitoring connections (waits for a poll under way). */
  async stop(): Promise<void> {
    this.stopped = true
    if (this.timer) { clearTimeout(this.timer); this.timer = null }
    await Promise.race([this.ticking, sleep(POLL_TIMEOUT_MS + 1_000)])
    await Promise.all([...this.monitors.values()].map((m) => m.client.end().catch(() => {})))
    this.monitors.clear()
  }
}

/** The watch of each live mode (keyed by its LiveSites, or anything standing for it: its data directory is what counts). */
const watches = new WeakMap<object, LiveDeadlockWatch>()

/** The live mode's watch, started on first use (the engine worker starts it when live mode opens). */
export function liveDeadlockWatch(live: { dataDir: string }): LiveDeadlockWatch {
  let w = watches.get(live)
  if (!w) { w = new LiveDeadlockWatch(live.dataDir).start(); watches.set(live, w) }
  return w
}

export async function stopLiveDeadlockWatch(live: { dataDir: string }): Promise<void> {
  const w = watches.get(live)
  watches.delete(live)
  await w?.stop()
}

/** A session of a demo transaction at one server, with its statements' state (for the cleanup). */
interface Session { txn: string; site: string; client: pg.Client; pid: number; xid: string; pending: number; inTxn: boolean }

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const qid = (s: string) => `"${s.replace(/"/g, '""')}"`
const CANCELLED = '57014'

/**
 * The cross-server deadlock demo between sites a and b (see the file's comment). Needs the watch running; one at
 * a time. `progress` reports its steps. Whatever fails, nothing is left waiting, open or prepared at the servers.
 */
export async function runDeadlockDemo(watch: LiveDeadlockWatch, o: { a: string; b: string; progress?: (p: number, detail: string) => void; cancelled?: () => boolean; timeoutMs?: number }): Promise<LiveDeadlockDemoResult> {
  const { a, b } = o
  if (a === b) throw new EngineError('BAD_INPUT', `the demo needs two different sites (got ${a} twice): a deadlock across servers`)
  const d = readDeployment(watch.dataDir)
  for (const s of [a, b]) if (!d.sites.some((x) => x.code === s)) throw new EngineError('UNKNOWN_SITE', `no site ${s} in the deployment (sites: ${d.sites.map((x) => x.code).join(', ')})`, { site: s })
  if (watch.demoRunning) throw new EngineError('CONFLICT', 'a deadlock demo is already running: wait for its result')
  if (!watch.running) throw new EngineError('NOT_READY', 'the deadlock detector is not running')
  const server = (site: string) => d.sites.find((x) => x.code === site)!.primary
  const logins = new Map([a, b].map((s) => [s, loginOf(watch.dataDir, d, server(s))]))
  const port = (site: string) => server(site).port
  const progress = o.progress ?? (() => {})
  const t0 = performance.now()
  const sessions: Session[] = []
  const prepared: { s: Session; gid: string }[] = []
  let committing = false
  watch.demoRunning = true
  try {
    const open = async (txn: string, site: string): Promise<Session> => {
      const client = new pg.Client({ ...logins.get(site)!, application_name: `${TXN_PREFIX}${txn}`, connectionTimeoutMillis: CONNECT_MS })
      client.on('error', () => {})
      const s: Session = { txn, site, client, pid: 0, xid: '', pending: 0, inTxn: false }
      sessions.push(s)
      try { await client.connect() } catch (e) { throw new EngineError('UNREACHABLE', `${site}'s server (${hostOf(d, server(site))}:${port(site)}) cannot be reached: ${(e as Error).message}`, { site }) }
      // a backstop: whatever happens to the detector, no statement of the demo waits for a lock longer than this
      await client.query(`SET lock_timeout = '${Math.round((o.timeoutMs ?? 15_000) * 2)}ms'`)
      s.pid = Number((await client.query('SELECT pg_backend_pid() AS p')).rows[0].p)
      return s
    }
    const q = async (s: Session, sql: string, params: unknown[] = []) => {
      s.pending++
      try { return await s.client.query(sql, params) } finally { s.pending-- }
    }
    // the rows: the first stock row of each site's own stock fragment
    const rowAt = async (site: string, via: Session) => {
      const tables = [`Stock_${site}`, `Stock_${site}_LCL`]
      const r = await q(via, 'SELECT t FROM unnest($1::text[]) AS t WHERE to_regclass(quote_ident(t)) IS NOT NULL LIMIT 1', [tables])
      const table = r.rows[0]?.t as string | undefined
      if (!table) throw new EngineError('NOT_FOUND', `no stock fragment (${tables.join(' or ')}) at ${site}`, { site })
      const k = await q(via, `SELECT "STOCKCODE" AS k FROM ${qid(table)} ORDER BY 1 LIMIT 1`)
      if (!k.rows.length) throw new EngineError('NOT_FOUND', `${table} at ${site} is empty: nothing to lock`, { site })
      return { site, table, key: String(k.rows[0].k) }
    }
    const t1 = { [a]: await open('T1', a), [b]: await open('T1', b) }
    const rows = { [a]: await rowAt(a, t1[a]), [b]: await rowAt(b, t1[b]) }
    const upd = (site: string) => `UPDATE ${qid(rows[site].table)} SET "QTY" = "QTY" + 0 WHERE "STOCKCODE" = $1`
    const begin = async (s: Session) => { await q(s, 'BEGIN'); s.inTxn = true; s.xid = String((await q(s, 'SELECT txid_current()::text AS x')).rows[0].x) }
    await begin(t1[a]); await begin(t1[b])
    await q(t1[a], upd(a), [rows[a].key])
    await sleep(20) // T2 starts after T1: T2 is the younger
    const t2 = { [a]: await open('T2', a), [b]: await open('T2', b) }
    await begin(t2[a]); await begin(t2[b])
    await q(t2[b], upd(b), [rows[b].key])
    progress(0.2, `T1 holds ${rows[a].table} ${rows[a].key} at ${a}, T2 holds ${rows[b].table} ${rows[b].key} at ${b}`)
    // each now asks for the other's row, at the other server: neither server sees a cycle
    const since = Date.now()
    const decided = watch.waitFor((r) => r.cycle.includes('T1') && r.cycle.includes('T2') && Date.parse(r.at) >= since, o.timeoutMs ?? 15_000)
    decided.catch(() => {})
    const tCycle = performance.now()
    const ask = (s: Session, site: string) => q(s, upd(site), [rows[site].key]).then(() => ({ ok: true as const, at: performance.now() }), (e: Error & { code?: string }) => ({ ok: false as const, at: performance.now(), code: e.code, message: e.message }))
    const waits: Record<string, ReturnType<typeof ask>> = { T1: ask(t1[b], b), T2: ask(t2[a], a) }
    progress(0.4, `T1 waits for T2 at ${b}, T2 waits for T1 at ${a}: a cycle only the global graph shows`)
    // a cancelled job stops waiting at once (the cleanup below ends both transactions)
    let poll: NodeJS.Timeout | undefined
    const stopped = new Promise<never>((_, reject) => { poll = setInterval(() => { if (o.cancelled?.()) reject(new EngineError('CANCELLED', 'the deadlock demo was cancelled: T1 and T2 rolled back')) }, 50) })
    stopped.catch(() => {})
    const record = await Promise.race([decided, stopped]).finally(() => clearInterval(poll))
    const victim = record.victim
    const survivor = victim === 'T1' ? 'T2' : 'T1'
    const [vs, ss] = victim === 'T1' ? [t1, t2] : [t2, t1]
    const ended = await waits[victim]
    if (ended.ok || ended.code !== CANCELLED) throw new EngineError('EXPECTATION_FAILED', `the victim ${victim}'s waiting statement ${ended.ok ? 'was granted' : `ended otherwise: ${ended.message}`}, not cancelled by the detector`)
    const detectionMs = Math.round(ended.at - tCycle)
    progress(0.6, `the detector cancelled ${victim} after ${detectionMs} ms; rolling it back at ${a} and ${b}`)
    const victimRolledBack: string[] = []
    for (const site of [a, b]) { await q(vs[site], 'ROLLBACK'); vs[site].inTxn = false; victimRolledBack.push(site) }
    const granted = await waits[survivor]
    if (!granted.ok) throw new EngineError('EXPECTATION_FAILED', `the survivor ${survivor}'s statement failed after the victim rolled back: ${granted.message}`)
    // the survivor commits at both servers: PREPARE TRANSACTION at each, then COMMIT PREPARED at each
    const gidBase = `iddb-deadlock-demo-${Date.now()}-${survivor}`
    for (const site of [a, b]) {
      const gid = `${gidBase}-${site}`
      await q(ss[site], `PREPARE TRANSACTION '${gid}'`)
      ss[site].inTxn = false
      prepared.push({ s: ss[site], gid })
    }
    committing = true // prepared at both: the decision is COMMIT, and nothing may roll it back now
    const survivorCommitted: string[] = []
    while (prepared.length) {
      const { s, gid } = prepared[0]
      await q(s, `COMMIT PREPARED '${gid}'`)
      prepared.shift()
      survivorCommitted.push(s.site)
    }
    progress(0.9, `${survivor} committed at ${survivorCommitted.join(' and ')}`)
    // what each server says of each transaction now (a session of T1's at that server asks: all are idle again)
    const xids: LiveDeadlockDemoResult['xids'] = {}
    for (const [txn, ses] of [['T1', t1], ['T2', t2]] as const) {
      xids[txn] = {}
      for (const site of [a, b]) xids[txn][site] = { xid: ses[site].xid, status: String((await q(t1[site], 'SELECT txid_status($1::bigint) AS s', [ses[site].xid])).rows[0]?.s ?? 'unknown') }
    }
    return {
      transactions: ['T1', 'T2'], sites: [a, b], rows: [rows[a], rows[b]], cycle: record.cycle, victim, survivor, cancelled: record.cancelled,
      victimRolledBack, survivorCommitted, xids, detectionMs, elapsedMs: Math.round(performance.now() - t0), record,
    }
  } finally {
    // nothing left behind: a statement still waiting is cancelled, an open transaction rolled back, a prepared one finished
    for (const s of sessions) if (s.pending > 0) {
      const c = new pg.Client({ ...logins.get(s.site)!, application_name: MONITOR_APP, connectionTimeoutMillis: CONNECT_MS })
      c.on('error', () => {})
      try { await c.connect(); await c.query('SELECT pg_cancel_backend($1)', [s.pid]) } catch { /* the server is gone: its backends with it */ } finally { await c.end().catch(() => {}) }
    }
    for (const s of sessions) {
      for (let i = 0; i < 100 && s.pending > 0; i++) await sleep(20)
      if (s.inTxn) await s.client.query('ROLLBACK').catch(() => {})
    }
    // prepared but not decided: rolled back; decided (COMMIT) but not finished at a server: committed again if it answers,
    // else left prepared there (in pg_prepared_xacts, for the administrator) — never rolled back against the decision
    for (const { s, gid } of prepared) await s.client.query(`${committing ? 'COMMIT' : 'ROLLBACK'} PREPARED '${gid}'`).catch(() => {})
    await Promise.all(sessions.map((s) => s.client.end().catch(() => {})))
    watch.demoRunning = false
  }
}
