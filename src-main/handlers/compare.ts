/**
 * The legacy-vs-distributed comparison (engine/compare) and the live cluster's design. `compare/run` is a job: the
 * engine runs the business day on both designs in clusters of its own, reporting progress; cancelling the job
 * aborts the run. The last report and both runs' request traces are kept for the console (per worker, not per
 * cluster: switching the live design keeps them). `system/setDesign` re-initialises the live cluster with a
 * design, same seed and data size, confirmed by typing the design's name and refused while any job runs.
 */
import { EngineError } from '../../engine/errors'
import type { CompareOptions, CompareReport, Design, RequestTrace } from '../../engine/api/compare'
import { BUSINESS_DAY, runCompare, topologyFor } from '../../engine/compare'
import { DESIGNS } from '../../engine/api/compare'
import type { HandlerContext, HandlerMap } from './context'
import type { CompareDefaults, CompareReportView, DesignView, RequestPage } from '../ipc/contract/compare'
import type { JobRunner } from '../engine-host/jobs'
import { designOf, reinitialise, tracesOf } from './compare-design'

type CompareCall = 'compare/defaults' | 'compare/run' | 'compare/last' | 'compare/requests' | 'compare/request' | 'system/design' | 'system/setDesign'

/** What the console reads after a run: the report and each design's request traces. */
interface Kept { report: CompareReportView | null; traces: Record<Design, RequestTrace[]> }
const kept = new WeakMap<JobRunner, Kept>()
function keptOf(ctx: HandlerContext): Kept {
  let k = kept.get(ctx.jobs)
  if (!k) { k = { report: null, traces: { distributed: [], legacy: [] } }; kept.set(ctx.jobs, k) }
  return k
}

/** The report without its traces (kept here, paged by compare/requests): a day's requests would make every result huge. */
export function reportView(r: CompareReport): CompareReportView {
  const results = {} as CompareReportView['results']
  for (const d of DESIGNS) {
    const { traces, ...rest } = r.results[d]
    results[d] = { ...rest, traceCount: traces.length }
  }
  return { ...r, results }
}

/** How often a running comparison looks at its job's cancel flag (wall ms). */
const CANCEL_POLL_MS = 25

export const compareHandlers: HandlerMap<CompareCall> = {
  'compare/defaults': async (): Promise<CompareDefaults> => ({
    fromHour: BUSINESS_DAY.fromHour, toHour: BUSINESS_DAY.toHour,
    hqOutage: { ...BUSINESS_DAY.hqOutage }, kdyLinkOutage: { ...BUSINESS_DAY.kdyLinkOutage },
    links: Object.fromEntries(DESIGNS.map((d) => [d, topologyFor(d).links.map((l) => ({ linkId: l.id, bandwidthBps: l.bandwidthBps, delayMs: l.delayMs }))])) as CompareDefaults['links'],
  }),
  'compare/run': async (ctx, opts) => {
    const running = ctx.jobs.list().find((j) => j.kind === 'compare' && j.status === 'running')
    if (running) throw new EngineError('CONFLICT', `a comparison is already running (${running.id}): wait for it or cancel it`)
    const options = opts as CompareOptions
    return ctx.jobs.start('compare', 'compare the legacy and distributed designs over the business day', async (job) => {
      const abort = new AbortController()
      const poll = setInterval(() => { if (job.cancelled) abort.abort() }, CANCEL_POLL_MS)
      try {
        const report = await runCompare(options, {
          signal: abort.signal,
          onProgress: (p) => {
            job.progress(p.fraction, `${p.design} design, site time ${p.virtualLocal}`)
            if (job.cancelled) abort.abort()
          },
        })
        if (job.cancelled) throw new EngineError('CANCELLED', `job ${job.id} cancelled`)
        const k = keptOf(ctx)
        k.report = reportView(report)
        k.traces = tracesOf(report)
        return k.report
      } catch (e) {
        if (abort.signal.aborted || job.cancelled) throw new EngineError('CANCELLED', `comparison ${job.id} cancelled`)
        throw e
      } finally {
        clearInterval(poll)
      }
    })
  },
  'compare/last': async (ctx) => keptOf(ctx).report,
  'compare/requests': async (ctx, { design, branch, kind, failedOnly, offset, limit }): Promise<RequestPage> => {
    const all = keptOf(ctx).traces[design]
    const hits = all.filter((r) => (!branch || r.branch === branch) && (!kind || r.kind === kind) && (!failedOnly || !r.ok))
    // a page lists the requests; a transaction's timeline comes with compare/request only
    return { design, total: hits.length, offset, requests: hits.slice(offset, offset + limit).map(({ timeline: _t, timelineSites: _s, ...r }) => r) }
  },
  'compare/request': async (ctx, { design, id }) => {
    const k = keptOf(ctx)
    if (!k.report) throw new EngineError('NOT_FOUND', 'no comparison has run yet: run one first')
    const r = k.traces[design].find((x) => x.id === id)
    if (!r) throw new EngineError('NOT_FOUND', `the ${design} run has no request ${id}`)
    return r
  },
  'system/design': async (ctx): Promise<DesignView> => ({
    design: designOf(ctx.cluster), seed: ctx.cluster.sim.seed, sales: ctx.cluster.lastGenerate?.totalSales ?? null,
  }),
  'system/setDesign': async (ctx, { design, confirm }) => {
    if (confirm !== design) throw new EngineError('BAD_INPUT', `type the design's name "${design}" to confirm re-initialising the cluster (got "${confirm}")`)
    const busy = ctx.jobs.list().filter((j) => j.status === 'running')
    if (busy.length) throw new EngineError('CONFLICT', `jobs are running (${busy.map((j) => `${j.id} ${j.kind}`).join(', ')}): wait for them or cancel them before switching the design`)
    if (ctx.live) throw new EngineError('UNSUPPORTED', 'live mode: the PostgreSQL servers hold the deployment\'s design; switch the console to the simulation to compare designs there')
    if (!ctx.replaceCluster) throw new EngineError('UNSUPPORTED', 'this host cannot re-initialise its cluster')
    const from = designOf(ctx.cluster)
    return ctx.jobs.start('design', `re-initialise the cluster as the ${design} design`, async (job) => {
      const next = await reinitialise(ctx, design, job)
      ctx.emit('catalog/changed', { reason: `the cluster was re-initialised as the ${design} design (was ${from})` })
      return { design, from, seed: next.sim.seed, sales: next.lastGenerate?.totalSales ?? null }
    })
  },
}
