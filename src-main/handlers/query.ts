/** Handlers of the distributed query processor calls (engine/query). */
import { EngineError } from '../../engine/errors'
import { dqpFor, formatExplain } from '../../engine/query/dqp'
import type { QueryRunResult } from '../../engine/query/types'
import type { JobRunner } from '../engine-host/jobs'
import type { HandlerContext, HandlerMap } from './context'
import { SecurityManager, visibleResult, type Authorization } from '../../engine/security/dsm'
import type { QueryCell, QueryRunView } from '../ipc/contract/query'
import { SESSION_BUDGET, type QueryBudget } from '../../engine/query/guard'

type QueryCall = 'query/run' | 'query/explain' | 'query/catalog' | 'query/start' | 'query/result' | 'query/cancel'

/** Finished query jobs' results, per job runner, until 'query/result' takes them (the newest KEEP_RESULTS). */
const results = new WeakMap<JobRunner, Map<string, QueryRunView>>()
const KEEP_RESULTS = 16

function resultsOf(jobs: JobRunner): Map<string, QueryRunView> {
  let m = results.get(jobs)
  if (!m) { m = new Map(); results.set(jobs, m) }
  return m
}

function queryJob(ctx: Pick<HandlerContext, 'jobs'>, jobId: string) {
  const j = ctx.jobs.get(jobId)
  if (j.kind !== 'query') throw new EngineError('BAD_INPUT', `job ${jobId} is a ${j.kind} job, not a query`)
  return j
}

/**
 * The budget of a query: a session's (rows examined and wall time, SESSION_BUDGET); the console's operator
 * (no session) has no row budget but the same bound on wall time, so no statement runs unbounded.
 */
export function budgetFor(session: string | undefined): QueryBudget {
  return session ? SESSION_BUDGET : { maxRows: Number.POSITIVE_INFINITY, maxMs: SESSION_BUDGET.maxMs }
}

const cell = (v: unknown): QueryCell => (v === null || v === undefined ? null : typeof v === 'number' || typeof v === 'string' ? v : v instanceof Uint8Array ? `<blob ${v.length} bytes>` : String(v))

/** Checks the statement for the session (multi-level security); a refusal is audited and announced. */
export function authorize(ctx: HandlerContext, site: string, sql: string, session: string | undefined): Authorization {
  ctx.cluster.site(site)
  try {
    return SecurityManager.of(ctx.cluster).authorize(session, site, sql, ctx.actor)
  } catch (e) {
    if (e instanceof EngineError && e.code === 'ACCESS_DENIED') ctx.emit('security/changed', { reason: 'a request was refused' })
    throw e
  }
}

/**
 * Requests the cancellation of a query job (synchronous: the worker also calls it from inside a running
 * statement, see engine-host/worker.ts); the job ends CANCELLED at its next checkpoint or guard check.
 */
export function cancelQueryJob(ctx: Pick<HandlerContext, 'jobs'>, jobId: string) {
  queryJob(ctx, jobId)
  return ctx.jobs.cancel(jobId)
}

export function toView(site: string, sql: string, auth: Authorization, r: QueryRunResult, maxRows: number): QueryRunView {
  const total = r.rows.length
  const v = visibleResult(auth, r.columns)
  return {
    site, sql, user: auth.user, level: auth.level, hiddenColumns: v.hidden, columns: v.columns, rows: r.rows.slice(0, maxRows).map((row) => v.pick(row).map(cell)), totalRows: total, truncated: total > maxRows,
    requestClass: r.requestClass, plan: r.plan, perLinkBytes: r.perLinkBytes, virtualMs: r.virtualMs, wallMs: r.wallMs,
    explain: r.explain ?? formatExplain(r), changes: r.changes ?? null,
  }
}

export const queryHandlers: HandlerMap<QueryCall> = {
  'query/run': async (ctx, { site, sql, session, maxRows }) => {
    const auth = authorize(ctx, site, sql, session)
    const dqp = await dqpFor(ctx.cluster)
    return toView(site, sql, auth, await dqp.run(site, auth.sql, { user: auth.user ?? undefined, budget: budgetFor(session) }), maxRows)
  },
  'query/explain': async (ctx, { site, sql, session, maxRows }) => {
    const text = /^\s*explain\b/i.test(sql) ? sql : `EXPLAIN ${sql}`
    const auth = authorize(ctx, site, text, session)
    const dqp = await dqpFor(ctx.cluster)
    return toView(site, text, auth, await dqp.run(site, auth.sql, { user: auth.user ?? undefined, budget: budgetFor(session) }), maxRows)
  },
  'query/start': async (ctx, { site, sql, session, maxRows }) => {
    const auth = authorize(ctx, site, sql, session)
    const dqp = await dqpFor(ctx.cluster)
    const label = `${site}: ${sql.replace(/\s+/g, ' ').slice(0, 80)}`
    return ctx.jobs.start('query', label, async (job) => {
      const r = await dqp.runCooperative(site, auth.sql, { user: auth.user ?? undefined, budget: budgetFor(session) }, job)
      const view = toView(site, sql, auth, r, maxRows)
      const m = resultsOf(ctx.jobs)
      m.set(job.id, view)
      for (const k of m.keys()) { if (m.size <= KEEP_RESULTS) break; m.delete(k) }
      // the job view carries a summary only: the rows travel once, through 'query/result'
      return { totalRows: view.totalRows, virtualMs: view.virtualMs, requestClass: view.requestClass }
    })
  },
  'query/result': async (ctx, { jobId }) => {
    queryJob(ctx, jobId)
    const end = await ctx.jobs.wait(jobId)
    if (end.status !== 'done') {
      const e = end.error ?? { code: 'INTERNAL' as const, message: `query job ${jobId} ended ${end.status}` }
      throw new EngineError(e.code, e.message, { ...(e.site ? { site: e.site } : {}), ...(e.position !== undefined ? { position: e.position } : {}) })
    }
    const m = resultsOf(ctx.jobs)
    const view = m.get(jobId)
    if (!view) throw new EngineError('NOT_FOUND', `the result of query job ${jobId} was already taken or has expired`)
    m.delete(jobId)
    return view
  },
  'query/cancel': async (ctx, { jobId }) => cancelQueryJob(ctx, jobId),
  'query/catalog': async (ctx) => {
    const dqp = await dqpFor(ctx.cluster)
    const c = dqp.catalog
    return {
      relations: c.relations.map((r) => ({ name: r.name, distribution: r.distribution, columns: r.columns.map((x) => ({ name: x.name, type: x.type })) })),
      views: c.views.map((v) => ({ name: v.name, sql: v.sql })),
      fragments: c.fragments.map((f) => ({ name: f.name, relation: f.relation, site: f.site, kind: f.kind, columns: f.columns })),
      sites: ctx.cluster.siteCodes,
    }
  },
}
