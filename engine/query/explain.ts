/**
 * EXPLAIN: a plan (plan.ts) rendered without running it. The planned steps — requests, sub-queries, shipments,
 * semijoin keys, assembly, the result's return — carry the optimizer's estimates of rows, bytes and virtual
 * times (the network's cost model on idle links); no message is sent and no site runs a statement. The same
 * text renders a plan as it ran (a normal run's result carries it too), with the actual figures.
 */
import { accountBytes } from './exec'
import type { PlanStep, PlanView, QueryRunResult } from './types'
import { decision, pieceLabel, RESULT_BYTES_GUESS, type GroupPlan, type PiecePlan, type Planner, type SelectPlan } from './plan'

/** The EXPLAIN of a planned SELECT: the plan with estimated steps, as a result whose rows are the text's lines. */
export function explainSelect(planner: Planner, plan: SelectPlan, extraNotes: string[] = []): QueryRunResult {
  const { querySite, assembly, groups, agg } = plan
  const perLinkBytes: Record<string, number> = {}
  const steps: PlanStep[] = []
  const notes = [...plan.notes]
  const step = (s: Omit<PlanStep, 'id'>) => { steps.push({ id: steps.length + 1, ...s }) }
  /** One planned message: its bytes go on each link of the route; returns its estimated arrival. */
  const send = (from: string, to: string, bytes: number, kind: PlanStep['kind'], start: number, extra: Partial<PlanStep> = {}): number => {
    const route = accountBytes(planner.cluster, perLinkBytes, from, to, bytes)
    const end = start + planner.estMs(from, to, bytes)
    step({ kind, site: from, to, estBytes: bytes, route, startMs: start, endMs: end, ...extra })
    return end
  }
  /** A sub-query: the request (or the semijoin keys), its execution at the site, its result shipped to `to`. */
  const subquery = (from: string, to: string, g: GroupPlan, pp: PiecePlan, sql: string, start: number, semi: boolean): number => {
    const copy = pp.copy!
    const label = pieceLabel(pp)
    const rb = semi ? g.reduceBy : undefined
    const keyBytes = rb ? 16 + rb.estKeys * rb.keyLen : 0
    const rows = rb ? rb.costs(rb.estKeys).reducedRows.get(pp) ?? pp.estRows : pp.estRows
    const bytes = rb ? 16 + rows * (g.rowWidth + 2) : pp.estBytes
    const at = send(from, copy.site, sql.length + keyBytes, rb ? 'semijoin-keys' : 'request', start, { fragment: label })
    step({ kind: 'subquery', site: copy.site, fragment: label, sql, estRows: rows, startMs: at, endMs: at })
    return send(copy.site, to, bytes, 'ship', at, { fragment: label, estRows: rows })
  }
  const fragments = groups.flatMap((g) => g.pieces.map((pp) => {
    const d = decision(g, pp)
    const rb = g.reduceBy?.dec.chosen === 'semijoin' ? g.reduceBy : undefined
    if (!pp.pruned) d.note = rb ? `est ${rb.costs(rb.estKeys).reducedRows.get(pp) ?? pp.estRows} rows after semijoin reduction` : `est ${pp.estRows} rows`
    return d
  }))

  let end: number
  if (plan.strategy === 'single-site') {
    const pp = plan.used[0]
    end = subquery(querySite, querySite, groups[0], pp, plan.finalSql, 0, false)
  } else {
    let t = assembly !== querySite ? send(querySite, assembly, 512, 'request', 0, { note: `assembly plan to ${assembly}` }) : 0
    // phase 1: the groups that are not reduced (reducers first); phase 2: the semijoin-reduced groups
    for (const list of [groups.filter((g) => !g.reduceBy), groups.filter((g) => g.reduceBy)]) {
      let phaseEnd = t
      for (const g of list) {
        const semi = g.reduceBy?.dec.chosen === 'semijoin'
        for (const pp of g.pieces) {
          if (pp.pruned) continue
          phaseEnd = Math.max(phaseEnd, subquery(semi ? assembly : querySite, assembly, g, pp, planner.siteSql(g, pp.copy!, agg, semi), t, semi))
        }
      }
      t = phaseEnd
    }
    step({ kind: 'assemble', site: assembly, sql: plan.finalSql, ...(plan.estRows !== undefined ? { estRows: plan.estRows } : {}), startMs: t, endMs: t, note: agg ? (plan.combine ? 'combine partial aggregates (COUNT and SUM, by the assembly itself)' : 'combine partial aggregates') : 'final join / aggregate / order' })
    end = assembly !== querySite ? send(assembly, querySite, RESULT_BYTES_GUESS, 'result', t) : t
  }
  for (const g of groups) {
    const rb = g.reduceBy
    if (rb && !rb.forced) notes.push(`${rb.dec.ref} ⋈ ${rb.dec.reducer}: ${rb.dec.chosen} planned with about ${Math.round(rb.estKeys)} join keys; a run confirms the choice with the actual keys from ${rb.reducer.name}`)
  }
  notes.push('EXPLAIN ran nothing: the times, rows and bytes shown are the optimizer\'s estimates')
  notes.push(...extraNotes)
  const view: PlanView = {
    statement: 'select', querySite, assemblySite: assembly, strategy: plan.strategy, requestClass: plan.requestClass, fragments, joins: plan.joins, steps,
    finalSql: plan.finalSql, ...(plan.estRows !== undefined ? { estRows: plan.estRows } : {}), notes, sitesInvolved: plan.sitesInvolved, estimated: true,
  }
  const r: QueryRunResult = { columns: ['plan'], rows: [], rowCount: 0, requestClass: plan.requestClass, plan: view, perLinkBytes, virtualMs: end, wallMs: 0 }
  r.explain = formatExplain(r)
  r.rows = r.explain.split('\n').map((l) => [l])
  r.rowCount = r.rows.length
  return r
}

