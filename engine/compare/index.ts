/**
 * The report's argument, measured (issue 14): the same business day (workload.ts) run on the legacy centralized
 * deployment and on the distributed design, each a real cluster (engine/topology/default.ts `designTopology`,
 * engine/data/schema.ts `fragments`). Every request is SQL issued by a client at its branch through the branch's
 * application server, the query processor and the DTM; response times are virtual, WAN bytes are the network's own
 * link counters, outages are the cluster's fault injection. Nothing here computes a latency: it reads the clock.
 *
 * Requests run one at a time in issue order: a request whose issue time falls while the one before it still runs
 * starts when that one ends (its trace keeps both instants); background work — replication, the copy refreshes,
 * the DTM's timers — runs in the same virtual time between and during requests.
 */
import { Cluster } from '../cluster'
import { dqpFor } from '../query/dqp'
import { Dim } from '../integrity'
import { Dtm } from '../txn/dtm'
import { keyBlocksAt, reserveKeyBlock } from '../integrity/blocks'
import { primaryCopySite } from '../site/replication'
import { EngineError } from '../errors'
import { formatSiteTime } from '../sim/kernel'
import { fragments } from '../data/schema'
import { designTopology } from '../topology/default'
import type { SiteCode, TopologySpec } from '../topology/types'
import { DESIGNS, type CompareOptions, type CompareProgress, type CompareReport, type Design, type DesignResult, type LinkProfile, type Percentiles, type RequestKind, type RequestTrace } from '../api/compare'
import { planDay, validateOptions, type DayPlan, type WorkItem } from './workload'

export { BUSINESS_DAY, planDay, validateOptions, slowestBranch, type DayPlan, type WorkItem } from './workload'

/** Local 07:00 of the simulated business day (2026-11-23, site time UTC+05:30): the clusters start here. */
export const DAY_DATA_START_MS = Date.UTC(2026, 10, 23, 1, 30, 0)
export const DEFAULT_HISTORY_SALES = 2_000
/** After the last hour the simulation runs this long more, so the end-of-day refresh and replication land. */
const SETTLE_MS = 10 * 60_000
/** Wall time between yields to the event loop (the engine host's jobs use 10 ms chunks). */
const YIELD_EVERY_MS = 10
const PROGRESS_EVERY_MS = 100

export interface CompareHooks {
  onProgress?(p: CompareProgress): void
  signal?: AbortSignal
}

/** The topology of a design with the user's link profiles applied (an unknown link is an error). */
export function topologyFor(design: Design, links: LinkProfile[] = []): TopologySpec {
  const t = designTopology(design)
  for (const p of links) {
    const l = t.links.find((x) => x.id === p.linkId)
    if (!l) throw new EngineError('BAD_INPUT', `no link ${p.linkId} in the ${design} design; links are ${t.links.map((x) => x.id).join(', ')}`)
    if (!(p.bandwidthBps > 0) || !Number.isFinite(p.bandwidthBps) || !(p.delayMs >= 0) || !Number.isFinite(p.delayMs)) throw new EngineError('BAD_INPUT', `link ${p.linkId} needs bandwidthBps > 0 and delayMs ≥ 0`)
    l.bandwidthBps = p.bandwidthBps
    l.delayMs = p.delayMs
  }
  return t
}

/** A new in-memory cluster of a design, with the comparison's generated data (the same rows in both designs). */
export async function createDesignCluster(design: Design, opts: { seed?: number; sales?: number; links?: LinkProfile[]; startMs?: number } = {}): Promise<Cluster> {
  return Cluster.create({ seed: opts.seed ?? 1, sales: opts.sales ?? DEFAULT_HISTORY_SALES, topology: topologyFor(design, opts.links), startMs: opts.startMs ?? DAY_DATA_START_MS })
}

/** Nearest-rank percentiles of a list of values (ms). */
export function percentiles(xs: number[]): Percentiles {
  const s = [...xs].sort((a, b) => a - b)
  const at = (q: number) => (s.length ? s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] : 0)
  const r3 = (x: number) => Math.round(x * 1000) / 1000
  return { count: s.length, p50: r3(at(0.5)), p95: r3(at(0.95)), p99: r3(at(0.99)) }
}

const cancelled = () => new EngineError('CANCELLED', 'the comparison was cancelled')
const tick = () => new Promise<void>((r) => setImmediate(r))
const round2 = (x: number) => Math.round(x * 100) / 100

