/** Handlers of the distributed query processor calls (engine/query). */
import { dqpFor, formatExplain } from '../../engine/query/dqp'
import type { QueryRunResult } from '../../engine/query/types'
import type { HandlerMap } from './context'
import type { QueryCell, QueryRunView } from '../ipc/contract/query'

type QueryCall = 'query/run' | 'query/explain' | 'query/catalog'

const cell = (v: unknown): QueryCell => (v === null || v === undefined ? null : typeof v === 'number' || typeof v === 'string' ? v : v instanceof Uint8Array ? `<blob ${v.length} bytes>` : String(v))

export function toView(site: string, sql: string, user: string | undefined, r: QueryRunResult, maxRows: number): QueryRunView {
  const total = r.rows.length
  return {
    site, sql, user: user ?? null, columns: r.columns, rows: r.rows.slice(0, maxRows).map((row) => row.map(cell)), totalRows: total, truncated: total > maxRows,
    requestClass: r.requestClass, plan: r.plan, perLinkBytes: r.perLinkBytes, virtualMs: r.virtualMs, wallMs: r.wallMs,
    explain: r.explain ?? formatExplain(r), changes: r.changes ?? null,
  }
}

export const queryHandlers: HandlerMap<QueryCall> = {
  'query/run': async (ctx, { site, sql, user, maxRows }) => {
    const dqp = await dqpFor(ctx.cluster)
    return toView(site, sql, user, await dqp.run(site, sql, { user }), maxRows)
  },
  'query/explain': async (ctx, { site, sql, user, maxRows }) => {
    const dqp = await dqpFor(ctx.cluster)
    const text = /^\s*explain\b/i.test(sql) ? sql : `EXPLAIN ${sql}`
    return toView(site, text, user, await dqp.run(site, text, { user }), maxRows)
  },
  'query/catalog': async (ctx) => {
    const dqp = await dqpFor(ctx.cluster)
    const c = dqp.catalog
    return {
      relations: c.relations.map((r) => ({ name: r.name, distribution: r.distribution, columns: r.columns.map((x) => ({ name: x.name, type: x.type })) })),
      views: c.views.map((v) => ({ name: v.name, sql: v.sql })),
      fragments: c.fragments.map((f) => ({ name: f.name, relation: f.relation, site: f.site, kind: f.kind, columns: f.columns })),
      sites: ctx.cluster.siteCodes,
    }
  },
}
