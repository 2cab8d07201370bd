/**
 * Multi-level security through the IPC handlers (issue 13, breaks 1 and 5): what a session reads is checked
 * on what the statement reads (not on result names), in the query console, inside a transaction and in the
 * catalog calls; the security tables never cross IPC.
 */
import { describe, expect, it } from 'vitest'
import { Cluster } from '../../engine/cluster'
import { JobRunner } from '../engine-host/jobs'
import { calls, type CallInput, type CallName, type CallOutput } from '../ipc/contract'
import { handlers } from './index'
import type { HandlerContext } from './context'
import { SecurityManager } from '../../engine/security/dsm'

async function setup(sales = 60) {
  const cluster = await Cluster.create({ seed: 41, sales })
  const ctx: HandlerContext = { cluster, jobs: new JobRunner(() => {}), host: 'cli', dataDir: null, emit: () => {}, clock: { speed: 0, setSpeed: () => {} } }
  const run = <N extends CallName>(name: N, input: CallInput<N>): Promise<CallOutput<N>> =>
    (handlers[name] as (c: HandlerContext, i: unknown) => Promise<CallOutput<N>>)(ctx, calls[name].input.parse(input))
  const dsm = SecurityManager.of(cluster)
  dsm.addUser('CMB', 'clerk', 'clerk-pass-1', 'INTERNAL')
  const clerk = dsm.login('CMB', 'clerk', 'clerk-pass-1').token
  return { cluster, ctx, run, clerk }
}

const salaries = (c: Cluster): Set<number> => new Set(c.siteStore('CMB').query('SELECT SALARY FROM Employees_CMB').rows.map((r) => Number(r[0])))

describe('MLS in the query console (query/start as the console runs it)', () => {
  it('a UNION ALL whose second branch is a * never carries SALARY or UNITPRICE', async () => {
    const { cluster, ctx, run, clerk } = await setup()
    const start = async (sql: string) => {
      const job = await run('query/start', { site: 'CMB', sql, session: clerk })
      await ctx.jobs.wait(job.id)
      return run('query/result', { jobId: job.id })
    }
    const leak = 'SELECT EMPNO,NAME,POSITION,DEPT,BRCODE,EMPNO AS PAY,CLEARANCE FROM EMPLOYEES WHERE 0 UNION ALL SELECT * FROM EMPLOYEES ORDER BY 6 DESC'
    await expect(start(leak)).rejects.toMatchObject({ code: 'ACCESS_DENIED' })
    const job = await run('query/start', { site: 'CMB', sql: 'SELECT STOCKCODE, ITEMNO, QTY, QTY AS P, LASTIN, NEXTIN FROM STOCK_CMB WHERE 0 UNION ALL SELECT * FROM STOCK_CMB', session: clerk })
      .catch((e: unknown) => e)
    if ('id' in (job as object)) {
      const end = await ctx.jobs.wait((job as { id: string }).id)
      expect(end.status).not.toBe('done')
    } else expect(job).toMatchObject({ code: 'ACCESS_DENIED' })
    // ORDER BY 6 ranks by the sixth column the session sees (CLEARANCE), never by the hidden salary
    const r = await start('SELECT * FROM EMPLOYEES ORDER BY 6 DESC, 1')
    expect(r.columns).toEqual(['EMPNO', 'NAME', 'POSITION', 'DEPT', 'BRCODE', 'CLEARANCE'])
    expect(r.hiddenColumns).toEqual(['SALARY'])
    const ref = cluster.siteStore('CMB').query('SELECT EMPNO FROM Employees_CMB').rows.length
    expect(r.totalRows).toBeGreaterThanOrEqual(ref)
    const order = r.rows.map((x) => x[5])
    expect(order).toEqual([...order].sort().reverse())
    // a positional GROUP BY / ORDER BY past the visible columns is refused, never resolved to the hidden one
    await expect(start('SELECT * FROM EMPLOYEES ORDER BY 7')).rejects.toMatchObject({ code: expect.stringMatching(/SQL_ERROR|ACCESS_DENIED/) })
    // no SALARY value anywhere in what the session saw
    const secret = salaries(cluster)
    for (const row of r.rows) for (const v of row) if (typeof v === 'number' && v > 1000) expect(secret.has(v)).toBe(false)
  })

  it('SELECT * inside a transaction begun as a session hides exactly what the query console hides', async () => {
    const { run, clerk } = await setup()
    const q = await run('query/run', { site: 'CMB', sql: "SELECT * FROM EMPLOYEES WHERE BRCODE = 'CMB'", session: clerk })
    const { gid } = await run('txn/begin', { site: 'CMB', session: clerk })
    const t = await run('txn/exec', { gid, sql: "SELECT * FROM EMPLOYEES WHERE BRCODE = 'CMB'" })
    expect(t.ok).toBe(true)
    expect(t.rows.length).toBe(q.totalRows)
    for (const row of t.rows) expect(Object.keys(row)).toEqual(q.columns)
    const local = await run('txn/exec', { gid, site: 'CMB', sql: 'SELECT * FROM Employees_CMB' })
    expect(local.ok).toBe(true)
    for (const row of local.rows) expect(Object.keys(row)).not.toContain('SALARY')
    await expect(run('txn/exec', { gid, sql: "SELECT EMPNO, SALARY FROM EMPLOYEES WHERE BRCODE = 'CMB'" })).rejects.toMatchObject({ code: 'ACCESS_DENIED' })
    await run('txn/abort', { gid })
  })
})
