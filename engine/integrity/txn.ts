/**
 * The DIM inside a DTM transaction: the key and foreign-key checks of a statement's row changes, run as reads
 * of the same transaction (strict 2PL), after the statement's fragment-level operations have computed the row
 * images at their participants and before the statement is reported done.
 *
 * Each batch of lookups (checkSteps in dim.ts yields at most two) is grouped per site and per fragment into
 * one fragment-level SELECT … WHERE col IN (?, …) each; the sites are asked in parallel, the fragments of one
 * site one after the other (a sub-transaction runs one statement at a time). They are ordinary operations of
 * the transaction: sent over the simulated network (virtual time and bytes charged, the site becomes a
 * read-only participant), S-locked — a row lock on each looked-up key value (present or not) for a key
 * lookup, a table S lock for a lookup of referencing rows — and the locks are held to the end of the
 * transaction. So a concurrent transaction inserting the same key elsewhere, or deleting a referenced row,
 * waits, deadlocks (one of the two is aborted) or sees this one's row: never both commit.
 */
import type { Cluster } from '../cluster'
import { EngineError, toErrorInfo, type ErrorInfo } from '../errors'
import type { SqlValue } from '../site/sqljs'
import { checkSteps, type Probe, type RowChange } from './dim'
import { Dim, groupBySite } from './index'

/** How the DIM reads inside the transaction (the DTM gives it). */
export interface TxnReader {
  /** The coordinator's site. */
  origin: string
  /** The site's primary is up and reachable from the origin. */
  reachable(site: string): boolean
  /** A fragment-level SELECT with parameters, as an operation of the transaction at `site`. */
  read(site: string, sql: string, params: SqlValue[], cb: (r: { ok: boolean; rows?: Record<string, unknown>[]; error?: ErrorInfo }) => void): void
}

const qi = (n: string) => `"${n.replace(/"/g, '""')}"`

/** One SELECT per (site, fragment, column): the values that are there. */
interface Lookup { site: string; table: string; column: string; values: SqlValue[]; at: number[] }

function lookups(probes: readonly Probe[]): Map<string, Lookup[]> {
  const out = new Map<string, Lookup[]>()
  for (const [site, list] of groupBySite(probes)) {
    const by = new Map<string, Lookup>()
    for (const { p, i } of list) {
      const k = `${p.table}\u0000${p.column}`
      let l = by.get(k)
      if (!l) by.set(k, (l = { site, table: p.table, column: p.column, values: [], at: [] }))
      l.values.push(p.value)
      l.at.push(i)
    }
    out.set(site, [...by.values()])
  }
  return out
}

/**
 * Judges `changes` (one statement's row changes) in the transaction that made them; `done()` when they hold,
 * `done(error)` with CONSTRAINT_VIOLATION naming the constraint, the row and the site (or the reason a lookup
 * could not be made: a site down, the transaction aborted while it waited).
 */
export function checkInTxn(cluster: Cluster, rd: TxnReader, changes: readonly RowChange[], done: (err?: ErrorInfo) => void): void {
  const dim = Dim.of(cluster)
  if (!dim.enabled || !changes.length) return done()
  dim.stats.checks++
  const gen = checkSteps(cluster.topology, { site: rd.origin, applied: true, rowRules: false }, changes)
  const fail = (e: unknown) => {
    const info = toErrorInfo(e)
    if (info.code === 'CONSTRAINT_VIOLATION') { dim.stats.violations++; cluster.log('integrity', info.message, info.site) }
    done(info)
  }
  const step = (answers?: boolean[]): void => {
    let r: IteratorResult<Probe[], void>
    try { r = answers ? gen.next(answers) : gen.next() } catch (e) { return fail(e) }
    if (r.done) return done()
    const probes = r.value
    const out = probes.map(() => false)
    const bySite = lookups(probes)
    dim.stats.probes += probes.length
    for (const [site, ls] of bySite) {
      if (site !== rd.origin) dim.stats.remoteProbes += ls.reduce((a, l) => a + l.values.length, 0)
      if (!rd.reachable(site)) {
        return fail(new EngineError('UNREACHABLE', `the integrity check of ${ls.map((l) => l.table).join(', ')} needs ${site}, which is down or unreachable from ${rd.origin}; nothing was changed`, { site }))
      }
    }
    let open = bySite.size
    let failed = false
    for (const [, ls] of bySite) {
      const next = (j: number): void => {
        if (failed) return
        if (j === ls.length) { if (--open === 0) step(out); return }
        const l = ls[j]
        const sql = `SELECT ${qi(l.column)} FROM ${qi(l.table)} WHERE ${qi(l.column)} IN (${l.values.map(() => '?').join(', ')})`
        rd.read(l.site, sql, l.values, (res) => {
          if (failed) return
          if (!res.ok) { failed = true; return fail(res.error ?? new EngineError('INTERNAL', `integrity lookup at ${l.site} failed`)) }
          const col = l.column.toUpperCase()
          const hit = new Set((res.rows ?? []).map((x) => String(x[col] ?? x[l.column])))
          l.values.forEach((v, k) => { if (hit.has(String(v))) out[l.at[k]] = true })
          next(j + 1)
        })
      }
      next(0)
    }
  }
  step()
}