interface RunCtx {
  design: Design
  index: number
  hooks: CompareHooks
  lastYield: number
  lastProgress: number
}

/** Sends a client's message to its application server over the branch LAN and runs the simulation until it arrives. */
function clientHop(c: Cluster, branch: SiteCode, kind: string, bytes: number): void {
  if (!c.isServerUp(`${branch}.app`)) throw new EngineError('SITE_DOWN', `${branch}.app (the branch's application server) is down`, { site: branch })
  let done = false, lost: string | undefined
  c.net.send({ from: branch, to: branch, kind, bytes, payload: null, onDeliver: () => { done = true }, onDrop: (r) => { lost = r; done = true } })
  c.sim.runUntilTrue(() => done)
  if (lost || !done) throw new EngineError('UNREACHABLE', `${kind} at ${branch} was lost (${lost ?? 'not delivered'})`, { site: branch })
}

function resultBytes(columns: string[], rows: unknown[][]): number {
  let n = columns.join(',').length
  for (const r of rows) for (const v of r) n += v === null ? 4 : typeof v === 'number' ? 8 : String(v).length + 2
  return n
}

function inWindow(plan: DayPlan, w: { fromHour: number; toHour: number } | null, at: number): boolean {
  return !!w && at >= plan.midnight + w.fromHour * 3_600_000 && at < plan.midnight + w.toHour * 3_600_000
}

/** Runs the day on one design's cluster. */
export async function runDesignDay(design: Design, plan: DayPlan, opts: CompareOptions, hooks: CompareHooks = {}, index = 0): Promise<DesignResult> {
  const w0 = performance.now()
  const ctx: RunCtx = { design, index, hooks, lastYield: w0, lastProgress: 0 }
  const c = await createDesignCluster(design, { seed: opts.seed, sales: opts.sales, links: opts.links?.[design] })
  try {
    return await runOn(c, ctx, plan, w0)
  } finally {
    c.close()
  }
}

/**
 * Runs a planned day on an existing cluster (the scenario verb `business-day` does, on the scenario's cluster): the
 * clock is advanced to the day's start (it must not be past it), the faults are injected, the requests issued.
 */
export async function runDayOnCluster(c: Cluster, plan: DayPlan, hooks: CompareHooks = {}): Promise<DesignResult> {
  if (c.sim.now > plan.startMs) throw new EngineError('BAD_INPUT', `the clock is already at ${formatSiteTime(c.sim.now)}: the day must start later (from a later hour)`)
  const w0 = performance.now()
  return runOn(c, { design: c.design, index: 0, hooks, lastYield: w0, lastProgress: 0 }, plan, w0)
}

