/** Execution context of one distributed query: sub-queries at sites, messages through the simulated network, steps and per-link bytes. */
import { EngineError } from '../errors'
import type { Cluster } from '../cluster'
import type { SiteCode } from '../topology/types'
import type { QueryResult, SqlValue } from '../site/sqljs'
import { ENCRYPTION_OVERHEAD_BYTES, MESSAGE_HEADER_BYTES } from '../net/network'
import { embeddedStoreOf, siteStoreOf, type SiteRead, type SiteReadBatcher, type SiteReadOutcome } from './stores'
import type { Database, Statement } from 'sql.js'
import { rowsBytes } from './sqltext'
import type { PlanStep } from './types'
import { HOLD, ROWS_PER_CHECK, runToEnd, type QueryGen, type Tick, type Yielded } from './coop'
import { guardError } from './guard'

// ---- execution context: messages through the simulated network ------------------------------
export interface RemoteJob {
  from: SiteCode; site: SiteCode; server: 'primary' | 'repository'; to: SiteCode; sql: string; params?: SqlValue[]; extraBytes: number
  label: string; estRows: number; estBytes: number
  /** The statement executed at the site: `sql` with the statement guard (see guard.ts); `sql` is what the plan shows and the request is sized by. */
  runSql?: string
}

/**
 * Adds one message's bytes (with headers) to each link of its route (LAN:<SITE> for a local one); returns the
 * route. `exact`: the bytes are what crossed a live server's connection (its protocol's own framing included):
 * no modelled header or encryption overhead is added.
 */
export function accountBytes(cluster: Cluster, perLink: Record<string, number>, from: SiteCode, to: SiteCode, bytes: number, exact = false): string[] {
  const route = cluster.net.route(from, to) ?? [from, to]
  const header = exact ? 0 : MESSAGE_HEADER_BYTES
  if (route.length === 1) { const k = `LAN:${from}`; perLink[k] = (perLink[k] ?? 0) + bytes + header; return route }
  for (let i = 0; i + 1 < route.length; i++) {
    const l = cluster.net.linkBetween(route[i], route[i + 1])
    if (!l) continue
    perLink[l.spec.id] = (perLink[l.spec.id] ?? 0) + bytes + header + (l.spec.encrypted && !exact ? ENCRYPTION_OVERHEAD_BYTES : 0)
  }
  return route
}

export class ExecCtx {
  readonly steps: PlanStep[] = []
  readonly perLink: Record<string, number> = {}
  private start: number
  private end: number
  constructor(private cluster: Cluster, readonly querySite: SiteCode) { this.start = cluster.sim.now; this.end = this.start }

  clock(): number { return this.cluster.sim.now - this.start }
  elapsed(): number { return this.end - this.start }

  step(s: Omit<PlanStep, 'id'>): void { this.steps.push({ id: this.steps.length + 1, ...s }) }

  // ---- progress of a cooperative run: units of work done / planned (sub-queries, assembly, writes) ----
  private unitsDone = 0
  private unitsTotal = 0
  /** Set by a write: checkpoints check cancellation but do not yield to the event loop (see coop.ts). */
  hold = false
  /** A plain checkpoint (HOLD while a write runs). */
  checkpoint(): Yielded { return this.hold ? HOLD : undefined }
  /** Adds planned units of work (the total grows as the plan unfolds, e.g. retries on another copy). */
  plan(units: number): void { this.unitsTotal += units }
  /** Marks one unit done and returns the progress tick to yield. */
  done(detail: string): Tick { this.unitsDone++; return this.tick(detail) }
  tick(detail: string): Tick { return { done: this.unitsDone, total: Math.max(this.unitsTotal, this.unitsDone), detail, ...(this.hold ? { hold: true } : {}) } }

  private account(from: SiteCode, to: SiteCode, bytes: number, exact = false): string[] { return accountBytes(this.cluster, this.perLink, from, to, bytes, exact) }

  /** The request steps of the sub-queries at stores that count their connections' bytes (QuerySiteStore.wireCounted), by job. */
  private wireRequests = new Map<RemoteJob, PlanStep>()

