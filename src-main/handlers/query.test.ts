import { describe, expect, it } from 'vitest'
import { Cluster } from '../../engine/cluster'
import { handlerRig } from '../testing/handler-rig'
import type { JobView } from '../../engine/api/views'

describe('query handlers', () => {
  it('query/run returns capped rows with the total, the class, plan, per-link bytes and virtual time; query/explain and query/catalog work', async () => {
    const cluster = await Cluster.create({ seed: 4, sales: 500 })
    const { run } = handlerRig(cluster)
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

  it('query/start runs a query as a job with progress; query/result returns its view; query/cancel stops a long one (CANCELLED) and the worker keeps answering', async () => {
    const cluster = await Cluster.create({ seed: 11, sales: 4000 })
    const { run, jobs, events } = handlerRig(cluster)
    const progressed = (id: string) => events.some((e) => e.name === 'job/progress' && (e.payload as JobView).id === id && (e.payload as JobView).progress > 0)
    // a cheap query through the job path
    const j1 = await run('query/start', { site: 'KDY', sql: 'SELECT BRCODE, COUNT(*) FROM SALES GROUP BY BRCODE ORDER BY BRCODE', maxRows: 10 })
    expect(j1).toMatchObject({ kind: 'query', status: 'running' })
    const v1 = await run('query/result', { jobId: j1.id })
    expect(v1.rows.map((r) => r[0])).toEqual(['CMB', 'KDY', 'MBI'])
    expect(v1.totalRows).toBe(3)
    expect(jobs.get(j1.id)).toMatchObject({ status: 'done', progress: 1, result: { totalRows: 3 } })
    await expect(run('query/result', { jobId: j1.id })).rejects.toMatchObject({ code: 'NOT_FOUND' }) // taken once
    // a long one, cancelled mid-way
    const big = 'SELECT a.INVNO, b.INVNO FROM SALES a JOIN SALES b ON (a.INVNO + b.INVNO) % 97 = 0'
    const j2 = await run('query/start', { site: 'KDY', sql: big })
    const result = run('query/result', { jobId: j2.id }).then(() => 'resolved', (e: { code?: string }) => e.code)
    const t0 = performance.now()
    while (!progressed(j2.id) && performance.now() - t0 < 20_000) await new Promise((r) => setTimeout(r, 10))
    // while it runs, other calls are answered
    const quick = await run('query/run', { site: 'MBI', sql: 'SELECT COUNT(*) FROM EMPLOYEES' })
    expect(quick.rows[0][0]).toBeGreaterThan(0)
    expect(jobs.get(j2.id).status).toBe('running')
    const c = await run('query/cancel', { jobId: j2.id })
    expect(c.id).toBe(j2.id)
    const tc = performance.now()
    expect(await result).toBe('CANCELLED')
    expect(performance.now() - tc).toBeLessThan(1000)
    expect(jobs.get(j2.id)).toMatchObject({ status: 'cancelled', error: { code: 'CANCELLED' } })
    await expect(run('query/cancel', { jobId: 'job-999' })).rejects.toMatchObject({ code: 'NOT_FOUND' })
    // a write cancelled before its job's first turn never starts
    const count = () => cluster.siteStore('KDY').query('SELECT COUNT(*) FROM Sales_KDY WHERE QTY > 1000').rows[0][0]
    const j3 = await run('query/start', { site: 'KDY', sql: 'UPDATE SALES SET QTY = QTY + 5000' })
    await run('query/cancel', { jobId: j3.id })
    await expect(run('query/result', { jobId: j3.id })).rejects.toMatchObject({ code: 'CANCELLED' })
    expect(count()).toBe(0)
    // …and runs when not cancelled
    const j4 = await run('query/start', { site: 'KDY', sql: "UPDATE SALES SET QTY = QTY + 5000, AMOUNT = (QTY + 5000) * UNITPRICE WHERE BRCODE = 'KDY'" })
    expect((await run('query/result', { jobId: j4.id })).changes).toBeGreaterThan(0)
    expect(count()).toBeGreaterThan(0)
    await expect(run('query/start', { site: 'KDY', sql: 'SELEC 1' }).then((j) => run('query/result', { jobId: j.id }))).rejects.toMatchObject({ code: 'SQL_ERROR' })
  }, 60_000)
})
