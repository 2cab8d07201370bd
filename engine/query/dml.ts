/**
 * INSERT / UPDATE / DELETE on global names from the query processor (the Query console, the CLI, scenarios'
 * `query`). There is one write path: the statement (or the BEGIN; …; COMMIT script) is a transaction of the
 * DTM, begun at the query site — localized into fragment-level operations of the sub-transactions at the
 * sites (engine/txn/global.ts), under the same strict 2PL as every other transaction, and committed by
 * two-phase commit in the topology the user chose (engine/txn/autocommit.ts). A failure anywhere aborts the
 * whole transaction: nothing of it remains. The plan shows the operations, the transaction and its class.
 * Replicas (ITEMS, the vertical fragment Stocks_CMB_FRG) are kept in step by the replication channels; the
 * write returns once they have applied it (bounded wait in virtual time).
 */
import { EngineError } from '../errors'
import type { Cluster } from '../cluster'
import type { SiteCode } from '../topology/types'
import type { Ast, ParsedText } from './parse'
import type { RunOptions } from './plan'
import { ExecCtx } from './exec'
import type { FragmentDecision, PlanView, QueryRunResult, RequestClass } from './types'
import type { QueryGen } from './coop'
import { Dtm } from '../txn/dtm'
import { autocommitSteps, type AutoResult, type AutoStmt } from '../txn/autocommit'
import { sqlify } from './parse'
import { primaryCopySite } from '../site/replication'
import { globalRelations } from '../data/schema'

export type WriteResult = QueryRunResult & { sites?: SiteCode[] }

/** The part of the query processor a write needs: the cluster it runs on. */
export interface WriteHost { cluster: Cluster }

/** One INSERT/UPDATE/DELETE: a one-statement transaction (cancellable before it starts, not once it runs). */
export function* runWrite(dqp: WriteHost, querySite: SiteCode, ast: Ast, parsed: ParsedText, _opts: RunOptions): QueryGen<WriteResult> {
  void _opts
  return yield* runTxn(dqp, querySite, [ast], parsed)
}

/** BEGIN; w1; w2; …; COMMIT — several writes in one transaction. */
export function* runScript(dqp: WriteHost, querySite: SiteCode, stmts: Ast[], parsed: ParsedText, _opts: RunOptions): QueryGen<QueryRunResult> {
  void _opts
  return yield* runTxn(dqp, querySite, stmts, parsed)
}

function* runTxn(dqp: WriteHost, querySite: SiteCode, stmts: Ast[], parsed: ParsedText): QueryGen<WriteResult> {
  const cluster = dqp.cluster
  for (const st of stmts) if (!['insert', 'update', 'delete'].includes(String(st.type))) throw new EngineError('UNSUPPORTED', `${String(st.type).toUpperCase()} in a write transaction`)
  const ctx = new ExecCtx(cluster, querySite)
  ctx.hold = true
  ctx.plan(stmts.length + 2)
  // the only cancellation point: before the transaction begins nothing has changed
  yield ctx.tick(`${stmts.length > 1 ? 'transaction' : String(stmts[0].type).toUpperCase()}: starting`)
  const t0 = cluster.sim.now
  const dtm = Dtm.of(cluster)
  const auto: AutoStmt[] = stmts.map((ast) => ({ sql: sqlify(ast), pre: { ast, atRefs: parsed.atRefs } }))
  // cancellation points after each statement and before the commit: a cancellation there aborts the transaction
  const steps = autocommitSteps(dtm, querySite, auto)
  let r: AutoResult
  for (;;) {
    const n = steps.next()
    if (n.done) { r = n.value; break }
    try { yield ctx.done(n.value) } catch (e) { steps.throw(e) }
  }
  yield ctx.done(`transaction ${r.gid} committed`)
  const sites = [...new Set(r.results.flatMap((x) => x.localized?.ops.map((o) => o.site) ?? []))]
  // replicas of what we wrote (ITEMS everywhere, Stocks_CMB_FRG at MBI) catch up before we return
  waitReplicas(cluster, sites)
  const fragments: FragmentDecision[] = []
  for (const x of r.results) {
    const loc = x.localized
    if (!loc) continue
    for (const o of loc.ops) fragments.push({ ref: loc.target, fragment: o.fragment, status: 'used', site: o.site, server: 'primary', role: 'authoritative', note: o.sql })
    for (const p of loc.pruned) fragments.push({ ref: loc.target, fragment: p, status: 'pruned', reason: 'the fragmentation predicate contradicts the condition' })
  }
  const changes = r.results.reduce((s, x) => s + (x.affected ?? 0), 0)
  const requestClass: RequestClass = r.requestClass ?? 'remote transaction'
  const kind = stmts.length === 1 ? (String(stmts[0].type) as PlanView['statement']) : 'update'
  const plan: PlanView = {
    statement: kind, querySite, assemblySite: querySite, strategy: 'write', requestClass, fragments, joins: [], steps: ctx.steps,
    notes: [`transaction ${r.gid} over ${sites.join(', ') || 'no site'}: ${stmts.length} statement(s), strict 2PL, committed by ${dtm.opts.protocol} two-phase commit (${Math.round(r.commit.latencyMs)} ms)`],
    sitesInvolved: [...new Set([querySite, ...sites])], actualRows: changes,
  }
  // replica control (engine/site/replication.ts): a replicated relation is written at its primary copy only
  const replicated = [...new Set(r.results.map((x) => x.localized?.target).filter((t): t is string => !!t && cluster.topology && globalRelations(cluster.topology).some((g) => g.name === t.toUpperCase() && g.distribution === 'replicated')))]
  for (const t of replicated) plan.notes.push(`${t} is replicated with primary-copy control: the write runs at the primary copy at ${primaryCopySite(cluster.topology)}; the other copies follow through replication`)
  return { columns: ['changes'], rows: [[changes]], rowCount: 1, requestClass, plan, perLinkBytes: ctx.perLink, virtualMs: cluster.sim.now - t0, wallMs: 0, changes, sites, txn: { gid: r.gid, sites, commitMs: r.commit.latencyMs } }
}

/** Runs the simulation until the replication channels from these sites to other primaries are drained (≤ 30 s virtual). */
function waitReplicas(cluster: Cluster, sites: SiteCode[]): void {
  const repl = (cluster as unknown as { replication?: { channels: Map<string, { targetSite: string; role: string; pending: unknown[] }[]> } }).replication
  if (!repl) return
  const deadline = cluster.sim.now + 30_000
  const pending = () => sites.some((s) => (repl.channels.get(s) ?? []).some((ch) => ch.role === 'primary' && ch.targetSite !== s && ch.pending.length > 0 && cluster.isServerUp(`${ch.targetSite}.primary`) && cluster.net.route(s, ch.targetSite)))
  cluster.sim.runUntilTrue(() => !pending() || cluster.sim.now > deadline)
}