async function runOn(c: Cluster, ctx: RunCtx, plan: DayPlan, w0: number): Promise<DesignResult> {
  const { design, hooks } = ctx
  if (hooks.signal?.aborted) throw cancelled()
  const dqp = await dqpFor(c)
  const sim = c.sim
  const dim = Dim.of(c)
  const hq = plan.hqSite
  const copies = fragments(c.topology).filter((f) => f.kind === 'copy')
  // day open: every branch reserves its block of invoice numbers while Colombo is reachable (a global transaction at
  // the primary copy); a block it already holds (the same day run again on this cluster) is kept
  reserveDayBlocks(c, plan)
  if (sim.now < plan.startMs) sim.runUntil(plan.startMs)
  const probes0 = dim.stats.remoteProbes

  // the network's own counters per WAN link, read at every hour boundary
  const linkIds = [...c.net.links.keys()]
  const bytesNow = () => Object.fromEntries(linkIds.map((id) => [id, c.net.links.get(id)!.stats.bytes]))
  const hours = plan.toHour - plan.fromHour
  const snaps: Record<string, number>[] = [bytesNow()]
  let stalenessMax = 0
  const sampleCopies = () => {
    for (const f of copies) {
      try { const st = c.copyStatus(f.name); if (st.stale && st.ageMs !== null) stalenessMax = Math.max(stalenessMax, st.ageMs) } catch { /* its site is down: sampled next hour */ }
    }
  }
  for (let h = 1; h <= hours; h++) {
    const at = plan.startMs + h * 3_600_000
    sim.scheduleDaemon(at - sim.now, 'compare.hour', () => { snaps.push(bytesNow()); sampleCopies() })
  }
  // the day's faults, injected the ordinary way
  const atLocal = (h: number) => plan.midnight + h * 3_600_000
  if (plan.hqOutage) {
    sim.scheduleDaemon(atLocal(plan.hqOutage.fromHour) - sim.now, 'compare.hq-outage', () => c.failSite(hq))
    sim.scheduleDaemon(atLocal(plan.hqOutage.toHour) - sim.now, 'compare.hq-restore', () => c.restoreSite(hq))
  }
  if (plan.kdyLinkOutage) {
    sim.scheduleDaemon(atLocal(plan.kdyLinkOutage.fromHour) - sim.now, 'compare.link-outage', () => { for (const l of plan.slowBranchLinks) c.failLink(l) })
    sim.scheduleDaemon(atLocal(plan.kdyLinkOutage.toHour) - sim.now, 'compare.link-restore', () => { for (const l of plan.slowBranchLinks) c.restoreLink(l) })
  }

  const traces: RequestTrace[] = []
  // the scheduled copies' refreshes (the cluster's own 12:00 and 18:00 timer) are requests of the day too
  const refreshTimes = [12, 18].map(atLocal).filter((t) => t >= plan.startMs && t <= plan.endMs)
  const offLog = c.onLog((e) => {
    if (e.kind !== 'replication' || !copies.some((f) => e.message.includes(f.name))) return
    if (!/refreshed at|refresh of/.test(e.message)) return
    const scheduledAt = [...refreshTimes].reverse().find((t) => t <= e.at)
    if (scheduledAt === undefined) return
    const ok = /refreshed at/.test(e.message)
    traces.push({ id: 0, design, branch: e.site ?? hq, kind: 'refresh', at: scheduledAt, scheduledAt, responseMs: e.at - scheduledAt, ok, ...(ok ? {} : { error: e.message }), sql: `refresh ${copies.map((f) => `${f.name} from ${f.copyOf}`).join(', ')}` })
  })

  const salesServed: Record<SiteCode, { sales: number; amount: number }> = Object.fromEntries(c.siteCodes.map((s) => [s, { sales: 0, amount: 0 }]))
  const twoPc: number[] = []
  const progress = (force = false) => {
    const t = performance.now()
    if (!force && t - ctx.lastProgress < PROGRESS_EVERY_MS) return
    ctx.lastProgress = t
    const f = Math.min(1, Math.max(0, (sim.now - plan.startMs) / Math.max(1, plan.endMs - plan.startMs)))
    hooks.onProgress?.({ design, fraction: (ctx.index + f) / DESIGNS.length, virtualLocal: formatSiteTime(sim.now), done: done, total: plan.items.length })
  }
  let done = 0
  try {
    progress(true)
    for (const it of plan.items) {
      if (sim.now < it.at) sim.runUntil(it.at)
      traces.push(runRequest(c, dqp, design, it, salesServed, twoPc))
      done++
      if (performance.now() - ctx.lastYield >= YIELD_EVERY_MS) {
        progress()
        await tick()
        ctx.lastYield = performance.now()
        if (hooks.signal?.aborted) throw cancelled()
      }
    }
    sim.runUntil(plan.endMs + SETTLE_MS)
    snaps.push(bytesNow())
    sampleCopies()
    progress(true)
  } finally {
    offLog()
  }
  traces.sort((a, b) => a.at - b.at || a.id - b.id)
  let n = 0
  for (const t of traces) t.id = ++n

  // WAN bytes per link per hour (the last bucket also holds the settle after the last hour)
  const wanBytesPerHour: DesignResult['wanBytesPerHour'] = {}
  const wanBytesPerLink: Record<string, number> = {}
  for (const id of linkIds) {
    wanBytesPerHour[id] = []
    for (let h = 0; h < hours; h++) {
      const a = snaps[h][id], b = (h === hours - 1 ? snaps[snaps.length - 1] : snaps[h + 1] ?? snaps[snaps.length - 1])[id]
      wanBytesPerHour[id].push({ hour: plan.fromHour + h, bytes: b - a })
    }
    wanBytesPerLink[id] = snaps[snaps.length - 1][id] - snaps[0][id]
  }
  const wanBytesTotal = Object.values(wanBytesPerLink).reduce((a, b) => a + b, 0)

  const response: DesignResult['response'] = {}
  for (const s of c.siteCodes) {
    response[s] = {}
    const kinds = [...new Set(traces.filter((t) => t.branch === s).map((t) => t.kind))]
    for (const k of kinds) response[s][k] = percentiles(traces.filter((t) => t.branch === s && t.kind === k && t.ok).map((t) => t.responseMs))
  }

  const totals = salesTotals(c, plan)
  for (const v of Object.values(salesServed)) v.amount = round2(v.amount)
  const served = traces.filter((t) => t.ok).length
  return {
    design, response, wanBytesPerHour, wanBytesTotal, wanBytesPerLink,
    availability: { hqOutage: plan.hqOutage ? availability(plan, traces, plan.hqOutage, c.siteCodes) : null, kdyLinkOutage: plan.kdyLinkOutage ? availability(plan, traces, plan.kdyLinkOutage, c.siteCodes) : null },
    recoveryMs: { hqOutage: recovery(plan, traces, plan.hqOutage), kdyLinkOutage: recovery(plan, traces, plan.kdyLinkOutage) },
    costs: { integrityChecksRemote: dim.stats.remoteProbes - probes0, replicaStalenessMaxMs: stalenessMax, twoPcLatency: twoPc.length ? percentiles(twoPc) : null },
    totals, salesServed, requests: traces.length, served, wallMs: Math.round(performance.now() - w0), traces,
  }
}

