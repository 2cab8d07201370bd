/**
 * Multi-level security through the IPC handlers (issue 13, breaks 1 and 5): what a session reads is checked
 * on what the statement reads (not on result names), in the query console, inside a transaction and in the
 * catalog calls; the security tables never cross IPC.
 */
import { describe, expect, it } from 'vitest'
import { Cluster } from '../../engine/cluster'
import { handlerRig } from '../testing/handler-rig'
import { SecurityManager } from '../../engine/security/dsm'

async function setup(sales = 60) {
  const cluster = await Cluster.create({ seed: 41, sales })
  const { ctx, run } = handlerRig(cluster)
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
    await expect(start('SELECT STOCKCODE, ITEMNO, QTY, QTY AS P, LASTIN, NEXTIN FROM STOCK_CMB WHERE 0 UNION ALL SELECT * FROM STOCK_CMB')).rejects.toMatchObject({ code: 'ACCESS_DENIED' })
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

describe('MLS on the catalog and data calls (break 5)', () => {
  const col = (t: { columns: string[]; rows: unknown[][] }, row: unknown[], name: string) => row[t.columns.indexOf(name)]

  it('catalog/local: key ranges are labelled like their column, row counts like their relation', async () => {
    const { run, clerk, cluster } = await setup()
    const dsm = SecurityManager.of(cluster)
    dsm.addUser('CMB', 'guest', 'guest-pass-1', 'PUBLIC')
    const guest = dsm.login('CMB', 'guest', 'guest-pass-1').token
    const op = await run('catalog/local', { site: 'CMB' })
    const salaryRow = (v: typeof op) => v.columns.rows.find((r) => r[0] === 'SALARY')!
    expect(col(op.columns, salaryRow(op), 'HKEY')).not.toBeNull() // the operator is trusted
    const asClerk = await run('catalog/local', { site: 'CMB', session: clerk })
    expect(col(asClerk.columns, salaryRow(asClerk), 'HKEY')).toBeNull()
    expect(col(asClerk.columns, salaryRow(asClerk), 'LKEY')).toBeNull()
    for (const r of asClerk.columns.rows.filter((x) => x[0] === 'UNITPRICE' && String(x[1]).startsWith('Stock'))) expect([r[4], r[5]]).toEqual([null, null])
    const empno = asClerk.columns.rows.find((r) => r[0] === 'EMPNO' && String(r[1]).startsWith('Employees'))!
    expect(col(asClerk.columns, empno, 'HKEY')).not.toBeNull()
    const asGuest = await run('catalog/local', { site: 'CMB', session: guest })
    const emp = asGuest.tables.rows.find((r) => String(r[0]).startsWith('Employees'))!
    expect(col(asGuest.tables, emp, 'NUM_ROWS')).toBeNull()
    expect(JSON.stringify(op)).not.toContain('SEC_USERS')
    const frag = await run('catalog/fragments', { session: guest })
    expect(frag.relations.find((r) => r.name === 'EMPLOYEES')!.fragments.every((f) => f.nrows === null)).toBe(true)
    expect(frag.relations.find((r) => r.name === 'ITEMS')!.fragments.some((f) => f.nrows !== null)).toBe(true)
    const glob = await run('catalog/global', { session: guest })
    expect(glob.fragments.rows.filter((r) => String(r[1]) === 'EMPLOYEES').every((r) => r[3] === null)).toBe(true)
    await expect(run('catalog/local', { site: 'CMB', session: 'f'.repeat(32) })).rejects.toMatchObject({ code: 'AUTH_FAILED' })
  })

  it('data/browse: columns above the level are not read, relations above it are refused, security tables are shown to nobody', async () => {
    const { run, clerk, cluster } = await setup()
    const page = await run('data/browse', { site: 'CMB', table: 'Employees_CMB', session: clerk })
    expect(page.columns).not.toContain('SALARY')
    expect(page.hiddenColumns).toEqual(['SALARY'])
    const secret = salaries(cluster)
    for (const row of page.rows) for (const v of row) expect(typeof v === 'number' && secret.has(v) && v > 1000).toBe(false)
    await expect(run('data/browse', { site: 'CMB', table: 'Employees_CMB', orderBy: 'SALARY', session: clerk })).rejects.toMatchObject({ code: 'ACCESS_DENIED' })
    expect((await run('data/browse', { site: 'CMB', table: 'Employees_CMB' })).columns).toContain('SALARY') // the operator is trusted
    for (const session of [undefined, clerk]) {
      for (const server of ['primary', 'backup'] as const) {
        await expect(run('data/browse', { site: 'CMB', table: 'SEC_USERS', server, ...(session ? { session } : {}) })).rejects.toMatchObject({ code: 'ACCESS_DENIED' })
      }
    }
    const lcat = await run('data/browse', { site: 'CMB', table: 'LCAT_COLUMNS', limit: 1000, session: clerk })
    const sal = lcat.rows.find((r) => r[0] === 'SALARY')!
    expect([sal[lcat.columns.indexOf('HKEY')], sal[lcat.columns.indexOf('LKEY')]]).toEqual([null, null])
    const stock = await run('data/browse', { site: 'CMB', table: 'Stock_CMB', session: clerk })
    expect(stock.columns).not.toContain('UNITPRICE')
  })

  it('catalog/check: failing rows never show a value above the session level', async () => {
    const { run, clerk, cluster } = await setup(0)
    // a tuple that violates Employees_CMB's predicate, with a salary nobody below SECRET may see
    cluster.siteStore('CMB').exec("INSERT INTO Employees_CMB (EMPNO, NAME, POSITION, DEPT, BRCODE, SALARY, CLEARANCE) VALUES (99001, 'Probe', 'Clerk', 'Sales', 'KDY', 987654.32, 1)")
    cluster.settle()
    const op = await run('catalog/check', { relation: 'EMPLOYEES' })
    expect(op.ok).toBe(false)
    expect(JSON.stringify(op)).toContain('987654.32')
    const asClerk = await run('catalog/check', { relation: 'EMPLOYEES', session: clerk })
    expect(asClerk.ok).toBe(false)
    expect(asClerk.results.some((r) => r.failing.some((f) => f.key[0] === 99001))).toBe(true)
    expect(JSON.stringify(asClerk)).not.toContain('987654')
  })
})
