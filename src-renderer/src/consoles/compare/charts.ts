/**
 * The Compare console's chart options, built from a CompareReport (pure functions: the numbers are the engine's,
 * nothing here computes a figure of its own beyond picking and labelling). One chart per question, per branch;
 * every chart has one series per design (the cost chart's legacy series is the legacy design's zeros: it pays none).
 */
import type { Design, Percentiles, RequestKind } from '../../../../engine/api/compare'
import type { CompareReportView } from '../../../../src-main/ipc/contract/compare'

type CompareReport = CompareReportView
type DesignResult = CompareReportView['results'][Design]
import { DESIGNS, REQUEST_KINDS } from '../../../../engine/api/compare'

export const DESIGN_COLORS: Record<Design, string> = { distributed: '#1f6feb', legacy: '#b35900' }
export const KIND_LABELS: Record<RequestKind, string> = {
  pos_sale: 'POS sale', stock_lookup: 'stock look-up', mbi_stock_read: "Mumbai's read of CMB stock", report: 'back-office report', refresh: 'refresh',
}
const PCT: readonly (keyof Omit<Percentiles, 'count'>)[] = ['p50', 'p95', 'p99']
const SHADE: Record<string, number> = { p50: 1, p95: 0.7, p99: 0.45 }

type Option = Record<string, unknown>

const base = (extra: Option): Option => ({
  animation: false,
  tooltip: { trigger: 'axis', confine: true },
  legend: { top: 0, type: 'scroll', textStyle: { fontSize: 11 } },
  grid: { left: 56, right: 16, top: 34, bottom: 40 },
  ...extra,
})

/** The branches of a report (topology is data: whatever sites the engine reported). */
export function branchesOf(r: CompareReport): string[] {
  return [...new Set(DESIGNS.flatMap((d) => Object.keys(r.results[d]?.response ?? {})))].sort()
}

/** Kinds a branch issued in either run. */
export function kindsOf(r: CompareReport, branch: string): RequestKind[] {
  return REQUEST_KINDS.filter((k) => DESIGNS.some((d) => r.results[d].response[branch]?.[k]))
}

/** Response-time p50/p95/p99 per request kind at a branch: a bar per design and percentile, log scale (ms). */
export function responseOption(r: CompareReport, branch: string): Option {
  const kinds = kindsOf(r, branch)
  const series = DESIGNS.flatMap((d) => PCT.map((p) => ({
    name: `${d} ${p}`, type: 'bar', barGap: '8%',
    itemStyle: { color: DESIGN_COLORS[d], opacity: SHADE[p] },
    data: kinds.map((k) => { const x = r.results[d].response[branch]?.[k]; return x && x.count ? Math.max(x[p], 0.01) : null }),
  })))
  return base({
    xAxis: { type: 'category', data: kinds.map((k) => KIND_LABELS[k]), axisLabel: { fontSize: 10, interval: 0 } },
    yAxis: { type: 'log', name: 'ms', nameTextStyle: { fontSize: 10 }, axisLabel: { fontSize: 10 } },
    series,
  })
}

/** Links with an end at `branch` (a link id names its two sites, e.g. CMB-KDY). */
export function linksOf(res: DesignResult, branch: string): string[] {
  return Object.keys(res.wanBytesPerHour).filter((id) => id.split('-').includes(branch)).sort()
}

/** WAN bytes per hour on each link with an end at the branch: a line per design and link. */
export function wanOption(r: CompareReport, branch: string): Option {
  const hours = [...new Set(DESIGNS.flatMap((d) => Object.values(r.results[d].wanBytesPerHour).flatMap((xs) => xs.map((x) => x.hour))))].sort((a, b) => a - b)
  const series = DESIGNS.flatMap((d) => linksOf(r.results[d], branch).map((id, i) => {
    const by = new Map(r.results[d].wanBytesPerHour[id].map((x) => [x.hour, x.bytes]))
    return {
      name: `${d} ${id}`, type: 'line', symbolSize: 4,
      lineStyle: { color: DESIGN_COLORS[d], type: i === 0 ? 'solid' : i === 1 ? 'dashed' : 'dotted' }, itemStyle: { color: DESIGN_COLORS[d] },
      data: hours.map((h) => by.get(h) ?? 0),
    }
  }))
  return base({
    xAxis: { type: 'category', data: hours.map((h) => `${String(h).padStart(2, '0')}:00`), axisLabel: { fontSize: 10 } },
    yAxis: { type: 'value', name: 'bytes', nameTextStyle: { fontSize: 10 }, axisLabel: { fontSize: 10, formatter: (v: number) => compact(v) } },
    series,
  })
}

export const OUTAGES = [
  { key: 'hqOutage', label: 'HQ outage' },
  { key: 'kdyLinkOutage', label: 'Kandy link outage' },
] as const

/** Share of the branch's requests served during each outage (0..1 as %): a bar per design. */
export function availabilityOption(r: CompareReport, branch: string): Option {
  const series = DESIGNS.map((d) => ({
    name: d, type: 'bar', itemStyle: { color: DESIGN_COLORS[d] },
    data: OUTAGES.map((o) => { const a = r.results[d].availability[o.key]; return a && a[branch] !== undefined ? Math.round(a[branch] * 1000) / 10 : null }),
  }))
  return base({
    xAxis: { type: 'category', data: OUTAGES.map((o) => o.label), axisLabel: { fontSize: 10 } },
    yAxis: { type: 'value', name: '% served', min: 0, max: 100, nameTextStyle: { fontSize: 10 }, axisLabel: { fontSize: 10 } },
    series,
  })
}

/** Virtual time from each outage's end to the first served request that needed the lost path: a bar per design. */
export function recoveryOption(r: CompareReport): Option {
  const series = DESIGNS.map((d) => ({
    name: d, type: 'bar', itemStyle: { color: DESIGN_COLORS[d] },
    data: OUTAGES.map((o) => r.results[d].recoveryMs[o.key]),
  }))
  return base({
    xAxis: { type: 'category', data: OUTAGES.map((o) => o.label), axisLabel: { fontSize: 10 } },
    yAxis: { type: 'value', name: 'ms', nameTextStyle: { fontSize: 10 }, axisLabel: { fontSize: 10, formatter: (v: number) => compact(v) } },
    series,
  })
}

/** What the distributed design pays: 2PC latency percentiles and the worst replica staleness (ms), a bar per design. */
export function costsOption(r: CompareReport): Option {
  const cats = ['2PC p50', '2PC p95', '2PC p99', 'replica staleness (max)']
  const series = DESIGNS.map((d) => {
    const c = r.results[d].costs
    const tp = c.twoPcLatency
    return { name: d, type: 'bar', itemStyle: { color: DESIGN_COLORS[d] }, data: [tp?.p50 ?? 0, tp?.p95 ?? 0, tp?.p99 ?? 0, c.replicaStalenessMaxMs] }
  })
  return base({
    xAxis: { type: 'category', data: cats, axisLabel: { fontSize: 10, interval: 0 } },
    yAxis: { type: 'log', name: 'ms', nameTextStyle: { fontSize: 10 }, axisLabel: { fontSize: 10 } },
    series: series.map((s) => ({ ...s, data: s.data.map((v) => (v > 0 ? v : null)) })),
  })
}

export function compact(v: number): string {
  const a = Math.abs(v)
  if (a >= 1e9) return `${(v / 1e9).toFixed(1)}G`
  if (a >= 1e6) return `${(v / 1e6).toFixed(1)}M`
  if (a >= 1e3) return `${(v / 1e3).toFixed(1)}k`
  return String(Math.round(v * 100) / 100)
}