/** The EXPLAIN text of a plan: estimated (EXPLAIN ran nothing) or as it ran (actual rows, bytes and times). */
export function formatExplain(r: QueryRunResult): string {
  const p = r.plan
  const est = p.estimated === true
  const L: string[] = []
  const ms = (x: number) => `${x.toFixed(2)} ms`
  L.push(`${p.statement.toUpperCase()} at ${p.querySite} — ${p.requestClass}; strategy ${p.strategy}; assembly site ${p.assemblySite}`)
  if (est) L.push(`estimates (EXPLAIN does not run the query): virtual response time ${ms(r.virtualMs)}; rows ${p.estRows ?? 'not estimated'}`)
  else L.push(`virtual response time ${ms(r.virtualMs)}; rows ${r.rowCount}`)
  const used = p.fragments.filter((f) => f.status === 'used'), pruned = p.fragments.filter((f) => f.status === 'pruned')
  L.push('fragments used:')
  for (const f of used) L.push(`  ${f.ref}: ${f.fragment} at ${f.site}${f.server === 'repository' ? ' (main repository)' : ''}${f.role && f.role !== 'authoritative' ? ` [${f.role}]` : ''}${f.note ? ` — ${f.note}` : ''}${f.stalenessMs !== undefined ? ` (stale by ${Math.round(f.stalenessMs / 60000)} min)` : ''}`)
  if (pruned.length) {
    L.push('fragments pruned:')
    for (const f of pruned) L.push(`  ${f.ref}: ${f.fragment} — ${f.reason}`)
  }
  if (p.joins.length) {
    L.push('joins:')
    for (const j of p.joins) L.push(`  ${j.ref} ⋈ ${j.reducer} on ${j.on}: ${j.chosen} (est ${ms(j.estMsChosen)}; alternative ${j.chosen === 'semijoin' ? 'ship-whole' : 'semijoin'} est ${ms(j.estMsAlternative)}; est bytes semijoin ${j.estBytesSemijoin} vs ship-whole ${j.estBytesShipWhole})`)
  }
  L.push(est ? 'planned steps (estimated times):' : 'steps:')
  for (const s of p.steps) {
    const rows = s.actualRows !== undefined ? ` rows est ${s.estRows ?? '?'} / actual ${s.actualRows}` : est && s.estRows !== undefined ? ` rows est ${s.estRows}` : ''
    const bytes = s.actualBytes !== undefined ? ` bytes est ${s.estBytes ?? '?'} / actual ${s.actualBytes}` : est && s.estBytes !== undefined ? ` bytes est ${s.estBytes}` : ''
    const route = s.route && s.route.length > 1 ? ` via ${s.route.join('→')}` : ''
    L.push(`  ${s.id}. [${ms(s.startMs)} → ${ms(s.endMs)}] ${s.kind} ${s.site}${s.to ? `→${s.to}` : ''}${route}${s.fragment ? ` ${s.fragment}` : ''}${rows}${bytes}${s.note ? ` (${s.note})` : ''}`)
    if (s.sql) L.push(`       ${s.sql}`)
  }
  if (p.finalSql && p.strategy !== 'single-site') L.push(`final at ${p.assemblySite}: ${p.finalSql}`)
  L.push(`${est ? 'estimated bytes per link' : 'bytes per link'}: ` + (Object.entries(r.perLinkBytes).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'))
  for (const n of p.notes) L.push(`note: ${n}`)
  return L.join('\n')
}
