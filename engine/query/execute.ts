/**
 * Execution of a planned distributed SELECT (plan.ts) through the simulated network: the sub-queries run on each
 * site's sql.js store (with the statement guard), intermediate results travel as sized messages, the assembly
 * site combines them in a scratch sql.js database. Execution adapts the plan as it goes — a copy that fails
 * during the query is replaced by another, a planned semijoin is confirmed with the actual join keys — and
 * reports the plan as it ran, with actual rows, bytes and virtual times. The virtual response time is what the
 * simulation says.
 */
import type { Database } from 'sql.js'
import { EngineError } from '../errors'
import type { SiteCode } from '../topology/types'
import type { SqlValue } from '../site/sqljs'
import { ExecCtx } from './exec'
import { qid } from './sqltext'
import type { FragmentDecision, PlanView, QueryRunResult } from './types'
import { ROWS_PER_CHECK, type QueryGen } from './coop'
import { guardError, installGuard } from './guard'
import { decision, pieceLabel, type AggSpec, type GroupPlan, type PiecePlan, type Planner, type SelectPlan } from './plan'

/** Runs a planned SELECT; the result carries the plan as it ran (actual rows, bytes and times). */
export function* executeSelect(planner: Planner, plan: SelectPlan): QueryGen<QueryRunResult> {
  const { prepared: p, querySite, assembly, groups, used, agg, strategy, finalSql } = plan
  const fragments: FragmentDecision[] = []
  const notes = [...plan.notes]
  const ctx = new ExecCtx(planner.cluster, querySite)
  const columns = p.columns!
  let rows: SqlValue[][]

  if (strategy === 'single-site') {
    ctx.plan(1)
    const r = yield* ctx.remoteQueryGen(assembly, finalSql, 'primary', `${used[0].piece.name}@${used[0].copy!.site}`, plan.estRows ?? 0, () => planner.unreachable(groups[0], used[0]), plan.finalRunSql)
    rows = r.rows
    for (const g of groups) for (const pp of g.pieces) fragments.push(decision(g, pp))
  } else {
    const scratch = takeScratch(planner)
    let clean = false
    try {
      if (assembly !== querySite) ctx.message(querySite, assembly, 'dqp.plan', 512, 'request', `assembly plan to ${assembly}`)
      ctx.plan(used.length + 1)
      // phase 1: the groups that are not reduced (reducers first); phase 2: the semijoin-reduced groups
      for (const list of [groups.filter((g) => !g.reduceBy), groups.filter((g) => g.reduceBy)]) {
        if (!list.length) continue
        for (const g of list) createScratch(planner, scratch, g, agg)
        yield* shipGroups(planner, ctx, scratch, list, assembly, agg, fragments, notes)
      }
      const t0 = ctx.clock()
      if (!agg) {
        for (const v of p.analysis!.viewsUsed) {
          const vd = planner.catalog.view(v)!
          scratch.run(`CREATE VIEW IF NOT EXISTS ${qid(vd.name)} AS ${vd.sql}`)
        }
      }
      rows = yield* assemble(ctx, scratch, plan.finalRunSql, assembly)
      yield ctx.done(`assembled ${rows.length} rows at ${assembly}`)
      ctx.step({ kind: 'assemble', site: assembly, sql: finalSql, actualRows: rows.length, startMs: t0, endMs: ctx.clock(), note: agg ? 'combine partial aggregates' : 'final join / aggregate / order' })
      if (assembly !== querySite) ctx.shipResult(assembly, querySite, columns, rows)
      clean = true
    } finally {
      if (clean) giveBackScratch(planner, scratch)
      else scratch.close()
    }
    for (const g of groups) for (const pp of g.pieces) if (pp.pruned) fragments.push(decision(g, pp))
  }
  const view: PlanView = {
    statement: 'select', querySite, assemblySite: assembly, strategy, requestClass: plan.requestClass, fragments, joins: plan.joins, steps: ctx.steps,
    finalSql, estRows: plan.estRows, actualRows: rows.length, notes, sitesInvolved: plan.sitesInvolved,
  }
  return { columns, rows, rowCount: rows.length, requestClass: plan.requestClass, plan: view, perLinkBytes: ctx.perLink, virtualMs: ctx.elapsed(), wallMs: 0 }
}

