/**
 * Transaction and deadlock handlers. The DTM lives with the cluster (Dtm.of). Calls that wait for the
 * distributed protocol run the simulation forward (bounded in virtual time) until the answer is known,
 * the way a client blocks on its session; with the clock running, the live driver moves it on as well.
 */
import { Dtm, type ExecResult, type CommitResult } from '../../engine/txn/dtm'
import { demoDeadlock } from '../../engine/txn/demo'
import '../../engine/txn/scenario' // registers begin/exec/commit/crash/... in the scenario language
import type { HandlerContext, HandlerMap } from './context'
import { SecurityManager, TOP_LEVEL } from '../../engine/security/dsm'
import type { TxnCommitView, TxnListView } from '../ipc/contract/txn'

type TxnCall = 'txn/list' | 'txn/begin' | 'txn/exec' | 'txn/commit' | 'txn/abort' | 'txn/timeline' | 'txn/inDoubt' | 'txn/resolve'
  | 'txn/setProtocol' | 'txn/crashAt' | 'deadlock/graph' | 'deadlock/history' | 'deadlock/demo'

const dtmOf = (ctx: HandlerContext) => Dtm.of(ctx.cluster)

/** Transactions begun as a session (gid → its token and site), per cluster. */
const txnSessions = new WeakMap<object, Map<string, { token: string; site: string }>>()
function sessionsOf(ctx: HandlerContext): Map<string, { token: string; site: string }> {
  let m = txnSessions.get(ctx.cluster)
  if (!m) { m = new Map(); txnSessions.set(ctx.cluster, m) }
  if (m.size > 5000) m.delete(m.keys().next().value!)
  return m
}

/** Runs the simulation until `done()` or `waitMs` of virtual time passed. */
function runFor(ctx: HandlerContext, done: () => boolean, waitMs: number): void {
  const until = ctx.cluster.sim.now + waitMs
  ctx.cluster.sim.runUntilTrue(() => done() || ctx.cluster.sim.now >= until, 2_000_000)
}

function listView(ctx: HandlerContext, limit = 200): TxnListView {
  const d = dtmOf(ctx)
  return {
    now: ctx.cluster.sim.now, protocol: d.opts.protocol, scheme: d.opts.scheme, victim: d.opts.victim,
    transactions: d.list(limit), stats: { ...d.stats, series: d.stats.series.slice(-120) }, summary: d.summary(), crashHooks: d.pendingCrashHooks(),
  }
}

function changed(ctx: HandlerContext): void {
  ctx.emit('txn/changed', { at: ctx.cluster.sim.now, summary: dtmOf(ctx).summary() })
}

const cell = (v: unknown): string | number | null => (v === null || v === undefined ? null : typeof v === 'number' ? v : String(v))

function commitView(gid: string, r: CommitResult | undefined): TxnCommitView {
  return r ? { gid, outcome: r.outcome, reason: r.reason ?? null, latencyMs: r.latencyMs } : { gid, outcome: 'PENDING', reason: null, latencyMs: null }
}

