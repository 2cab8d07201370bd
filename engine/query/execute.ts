/**
 * Execution of a planned distributed SELECT (plan.ts) through the simulated network: the sub-queries run on each
 * site's sql.js store (with the statement guard), intermediate results travel as sized messages, the assembly
 * site combines them in a scratch sql.js database. Execution adapts the plan as it goes — a copy that fails
 * during the query is replaced by another, a planned semijoin is confirmed with the actual join keys — and
 * reports the plan as it ran, with actual rows, bytes and virtual times. The virtual response time is what the
 * simulation says.
 */
import type { Database, Statement } from 'sql.js'
import { EngineError } from '../errors'
import type { SiteCode } from '../topology/types'
import type { SqlValue } from '../site/sqljs'
import { ExecCtx } from './exec'
import { combinePartials } from './combine'
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
  } else if (plan.combine && agg && groups.every((g) => !g.reduceBy)) {
    // the plain form of partial aggregation: the partial rows combined by the assembly itself (combine.ts)
    if (assembly !== querySite) ctx.message(querySite, assembly, 'dqp.plan', 512, 'request', `assembly plan to ${assembly}`)
    ctx.plan(used.length + 1)
    const parts: SqlValue[][][] = []
    yield* shipGroups(planner, ctx, null, groups, assembly, agg, fragments, notes, parts)
    const t0 = ctx.clock()
    let combined: SqlValue[][] | null = null
    // it runs in one go (no checkpoint): past COMBINE_ROWS partial rows the scratch, which yields as it goes, does it
    if (parts.reduce((n, r) => n + r.length, 0) <= COMBINE_ROWS) try { combined = combinePartials(plan.combine, parts) } catch (e) {
      throw e instanceof EngineError ? new EngineError(e.code, `at assembly site ${assembly}: ${e.message}`) : e
    }
    let how = 'combine partial aggregates (COUNT and SUM, by the assembly itself)'
    if (!combined) {
      // many rows, or a value the combination cannot take exactly: the final statement in the scratch database, as for any query
      how = 'combine partial aggregates'
      const scratch = takeScratch(planner)
      let clean = false
      try {
        for (const g of groups) createScratch(planner, scratch, g, agg)
        for (const r of parts) if (r.length) yield* insertRows(scratch, '__P', agg, r)
        combined = yield* assemble(ctx, scratch, plan.finalRunSql, assembly)
        clean = true
      } finally {
        if (clean) giveBackScratch(planner, scratch)
        else scratch.close()
      }
    }
    rows = combined
    yield ctx.done(`assembled ${rows.length} rows at ${assembly}`)
    ctx.step({ kind: 'assemble', site: assembly, sql: finalSql, actualRows: rows.length, startMs: t0, endMs: ctx.clock(), note: how })
    if (assembly !== querySite) ctx.shipResult(assembly, querySite, columns, rows)
    for (const g of groups) for (const pp of g.pieces) if (pp.pruned) fragments.push(decision(g, pp))
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
          ensureObject(scratch, 'view', vd.name, `CREATE VIEW ${qid(vd.name)} AS ${vd.sql}`)
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

/** Partial rows the assembly combines itself at most (combine.ts: about 0.2 µs a row, with no checkpoint). */
const COMBINE_ROWS = 50_000

/**
 * The assembly site's scratch databases, reused: opening a fresh sql.js database for every query cost more than
 * emptying one, and creating and dropping its tables every time cost more than emptying them. A scratch goes back
 * to its planner's pool only after a run that ended normally, its tables emptied (DELETE, which SQLite does as a
 * truncation) and kept with its views, so the next run of a query of the same shape finds its tables and its
 * prepared INSERTs ready (ensureObject: a table or view of the same name with another definition is dropped and
 * created anew). One a run left in any other state (an error, a cancellation, an open transaction), or holding
 * objects the pool did not make, is closed. A suspended cooperative run holds its own, so runs never share one.
 */
const scratchPools = new WeakMap<Planner, Database[]>()
const SCRATCH_POOL = 4
/** Objects a pooled scratch keeps at most; with more, they are all dropped when it goes back. */
const SCRATCH_OBJECTS = 24
/** Statements a scratch keeps prepared at most (INSERTs by table and chunk size, final statements). */
const SCRATCH_STATEMENTS = 64

interface ScratchState {
  /** The scratch's tables and views by name, with the statement that created them. */
  objects: Map<string, { type: 'table' | 'view'; ddl: string }>
  /** Prepared statements by their text (or, for the multi-row INSERTs, by table, shape and chunk size). */
  stmts: Map<string, Statement>
}
const scratchStates = new WeakMap<Database, ScratchState>()

function stateOf(db: Database): ScratchState {
  let s = scratchStates.get(db)
  if (!s) { s = { objects: new Map(), stmts: new Map() }; scratchStates.set(db, s) }
  return s
}

/** A statement prepared once per scratch (freed when the scratch's objects change or it closes); `sql` is built only when it is not. */
function scratchStatement(db: Database, key: string, sql: () => string = () => key): Statement {
  const s = stateOf(db)
  let st = s.stmts.get(key)
  if (!st) {
    if (s.stmts.size >= SCRATCH_STATEMENTS) freeStatements(s)
    st = db.prepare(sql())
    s.stmts.set(key, st)
  }
  return st
}

function freeStatements(s: ScratchState): void {
  for (const st of s.stmts.values()) { try { st.free() } catch { /* freed by a close */ } }
  s.stmts.clear()
}

/** Makes sure the scratch holds `name` as `ddl` created it (kept from an earlier run, else made now; empty either way). */
function ensureObject(db: Database, type: 'table' | 'view', name: string, ddl: string): void {
  const s = stateOf(db)
  const had = s.objects.get(name)
  if (had && had.type === type && had.ddl === ddl) return
  freeStatements(s)
  if (had) { db.run(`DROP ${had.type === 'view' ? 'VIEW' : 'TABLE'} ${qid(name)}`); s.objects.delete(name) }
  db.run(ddl)
  s.objects.set(name, { type, ddl })
}

/** How many emptied scratch databases the planner holds for reuse (tests). */
export function scratchPooled(planner: Planner): number { return scratchPools.get(planner)?.length ?? 0 }

function takeScratch(planner: Planner): Database {
  const db = scratchPools.get(planner)?.pop()
  if (db) return db
  const fresh = new planner.SQL.Database()
  try {
    // sql.js keeps a database as a file of its in-memory file system: a rollback journal there cost every COMMIT
    // of a site's rows as much again (the scratch holds nothing to keep; a rollback still works)
    fresh.run('PRAGMA journal_mode = MEMORY')
    fresh.run('PRAGMA synchronous = OFF')
    installGuard(planner.SQL, fresh)
  } catch (e) { fresh.close(); throw e }
  return fresh
}

function giveBackScratch(planner: Planner, db: Database): void {
  let pool = scratchPools.get(planner)
  if (!pool) { pool = []; scratchPools.set(planner, pool) }
  const s = stateOf(db)
  if (pool.length < SCRATCH_POOL) {
    try {
      // BEGIN fails on a transaction left open: that scratch is not reused
      db.run('BEGIN')
      const [count] = db.exec(`SELECT COUNT(*) FROM sqlite_master WHERE type IN ('view', 'table')`)
      if (Number(count?.values[0]?.[0]) !== s.objects.size) throw new Error('the scratch holds objects it did not make')
      if (s.objects.size > SCRATCH_OBJECTS) {
        freeStatements(s)
        for (const [name, o] of [...s.objects].sort((a, b) => (a[1].type === 'view' ? 0 : 1) - (b[1].type === 'view' ? 0 : 1))) db.run(`DROP ${o.type === 'view' ? 'VIEW' : 'TABLE'} ${qid(name)}`)
        s.objects.clear()
      } else {
        for (const st of s.stmts.values()) st.reset()
        for (const [name, o] of s.objects) if (o.type === 'table') db.run(`DELETE FROM ${qid(name)}`)
      }
      db.run('COMMIT')
      pool.push(db)
      return
    } catch { /* not emptied: closed below */ }
  }
  freeStatements(s)
  db.close()
}

/** Steps the final statement at the assembly site, with checkpoints (a big join streams out of the scratch database). */
function* assemble(ctx: ExecCtx, scratch: Database, runSql: string, assembly: SiteCode): QueryGen<SqlValue[][]> {
  const rows: SqlValue[][] = []
  let st
  try {
    st = scratchStatement(scratch, runSql)
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
  } finally { try { st?.reset() } catch { /* freed by a close */ } }
  return rows
}

function createScratch(planner: Planner, db: Database, g: GroupPlan, agg: AggSpec | null): void {
  const rel = g.refs[0].target.relation
  if (agg) {
    const cols = [...agg.groupCols.map((c, i) => `${qid(`__g${i}`)} ${planner.catalog.colType(rel, c)}`), ...agg.aggs.flatMap((a) => a.fn === 'AVG' ? [qid(`__a${a.slot}`), qid(`__c${a.slot}`)] : [qid(`__a${a.slot}`)])]
    ensureObject(db, 'table', '__P', `CREATE TABLE "__P" (${cols.join(', ')})`)
    return
  }
  ensureObject(db, 'table', g.name, `CREATE TABLE ${qid(g.name)} (${g.columns.map((c) => `${qid(c)} ${planner.catalog.colType(rel, c)}`).join(', ')})`)
}

/** SQLite's limit on a statement's parameters is 32,766: a multi-row INSERT's chunk stays under it. */
const MAX_PARAMS = 32_000
/** Chunk sizes of the multi-row INSERTs (powers of four: few statements to keep prepared, few runs a result). */
const CHUNKS = [256, 64, 16, 4, 1]

/**
 * Inserts a site's rows into the scratch in multi-row INSERTs (one statement run binding up to 256 rows: sql.js
 * marshals each call, so one call a row cost three times as much), in one transaction, with a checkpoint every
 * ROWS_PER_CHECK × 4 rows. The rows keep their storage classes as bound one by one (the same values are bound).
 */
function* insertRows(scratch: Database, table: string, agg: AggSpec | null, rows: SqlValue[][]): QueryGen<void> {
  const ncol = rows[0].length
  const sizes = CHUNKS.filter((n) => n === 1 || n * ncol <= MAX_PARAMS)
  scratch.run('BEGIN')
  let i = 0, since = 0
  while (i < rows.length) {
    const n = sizes.find((k) => k <= rows.length - i)!
    const st = agg
      ? scratchStatement(scratch, `\0insert __P ${agg.aggs.map((a) => a.fn).join(',')} ${ncol} ${n}`, () => aggInsertSql(agg, ncol, n))
      : scratchStatement(scratch, `\0insert ${table} ${ncol} ${n}`, () => `INSERT INTO ${qid(table)} VALUES ${Array(n).fill(`(${Array(ncol).fill('?').join(', ')})`).join(', ')}`)
    const vals: SqlValue[] = []
    for (let k = i; k < i + n; k++) for (const v of rows[k]) vals.push(v)
    st.run(vals as never)
    i += n
    since += n
    if (since >= ROWS_PER_CHECK * 4) { since = 0; yield undefined }
  }
  scratch.run('COMMIT')
}

/** Ships the groups' pieces to the assembly: their rows inserted into `scratch`, or, with `collect`, listed there in the plan's order (no semijoin then). */
function* shipGroups(planner: Planner, ctx: ExecCtx, scratch: Database | null, list: GroupPlan[], assembly: SiteCode, agg: AggSpec | null, fragments: FragmentDecision[], notes: string[], collect?: SqlValue[][][]): QueryGen<void> {
  type Job = { g: GroupPlan; pp: PiecePlan; keysJson?: string }
  let jobs: Job[] = []
  for (const g of list) {
    let keysJson: string | undefined
    if (g.reduceBy) {
      if (!scratch) throw new EngineError('INTERNAL', 'a semijoin-reduced group needs the scratch database')
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
  // with collect: each job's rows by its place in the plan (a retried job keeps its place)
  const place = new Map<Job, number>(jobs.map((j, k) => [j, k]))
  const byPlace = new Map<number, SqlValue[][]>()
  while (jobs.length) {
    const slots = new Map<number, SqlValue[][]>()
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
      if (collect) slots.set(i, r.rows)
      else if (r.rows.length) yield* insertRows(scratch!, table, agg, r.rows)
      if (!recorded.has(j.pp)) {
        recorded.add(j.pp)
        const d = decision(j.g, j.pp)
        d.note = `${r.rows.length} rows${j.keysJson ? ' after semijoin reduction' : ''}`
        fragments.push(d)
      }
    }
    for (const [i, rows] of slots) byPlace.set(place.get(jobs[i])!, rows)
    jobs = retry
  }
  if (collect) for (const k of [...byPlace.keys()].sort((x, y) => x - y)) collect.push(byPlace.get(k)!)
}

/**
 * The INSERT of `rows` rows of a site's partial aggregates into __P (`ncol` values a row): a SUM/MIN/MAX value
 * comes with a flag telling whether it was REAL at the site, and is stored with that storage class (sql.js binds
 * an integral JS number as an INTEGER and a large integer as a REAL), so the combined aggregate has SQLite's
 * type. The rows are bound as a VALUES list (its columns column1, column2, …) and converted by one SELECT.
 */
function aggInsertSql(agg: AggSpec, ncol: number, rows: number): string {
  let n = 0
  const col = () => `column${++n}`
  const vals = agg.groupCols.map(() => col())
  for (const a of agg.aggs) {
    if (a.fn === 'AVG') { vals.push(col(), col()); continue }
    if (a.fn === 'COUNT') { vals.push(col()); continue }
    const v = col(), t = col()
    vals.push(`CASE WHEN ${t} THEN CAST(${v} AS REAL) WHEN typeof(${v}) = 'real' AND ${v} = CAST(${v} AS INTEGER) THEN CAST(${v} AS INTEGER) ELSE ${v} END`)
  }
  if (n !== ncol) throw new EngineError('INTERNAL', `a site's partial aggregates came with ${ncol} columns, ${n} expected`)
  return `INSERT INTO "__P" SELECT ${vals.join(', ')} FROM (VALUES ${Array(rows).fill(`(${Array(ncol).fill('?').join(', ')})`).join(', ')})`
}