/**
 * The assembly site's scratch databases, reused: opening a fresh sql.js database for every query cost more than
 * emptying one. A scratch goes back to its planner's pool only after a run that ended normally, emptied (its views
 * and tables dropped); one a run left in any other state (an error, a cancellation, an open transaction) is closed.
 * A suspended cooperative run holds its own, so runs never share one.
 */
const scratchPools = new WeakMap<Planner, Database[]>()
const SCRATCH_POOL = 4

/** How many emptied scratch databases the planner holds for reuse (tests). */
export function scratchPooled(planner: Planner): number { return scratchPools.get(planner)?.length ?? 0 }

function takeScratch(planner: Planner): Database {
  const db = scratchPools.get(planner)?.pop()
  if (db) return db
  const fresh = new planner.SQL.Database()
  try { installGuard(planner.SQL, fresh) } catch (e) { fresh.close(); throw e }
  return fresh
}

function giveBackScratch(planner: Planner, db: Database): void {
  let pool = scratchPools.get(planner)
  if (!pool) { pool = []; scratchPools.set(planner, pool) }
  if (pool.length < SCRATCH_POOL) {
    try {
      // BEGIN fails on a transaction left open: that scratch is not reused
      db.run('BEGIN')
      const objs = db.exec(`SELECT type, name FROM sqlite_master WHERE type IN ('view', 'table') ORDER BY type = 'table'`)
      for (const [type, name] of objs[0]?.values ?? []) db.run(`DROP ${type === 'view' ? 'VIEW' : 'TABLE'} ${qid(String(name))}`)
      db.run('COMMIT')
      pool.push(db)
      return
    } catch { /* not emptied: closed below */ }
  }
  db.close()
}

/** Steps the final statement at the assembly site, with checkpoints (a big join streams out of the scratch database). */
function* assemble(ctx: ExecCtx, scratch: Database, runSql: string, assembly: SiteCode): QueryGen<SqlValue[][]> {
  const rows: SqlValue[][] = []
  let st
  try {
    st = scratch.prepare(runSql)
    let n = 0
    for (;;) {
      let more: boolean
      try { more = st.step() } catch (e) { throw guardError(e) ?? new EngineError('SQL_ERROR', `at assembly site ${assembly}: ${e instanceof Error ? e.message : String(e)}`) }
      if (!more) break
      rows.push(st.get() as SqlValue[])
      if (++n === ROWS_PER_CHECK) { n = 0; yield ctx.tick(`assembling at ${assembly}: ${rows.length} rows`) }
    }
  } catch (e) {
    if (e instanceof EngineError) throw e
    throw new EngineError('SQL_ERROR', `at assembly site ${assembly}: ${e instanceof Error ? e.message : String(e)}`)
  } finally { st?.free() }
  return rows
}

function createScratch(planner: Planner, db: Database, g: GroupPlan, agg: AggSpec | null): void {
  const rel = g.refs[0].target.relation
  if (agg) {
    const cols = [...agg.groupCols.map((c, i) => `${qid(`__g${i}`)} ${planner.catalog.colType(rel, c)}`), ...agg.aggs.flatMap((a) => a.fn === 'AVG' ? [qid(`__a${a.slot}`), qid(`__c${a.slot}`)] : [qid(`__a${a.slot}`)])]
    db.run(`CREATE TABLE "__P" (${cols.join(', ')})`)
    return
  }
  db.run(`CREATE TABLE ${qid(g.name)} (${g.columns.map((c) => `${qid(c)} ${planner.catalog.colType(rel, c)}`).join(', ')})`)
}

