/** `iddb compare`: the business day on the legacy centralized design and on the distributed one, side by side (engine/compare). */
import { parseArgs } from 'node:util'
import { runCompare } from '../../../engine/compare'
import type { CompareOptions, CompareReport, Design } from '../../../engine/api/compare'
import { DESIGNS, REQUEST_KINDS } from '../../../engine/api/compare'
import { UsageError, intOption } from '../registry'
import { formatTable } from '../format'

export const name = 'compare'
export const summary = 'run the business day on the legacy centralized design and the distributed one; compare speed, WAN bytes, availability'
export const usage = `iddb compare [--json] [--seed N] [--rate-scale X] [--from H --to H] [--hq-outage H-H|none] [--link-outage H-H|none] [--sales N]

Builds two in-memory clusters with the same generated data — the legacy centralized system (every relation
in one database at Colombo, branches over the old WAN, Kandy on ISDN) and the distributed design — and runs
the same business day on both (docs/COMPARE.md): POS sales, stock look-ups, Mumbai's reads of Colombo's stock,
back-office reports, the noon and end-of-day refreshes, an HQ outage (default 14:00-15:00) and the slowest
branch's link outage (default 10:30-11:00). Prints response times per branch and request kind, WAN bytes per
link, availability during each outage, recovery, the distributed design's costs and the per-branch totals.
--json prints the whole CompareReport (with every request's trace). Hours are local site time.
--rate-scale multiplies every request rate (default 1). --from/--to: the hours simulated (default 8..18).`

function hours(name: string, v: string | undefined): { fromHour: number; toHour: number } | null | undefined {
  if (v === undefined) return undefined
  if (v === 'none') return null
  const m = /^(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)$/.exec(v)
  if (!m) throw new UsageError(`--${name} must be FROM-TO in local hours (e.g. 14-15 or 10.5-11) or none, got "${v}"`)
  return { fromHour: Number(m[1]), toHour: Number(m[2]) }
}

const ms = (x: number | undefined | null) => (x === undefined || x === null || Number.isNaN(x) ? '-' : x < 10 ? x.toFixed(2) : x.toFixed(0))
const pct = (x: number | undefined | null) => (x === undefined || x === null || Number.isNaN(x) ? '-' : `${(x * 100).toFixed(1)}%`)

