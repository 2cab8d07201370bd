/**
 * The statement guard: how a long sql.js statement is interrupted from inside SQLite.
 *
 * sql.js exports neither sqlite3_progress_handler nor sqlite3_interrupt, so one `step()` of a statement
 * (a cross join counting 10^10 rows, a big sort) would hold the thread until it ends. The distributed query
 * processor therefore adds a conjunct `__iddb_guard(t1.rowid, t2.rowid, …)` to every SELECT block it sends
 * to a site or runs at the assembly site (guardSelect below). A term that references every FROM source is
 * evaluated in the innermost loop of the block, once per candidate row. The function is registered on each
 * connection (installGuard) through sql.js's raw C entry points — no per-call argument marshalling, ~0.1 µs
 * a call — and
 *  - counts the rows examined against the running query's budget (BUDGET_EXCEEDED when over),
 *  - every POLL_EVERY calls checks the wall-time budget and the cancellation flag of the running query, and
 *    runs the host's poll hook (the engine worker answers pings and takes cancellations from there while a
 *    statement is stepping, see src-main/engine-host/worker.ts),
 * and aborts the statement with an SQLite error when it must stop; the executor turns that error back into
 * the scope's EngineError (CANCELLED / BUDGET_EXCEEDED), so finally blocks free statements as usual.
 *
 * What it does not cover: SQL that does not go through the DQP (transaction statements run at a site, a site's
 * local SQL, scenarios' site commands) — the host's watchdog (EngineClient) restarts a worker that stops
 * answering. Wall time here is for budgets only; it never feeds the simulation (determinism).
 */
import type { Database, SqlJsStatic } from 'sql.js'
import { EngineError } from '../errors'
import { colName, type Ast } from './parse'

export const GUARD_FN = '__iddb_guard'
/** The sampled form for one-table scans: called for one row in SAMPLE (by rowid), it counts SAMPLE rows. */
export const GUARD_SAMPLED_FN = '__iddb_guard_s'
const SAMPLE = 61
/** The message SQLite reports when the guard stops a statement (mapped back to the scope's error). */
const STOP_MESSAGE = 'IDDB_GUARD_STOP'
/** Guard calls between two checks of time, cancellation and the host's poll hook. */
export const POLL_EVERY = 1024
/** Minimum wall time between two runs of the host's poll hook. */
const POLL_MS = 5

/** Limits of one query run: rows examined (candidate rows in the innermost loops) and wall time. */
export interface QueryBudget { maxRows: number; maxMs: number }

/** The budget of a session's query (console, CLI) unless the caller sets another. */
export const SESSION_BUDGET: QueryBudget = { maxRows: 2_000_000_000, maxMs: 120_000 }

/** One running query's guard state. */
export class GuardScope {
  rows = 0
  /** Set when the guard stopped a statement: the error to report. */
  stopped: EngineError | undefined
  private readonly deadline: number
  constructor(readonly budget: QueryBudget, private readonly isCancelled: () => boolean = () => false, private readonly cancelDetail: () => string = () => 'the query was cancelled; nothing was returned or changed') {
    this.deadline = performance.now() + budget.maxMs
  }

  /** The error that must stop the query now, if any (checked by the guard and at the executor's checkpoints). */
  check(): EngineError | undefined {
    if (this.stopped) return this.stopped
    if (this.isCancelled()) return (this.stopped = new EngineError('CANCELLED', this.cancelDetail()))
    if (this.rows > this.budget.maxRows) return (this.stopped = new EngineError('BUDGET_EXCEEDED', `the query examined more than ${fmt(this.budget.maxRows)} rows, the session's budget; it was stopped (nothing was returned or changed)`))
    if (performance.now() > this.deadline) return (this.stopped = new EngineError('BUDGET_EXCEEDED', `the query ran longer than ${fmt(this.budget.maxMs)} ms, the session's time budget; it was stopped (nothing was returned or changed)`))
    return undefined
  }
}

const fmt = (n: number) => n.toLocaleString('en')

let active: GuardScope | undefined
let pollHook: (() => void) | undefined
let calls = 0
let lastPoll = 0

/**
 * Installs the host's poll hook, run from inside guarded statements at most every POLL_MS (and never
 * re-entered). It must not touch any database: it may only take messages (pings, cancellations).
 */
export function setInterruptPoll(fn: (() => void) | undefined): void { pollHook = fn }

let polling = false
function poll(): void {
  if (!pollHook || polling) return
  const t = performance.now()
  if (t - lastPoll < POLL_MS) return
  lastPoll = t
  polling = true
  try { pollHook() } catch { /* the host's problem; the statement goes on */ } finally { polling = false }
}

/** Runs `fn` with `scope` as the running query's guard state (nested scopes restore the outer one). */
export function withScope<T>(scope: GuardScope | undefined, fn: () => T): T {
  const outer = active
  active = scope
  try { return fn() } finally { active = outer }
}

/** The running query's scope (for the executor's own checkpoints). */
export function activeScope(): GuardScope | undefined { return active }

/** Total guard calls so far (tests and the bench check the guard really runs). */
export function guardCalls(): number { return calls }

/**
 * If `e` is the SQLite error raised by the guard, the scope's error (CANCELLED / BUDGET_EXCEEDED); else undefined.
 * Callers map SQL errors through this before wrapping them as SQL_ERROR.
 */
