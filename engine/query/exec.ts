/** Execution context of one distributed query: sub-queries at sites, messages through the simulated network, steps and per-link bytes. */
import { EngineError } from '../errors'
import type { Cluster } from '../cluster'
import type { SiteCode } from '../topology/types'
import type { SqlValue } from '../site/sqljs'
import { ENCRYPTION_OVERHEAD_BYTES, MESSAGE_HEADER_BYTES } from '../net/network'
import { siteStoreOf } from './stores'
import type { Database, Statement } from 'sql.js'
import { rowsBytes } from './sqltext'
import type { PlanStep } from './types'

// ---- execution context: messages through the simulated network ------------------------------
export interface RemoteJob {
  from: SiteCode; site: SiteCode; server: 'primary' | 'repository'; to: SiteCode; sql: string; params?: SqlValue[]; extraBytes: number
  label: string; estRows: number; estBytes: number
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

  private account(from: SiteCode, to: SiteCode, bytes: number): string[] {
    const route = this.cluster.net.route(from, to) ?? [from, to]
    if (route.length === 1) { const k = `LAN:${from}`; this.perLink[k] = (this.perLink[k] ?? 0) + bytes + MESSAGE_HEADER_BYTES; return route }
    for (let i = 0; i + 1 < route.length; i++) {
      const l = this.cluster.net.linkBetween(route[i], route[i + 1])
      if (!l) continue
      this.perLink[l.spec.id] = (this.perLink[l.spec.id] ?? 0) + bytes + MESSAGE_HEADER_BYTES + (l.spec.encrypted ? ENCRYPTION_OVERHEAD_BYTES : 0)
    }
    return route
  }

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
    const out: ({ ok: true; rows: SqlValue[][]; columns: string[] } | { ok: false; reason: string } | undefined)[] = jobs.map(() => undefined)
    let pending = jobs.length
    const t0 = this.clock()
    const finish = (i: number, v: NonNullable<typeof out[number]>) => { if (out[i] === undefined) { out[i] = v; pending-- } }
    jobs.forEach((j, i) => {
      const reqBytes = j.sql.length + j.extraBytes
      const fail = (reason: string) => finish(i, { ok: false, reason })
      const onRequest = () => {
        const tq = this.clock()
        const store = siteStoreOf(this.cluster, j.site)
        let res: { columns: string[]; rows: SqlValue[][] }
        try {
          if (!store) throw new EngineError('SITE_DOWN', `${j.site} has no store`)
          if (j.server === 'primary' && store.isUp()) res = primaryQuery(this.cluster, j.site, j.sql, j.params)
          else res = j.server === 'repository' ? store.repository!.query(j.sql, j.params) : store.query(j.sql, j.params)
        } catch (e) {
          if (e instanceof EngineError && (e.code === 'SITE_DOWN' || e.code === 'UNREACHABLE')) return fail(e.message)
          throw e
        }
        const bytes = rowsBytes(res.columns, res.rows)
        this.step({ kind: 'subquery', site: j.site, fragment: j.label, sql: j.sql, estRows: j.estRows, actualRows: res.rows.length, startMs: tq, endMs: tq })
        const ts = this.clock()
        let route: string[]
        try {
          route = this.account(j.site, j.to, bytes)
          this.cluster.net.send({
            from: j.site, to: j.to, kind: 'dqp.result', bytes, payload: null,
            onDeliver: () => {
              this.step({ kind: 'ship', site: j.site, to: j.to, fragment: j.label, estRows: j.estRows, actualRows: res.rows.length, estBytes: j.estBytes, actualBytes: bytes, route, startMs: ts, endMs: this.clock() })
              finish(i, { ok: true, rows: res.rows, columns: res.columns })
            },
            onDrop: (r) => fail(r),
          })
        } catch (e) {
          if (e instanceof EngineError && (e.code === 'UNREACHABLE' || e.code === 'FIREWALL_BLOCKED')) return fail(e.message)
          throw e
        }
      }
      try {
        const route = this.account(j.from, j.site, reqBytes)
        this.cluster.net.send({
          from: j.from, to: j.site, kind: j.extraBytes ? 'dqp.semijoin' : 'dqp.subquery', bytes: reqBytes, payload: null,
          onDeliver: () => {
            this.step({ kind: j.extraBytes ? 'semijoin-keys' : 'request', site: j.from, to: j.site, fragment: j.label, actualBytes: reqBytes, estBytes: reqBytes, route, startMs: t0, endMs: this.clock() })
            onRequest()
          },
          onDrop: (r) => fail(r),
        })
      } catch (e) {
        if (e instanceof EngineError && (e.code === 'UNREACHABLE' || e.code === 'FIREWALL_BLOCKED')) fail(e.message)
        else throw e
      }
    })
    if (pending > 0) this.cluster.sim.runUntilTrue(() => pending === 0)
    this.end = Math.max(this.end, this.cluster.sim.now)
    return out.map((o) => o ?? { ok: false, reason: 'no answer (simulation ran dry)' })
  }

  remoteQuery(site: SiteCode, sql: string, server: 'primary' | 'repository', label: string, estRows: number, onFail: () => EngineError): { rows: SqlValue[][]; columns: string[] } {
    const [r] = this.parallel([{ from: this.querySite, site, server, to: this.querySite, sql, extraBytes: 0, label, estRows, estBytes: 0 }])
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

/** Runs a read-only sub-query on a site's primary with a cached prepared statement. */
function primaryQuery(cluster: Cluster, site: SiteCode, sql: string, params?: SqlValue[]): { columns: string[]; rows: SqlValue[][] } {
  const sdb = (cluster as unknown as { siteInternals?: (s: string) => { primary: { db: Database; inTransaction: boolean } } }).siteInternals?.(site).primary
  const store = siteStoreOf(cluster, site)!
  if (!sdb || sdb.inTransaction) return store.query(sql, params)
  const db = sdb.db
  let m = stmtCache.get(db)
  if (!m) { m = new Map(); stmtCache.set(db, m) }
  for (let attempt = 0; attempt < 2; attempt++) {
    let st = m.get(sql)
    try {
      if (!st) {
        if (m.size > 256) { for (const x of m.values()) { try { x.free() } catch { /* already freed */ } } m.clear() }
        st = db.prepare(sql)
        m.set(sql, st)
      }
      if (params && params.length) st.bind(params as never)
      const rows: SqlValue[][] = []
      while (st.step()) rows.push(st.get() as SqlValue[])
      const columns = st.getColumnNames()
      st.reset()
      return { columns, rows }
    } catch (e) {
      m.delete(sql)
      // a statement freed by export()/reopen is re-prepared once; a real SQL error is reported
      if (attempt === 0 && st && /closed|finalized|misuse/i.test(String((e as Error)?.message ?? e))) continue
      try { st?.free() } catch { /* ignore */ }
      throw new EngineError('SQL_ERROR', `at ${site}: ${e instanceof Error ? e.message : String(e)}`, { site })
    }
  }
  return store.query(sql, params)
}