/** The report as text tables (what a person reads in a terminal). */
export function formatReport(r: CompareReport): string {
  const out: string[] = []
  const sites = Object.keys(r.results.distributed.totals)
  const h = r.headline
  out.push(`business day, seed ${r.seed}: ${r.results.legacy.requests} requests per design; simulated in ${h.dayRunMs} ms (legacy ${r.results.legacy.wallMs} ms, distributed ${r.results.distributed.wallMs} ms)`)
  out.push(`slowest branch's median stock look-up: legacy ÷ distributed = ${h.kdyLocalReadSpeedup.toFixed(1)}×   WAN bytes distributed ÷ legacy = ${h.wanBytesRatio.toFixed(3)}`)
  out.push(`served during the HQ outage: legacy ${pct(h.availabilityDuringHqOutage.legacy)}, distributed ${pct(h.availabilityDuringHqOutage.distributed)}\n`)
  const rows: unknown[][] = []
  for (const s of sites) for (const k of REQUEST_KINDS) {
    const l = r.results.legacy.response[s]?.[k], d = r.results.distributed.response[s]?.[k]
    if (!l && !d) continue
    rows.push([s, k, l?.count ?? 0, ms(l?.p50), ms(l?.p95), ms(l?.p99), d?.count ?? 0, ms(d?.p50), ms(d?.p95), ms(d?.p99)])
  }
  out.push('response time, virtual ms (served requests)')
  out.push(formatTable(['branch', 'kind', 'legacy n', 'p50', 'p95', 'p99', 'distrib. n', 'p50', 'p95', 'p99'], rows, 1000))
  const links = [...new Set(DESIGNS.flatMap((d) => Object.keys(r.results[d].wanBytesPerLink)))]
  out.push('WAN bytes for the day (network link counters)')
  out.push(formatTable(['link', 'legacy', 'distributed'], [...links.map((l) => [l, r.results.legacy.wanBytesPerLink[l] ?? 0, r.results.distributed.wanBytesPerLink[l] ?? 0]), ['total', r.results.legacy.wanBytesTotal, r.results.distributed.wanBytesTotal]], 100))
  const av = (d: Design, which: 'hqOutage' | 'kdyLinkOutage', s: string) => pct(r.results[d].availability[which]?.[s])
  out.push('share of requests served during each outage')
  out.push(formatTable(['branch', 'HQ outage: legacy', 'distributed', 'link outage: legacy', 'distributed'], sites.map((s) => [s, av('legacy', 'hqOutage', s), av('distributed', 'hqOutage', s), av('legacy', 'kdyLinkOutage', s), av('distributed', 'kdyLinkOutage', s)]), 100))
  out.push(formatTable(['design', 'recovery after HQ outage (ms)', 'after link outage (ms)', 'remote integrity probes', 'copy staleness max (ms)', '2PC p50/p95 (ms)'], DESIGNS.map((d) => {
    const x = r.results[d]
    return [d, ms(x.recoveryMs.hqOutage), ms(x.recoveryMs.kdyLinkOutage), x.costs.integrityChecksRemote, ms(x.costs.replicaStalenessMaxMs), x.costs.twoPcLatency ? `${ms(x.costs.twoPcLatency.p50)} / ${ms(x.costs.twoPcLatency.p95)} (n=${x.costs.twoPcLatency.count})` : '-']
  }), 10))
  out.push('today\'s sales per branch (database totals; served = acknowledged to the client)')
  out.push(formatTable(['branch', 'legacy sales', 'amount', 'served', 'distributed sales', 'amount', 'served'], sites.map((s) => {
    const l = r.results.legacy, d = r.results.distributed
    return [s, l.totals[s]?.sales ?? 0, (l.totals[s]?.amount ?? 0).toFixed(2), l.salesServed[s]?.sales ?? 0, d.totals[s]?.sales ?? 0, (d.totals[s]?.amount ?? 0).toFixed(2), d.salesServed[s]?.sales ?? 0]
  }), 100))
  return out.join('\n')
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv, strict: true,
    options: { json: { type: 'boolean' }, seed: { type: 'string' }, 'rate-scale': { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, 'hq-outage': { type: 'string' }, 'link-outage': { type: 'string' }, sales: { type: 'string' } },
  })
  const opts: CompareOptions = {}
  const seed = intOption('seed', values.seed, 0, 0xffffffff)
  if (seed !== undefined) opts.seed = seed
  if (values['rate-scale'] !== undefined) {
    const x = Number(values['rate-scale'])
    if (!Number.isFinite(x) || x < 0 || x > 20) throw new UsageError(`--rate-scale must be a number between 0 and 20, got "${values['rate-scale']}"`)
    opts.rateScale = x
  }
  const from = intOption('from', values.from, 0, 23), to = intOption('to', values.to, 1, 24)
  if (from !== undefined) opts.fromHour = from
  if (to !== undefined) opts.toHour = to
  const hq = hours('hq-outage', values['hq-outage']), link = hours('link-outage', values['link-outage'])
  if (hq !== undefined) opts.hqOutage = hq
  if (link !== undefined) opts.kdyLinkOutage = link
  const sales = intOption('sales', values.sales, 0, 200_000)
  if (sales !== undefined) opts.sales = sales
  let last = ''
  const report = await runCompare(opts, {
    onProgress: (p) => {
      if (!process.stderr.isTTY) return
      const line = `\r${p.design.padEnd(11)} ${p.virtualLocal} ${Math.round(p.fraction * 100)}%`
      if (line !== last) { last = line; process.stderr.write(line) }
    },
  })
  if (process.stderr.isTTY) process.stderr.write('\n')
  process.stdout.write(values.json ? `${JSON.stringify(report)}\n` : `${formatReport(report)}\n`)
  return 0
}