  /** Sends one message and runs the simulation until it is delivered or lost. */
  message(from: SiteCode, to: SiteCode, kind: string, bytes: number, stepKind: PlanStep['kind'], note: string): void {
    const t0 = this.clock()
    let done = false, lost: string | undefined
    const route = this.account(from, to, bytes)
    this.cluster.net.send({ from, to, kind, bytes, payload: null, onDeliver: () => { done = true }, onDrop: (r) => { lost = r; done = true } })
    this.cluster.sim.runUntilTrue(() => done)
    if (!done) lost = 'not delivered'
    if (lost) throw new EngineError('UNREACHABLE', `${kind} from ${from} to ${to} was lost (${lost})`, { site: to })
    this.end = Math.max(this.end, this.cluster.sim.now)
    this.step({ kind: stepKind, site: from, to, estBytes: bytes, actualBytes: bytes, route, startMs: t0, endMs: this.clock(), note })
  }

  /** Runs sub-queries at their sites in parallel (request → execute on delivery → ship result). */
  parallel(jobs: RemoteJob[]): ({ ok: true; rows: SqlValue[][]; columns: string[] } | { ok: false; reason: string })[] {
    return runToEnd(this.parallelGen(jobs))
  }

  /**
   * Generator form of parallel(): the simulation runs until a request is delivered, then the sub-query is
   * executed at that virtual instant (stepping its rows, with checkpoints) before the simulation resumes, so
   * the virtual times equal those of running it inside the delivery event.
   */
  *parallelGen(jobs: RemoteJob[]): QueryGen<({ ok: true; rows: SqlValue[][]; columns: string[] } | { ok: false; reason: string })[]> {
    const out: ({ ok: true; rows: SqlValue[][]; columns: string[] } | { ok: false; reason: string } | undefined)[] = jobs.map(() => undefined)
    let pending = jobs.length
    const t0 = this.clock()
    const ready: number[] = []
    const finish = (i: number, v: NonNullable<typeof out[number]>) => { if (out[i] === undefined) { out[i] = v; pending-- } }
    jobs.forEach((j, i) => {
      const reqBytes = j.sql.length + j.extraBytes
      const fail = (reason: string) => finish(i, { ok: false, reason })
      // a live server's request is counted once it has crossed (executeAt), as many bytes as its connection carried
      const counted = !!siteStoreOf(this.cluster, j.site)?.wireCounted
      try {
        const route = counted ? this.cluster.net.route(j.from, j.site) ?? [j.from, j.site] : this.account(j.from, j.site, reqBytes)
        this.cluster.net.send({
          from: j.from, to: j.site, kind: j.extraBytes ? 'dqp.semijoin' : 'dqp.subquery', bytes: reqBytes, payload: null,
          onDeliver: () => {
            this.step({ kind: j.extraBytes ? 'semijoin-keys' : 'request', site: j.from, to: j.site, fragment: j.label, actualBytes: reqBytes, estBytes: reqBytes, route, startMs: t0, endMs: this.clock() })
            if (counted) this.wireRequests.set(j, this.steps[this.steps.length - 1])
            ready.push(i)
          },
          onDrop: (r) => fail(r),
        })
      } catch (e) {
        if (e instanceof EngineError && (e.code === 'UNREACHABLE' || e.code === 'FIREWALL_BLOCKED')) fail(e.message)
        else throw e
      }
    })
    const early = this.readAhead(jobs, (i) => out[i] === undefined)
    while (pending > 0) {
      if (ready.length) { const i = ready.shift()!; yield* this.executeAt(jobs[i], (v) => finish(i, v), early.get(i)); continue }
      this.cluster.sim.runUntilTrue(() => pending === 0 || ready.length > 0)
      if (!ready.length) break
    }
    this.end = Math.max(this.end, this.cluster.sim.now)
    return out.map((o) => o ?? { ok: false, reason: 'no answer (simulation ran dry)' })
  }

