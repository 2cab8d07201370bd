/**
 * The distributed query processor (Özsu & Valduriez), one request at a time: parse and plan it (plan.ts:
 * decomposition, localization, pruning, estimates, copy choice, semijoins, partial aggregation), then either
 * run the plan (execute.ts for a SELECT, dml.ts for INSERT/UPDATE/DELETE and BEGIN … COMMIT) or, for EXPLAIN,
 * render it without running anything (explain.ts).
 */
import { EngineError } from '../errors'
import type { Cluster } from '../cluster'
import type { SiteCode } from '../topology/types'
import { loadSqlJs } from '../site/sqljs'
import type { SqlJsStatic } from 'sql.js'
import type { Ast } from './parse'
import type { QueryCatalog } from './catalog'
import type { StatsCache } from './stats'
import type { QueryRunResult } from './types'
import { Planner, type Prepared, type RunOptions, type SelectPlan } from './plan'
import { executeSelect } from './execute'
import { explainSelect } from './explain'
import { runScript, runWrite } from './dml'
import { SLICE_MS, drive, runGuarded, runToEnd, type Cooperation, type QueryGen } from './coop'

export type { RunOptions } from './plan'
export { formatExplain } from './explain'

export class Dqp {
  readonly planner: Planner

  constructor(readonly cluster: Cluster, SQL: SqlJsStatic) { this.planner = new Planner(cluster, SQL) }

  static async create(cluster: Cluster): Promise<Dqp> { return new Dqp(cluster, await loadSqlJs()) }

  get catalog(): QueryCatalog { return this.planner.catalog }
  get stats(): StatsCache { return this.planner.stats }

  // ---- entry points ----------------------------------------------------------------------
  async run(site: SiteCode, sql: string, opts: RunOptions = {}): Promise<QueryRunResult> {
    return this.runSync(site, sql, opts)
  }

  /** Runs a query to completion synchronously (the fast path: no yields to the event loop, not cancellable). */
  runSync(site: SiteCode, sql: string, opts: RunOptions = {}): QueryRunResult {
    return opts.budget ? runGuarded(this.runGen(site, sql, opts), opts.budget) : runToEnd(this.runGen(site, sql, opts))
  }

  /**
   * Runs a query cooperatively (see coop.ts): yields to the event loop every ~10 ms of work, reports progress
   * (steps done / planned) and stops at the next checkpoint once `coop.cancelled` is set, with EngineError
   * CANCELLED: a read returns nothing, a write is not started or its applied parts are undone. A write does not
   * yield to the event loop once it has started (see coop.ts).
   */
  runCooperative(site: SiteCode, sql: string, opts: RunOptions, coop: Cooperation, sliceMs = SLICE_MS): Promise<QueryRunResult> {
    return drive(this.runGen(site, sql, opts), coop, sliceMs, opts.budget)
  }

  /** Plans a SELECT (with or without EXPLAIN) issued at `site`, without running it. */
  plan(site: SiteCode, sql: string, opts: RunOptions = {}): SelectPlan {
    this.issuable(site)
    const p = this.planner.prepare(sql)
    if (p.kind !== 'select') throw new EngineError('UNSUPPORTED', `only a SELECT has a query plan (this is ${p.kind === 'script' ? 'a transaction' : `an ${p.kind.toUpperCase()}`})`)
    return this.planner.planSelect(site, p, opts)
  }

  /** The execution of one request as a generator that yields at safe checkpoints. */
  *runGen(site: SiteCode, sql: string, opts: RunOptions = {}): QueryGen<QueryRunResult> {
    const t0 = performance.now()
    this.issuable(site)
    const p = this.planner.prepare(sql)
    let res: QueryRunResult
    if (p.kind === 'script') {
      res = yield* runScript(this.planner, site, p.ast as Ast[], p.parsed, opts)
    } else if (p.parsed.explain) {
      res = this.explain(site, p, opts)
    } else if (p.kind === 'select') {
      res = yield* executeSelect(this.planner, this.planner.planSelect(site, p, opts))
    } else {
      res = yield* runWrite(this.planner, site, p.ast, p.parsed, opts)
    }
    res.wallMs = performance.now() - t0
    if (!p.parsed.explain && opts.maxRows !== undefined && res.rows.length > opts.maxRows) res.rows = res.rows.slice(0, opts.maxRows)
    return res
  }

  /** EXPLAIN: the plan with its estimates; nothing runs (a query over the session's budget is explained, with a note). */
  private explain(site: SiteCode, p: Prepared, opts: RunOptions): QueryRunResult {
    if (p.kind !== 'select') throw new EngineError('UNSUPPORTED', `EXPLAIN ${p.kind.toUpperCase()} is not supported: only a SELECT's plan is shown (the distributed query processor plans writes as it applies them)`)
    const { budget, ...rest } = opts
    const plan = this.planner.planSelect(site, p, rest)
    const extra: string[] = []
    if (budget) {
      try { this.planner.checkBudget(plan, budget) } catch (e) {
        if (!(e instanceof EngineError) || e.code !== 'BUDGET_EXCEEDED') throw e
        extra.push(`a run would be refused: ${e.message}`)
      }
    }
    return explainSelect(this.planner, plan, extra)
  }

  private issuable(site: SiteCode): void {
    this.cluster.site(site)
    if (!this.cluster.isSiteUp(site)) throw this.cluster.siteDownError(site, 'the query cannot be issued there')
  }
}

/** The cluster's DQP (one per cluster, built by its subsystem registry; cached plans and statistics live in it). */
export function dqpFor(cluster: Cluster): Promise<Dqp> { return cluster.subsystems.dqp() }
