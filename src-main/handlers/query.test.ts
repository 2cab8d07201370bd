import { describe, expect, it } from 'vitest'
import { Cluster } from '../../engine/cluster'
import { JobRunner } from '../engine-host/jobs'
import { calls, type CallInput, type CallName, type CallOutput } from '../ipc/contract'
import { handlers } from './index'
import type { HandlerContext } from './context'

describe('query handlers', () => {
  it('query/run returns capped rows with the total, the class, plan, per-link bytes and virtual time; query/explain and query/catalog work', async () => {
    const cluster = await Cluster.create({ seed: 4, sales: 500 })
    const ctx: HandlerContext = {
      cluster, jobs: new JobRunner(() => {}), host: 'cli', dataDir: null, emit: () => {},
      clock: { speed: 0, setSpeed: () => {} },
    }
    const run = <N extends CallName>(name: N, input: CallInput<N>): Promise<CallOutput<N>> =>
      (handlers[name] as (c: HandlerContext, i: unknown) => Promise<CallOutput<N>>)(ctx, calls[name].input.parse(input))
    const r = await run('query/run', { site: 'KDY', sql: 'SELECT * FROM SALES ORDER BY INVNO', maxRows: 10 })
    expect(r.rows).toHaveLength(10)
    expect(r.totalRows).toBe(500)
    expect(r.truncated).toBe(true)
    expect(r.requestClass).toBe('distributed request')
    expect(r.virtualMs).toBeGreaterThan(0)
    expect(Object.keys(r.perLinkBytes).length).toBeGreaterThan(0)
    expect(r.plan.steps.length).toBeGreaterThan(0)
    const e = await run('query/explain', { site: 'MBI', sql: "SELECT * FROM EMPLOYEES WHERE BRCODE = 'MBI'" })
    expect(e.explain).toMatch(/remote request/)
    expect(e.columns).toEqual(['plan'])
    const c = await run('query/catalog', {})
    expect(c.relations.map((x) => x.name)).toContain('SALES')
    expect(c.views.map((x) => x.name)).toContain('V_BRANCH_REVENUE')
    await expect(run('query/run', { site: 'KDY', sql: 'SELEC 1' })).rejects.toMatchObject({ code: 'SQL_ERROR' })
  })
})
