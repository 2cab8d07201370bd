/**
 * Distributed query processor calls: run global SQL (or EXPLAIN) at a site, and the global names the
 * console's editor autocompletes.
 */
import { z } from 'zod'
import { call, noInput, siteCode } from './define'
import type { PlanView, RequestClass } from '../../../engine/api/query'

export type QueryCell = string | number | null

export interface QueryRunView {
  site: string
  sql: string
  user: string | null
  columns: string[]
  /** At most maxRows rows (see totalRows). */
  rows: QueryCell[][]
  totalRows: number
  truncated: boolean
  requestClass: RequestClass
  plan: PlanView
  /** Bytes this query put on each link (WAN link id such as CMB-KDY, or LAN:<SITE>). */
  perLinkBytes: Record<string, number>
  virtualMs: number
  wallMs: number
  /** EXPLAIN text (also for a normal run, so the console can show it). */
  explain: string
  changes: number | null
}

export interface QueryCatalogView {
  relations: { name: string; columns: { name: string; type: string }[]; distribution: string }[]
  views: { name: string; sql: string }[]
  fragments: { name: string; relation: string; site: string; kind: string; columns: string[] }[]
  sites: string[]
}

const runInput = z.object({
  site: siteCode,
  sql: z.string().min(1, 'the SQL text is empty').max(100_000),
  user: z.string().max(64).optional(),
  maxRows: z.number().int().min(0).max(100_000).default(10_000),
}).strict()

export const queryCalls = {
  'query/run': call(runInput).returns<QueryRunView>(),
  'query/explain': call(runInput).returns<QueryRunView>(),
  'query/catalog': call(noInput).returns<QueryCatalogView>(),
}

export const queryEvents = {}
