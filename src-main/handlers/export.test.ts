/** Export of a whole result as CSV / JSON through the handlers, in chunks, as a job. */
import { describe, expect, it } from 'vitest'
import { Cluster } from '../../engine/cluster'
import { handlerRig } from '../testing/handler-rig'
import { EXPORT_CHUNK_ROWS, formatRows } from './export'
import { SecurityManager } from '../../engine/security/dsm'

/** A cluster and a handler runner acting as the local administrator. */
async function setup(sales: number) {
  const cluster = await Cluster.create({ seed: 4, sales })
  const { run } = handlerRig(cluster)
  return { cluster, run }
}

describe('query/export', () => {
  it('formats CSV with quoting and JSON as one array across chunks', () => {
    const cols = ['A', 'B']
    expect(formatRows('csv', cols, [[1, 'x,y'], [null, 'say "hi"']], true, true)).toBe('A,B\r\n1,"x,y"\r\n,"say ""hi"""\r\n')
    const json = formatRows('json', cols, [[1, 'a']], true, false) + formatRows('json', cols, [[2, null]], false, true)
    expect(JSON.parse(json)).toEqual([{ A: 1, B: 'a' }, { A: 2, B: null }])
    expect(JSON.parse(formatRows('json', cols, [], true, true))).toEqual([])
  })

  it('exports every row (past the grid cap) in chunks; the last fetch frees it', async () => {
    const { run } = await setup(600)
    // 600 sales × every item: more rows than one chunk, and than the grid holds
    const items = Number((await run('query/run', { site: 'CMB', sql: 'SELECT COUNT(*) FROM ITEMS WHERE ITEMNO > 0' })).rows[0][0])
    const want = 600 * items
    expect(want).toBeGreaterThan(100_000)
    const job = await run('query/export', { site: 'CMB', sql: 'SELECT s.INVNO, i.ITEMNO FROM SALES s, ITEMS i WHERE i.ITEMNO > 0', format: 'csv' })
    const first = await run('query/exportChunk', { jobId: job.id, index: 0 })
    expect(first.rows).toBe(want)
    expect(first.chunks).toBe(Math.ceil(want / EXPORT_CHUNK_ROWS))
    let text = first.data
    for (let i = 1; i < first.chunks; i++) text += (await run('query/exportChunk', { jobId: job.id, index: i })).data
    const lines = text.trimEnd().split('\r\n')
    expect(lines[0]).toBe('INVNO,ITEMNO')
    expect(lines).toHaveLength(want + 1)
    await expect(run('query/exportChunk', { jobId: job.id, index: 0 })).rejects.toMatchObject({ code: 'NOT_FOUND' })
    await expect(run('query/export', { site: 'CMB', sql: 'SELECT * FROM NOPE', format: 'json' }).then((j) => run('query/exportChunk', { jobId: j.id, index: 0 }))).rejects.toMatchObject({ code: expect.any(String) })
  })

  it('an export reads what the query would: a session never exports a column above its level, and a write is not exported', async () => {
    const { cluster, run } = await setup(60)
    const dsm = SecurityManager.of(cluster)
    dsm.addUser('CMB', 'clerk', 'clerk-pass-1', 'INTERNAL')
    const session = dsm.login('CMB', 'clerk', 'clerk-pass-1').token
    const salaries = cluster.siteStore('CMB').query('SELECT SALARY FROM Employees_CMB').rows.map((r) => String(r[0]))
    const job = await run('query/export', { site: 'CMB', sql: 'SELECT * FROM EMPLOYEES', session, format: 'csv' })
    const text = (await run('query/exportChunk', { jobId: job.id, index: 0 })).data
    const [head, ...lines] = text.trimEnd().split('\r\n')
    expect(head.split(',')).not.toContain('SALARY')
    expect(lines.length).toBeGreaterThan(0)
    for (const l of lines) for (const v of l.split(',')) expect(salaries).not.toContain(v)
    await expect(run('query/export', { site: 'CMB', sql: 'SELECT NAME, SALARY FROM EMPLOYEES', session, format: 'csv' })).rejects.toMatchObject({ code: 'ACCESS_DENIED' })
    await expect(run('query/export', { site: 'CMB', sql: 'UPDATE ITEMS SET DESCRIPTION = 1', format: 'csv' })).rejects.toMatchObject({ code: 'BAD_INPUT' })
  })
})