export function guardError(e: unknown): EngineError | undefined {
  if (e instanceof EngineError && (e.code === 'CANCELLED' || e.code === 'BUDGET_EXCEEDED')) return e
  const msg = e instanceof Error ? e.message : String(e)
  if (!msg.includes(STOP_MESSAGE)) return undefined
  return active?.stopped ?? new EngineError('CANCELLED', 'the query was stopped; nothing was returned or changed')
}

// ---- registration on a sql.js connection ---------------------------------------------------
interface RawModule {
  addFunction(fn: (...a: number[]) => void, sig: string): number
  stringToNewUTF8(s: string): number
  _sqlite3_create_function_v2(db: number, name: number, argc: number, flags: number, app: number, fn: number, step: number, final: number, destroy: number): number
  _sqlite3_result_int(ctx: number, v: number): void
  _sqlite3_result_error(ctx: number, msg: number, len: number): void
}
const raw = new WeakMap<SqlJsStatic, { fns: { fn: number; name: number }[] }>()
const SQLITE_UTF8 = 1

/** Registers the guard function on a connection (again after sql.js reopens it: export(), load()). */
export function installGuard(SQL: SqlJsStatic, db: Database): void {
  const M = SQL as unknown as RawModule
  let r = raw.get(SQL)
  if (!r) {
    if (typeof M.addFunction !== 'function' || typeof M._sqlite3_create_function_v2 !== 'function') throw new EngineError('INTERNAL', 'this sql.js build does not expose the entry points the statement guard needs (addFunction, sqlite3_create_function_v2)')
    const stop = M.stringToNewUTF8(STOP_MESSAGE)
    const make = (weight: number, every: number) => M.addFunction((ctx: number) => {
      const s = active
      if (s) s.rows += weight
      if ((++calls & (every - 1)) === 0) {
        poll()
        if (s?.check()) { M._sqlite3_result_error(ctx, stop, -1); return }
      } else if (s?.stopped) { M._sqlite3_result_error(ctx, stop, -1); return }
      M._sqlite3_result_int(ctx, 1)
    }, 'viii')
    r = { fns: [{ fn: make(1, POLL_EVERY), name: M.stringToNewUTF8(GUARD_FN) }, { fn: make(SAMPLE, POLL_EVERY / 64), name: M.stringToNewUTF8(GUARD_SAMPLED_FN) }] }
    raw.set(SQL, r)
  }
  const handle = (db as unknown as { db: number }).db
  for (const f of r.fns) {
    const rc = M._sqlite3_create_function_v2(handle, f.name, -1, SQLITE_UTF8, 0, f.fn, 0, 0, 0)
    if (rc !== 0) throw new EngineError('INTERNAL', `could not register the statement guard (SQLite code ${rc})`)
  }
}

// ---- SQL rewriting -------------------------------------------------------------------------
/** The output column names of a derived table's SELECT (the DQP asks SQLite with its schema-only database). */
export type ColumnsOf = (sub: Ast) => string[] | undefined

/** A reference to one column of a FROM source (a base table's rowid, a derived table's first output column). */
function sourceRef(item: Ast, columnsOf?: ColumnsOf): Ast | undefined {
  const alias = item.as ?? item.table
  if (item.table !== undefined && item.table !== null && !item.expr) return { type: 'column_ref', table: String(alias), column: 'rowid' }
  const sub = item.expr?.ast
  if (!sub || !item.as) return undefined
  const first = (sub.columns ?? [])[0]
  let name = first?.as ? String(first.as) : first?.expr?.type === 'column_ref' ? colName(first.expr) : undefined
  if (!name || name === '*') name = columnsOf?.(sub)?.[0]
  if (!name || name === '*') return undefined
  return { type: 'column_ref', table: String(item.as), column: name }
}

/**
 * Adds the guard conjunct to every SELECT block of the tree (compound branches, derived tables, subqueries
 * in expressions), in place. The term references each FROM source of its block, so SQLite evaluates it in
 * the block's innermost loop. Returns the tree.
 */
export function guardSelect(root: Ast, columnsOf?: ColumnsOf): Ast {
  const seen = new Set<Ast>()
  const visit = (n: Ast): void => {
    if (!n || typeof n !== 'object' || seen.has(n)) return
    seen.add(n)
    if (Array.isArray(n)) { n.forEach(visit); return }
    if (n.type === 'select') guardBlock(n, columnsOf)
    for (const k of Object.keys(n)) if (k !== 'tableList' && k !== 'columnList' && k !== 'loc') visit(n[k])
  }
  visit(root)
  return root
}

function guardBlock(sel: Ast, columnsOf?: ColumnsOf): void {
  const from: Ast[] = sel.from ?? []
  if (!from.length) return
  const args = from.map((f) => sourceRef(f, columnsOf)).filter((x): x is Ast => !!x)
  const term: Ast = { type: 'function', name: { name: [{ type: 'default', value: GUARD_FN }] }, args: { type: 'expr_list', value: args }, over: null }
  sel.where = sel.where ? { type: 'binary_expr', operator: 'AND', left: { ...sel.where, parentheses: true }, right: term } : term
}

/**
 * The guard conjunct for a generated one-table statement (`… FROM t WHERE <this>`): sampled, it calls the
 * guard for the rows whose rowid is a multiple of SAMPLE (a prime, so any stride of rowids but a multiple
 * of it hits it uniformly) and counts SAMPLE rows a call — a scan is linear, and this keeps the group-by
 * benchmark's cost low. Joins and user-written blocks get the exact per-row guard (guardSelect).
 */
export function guardTerm(): string { return `(rowid % ${SAMPLE} <> 0 OR ${GUARD_SAMPLED_FN}(rowid))` }
