/**
 * The business-day workload (issue 14), defined once: what every branch's clients issue during a working day,
 * and the day's faults. Deterministic from a seed (engine/sim/rng.ts). Both designs run exactly the same list.
 *
 * The day is data (`BUSINESS_DAY`): rates per staff member per hour for the POS sales and stock look-ups, an hourly
 * profile with the lunch peak, the back-office reports, the reads of another branch's stock where the distributed
 * design keeps a fragment of it locally (derived from the fragmentation schema: Mumbai reads Colombo's stock,
 * Stocks_CMB_FRG), the HQ outage and the outage of the branch on the slowest line. Requests are SQL on global names,
 * issued at the branch: the query processor and the DTM localize them onto whichever design's fragments.
 */
import { Rng } from '../sim/rng'
import { siteLocalTime, SITE_UTC_OFFSET_MIN } from '../sim/kernel'
import { makeDataset } from '../data/generator'
import { fragments } from '../data/schema'
import { hqSite } from '../topology/default'
import { EngineError } from '../errors'
import type { SiteCode, TopologySpec } from '../topology/types'
import type { CompareOptions, RequestKind } from '../api/compare'
import { DAY_OPENS_HOUR, REQUEST_KINDS } from '../api/compare'

/** The business day as data. Rates are mean arrivals per hour (Poisson), before the hourly profile and the user's scales. */
export const BUSINESS_DAY = {
  fromHour: 8,
  toHour: 18,
  /** Multiplier per local hour: the morning ramp, the lunch peak (12–14), the after-work rise. */
  profile: { 8: 0.4, 9: 0.7, 10: 0.9, 11: 1.1, 12: 1.9, 13: 1.7, 14: 0.9, 15: 0.9, 16: 1.0, 17: 1.3 } as Record<number, number>,
  /** POS sales per staff member per hour (102 staff: about 390 sales a day). */
  salesPerStaffHour: 0.35,
  /** Stock look-ups at the counter per staff member per hour. */
  lookupsPerStaffHour: 0.6,
  /** Reads of another branch's stock, per staff member of the reading branch per hour (Mumbai reading Colombo's stock). */
  remoteStockReadsPerStaffHour: 0.35,
  /** Back-office reports per branch per hour (today's sales by item), and the HQ's consolidated report per hour. */
  branchReportsPerHour: 1.5,
  hqReportsPerHour: 1,
  /** Scheduled copies are refreshed by the cluster's own timer at these local times (engine/cluster/copies.ts). */
  refreshAt: [12, 18],
  /** Colombo down for an hour in the afternoon; the branch on the slowest line cut off for half an hour in the morning. */
  hqOutage: { fromHour: 14, toHour: 15 },
  kdyLinkOutage: { fromHour: 10.5, toHour: 11 },
  /** Invoice numbers of the day start here (the generated history is 1..N). */
  invoiceBase: 10_000_000,
  /**
   * Each branch reserves a block of this many invoice numbers at day open (INVOICE_BLOCKS, engine/integrity/blocks.ts),
   * while Colombo is reachable, and its POS sales draw their numbers from it: the DIM then checks a sale's INVNO in the
   * branch's own fragment only, so the branch keeps selling through an HQ outage. Far more than a day's sales.
   */
  invoiceBlockSize: 100_000,
}

/** One request of the day, issued by a client at `branch`. */
export interface WorkItem {
  id: number
  /** Scheduled issue time (virtual epoch ms). */
  at: number
  branch: SiteCode
  kind: RequestKind
  sql: string
  /** A POS sale: its invoice and amount (the totals check). */
  sale?: { invno: number; amount: number }
}

/** A block of invoice numbers a branch reserves at day open (its POS sales draw from it). */
export interface InvoiceBlockPlan { branch: SiteCode; lo: number; size: number }

