/**
 * Export of a query's whole result (every row, not the grid's 100,000) as CSV or JSON, as a cancellable job:
 * the query runs as a 'query' job, then its rows are written out in chunks (yielding between them, so the
 * engine keeps answering pings), kept until the console has fetched them one by one (query/exportChunk).
 * The session's level applies as for a query (hidden columns are left out).
 */
import { EngineError } from '../../engine/errors'
import { dqpFor } from '../../engine/query/dqp'
import { visibleResult } from '../../engine/security/dsm'
import { authorize, budgetFor } from './query'
import { isReadOnlyStatement } from '../../engine/security/roles'
import type { JobRunner } from '../engine-host/jobs'
import type { HandlerMap } from './context'
import type { ExportChunk } from '../ipc/contract/query'

/** Rows per chunk: one IPC answer each. */
export const EXPORT_CHUNK_ROWS = 10_000
const KEEP = 4

interface Done { chunks: string[]; rows: number; columns: string[]; format: 'csv' | 'json' }
const exports = new WeakMap<JobRunner, Map<string, Done>>()
function exportsOf(jobs: JobRunner): Map<string, Done> {
  let m = exports.get(jobs)
  if (!m) { m = new Map(); exports.set(jobs, m) }
  return m
}

const csvField = (v: unknown): string => {
  if (v === null || v === undefined) return ''
  if (typeof v === 'number') return String(v)
  const s = v instanceof Uint8Array ? `<blob ${v.length} bytes>` : String(v)
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s
}
const jsonValue = (v: unknown): unknown => (v === undefined ? null : v instanceof Uint8Array ? `<blob ${v.length} bytes>` : v)

/** One chunk of rows as text; the first chunk carries the CSV header or the JSON array's opening. */
export function formatRows(format: 'csv' | 'json', columns: string[], rows: readonly (readonly unknown[])[], first: boolean, last: boolean): string {
  if (format === 'csv') {
    const lines = rows.map((r) => r.map(csvField).join(','))
    return `${first ? `${columns.map(csvField).join(',')}\r\n` : ''}${lines.length ? `${lines.join('\r\n')}\r\n` : ''}`
  }
  const objs = rows.map((r) => JSON.stringify(Object.fromEntries(columns.map((c, i) => [c, jsonValue(r[i])]))))
  return `${first ? '[\n' : ''}${objs.length ? `${first ? '' : ',\n'}${objs.join(',\n')}` : ''}${last ? '\n]\n' : ''}`
}

type ExportCall = 'query/export' | 'query/exportChunk'

export const exportHandlers: HandlerMap<ExportCall> = {
  'query/export': async (ctx, { site, sql, session, format }) => {
    if (!isReadOnlyStatement(sql)) throw new EngineError('BAD_INPUT', 'only a SELECT can be exported (a write is run from the Query console)', { site })
    const auth = authorize(ctx, site, sql, session) // the same check as a query: what runs reads only what the reader may
    const dqp = await dqpFor(ctx.cluster)
    return ctx.jobs.start('query', `export ${format}: ${site}: ${sql.replace(/\s+/g, ' ').slice(0, 70)}`, async (job) => {
      const r = await dqp.runCooperative(site, auth.sql, { user: auth.user ?? undefined, budget: budgetFor(session) }, job)
      const v = visibleResult(auth, r.columns)
      const chunks: string[] = []
      const n = r.rows.length
      for (let i = 0; i === 0 || i < n; i += EXPORT_CHUNK_ROWS) {
        const part = r.rows.slice(i, i + EXPORT_CHUNK_ROWS).map((row) => v.pick(row))
        chunks.push(formatRows(format, v.columns, part, i === 0, i + EXPORT_CHUNK_ROWS >= n))
        job.progress(Math.min(1, (i + part.length) / Math.max(1, n)), `written ${Math.min(n, i + part.length).toLocaleString('en')} of ${n.toLocaleString('en')} rows`)
        await job.yieldNow()
      }
      const m = exportsOf(ctx.jobs)
      m.set(job.id, { chunks, rows: n, columns: v.columns, format })
      for (const k of m.keys()) { if (m.size <= KEEP) break; m.delete(k) }
      return { totalRows: n, chunks: chunks.length }
    })
  },
  'query/exportChunk': async (ctx, { jobId, index }) => {
    const end = await ctx.jobs.wait(jobId)
    if (end.status !== 'done') {
      const e = end.error ?? { code: 'INTERNAL' as const, message: `export job ${jobId} ended ${end.status}` }
      throw new EngineError(e.code, e.message, e.site ? { site: e.site } : {})
    }
    const m = exportsOf(ctx.jobs)
    const d = m.get(jobId)
    if (!d) throw new EngineError('NOT_FOUND', `the export of job ${jobId} was already fetched or has expired`)
    if (index >= d.chunks.length) throw new EngineError('BAD_INPUT', `export ${jobId} has ${d.chunks.length} chunk(s)`)
    const chunk: ExportChunk = { index, chunks: d.chunks.length, rows: d.rows, format: d.format, data: d.chunks[index] }
    if (index === d.chunks.length - 1) m.delete(jobId)
    return chunk
  },
}