function* shipGroups(planner: Planner, ctx: ExecCtx, scratch: Database, list: GroupPlan[], assembly: SiteCode, agg: AggSpec | null, fragments: FragmentDecision[], notes: string[]): QueryGen<void> {
  type Job = { g: GroupPlan; pp: PiecePlan; keysJson?: string }
  let jobs: Job[] = []
  for (const g of list) {
    let keysJson: string | undefined
    if (g.reduceBy) {
      const rb = g.reduceBy
      const res = scratch.exec(`SELECT DISTINCT ${qid(rb.reducerCol)} FROM ${qid(rb.reducer.name)} WHERE ${qid(rb.reducerCol)} IS NOT NULL`)
      const keys = res.length ? res[0].values.map((r) => r[0]) : []
      // confirm the strategy with the actual number of join keys (the reducer has arrived)
      const c = rb.costs(keys.length)
      const semi = rb.forced || c.semiMs < c.wholeMs * 0.9
      Object.assign(rb.dec, {
        chosen: semi ? 'semijoin' : 'ship-whole', estMsChosen: semi ? c.semiMs : c.wholeMs, estMsAlternative: semi ? c.wholeMs : c.semiMs,
        estBytesSemijoin: c.semiBytes, estBytesShipWhole: c.wholeBytes, actualKeys: keys.length,
      })
      if (semi) {
        keysJson = JSON.stringify(keys)
        for (const [pp, rows] of c.reducedRows) pp.estRows = rows
      }
      notes.push(`${rb.dec.ref} ⋈ ${rb.dec.reducer}: ${semi ? 'semijoin' : 'ship-whole'} confirmed with ${keys.length} actual join keys from ${rb.reducer.name}`)
    }
    for (const pp of g.pieces) if (!pp.pruned) jobs.push({ g, pp, keysJson })
  }
  const recorded = new Set<PiecePlan>()
  while (jobs.length) {
    const results = yield* ctx.parallelGen(jobs.map((j) => {
      const copy = j.pp.copy!
      const sql = planner.siteSql(j.g, copy, agg, !!j.keysJson)
      return {
        from: j.keysJson ? assembly : ctx.querySite, site: copy.site, server: copy.server, to: assembly, sql, runSql: planner.siteSql(j.g, copy, agg, !!j.keysJson, true),
        params: j.keysJson ? [j.keysJson] : undefined, extraBytes: j.keysJson ? j.keysJson.length : 0,
        label: pieceLabel(j.pp),
        estRows: j.pp.estRows, estBytes: j.pp.estBytes,
      }
    }))
    const retry: Job[] = []
    for (const [i, r] of results.entries()) {
      const j = jobs[i]
      if (!r.ok) {
        j.pp.failedSites.add(`${j.pp.copy!.site}.${j.pp.copy!.server}`)
        notes.push(`${j.pp.piece.name}: copy at ${j.pp.copy!.site} failed during the query (${r.reason}); trying another copy`)
        const next = planner.chooseCopy(j.pp, j.g.columns, assembly)
        if (!next) throw planner.unreachable(j.g, j.pp)
        j.pp.copy = next
        planner.annotateCopy(j.pp, notes)
        ctx.plan(1)
        retry.push(j)
        continue
      }
      const table = agg ? '__P' : j.g.name
      if (r.rows.length) {
        const ncol = r.rows[0].length
        const st = scratch.prepare(agg ? aggInsertSql(agg) : `INSERT INTO ${qid(table)} VALUES (${Array(ncol).fill('?').join(', ')})`)
        try {
          scratch.run('BEGIN')
          let n = 0
          for (const row of r.rows) {
            st.run(row)
            if (++n === ROWS_PER_CHECK * 4) { n = 0; yield undefined }
          }
          scratch.run('COMMIT')
        } finally { st.free() }
      }
      if (!recorded.has(j.pp)) {
        recorded.add(j.pp)
        const d = decision(j.g, j.pp)
        d.note = `${r.rows.length} rows${j.keysJson ? ' after semijoin reduction' : ''}`
        fragments.push(d)
      }
    }
    jobs = retry
  }
}

/**
 * The INSERT of a site's partial aggregates into __P: a SUM/MIN/MAX value comes with a flag telling whether it
 * was REAL at the site, and is stored with that storage class (sql.js binds an integral JS number as an
 * INTEGER and a large integer as a REAL), so the combined aggregate has SQLite's type.
 */
function aggInsertSql(agg: AggSpec): string {
  let n = 0
  const vals = agg.groupCols.map(() => `?${++n}`)
  for (const a of agg.aggs) {
    if (a.fn === 'AVG') { vals.push(`?${++n}`, `?${++n}`); continue }
    if (a.fn === 'COUNT') { vals.push(`?${++n}`); continue }
    const v = `?${++n}`, t = `?${++n}`
    vals.push(`CASE WHEN ${t} THEN CAST(${v} AS REAL) WHEN typeof(${v}) = 'real' AND ${v} = CAST(${v} AS INTEGER) THEN CAST(${v} AS INTEGER) ELSE ${v} END`)
  }
  return `INSERT INTO "__P" VALUES (${vals.join(', ')})`
}