export interface DayPlan {
  items: WorkItem[]
  /** Virtual epoch ms of local midnight of the day, the day's start and end. */
  midnight: number
  startMs: number
  endMs: number
  fromHour: number
  toHour: number
  hqSite: SiteCode
  /** The branch on the slowest line to HQ (in the legacy network): Kandy on ISDN. The headline speed-up and the link outage are about it. */
  slowBranch: SiteCode
  hqOutage: { fromHour: number; toHour: number } | null
  kdyLinkOutage: { fromHour: number; toHour: number } | null
  /** The links the branch outage takes down (every link touching the slow branch). */
  slowBranchLinks: string[]
  /** The invoice-number blocks the branches reserve at day open, in ascending order. */
  invoiceBlocks: InvoiceBlockPlan[]
}

const round2 = (x: number) => Math.round(x * 100) / 100
const pad = (n: number) => (n < 10 ? `0${n}` : String(n))

/** Local midnight (site time) of the day containing `ms`. */
export function localMidnight(ms: number): number {
  const off = SITE_UTC_OFFSET_MIN * 60_000
  return Math.floor((ms + off) / 86_400_000) * 86_400_000 - off
}

function checkHours(name: string, w: { fromHour: number; toHour: number } | null | undefined): void {
  if (w === null || w === undefined) return
  if (!Number.isFinite(w.fromHour) || !Number.isFinite(w.toHour) || w.fromHour < 0 || w.toHour > 24 || w.fromHour >= w.toHour) {
    throw new EngineError('BAD_INPUT', `${name} must be {fromHour, toHour} with 0 ≤ fromHour < toHour ≤ 24, got ${JSON.stringify(w)}`)
  }
}

/** Validates the user's options (a clear error, nothing run). */
export function validateOptions(o: CompareOptions): void {
  if (o.seed !== undefined && (!Number.isInteger(o.seed) || o.seed < 0 || o.seed > 0xffffffff)) throw new EngineError('BAD_INPUT', `seed must be an integer 0..4294967295, got ${o.seed}`)
  if (o.rateScale !== undefined && (!Number.isFinite(o.rateScale) || o.rateScale < 0 || o.rateScale > 20)) throw new EngineError('BAD_INPUT', `rateScale must be between 0 and 20, got ${o.rateScale}`)
  for (const [k, v] of Object.entries(o.rates ?? {})) {
    if (!REQUEST_KINDS.includes(k as RequestKind)) throw new EngineError('BAD_INPUT', `unknown request kind ${k}; kinds are ${REQUEST_KINDS.join(', ')}`)
    if (!Number.isFinite(v) || (v as number) < 0 || (v as number) > 20) throw new EngineError('BAD_INPUT', `rates.${k} must be between 0 and 20, got ${v}`)
  }
  const from = o.fromHour ?? BUSINESS_DAY.fromHour, to = o.toHour ?? BUSINESS_DAY.toHour
  if (!Number.isInteger(from) || !Number.isInteger(to) || from < DAY_OPENS_HOUR || to > 24 || from >= to) throw new EngineError('BAD_INPUT', `fromHour/toHour must be whole hours with ${DAY_OPENS_HOUR} ≤ fromHour < toHour ≤ 24 (the simulated day opens at 0${DAY_OPENS_HOUR}:00), got ${from}..${to}`)
  checkHours('hqOutage', o.hqOutage)
  checkHours('kdyLinkOutage', o.kdyLinkOutage)
  if (o.sales !== undefined && (!Number.isInteger(o.sales) || o.sales < 0 || o.sales > 200_000)) throw new EngineError('BAD_INPUT', `sales (the generated history) must be an integer 0..200000, got ${o.sales}`)
}

/** The branch with the slowest line to HQ in `legacy` (ties: the topology's order). */
export function slowestBranch(legacy: TopologySpec): SiteCode {
  const hq = hqSite(legacy).code
  let best: { code: SiteCode; bps: number } | undefined
  for (const s of legacy.sites) {
    if (s.code === hq) continue
    const l = legacy.links.find((x) => (x.a === hq && x.b === s.code) || (x.b === hq && x.a === s.code))
    const bps = l?.bandwidthBps ?? 0
    if (!best || bps < best.bps) best = { code: s.code, bps }
  }
  return best?.code ?? hq
}

