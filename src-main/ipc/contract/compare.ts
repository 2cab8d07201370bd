/**
 * The legacy-vs-distributed comparison (engine/compare, issue 14) and the cluster's design. A comparison runs the
 * business day on both designs in clusters of its own (the live cluster is not touched) as a job with progress and
 * cancel; the last report and both runs' request traces are kept for the console. Switching the live cluster's
 * design re-initialises it (same data, same seed): confirmed by typing the design's name, refused while jobs run.
 */
import { z } from 'zod'
import { call, noInput } from './define'
import type { JobView } from '../../../engine/api/views'
import type { CompareReport, Design, DesignResult, LinkProfile, RequestKind, RequestTrace } from '../../../engine/api/compare'
import { DAY_OPENS_HOUR, DESIGNS, REQUEST_KINDS } from '../../../engine/api/compare'

export type { CompareReport, Design, LinkProfile, RequestTrace }

/** Bounds of what the user may change before a run (the console shows the same limits). */
export const COMPARE_LIMITS = {
  rateScale: { min: 0, max: 20 },
  rate: { min: 0, max: 20 },
  /** Invoices of generated sales history each run's clusters start with. */
  sales: { min: 0, max: 200_000 },
  /** A run's day, local hours. */
  hour: { min: 0, max: 24 },
  /** A link: 9.6 kbit/s (a modem) to 10 Gbit/s; one-way delay 0..5 s. */
  bandwidthBps: { min: 9_600, max: 10_000_000_000 },
  delayMs: { min: 0, max: 5_000 },
  linksPerDesign: 32,
} as const

const design = z.enum(DESIGNS as unknown as [Design, ...Design[]])
const kind = z.enum(REQUEST_KINDS as unknown as [RequestKind, ...RequestKind[]])
const L = COMPARE_LIMITS
const hour = z.number().min(L.hour.min).max(L.hour.max)
const window = z.object({ fromHour: hour, toHour: hour }).strict()
  .refine((w) => w.fromHour < w.toHour, { message: 'an outage ends after it starts (fromHour < toHour)' })
const linkProfile = z.object({
  linkId: z.string().regex(/^[A-Za-z0-9_.-]{1,40}$/, 'a link id, e.g. CMB-KDY'),
  bandwidthBps: z.number().min(L.bandwidthBps.min).max(L.bandwidthBps.max),
  delayMs: z.number().min(L.delayMs.min).max(L.delayMs.max),
}).strict()

export const compareOptions = z.object({
  seed: z.number().int().min(0).max(0xffffffff).optional(),
  rateScale: z.number().min(L.rateScale.min).max(L.rateScale.max).optional(),
  rates: z.partialRecord(kind, z.number().min(L.rate.min).max(L.rate.max)).optional(),
  /** Whole hours: the workload's rates are per hour. */
  fromHour: hour.int().min(DAY_OPENS_HOUR).optional(),
  toHour: hour.int().optional(),
  sales: z.number().int().min(L.sales.min).max(L.sales.max).optional(),
  hqOutage: window.nullable().optional(),
  kdyLinkOutage: window.nullable().optional(),
  links: z.partialRecord(design, z.array(linkProfile).max(L.linksPerDesign)).optional(),
}).strict().refine((o) => o.fromHour === undefined || o.toHour === undefined || o.fromHour < o.toHour, { message: 'the day ends after it starts (fromHour < toHour)' })

/** A report as the console gets it: each run's request traces stay in the engine (compare/requests pages them). */
export interface CompareReportView extends Omit<CompareReport, 'results'> {
  results: Record<Design, Omit<DesignResult, 'traces'> & { traceCount: number }>
}

/** A page of one run's request traces (the console's request list). */
export interface RequestPage { design: Design; total: number; offset: number; requests: RequestTrace[] }

/** The live cluster's design. */
export interface DesignView { design: Design; seed: number; sales: number | null }

/** What a run uses when the user changes nothing (the console's form starts from it). */
export interface CompareDefaults {
  fromHour: number
  toHour: number
  hqOutage: { fromHour: number; toHour: number } | null
  kdyLinkOutage: { fromHour: number; toHour: number } | null
  /** Each design's WAN links. */
  links: Record<Design, LinkProfile[]>
}

export const compareCalls = {
  /** Each design's default link profiles. */
  'compare/defaults': call(noInput).returns<CompareDefaults>(),
  /** Run the business day on both designs (clusters of its own): a job whose result is the CompareReportView. */
  'compare/run': call(compareOptions).returns<JobView>(),
  /** The last finished comparison's report (null before the first). */
  'compare/last': call(noInput).returns<CompareReportView | null>(),
  /** A page of one run's requests, optionally one branch's or one kind's, optionally only those that failed. */
  'compare/requests': call(z.object({
    design,
    branch: z.string().regex(/^[A-Z]{3}$/).optional(),
    kind: kind.optional(),
    failedOnly: z.boolean().default(false),
    offset: z.number().int().min(0).default(0),
    limit: z.number().int().min(1).max(500).default(100),
  }).strict()).returns<RequestPage>(),
  /** One request of either run (to open it in the Query or Transactions console). */
  'compare/request': call(z.object({ design, id: z.number().int().min(0) }).strict()).returns<RequestTrace>(),
  /** The live cluster's design. */
  'system/design': call(noInput).returns<DesignView>(),
  /** Re-initialise the live cluster with a design (same data and seed); `confirm` is the design's name typed. A job. */
  'system/setDesign': call(z.object({ design, confirm: z.string().max(32) }).strict()).returns<JobView>(),
}
