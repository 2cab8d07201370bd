/**
 * Views of the legacy-vs-distributed comparison (engine/compare): shared by the engine, the IPC contract, the CLI
 * and the Compare console. Types and constants only (the renderer imports this file).
 *
 * Owner: engine/compare. Fields may be added; none renamed or removed without updating every reader.
 */
import type { SiteCode } from '../topology/types'
import type { TimelineEvent } from './txn'

/** The two deployments the report compares. */
export type Design = 'distributed' | 'legacy'

export const DESIGNS: readonly Design[] = ['distributed', 'legacy']

/** Local hour the simulated day opens (the comparison's clusters start at 07:00): a day cannot start earlier. */
export const DAY_OPENS_HOUR = 7

/** Request kinds of the business-day workload. */
export type RequestKind = 'pos_sale' | 'stock_lookup' | 'mbi_stock_read' | 'report' | 'refresh'

export const REQUEST_KINDS: readonly RequestKind[] = ['pos_sale', 'stock_lookup', 'mbi_stock_read', 'report', 'refresh']

/** A link's profile for a run (overrides the design's default line for that link id). */
export interface LinkProfile {
  linkId: string
  bandwidthBps: number
  delayMs: number
}

/** What the user can change before a run. Every field optional: the defaults are the business day. */
export interface CompareOptions {
  seed?: number
  /** Multiplier on every request rate (1 = the business day's rates). */
  rateScale?: number
  /** Per-kind multipliers on top of rateScale. */
  rates?: Partial<Record<RequestKind, number>>
  /** Hours of the day to simulate, [start, end) in local hours; default the working day (8..18). */
  fromHour?: number
  toHour?: number
  /** The HQ outage (local hours, may be fractional); null = none. Default one hour in the afternoon. */
  hqOutage?: { fromHour: number; toHour: number } | null
  /** The Kandy link outage; null = none. */
  kdyLinkOutage?: { fromHour: number; toHour: number } | null
  /** Link profiles per design (the legacy design defaults to Kandy on ISDN). */
  links?: Partial<Record<Design, LinkProfile[]>>
  /** Invoices of generated sales history each design's cluster starts with (default 2,000; the same data in both). */
  sales?: number
}

export interface Percentiles {
  count: number
  p50: number
  p95: number
  p99: number
}

/** One request of a run, kept so the user can open it in the Query or Transactions console. */
export interface RequestTrace {
  id: number
  design: Design
  branch: SiteCode
  kind: RequestKind
  /** Virtual time it was issued (ms since the simulated epoch) and its response time (ms). */
  at: number
  /** When the workload scheduled it (≤ at: a request waits while the one before it runs). */
  scheduledAt: number
  responseMs: number
  ok: boolean
  error?: string
  sql?: string
  /** The DTM transaction id, when the request was a transaction. */
  txnId?: string
  /**
   * The transaction's message timeline as its run's DTM recorded it (2PC messages, states, log writes; engine/api/txn.ts),
   * and the sites it involved: the Transactions console draws it. Only in compare/request (a page of requests leaves it out).
   */
  timeline?: TimelineEvent[]
  timelineSites?: SiteCode[]
}

export interface DesignResult {
  design: Design
  /** Response-time distribution per branch and request kind (ms of virtual time, served requests only). */
  response: Record<SiteCode, Partial<Record<RequestKind, Percentiles>>>
  /** WAN bytes per link per hour of the day: linkId → [{hour, bytes}]. */
  wanBytesPerHour: Record<string, { hour: number; bytes: number }[]>
  wanBytesTotal: number
  /** Share of branch requests served during each outage (0..1), per branch. */
  availability: { hqOutage: Record<SiteCode, number> | null; kdyLinkOutage: Record<SiteCode, number> | null }
  /** Virtual ms from the end of each outage to the first served request that needed the lost path. */
  recoveryMs: { hqOutage: number | null; kdyLinkOutage: number | null }
  /**
   * What the design costs in return, measured in both designs: DIM probes of another site's data, the largest age of a
   * scheduled copy while it differed from its source (none in legacy: nothing is copied), and the commit (2PC)
   * latency of the day's write transactions whose participants include a site other than the client's branch.
   */
  costs: { integrityChecksRemote: number; replicaStalenessMaxMs: number; twoPcLatency: Percentiles | null }
  /** Totals per branch after the day, as the database holds them: today's sales and the units left in the branch's stock (the two designs must agree). */
  totals: Record<SiteCode, { sales: number; amount: number; stockUnits?: number }>
  requests: number
  served: number
  /** Wall time this design's day took to simulate. */
  wallMs: number
  /** Sales the workload had served (acknowledged to the client) per branch: equal to `totals` when nothing was lost. */
  salesServed: Record<SiteCode, { sales: number; amount: number }>
  /** WAN bytes per link for the whole day (the network's own counters). */
  wanBytesPerLink: Record<string, number>
  /** Every request of the run, in issue order. */
  traces: RequestTrace[]
}

export interface CompareReport {
  seed: number
  options: CompareOptions
  results: Record<Design, DesignResult>
  /** Headline figures (also the bench keys compare.*). */
  headline: {
    kdyLocalReadSpeedup: number
    wanBytesRatio: number
    availabilityDuringHqOutage: Record<Design, number>
    dayRunMs: number
    /** The branch on the slowest line to HQ in the legacy network (Kandy): the speed-up and the link outage are about it. */
    slowBranch?: SiteCode
  }
}

/** Progress of a running comparison (a job). */
export interface CompareProgress {
  design: Design
  /** 0..1 over both runs. */
  fraction: number
  virtualLocal: string
  /** Requests of this design's day done so far, and in all. */
  done?: number
  total?: number
}