/** The plan's invoice-number blocks, reserved in ascending order unless the branch already holds the block. */
function reserveDayBlocks(c: Cluster, plan: DayPlan): void {
  const held = keyBlocksAt(c, primaryCopySite(c.topology))
  for (const b of plan.invoiceBlocks) {
    if (held.some((h) => h.branch === b.branch && h.lo === b.lo)) continue
    reserveKeyBlock(c, b.branch, { lo: b.lo, size: b.size })
  }
}

/** One request: client → application server (LAN), the query processor / DTM at the branch, the answer back to the client. */
function runRequest(c: Cluster, dqp: Awaited<ReturnType<typeof dqpFor>>, design: Design, it: WorkItem, salesServed: Record<SiteCode, { sales: number; amount: number }>, twoPc: number[]): RequestTrace {
  const t0 = c.sim.now
  const base = { id: it.id, design, branch: it.branch, kind: it.kind as RequestKind, at: t0, scheduledAt: it.at, sql: it.sql }
  try {
    clientHop(c, it.branch, 'client.request', it.sql.length)
    const r = dqp.runSync(it.branch, it.sql)
    clientHop(c, it.branch, 'client.response', resultBytes(r.columns, r.rows))
    if (it.sale) { const s = salesServed[it.branch]; s.sales++; s.amount += it.sale.amount }
    if (r.txn && r.txn.sites.some((s) => s !== it.branch)) twoPc.push(r.txn.commitMs)
    return { ...base, responseMs: c.sim.now - t0, ok: true, ...(r.txn ? timelineOf(c, r.txn.gid, [it.branch, ...r.txn.sites]) : {}) }
  } catch (e) {
    const gid = e instanceof Error ? /transaction (\S+) aborted/.exec(e.message)?.[1] : undefined
    return { ...base, responseMs: c.sim.now - t0, ok: false, error: e instanceof EngineError ? `${e.code}: ${e.message}` : String(e), ...(gid ? timelineOf(c, gid, [it.branch]) : {}) }
  }
}

/** A request's transaction: its id, and its message timeline copied from the run's DTM now (the DTM keeps only its latest ones). */
function timelineOf(c: Cluster, gid: string, sites: SiteCode[]): Pick<RequestTrace, 'txnId' | 'timeline' | 'timelineSites'> {
  const tl = Dtm.existing(c)?.timeline(gid) ?? []
  const involved = [...new Set([...sites, ...tl.flatMap((e) => (e.to ? [e.site, e.to] : [e.site]))])]
  return { txnId: gid, ...(tl.length ? { timeline: [...tl], timelineSites: involved } : {}) }
}