  /**
   * The sub-queries whose sites' stores answer reads together (QuerySiteStore.batcher: live servers behind one
   * bridge) are read all at once, when their requests leave, rather than one after the other as each request is
   * delivered: the servers work at the same time and the caller waits once. Only reads of a store that serves
   * now (a primary that is up, a main repository) and only when two or more share a batcher; the others keep
   * their path at delivery. A request the network then loses leaves its read unused (a read changes nothing).
   * The virtual times and what the plan reports are the same: the outcome is taken up at delivery, as if read
   * then (no snapshot spans the sites either way).
   */
  private readAhead(jobs: RemoteJob[], pending: (i: number) => boolean): Map<number, SiteReadOutcome> {
    const early = new Map<number, SiteReadOutcome>()
    const byBatcher = new Map<SiteReadBatcher, { i: number; read: SiteRead }[]>()
    jobs.forEach((j, i) => {
      if (!pending(i)) return
      const store = siteStoreOf(this.cluster, j.site)
      if (!store?.batcher || (j.server === 'primary' ? !store.isUp() : !store.repository)) return
      const l = byBatcher.get(store.batcher) ?? []
      l.push({ i, read: { store, server: j.server, sql: j.runSql ?? j.sql, ...(j.params ? { params: j.params } : {}) } })
      byBatcher.set(store.batcher, l)
    })
    for (const [b, l] of byBatcher) {
      if (l.length < 2) continue
      const outcomes = b.readMany(l.map((x) => x.read))
      l.forEach((x, k) => early.set(x.i, outcomes[k]))
    }
    return early
  }

  /** Executes a delivered sub-query at its site (stepping its rows) and ships the result to its destination; `early`: its outcome read ahead (readAhead). */
  private *executeAt(j: RemoteJob, finish: (v: { ok: true; rows: SqlValue[][]; columns: string[] } | { ok: false; reason: string }) => void, early?: SiteReadOutcome): QueryGen<void> {
    const fail = (reason: string) => finish({ ok: false, reason })
    const tq = this.clock()
    const store = siteStoreOf(this.cluster, j.site)
    let res: QueryResult
    try {
      if (!store) throw new EngineError('SITE_DOWN', `${j.site} has no store`)
      const sql = j.runSql ?? j.sql
      if (early) {
        if (!early.ok) throw early.error
        res = early.result
      } else if (j.server === 'primary' && store.isUp()) res = yield* primaryQuery(this.cluster, j.site, sql, j.params, () => this.checkpoint())
      else res = j.server === 'repository' ? store.repository!.query(sql, j.params) : store.query(sql, j.params)
    } catch (e) {
      const stop = guardError(e)
      if (stop) throw stop
      if (e instanceof EngineError && (e.code === 'SITE_DOWN' || e.code === 'UNREACHABLE')) return fail(e.message)
      throw e
    }
    // a live server's answer says what crossed its connection: the request as sent, the result as received
    const wire = res.wire
    const req = this.wireRequests.get(j)
    this.wireRequests.delete(j)
    if (req && wire) { req.actualBytes = wire.sent; this.account(j.from, j.site, wire.sent, true) }
    const bytes = wire ? wire.received : rowsBytes(res.columns, res.rows)
    this.step({ kind: 'subquery', site: j.site, fragment: j.label, sql: j.sql, estRows: j.estRows, actualRows: res.rows.length, startMs: tq, endMs: tq })
    const ts = this.clock()
    let route: string[]
    try {
      route = this.account(j.site, j.to, bytes, !!wire)
      this.cluster.net.send({
        from: j.site, to: j.to, kind: 'dqp.result', bytes, payload: null, wire: () => JSON.stringify({ columns: res.columns, rows: res.rows }),
        onDeliver: () => {
          this.step({ kind: 'ship', site: j.site, to: j.to, fragment: j.label, estRows: j.estRows, actualRows: res.rows.length, estBytes: j.estBytes, actualBytes: bytes, route, startMs: ts, endMs: this.clock() })
          finish({ ok: true, rows: res.rows, columns: res.columns })
        },
        onDrop: (r) => fail(r),
      })
    } catch (e) {
      if (e instanceof EngineError && (e.code === 'UNREACHABLE' || e.code === 'FIREWALL_BLOCKED')) return fail(e.message)
      throw e
    }
    yield this.done(`sub-query ${j.label}: ${res.rows.length} rows`)
  }

  remoteQuery(site: SiteCode, sql: string, server: 'primary' | 'repository', label: string, estRows: number, onFail: () => EngineError): { rows: SqlValue[][]; columns: string[] } {
    return runToEnd(this.remoteQueryGen(site, sql, server, label, estRows, onFail))
  }

  *remoteQueryGen(site: SiteCode, sql: string, server: 'primary' | 'repository', label: string, estRows: number, onFail: () => EngineError, runSql?: string): QueryGen<{ rows: SqlValue[][]; columns: string[] }> {
    const [r] = yield* this.parallelGen([{ from: this.querySite, site, server, to: this.querySite, sql, extraBytes: 0, label, estRows, estBytes: 0, ...(runSql ? { runSql } : {}) }])
    if (!r.ok) { const e = onFail(); throw new EngineError(e.code, `${e.message} — ${r.reason}`, e.site ? { site: e.site } : {}) }
    return r
  }

