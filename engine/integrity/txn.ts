/**
 * The DIM inside a distributed transaction: a global write statement is checked before its fragment-level
 * operations run, with every probe executed as a read of the same transaction (the DTM's `exec` at the
 * probed site), so strict 2PL holds S locks on the probed keys until the transaction ends. A concurrent
 * transaction inserting the same EMPNO at another branch therefore waits for this one (and sees its row) or
 * deadlocks with it (one is the victim): never do both commit. UPDATE/DELETE read the rows they will change
 * first (the same locks the write takes) when the DIM must look their keys up elsewhere (a key or foreign-key
 * column set, a referenced row deleted); an UPDATE's CHECK and fragment predicate are judged on its after-image
 * at the participant (Dtm.run → checkRow), which aborts the transaction.
 */
import type { Cluster } from '../cluster'
import { EngineError, toErrorInfo, type ErrorInfo } from '../errors'
import type { SqlValue } from '../site/sqljs'
import { parseStmt, matches, type Stmt } from '../txn/sqlmini'
import { fragments } from '../data/schema'
import { Dim } from './index'
import { checkSteps, needsLookups, type Probe, type RowChange } from './dim'
import { constrained } from './dim'
import type { DimRow } from './constraints'

type Row = Record<string, unknown>
export interface TxnExecReply { ok: boolean; rows?: Row[]; error?: ErrorInfo }
/** Runs one fragment-level statement of the transaction at a site. */
export type TxnExec = (site: string, sql: string, cb: (r: TxnExecReply) => void) => void

const lit = (v: SqlValue) => (v === null ? 'NULL' : typeof v === 'number' ? String(v) : `'${String(v).replace(/'/g, "''")}'`)
const up = (r: Row): DimRow => Object.fromEntries(Object.entries(r).map(([k, v]) => [k.toUpperCase(), (v ?? null) as SqlValue]))

/** Checks a localized global write (its fragment-level ops) before it runs; calls done() or done(error). */
export function checkTxnWrite(cluster: Cluster, relation: string, ops: readonly { site: string; fragment: string; sql: string }[], exec: TxnExec, done: (e?: ErrorInfo) => void): void {
  const dim = Dim.of(cluster)
  const topo = cluster.topology
  if (!dim.enabled || !ops.length || !constrained(topo, relation)) return done()
  const frs = fragments(topo)
  let st0: Stmt
  try { st0 = parseStmt(ops[0].sql) } catch { return done() } // the DTM refuses it itself
  if (st0.kind === 'select') return done()
  // row checks of an UPDATE's after-images run at the participant (Dtm.run); lookups elsewhere need the images here
  if (st0.kind !== 'insert' && !needsLookups(topo, relation, st0.kind, st0.kind === 'update' ? st0.sets.map((s) => s.col) : [])) return done()
  const changes: RowChange[] = []
  const gather = (i: number): void => {
    if (i === ops.length) return judge()
    const op = ops[i]
    const st = parseStmt(op.sql)
    const cols = frs.find((f) => f.name === op.fragment && f.site === op.site)?.columns ?? []
    if (st.kind === 'insert') {
      const after: DimRow = {}
      for (const c of cols) after[c.toUpperCase()] = null
      st.cols.forEach((c, k) => { after[c.toUpperCase()] = st.vals[k] })
      changes.push({ fragment: op.fragment, site: op.site, before: null, after })
      return gather(i + 1)
    }
    if (st.kind === 'select') return gather(i + 1)
    // the rows the statement will change, read (and locked) first
    const where = st.where.map((w) => `"${w.col}" ${w.op} ${lit(w.val)}`).join(' AND ')
    exec(op.site, `SELECT * FROM "${op.fragment}"${where ? ` WHERE ${where}` : ''}`, (r) => {
      if (!r.ok) return done(r.error)
      for (const row of r.rows ?? []) {
        if (!matches(row, st.where)) continue
        const before = up(row)
        let after: DimRow | null = null
        if (st.kind === 'update') {
          after = { ...before }
          for (const a of st.sets) {
            const v = a.val === null ? null : Number(a.val)
            after[a.col] = a.from
              ? (a.op === '*' ? Number(before[a.from]) * Number(v) : a.op === '/' ? Number(before[a.from]) / Number(v) : Number(before[a.from]) + (a.sign ?? 1) * Number(v))
              : a.val
          }
        }
        changes.push({ fragment: op.fragment, site: op.site, before, after })
      }
      gather(i + 1)
    })
  }
  const judge = () => {
    const g = checkSteps(topo, { site: ops[0].site }, changes)
    dim.stats.checks++
    const step = (answers?: boolean[]): void => {
      let r: IteratorResult<Probe[], void>
      try { r = answers ? g.next(answers) : g.next() } catch (e) {
        if (e instanceof EngineError && e.code === 'CONSTRAINT_VIOLATION') { dim.stats.violations++; cluster.log('integrity', e.message, e.site) }
        return done(toErrorInfo(e))
      }
      if (r.done) return done()
      runProbes(dim, ops[0].site, r.value, exec, (err, ans) => (err ? done(err) : step(ans)))
    }
    step()
  }
  try { gather(0) } catch (e) { done(toErrorInfo(e)) }
}

/** Probes as reads of the transaction: one chain per site (a site runs one statement of a transaction at a time), sites in parallel. */
function runProbes(dim: Dim, from: string, probes: Probe[], exec: TxnExec, cb: (e: ErrorInfo | undefined, ans: boolean[]) => void): void {
  const ans = probes.map(() => false)
  const bySite = new Map<string, number[]>()
  probes.forEach((p, i) => { const l = bySite.get(p.site) ?? []; l.push(i); bySite.set(p.site, l) })
  let open = bySite.size
  let failed = false
  dim.stats.probes += probes.length
  for (const [site, idx] of bySite) {
    if (site !== from) dim.stats.remoteProbes += idx.length
    const next = (k: number): void => {
      if (failed) return
      if (k === idx.length) { if (--open === 0) cb(undefined, ans); return }
      const p = probes[idx[k]]
      exec(site, `SELECT "${p.column}" FROM "${p.table}" WHERE "${p.column}" = ${lit(p.value)}`, (r) => {
        if (!r.ok) { failed = true; return cb(r.error ?? { code: 'ABORTED', message: `integrity lookup at ${site} failed` }, ans) }
        ans[idx[k]] = (r.rows?.length ?? 0) > 0
        next(k + 1)
      })
    }
    next(0)
  }
}