/** Today's sales and the stock left per branch as the database holds them (read from the fragments where the design put them). */
function salesTotals(c: Cluster, plan: DayPlan): DesignResult['totals'] {
  const out: DesignResult['totals'] = Object.fromEntries(c.siteCodes.map((s) => [s, { sales: 0, amount: 0, stockUnits: 0 }]))
  const base = Math.min(...plan.items.filter((i) => i.sale).map((i) => i.sale!.invno), Number.MAX_SAFE_INTEGER)
  for (const f of fragments(c.topology).filter((x) => x.relation === 'SALES')) {
    const r = c.siteInternals(f.site).primary.query(`SELECT BRCODE, COUNT(*), SUM(AMOUNT) FROM "${f.name}" WHERE INVNO >= ? GROUP BY BRCODE`, [base])
    for (const [br, n, amt] of r.rows) {
      const t = (out[String(br)] ??= { sales: 0, amount: 0 })
      t.sales += Number(n); t.amount = round2(t.amount + Number(amt ?? 0))
    }
  }
  // the branch's own stock (its authoritative fragment: Stock_<X>, or Stock_MBI_LCL), wherever the design put it
  for (const f of fragments(c.topology).filter((x) => x.relation.startsWith('STOCK_') && x.kind === 'local')) {
    const owner = f.relation.slice('STOCK_'.length)
    const t = (out[owner] ??= { sales: 0, amount: 0, stockUnits: 0 })
    t.stockUnits = (t.stockUnits ?? 0) + Number(c.siteInternals(f.site).primary.scalar(`SELECT COALESCE(SUM(QTY), 0) FROM "${f.name}"`))
  }
  return out
}

function availability(plan: DayPlan, traces: RequestTrace[], w: { fromHour: number; toHour: number }, sites: SiteCode[]): Record<SiteCode, number> {
  const out: Record<SiteCode, number> = {}
  for (const s of sites) {
    const xs = traces.filter((t) => t.branch === s && t.kind !== 'refresh' && inWindow(plan, w, t.scheduledAt))
    if (xs.length) out[s] = xs.filter((t) => t.ok).length / xs.length
  }
  return out
}

/**
 * Virtual ms from the end of an outage until the first request of a (branch, kind) that failed during it is served
 * again (completion time); 0 when nothing failed, null when none was served again that day.
 */
function recovery(plan: DayPlan, traces: RequestTrace[], w: { fromHour: number; toHour: number } | null): number | null {
  if (!w) return null
  const end = plan.midnight + w.toHour * 3_600_000
  const lost = new Set(traces.filter((t) => !t.ok && inWindow(plan, w, t.scheduledAt)).map((t) => `${t.branch}/${t.kind}`))
  if (!lost.size) return 0
  const back = traces.filter((t) => t.ok && t.at >= end && lost.has(`${t.branch}/${t.kind}`)).map((t) => t.at + t.responseMs - end)
  return back.length ? Math.round(Math.min(...back)) : null
}

/** Share of the branches' requests (every site but HQ) served during the HQ outage, all branches together (NaN without an outage). */
function overallAvailability(plan: DayPlan, r: DesignResult): number {
  if (!plan.hqOutage) return Number.NaN
  // the branches' requests: Colombo's own clients lose their site with it in either design (their share is
  // availability.hqOutage.CMB, 0 in both), so counting them would only measure how busy HQ is
  const xs = r.traces.filter((t) => t.kind !== 'refresh' && t.branch !== plan.hqSite && inWindow(plan, plan.hqOutage, t.scheduledAt))
  return xs.length ? xs.filter((t) => t.ok).length / xs.length : Number.NaN
}

/**
 * Runs the business day on both designs (legacy first) and compares them. Cancellable through `signal` (checked
 * between requests; the clusters are closed); yields to the event loop every ~10 ms of wall time.
 */
export async function runCompare(opts: CompareOptions = {}, hooks: CompareHooks = {}): Promise<CompareReport> {
  validateOptions(opts)
  const seed = opts.seed ?? 1
  const w0 = performance.now()
  const dist = topologyFor('distributed', opts.links?.distributed)
  const legacy = topologyFor('legacy', opts.links?.legacy)
  const plan = planDay(dist, legacy, opts, seed, DAY_DATA_START_MS)
  const order: Design[] = ['legacy', 'distributed']
  const results = {} as Record<Design, DesignResult>
  for (const [i, d] of order.entries()) {
    if (hooks.signal?.aborted) throw cancelled()
    results[d] = await runDesignDay(d, plan, opts, hooks, i)
  }
  const slow = plan.slowBranch
  const p50 = (d: Design) => results[d].response[slow]?.stock_lookup?.p50 ?? Number.NaN
  return {
    seed, options: opts, results,
    headline: {
      kdyLocalReadSpeedup: p50('legacy') / p50('distributed'),
      wanBytesRatio: results.distributed.wanBytesTotal / results.legacy.wanBytesTotal,
      availabilityDuringHqOutage: { legacy: overallAvailability(plan, results.legacy), distributed: overallAvailability(plan, results.distributed) },
      dayRunMs: Math.round(performance.now() - w0),
      slowBranch: slow,
    },
  }
}