export const txnHandlers: HandlerMap<TxnCall> = {
  'txn/list': async (ctx, { limit }) => listView(ctx, limit),
  'txn/begin': async (ctx, { site, protocol, session }) => {
    ctx.cluster.site(site)
    if (session) SecurityManager.of(ctx.cluster).checkSession(session, site)
    const gid = dtmOf(ctx).begin(site, protocol ? { protocol } : {})
    if (session) sessionsOf(ctx).set(gid, { token: session, site })
    changed(ctx)
    return { gid }
  },
  'txn/exec': async (ctx, { gid, site, sql, params, waitMs }) => {
    if (site) ctx.cluster.site(site)
    const owner = sessionsOf(ctx).get(gid)
    const reader = owner ? null : ctx.actor // no session: the console identity acting reads at its own level
    if (owner || (reader && reader.level !== TOP_LEVEL)) {
      // multi-level security: the statement is checked for the transaction's session before it runs, and what
      // runs is the checked statement (a `*` restricted to the columns the session may read)
      try {
        sql = SecurityManager.of(ctx.cluster).authorize(owner?.token, owner?.site ?? site ?? gid.split('-')[0], sql, reader).sql
      } catch (e) {
        dtmOf(ctx).recordRefused(gid, site ?? owner?.site ?? '', sql, e) // a failed statement of the transaction (see Dtm.commit)
        ctx.emit('security/changed', { reason: 'a statement was refused' })
        throw e
      }
    }
    const t0 = ctx.cluster.sim.now
    let res: ExecResult | undefined
    if (site) dtmOf(ctx).exec(gid, site, sql, params, (r) => { res = r })
    else dtmOf(ctx).execGlobal(gid, sql, params, (r) => { res = r })
    runFor(ctx, () => res !== undefined, waitMs)
    changed(ctx)
    const r = res
    return {
      gid, site: r?.site ?? site ?? '', ok: r?.ok ?? false, pending: !r,
      localized: r?.localized ? r.localized.ops.map((o) => ({ site: o.site, fragment: o.fragment, sql: o.sql })) : null,
      ...(r?.error ? { errorCode: r.error.code } : {}),
      rows: (r?.rows ?? []).slice(0, 1000).map((row) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, cell(v)]))),
      affected: r?.affected ?? null, error: r?.error?.message ?? null, virtualMs: ctx.cluster.sim.now - t0,
    }
  },
  'txn/commit': async (ctx, { gid, waitMs }) => {
    let res: CommitResult | undefined
    const d = dtmOf(ctx)
    d.commit(gid, (r) => { res = r })
    // the outcome first; then let phase two finish at the participants (bounded) so the console shows it settled
    runFor(ctx, () => res !== undefined, waitMs)
    if (res) runFor(ctx, () => d.unfinishedAt(gid).length === 0, Math.min(waitMs, 5000))
    changed(ctx)
    return commitView(gid, res)
  },
  'txn/abort': async (ctx, { gid }) => {
    const d = dtmOf(ctx)
    d.abort(gid)
    changed(ctx)
    const i = d.info.get(gid)
    return { gid, outcome: (i?.outcome ?? 'ABORT') as TxnCommitView['outcome'], reason: i?.reason ?? null, latencyMs: null }
  },
  'txn/timeline': async (ctx, { gid }) => {
    const d = dtmOf(ctx)
    const events = d.timeline(gid)
    const sites = [...new Set(events.flatMap((e) => (e.to ? [e.site, e.to] : [e.site])))].sort()
    return { gid, sites, events, txn: d.list(100_000).find((t) => t.gid === gid) ?? null }
  },
  'txn/inDoubt': async (ctx) => dtmOf(ctx).inDoubt(),
  'txn/resolve': async (ctx, { gid, site, decision }) => {
    const d = dtmOf(ctx)
    d.resolve(gid, site, decision)
    changed(ctx)
    return d.inDoubt()
  },
  'txn/setProtocol': async (ctx, { protocol, scheme, victim }) => {
    const d = dtmOf(ctx)
    if (protocol) d.setProtocol(protocol)
    if (scheme || victim) d.setScheme(scheme ?? d.opts.scheme, victim)
    ctx.cluster.log('txn', `transactions: ${d.opts.protocol} 2PC, deadlocks by ${d.opts.scheme} (victim ${d.opts.victim})`)
    return listView(ctx)
  },
  'txn/crashAt': async (ctx, { site, step, restartAfterMs }) => {
    ctx.cluster.site(site)
    dtmOf(ctx).crashAt(site, step, restartAfterMs === undefined ? {} : { restartAfterMs })
    return listView(ctx)
  },
  'deadlock/graph': async (ctx) => dtmOf(ctx).wfgView(),
  'deadlock/history': async (ctx, { limit }) => dtmOf(ctx).deadlocks.slice(-limit).reverse(),
  'deadlock/demo': async (ctx, { a, b, resolve }) => {
    ctx.cluster.site(a); ctx.cluster.site(b)
    const out = demoDeadlock(ctx.cluster, dtmOf(ctx), a, b, { resolve })
    changed(ctx)
    return out
  },
}
