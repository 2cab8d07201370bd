/**
 * Distributed query processor calls: run global SQL (or EXPLAIN) at a site, and the global names the
 * console's editor autocompletes.
 *
 * 'query/run' runs synchronously in the engine worker (cheap queries, CLI). Long queries run as a job:
 * 'query/start' returns the JobView at once (progress arrives as 'job/progress' events: steps done / planned),
 * 'query/result' {jobId} resolves when the job ends with the same QueryRunView as 'query/run' (or throws its
 * error, CANCELLED when it was cancelled), and 'query/cancel' {jobId} stops it at its next checkpoint (a read
 * returns nothing; a write is not started or the parts already applied are undone).
 */
import { z } from 'zod'
import { call, noInput, siteCode } from './define'
import { sessionToken } from './security'
import type { PlanView, RequestClass } from '../../../engine/api/query'
import type { JobView } from '../../../engine/api/views'

export type QueryCell = string | number | null

export interface QueryRunView {
  site: string
  sql: string
  /** The session's user, or null for the console's operator. */
  user: string | null
  /** The session's security level (null: the operator, unrestricted). */
  level: string | null
  /** Columns a `*` left out because they are labelled above the session's level. */
  hiddenColumns: string[]
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
  /** Run as this logged-in session (its site and security level apply); without it, as the console's operator. */
  session: sessionToken.optional(),
  maxRows: z.number().int().min(0).max(100_000).default(10_000),
}).strict()

const jobInput = z.object({ jobId: z.string().min(1).max(64) }).strict()

/** One piece of an export's text (CSV or JSON), fetched in order: index 0 … chunks - 1. */
export interface ExportChunk { index: number; chunks: number; rows: number; format: 'csv' | 'json'; data: string }

export const queryCalls = {
  'query/run': call(runInput).returns<QueryRunView>(),
  /** Starts the query as a cancellable job (kind 'query'); EXPLAIN … is accepted too. */
  'query/start': call(runInput).returns<JobView>(),
  /** Waits for a query job and returns its result once (then it is forgotten); throws the job's error. */
  'query/result': call(jobInput).returns<QueryRunView>(),
  /** Requests cancellation of a query job; returns its view (still 'running' until it reaches a checkpoint). */
  'query/cancel': call(jobInput).returns<JobView>(),
  'query/explain': call(runInput).returns<QueryRunView>(),
  'query/catalog': call(noInput).returns<QueryCatalogView>(),
  /** Exports every row of a query (not capped at the grid's 100,000) as a cancellable 'query' job. */
  'query/export': call(z.object({ site: siteCode, sql: z.string().min(1, 'the SQL text is empty').max(100_000), session: sessionToken.optional(), format: z.enum(['csv', 'json']) }).strict()).returns<JobView>(),
  /** A finished export's text, one chunk at a time (the last fetch frees it). */
  'query/exportChunk': call(z.object({ jobId: z.string().min(1).max(64), index: z.number().int().min(0).max(100_000) }).strict()).returns<ExportChunk>(),
}

export const queryEvents = {}