  shipResult(from: SiteCode, to: SiteCode, columns: string[], rows: SqlValue[][]): void {
    const bytes = rowsBytes(columns, rows)
    const t0 = this.clock()
    let done = false, lost: string | undefined
    const route = this.account(from, to, bytes)
    this.cluster.net.send({ from, to, kind: 'dqp.final', bytes, payload: null, onDeliver: () => { done = true }, onDrop: (r) => { lost = r; done = true } })
    this.cluster.sim.runUntilTrue(() => done)
    if (lost || !done) throw new EngineError('UNREACHABLE', `the result could not be shipped from the assembly site ${from} to ${to} (${lost ?? 'not delivered'})`, { site: from })
    this.end = Math.max(this.end, this.cluster.sim.now)
    this.step({ kind: 'result', site: from, to, actualRows: rows.length, actualBytes: bytes, route, startMs: t0, endMs: this.clock() })
  }
}


// ---- prepared sub-queries at the sites (the fast path: no re-parse per execution) ----------------
const stmtCache = new WeakMap<Database, Map<string, Statement>>()

/** Cached statements currently being stepped by a (suspended) cooperative run. */
const busy = new WeakSet<Statement>()

/**
 * Runs a read-only sub-query on a site's primary with a cached prepared statement, stepping its rows with a
 * checkpoint every ROWS_PER_CHECK rows. A cached statement that a suspended run is still stepping is not
 * shared: this run prepares its own and frees it. A site whose store is not the embedded one (a live server)
 * answers through its store's query().
 */
function* primaryQuery(cluster: Cluster, site: SiteCode, sql: string, params: SqlValue[] | undefined, checkpoint: () => Yielded): QueryGen<{ columns: string[]; rows: SqlValue[][] }> {
  const store = siteStoreOf(cluster, site)!
  store.available() // an access: down, or a damaged medium found now, refuses here
  // the fast path reads the embedded sql.js database itself; any other store (a live server) answers its query()
  const sdb = embeddedStoreOf(cluster, site) ? (cluster as unknown as { siteInternals?: (s: string) => { primary: { db: Database; inTransaction: boolean } } }).siteInternals?.(site).primary : undefined
  if (!sdb || sdb.inTransaction) return store.query(sql, params)
  const db = sdb.db
  let m = stmtCache.get(db)
  if (!m) { m = new Map(); stmtCache.set(db, m) }
  for (let attempt = 0; attempt < 2; attempt++) {
    let st = m.get(sql)
    let own = false
    let stepped = false
    try {
      if (st && busy.has(st)) { st = db.prepare(sql); own = true }
      if (!st) {
        if (m.size > 256) { for (const x of m.values()) { if (busy.has(x)) continue; try { x.free() } catch { /* already freed */ } } m.clear() }
        st = db.prepare(sql)
        m.set(sql, st)
      }
      busy.add(st)
      if (params && params.length) st.bind(params as never)
      const rows: SqlValue[][] = []
      let n = 0
      while (st.step()) {
        stepped = true
        rows.push(st.get() as SqlValue[])
        if (++n === ROWS_PER_CHECK) { n = 0; yield checkpoint() }
      }
      const columns = st.getColumnNames()
      return { columns, rows }
    } catch (e) {
      const stop = guardError(e)
      if (stop) throw stop
      if (e instanceof EngineError && e.code === 'CANCELLED') throw e
      if (st && !own) m.delete(sql)
      // a statement freed by export()/reopen is re-prepared once (unless rows were already consumed); a real SQL error is reported
      if (attempt === 0 && st && !stepped && /closed|finalized|misuse/i.test(String((e as Error)?.message ?? e))) continue
      if (!own) { try { st?.free() } catch { /* ignore */ } }
      throw new EngineError('SQL_ERROR', `at ${site}: ${e instanceof Error ? e.message : String(e)}`, { site })
    } finally {
      if (st) {
        busy.delete(st)
        // our own statement, or a cached one dropped from the cache meanwhile, is freed; a cached one is reset
        if (own || m.get(sql) !== st) { try { st.free() } catch { /* already freed */ } } else { try { st.reset() } catch { /* freed by a reopen */ } }
      }
    }
  }
  return store.query(sql, params)
}