/** Exponential inter-arrival times: the arrival instants of a Poisson process of `perHour` in [t0, t0 + 1 h). */
function arrivals(rng: Rng, perHour: number, t0: number): number[] {
  const out: number[] = []
  if (!(perHour > 0)) return out
  let t = 0
  for (;;) {
    t += -Math.log(1 - rng.next()) / perHour
    if (t >= 1) return out
    out.push(t0 + Math.floor(t * 3_600_000))
  }
}

/**
 * The day's requests, sorted by issue time. `topo` is the distributed topology (for the reads another branch serves
 * locally), `legacy` the legacy one (for the slowest line); both have the same sites, staff and data. `dataStartMs` and
 * `dataSeed` are those the clusters generate their data with, so the sales name real sellers and stocked items;
 * `dayOf` is an instant of the day to plan (default the data's start day).
 */
export function planDay(topo: TopologySpec, legacy: TopologySpec, opts: CompareOptions, dataSeed: number, dataStartMs: number, dayOf = dataStartMs): DayPlan {
  validateOptions(opts)
  const seed = opts.seed ?? 1
  const D = BUSINESS_DAY
  const fromHour = opts.fromHour ?? D.fromHour, toHour = opts.toHour ?? D.toHour
  const scale = (k: RequestKind) => (opts.rateScale ?? 1) * (opts.rates?.[k] ?? 1)
  const ds = makeDataset(dataSeed, topo, dataStartMs)
  const midnight = localMidnight(dayOf)
  const p = siteLocalTime(midnight + 12 * 3_600_000)
  const today = `${p.y}-${pad(p.mo)}-${pad(p.d)}`
  const hq = hqSite(topo).code
  const rng = new Rng((seed ^ 0xb05d) >>> 0)
  const raw: Omit<WorkItem, 'id'>[] = []
  const invoiceBlocks: InvoiceBlockPlan[] = topo.sites.map((s, i) => ({ branch: s.code, lo: D.invoiceBase + i * D.invoiceBlockSize + 1, size: D.invoiceBlockSize }))
  // who reads whose stock: a branch holding a vertical fragment of another branch's stock (Stocks_CMB_FRG at MBI)
  const remoteReads = fragments(topo).filter((f) => f.kind === 'vertical' && f.relation.startsWith('STOCK_')).map((f) => ({ reader: f.site, relation: f.relation, columns: f.columns }))
  for (const s of topo.sites) {
    const stock = (ds.stocks.get(s.code) ?? []).filter((r) => Number(r[2]) >= 20)
    const staff = ds.employees.filter((e) => e[4] === s.code)
    const sellers = staff.filter((e) => e[3] === 'Sales').map((e) => Number(e[0]))
    const sellerList = sellers.length ? sellers : staff.map((e) => Number(e[0]))
    const listPrice = new Map(ds.items.map((it) => [Number(it[0]), Number(it[4])]))
    const r = rng.fork(`branch:${s.code}`)
    const block = invoiceBlocks.find((b) => b.branch === s.code)!
    let invno = block.lo - 1
    for (let h = fromHour; h < toHour; h++) {
      const t0 = midnight + h * 3_600_000
      const prof = D.profile[h] ?? 0.3
      if (stock.length && sellerList.length) {
        for (const at of arrivals(r, s.staff * D.salesPerStaffHour * prof * scale('pos_sale'), t0)) {
          const row = r.pick(stock)
          const itemno = Number(row[1])
          const qty = 1 + (r.chance(0.2) ? 1 : 0)
          const unit = round2(listPrice.get(itemno) ?? Number(row[3]))
          const amount = round2(unit * qty)
          const emp = r.pick(sellerList)
          const tm = siteLocalTime(at)
          const soldAt = `${today} ${pad(tm.h)}:${pad(tm.mi)}:${pad(tm.s)}`
          invno++
          if (invno >= block.lo + block.size) throw new EngineError('BAD_INPUT', `${s.code} sells more than the ${block.size} invoice numbers of its day's block (lower the rate scale)`)
          raw.push({
            at, branch: s.code, kind: 'pos_sale', sale: { invno, amount },
            sql: `BEGIN; INSERT INTO SALES (INVNO, BRCODE, ITEMNO, QTY, UNITPRICE, AMOUNT, SOLD_AT, EMPNO) VALUES (${invno}, '${s.code}', ${itemno}, ${qty}, ${unit}, ${amount}, '${soldAt}', ${emp}); UPDATE STOCK_${s.code} SET QTY = QTY - ${qty} WHERE ITEMNO = ${itemno}; COMMIT`,
          })
        }
      }
      if (stock.length) {
        for (const at of arrivals(r, s.staff * D.lookupsPerStaffHour * prof * scale('stock_lookup'), t0)) {
          raw.push({ at, branch: s.code, kind: 'stock_lookup', sql: `SELECT STOCKCODE, ITEMNO, QTY, UNITPRICE, NEXTIN FROM STOCK_${s.code} WHERE ITEMNO = ${Number(r.pick(stock)[1])}` })
        }
      }
      for (const rr of remoteReads.filter((x) => x.reader === s.code)) {
        const owner = rr.relation.slice('STOCK_'.length)
        const theirs = ds.stocks.get(owner) ?? []
        if (!theirs.length) continue
        for (const at of arrivals(r, s.staff * D.remoteStockReadsPerStaffHour * prof * scale('mbi_stock_read'), t0)) {
          raw.push({ at, branch: s.code, kind: 'mbi_stock_read', sql: `SELECT ${rr.columns.join(', ')} FROM ${rr.relation} WHERE ITEMNO = ${Number(r.pick(theirs)[1])}` })
        }
      }
      for (const at of arrivals(r, D.branchReportsPerHour * scale('report'), t0)) {
        raw.push({ at, branch: s.code, kind: 'report', sql: `SELECT ITEMNO, COUNT(*) AS NSALES, SUM(QTY) AS UNITS, SUM(AMOUNT) AS REVENUE FROM SALES WHERE BRCODE = '${s.code}' AND SOLD_AT >= '${today}' GROUP BY ITEMNO ORDER BY REVENUE DESC` })
      }
      if (s.code === hq) {
        for (const at of arrivals(r, D.hqReportsPerHour * scale('report'), t0)) {
          raw.push({ at, branch: s.code, kind: 'report', sql: `SELECT BRCODE, COUNT(*) AS NSALES, SUM(AMOUNT) AS REVENUE FROM SALES WHERE SOLD_AT >= '${today}' GROUP BY BRCODE` })
        }
      }
    }
  }
  raw.sort((a, b) => a.at - b.at || (a.branch < b.branch ? -1 : a.branch > b.branch ? 1 : 0) || (a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : 0))
  const items = raw.map((x, i) => ({ id: i + 1, ...x }))
  const slow = slowestBranch(legacy)
  // an outage is clipped to the simulated hours; a default one outside them does not happen, an explicit one is an error
  const window = (name: string, given: { fromHour: number; toHour: number } | null | undefined, dflt: { fromHour: number; toHour: number }) => {
    const w = given === undefined ? dflt : given
    if (!w) return null
    const clipped = { fromHour: Math.max(w.fromHour, fromHour), toHour: Math.min(w.toHour, toHour) }
    if (clipped.fromHour < clipped.toHour) return clipped
    if (given === undefined) return null
    throw new EngineError('BAD_INPUT', `${name} ${w.fromHour}..${w.toHour} lies outside the simulated hours ${fromHour}..${toHour}`)
  }
  const hqOutage = window('hqOutage', opts.hqOutage, D.hqOutage)
  const kdyLinkOutage = window('kdyLinkOutage', opts.kdyLinkOutage, D.kdyLinkOutage)
  return {
    items, midnight, startMs: midnight + fromHour * 3_600_000, endMs: midnight + toHour * 3_600_000, fromHour, toHour,
    hqSite: hq, slowBranch: slow, hqOutage, kdyLinkOutage,
    slowBranchLinks: topo.links.filter((l) => l.a === slow || l.b === slow).map((l) => l.id),
    invoiceBlocks,
  }
}
