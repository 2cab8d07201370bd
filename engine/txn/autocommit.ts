/**
 * Autocommit: a statement issued outside a transaction (the Query console, a scenario's `sql SITE …` write, the
 * CLI) is a transaction of its own — begun at the issuing site, its statements run under the same strict 2PL as
 * every other transaction's, committed by the DTM's two-phase commit in the topology the user chose. There is
 * no second write path: a write that waits for another transaction's lock waits (and times out like any
 * statement), and one that fails or is refused aborts the whole transaction, so nothing of it remains.
 */
import { EngineError } from '../errors'
import type { RequestClass } from '../api/query'
import type { Dtm, ExecResult, CommitResult } from './dtm'
import type { PreParsed } from './global'
import { template } from './stmt'

/** One statement: global SQL (localized by the DTM), or a fragment-level statement at `site`. */
export interface AutoStmt { sql: string; site?: string; pre?: PreParsed }

export interface AutoResult {
  gid: string
  results: ExecResult[]
  commit: CommitResult
  requestClass?: RequestClass
  /** Sites that took part. */
  sites: string[]
}

/** Events a statement may take before we give up on it (virtual time is bounded by the DTM's own timeouts). */
const MAX_EVENTS = 5_000_000

/** Runs statements as one transaction begun at `origin` and commits it; throws (nothing changed) if any fails. */
export function autocommit(dtm: Dtm, origin: string, stmts: AutoStmt[]): AutoResult {
  const g = autocommitSteps(dtm, origin, stmts)
  for (;;) { const r = g.next(); if (r.done) return r.value }
}

/**
 * The same as a generator that yields (a progress line) after each statement and before the commit: an exception
 * thrown into it there (a cancellation) aborts the transaction — nothing of it was applied anywhere yet.
 */
export function* autocommitSteps(dtm: Dtm, origin: string, stmts: AutoStmt[]): Generator<string, AutoResult, void> {
  const sim = dtm.cluster.sim
  const gid = dtm.begin(origin)
  const results: ExecResult[] = []
  const abort = (reason: string) => { try { dtm.abort(gid, reason) } catch { /* already ended */ } }
  try {
    for (const [i, st] of stmts.entries()) {
      let r: ExecResult | undefined
      if (st.site) dtm.exec(gid, st.site, st.sql, [], (x) => { r = x })
      else dtm.execGlobal(gid, st.sql, [], (x) => { r = x }, st.pre)
      sim.runUntilTrue(() => r !== undefined, MAX_EVENTS)
      if (!r) throw new EngineError('TIMEOUT', `transaction ${gid}: no answer to ${st.sql.slice(0, 80)}; it was aborted, nothing changed`)
      if (!r.ok) {
        const e = r.error ?? { code: 'INTERNAL' as const, message: 'statement failed' }
        const which = stmts.length > 1 ? `statement ${i + 1} of the transaction failed: ` : ''
        throw new EngineError(e.code, `${which}${e.message} — transaction ${gid} aborted, nothing changed`, e.site ? { site: e.site } : {})
      }
      results.push(r)
      yield `transaction ${gid}: ${i + 1} of ${stmts.length} statement(s) done`
    }
  } catch (e) {
    abort(e instanceof Error ? e.message : String(e))
    if (e instanceof EngineError && e.code === 'CANCELLED') throw new EngineError('CANCELLED', `${e.message} — transaction ${gid} aborted before its commit, nothing changed`)
    throw e
  }
  let commit: CommitResult | undefined
  dtm.commit(gid, (c) => { commit = c })
  sim.runUntilTrue(() => commit !== undefined, MAX_EVENTS)
  if (!commit) throw new EngineError('TIMEOUT', `transaction ${gid}: the commit's outcome is not known yet`)
  if (commit.outcome !== 'COMMIT') {
    throw new EngineError(commit.outcome === 'ABORT' ? 'ABORTED' : 'TIMEOUT', `transaction ${gid} ${commit.outcome === 'ABORT' ? 'aborted' : 'ended with an unknown outcome'}${commit.reason ? `: ${commit.reason}` : ''}`)
  }
  // phase two reaches every participant before the caller reads (bounded: a participant that crashed recovers later)
  const until = sim.now + 10_000
  sim.runUntilTrue(() => dtm.unfinishedAt(gid).length === 0 || sim.now >= until, MAX_EVENTS)
  const info = dtm.info.get(gid)
  return { gid, results, commit, requestClass: info?.requestClass, sites: Object.keys(info?.sites ?? {}) }
}

/**
 * A statement at one site outside a transaction (scenario `sql SITE …`, `iddb sql --local`): an INSERT, UPDATE
 * or DELETE on a fragment the site holds is a one-statement transaction there (same locks as every other
 * transaction's); anything else (reads, local catalogs, other tables) is not the DTM's, and gives undefined.
 */
export function siteWrite(dtm: Dtm, site: string, sql: string): { columns: string[]; rows: never[]; changes: number } | undefined {
  let t
  try { t = template(sql) } catch { return undefined }
  if (t.kind === 'select') return undefined
  try { dtm.store(site).resolveTable(t.table) } catch { return undefined }
  const r = autocommit(dtm, site, [{ sql, site }])
  return { columns: [], rows: [], changes: r.results[0]?.affected ?? 0 }
}
