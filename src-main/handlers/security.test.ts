import { describe, expect, it } from 'vitest'
import { Cluster } from '../../engine/cluster'
import { calls } from '../ipc/contract'
import { handlerRig } from '../testing/handler-rig'
import { toErrorInfo } from '../../engine/errors'

async function setup() {
  const cluster = await Cluster.create({ seed: 41, sales: 300 })
  const { ctx, run, emitted } = handlerRig(cluster)
  const fails = async (p: Promise<unknown>) => { try { await p } catch (e) { return toErrorInfo(e) } throw new Error('expected a failure') }
  return { cluster, ctx, run, fails, emitted }
}

describe('security handlers and queries run as a session', () => {
  it('add a user, log in (wrong password refused), query with the session: a star hides what is above its level', async () => {
    const { run, fails, emitted } = await setup()
    await run('security/addUser', { site: 'KDY', user: 'clerk', password: 'clerk-pass-1', clearance: 'INTERNAL' })
    expect(emitted).toContain('security/changed')
    expect(await fails(run('security/login', { site: 'KDY', user: 'clerk', password: 'nope-nope' }))).toMatchObject({ code: 'AUTH_FAILED', message: 'wrong user name or password' })
    const s = await run('security/login', { site: 'KDY', user: 'clerk', password: 'clerk-pass-1' })
    expect(s.level).toBe('INTERNAL')
    const state = await run('security/state', {})
    expect(state.sessions.map((x) => x.id)).toEqual([s.id])
    expect(JSON.stringify(state)).not.toContain(s.token)

    const all = await run('query/run', { site: 'KDY', sql: 'SELECT * FROM EMPLOYEES ORDER BY EMPNO' })
    expect(all.columns).toContain('SALARY')
    const mine = await run('query/run', { site: 'KDY', sql: 'SELECT * FROM EMPLOYEES ORDER BY EMPNO', session: s.token })
    expect(mine.user).toBe('clerk')
    expect(mine.level).toBe('INTERNAL')
    expect(mine.hiddenColumns).toEqual(['SALARY'])
    expect(mine.columns).toEqual(all.columns.filter((c) => c !== 'SALARY'))
    expect(mine.rows[0]).toEqual(all.rows[0].filter((_, i) => all.columns[i] !== 'SALARY'))
    expect(mine.totalRows).toBe(all.totalRows)

    emitted.length = 0
    const denied = await fails(run('query/run', { site: 'KDY', sql: 'SELECT AVG(SALARY) FROM EMPLOYEES', session: s.token }))
    expect(denied).toMatchObject({ code: 'ACCESS_DENIED' })
    expect(denied.message).toMatch(/no read up: EMPLOYEES.SALARY is SECRET/)
    expect(emitted).toContain('security/changed')
    expect((await run('security/state', {})).audit[0]).toMatchObject({ user: 'clerk', action: 'refused', ok: false })
    expect(await fails(run('query/start', { site: 'CMB', sql: 'SELECT * FROM ITEMS', session: s.token }))).toMatchObject({ code: 'ACCESS_DENIED' })
    // a write below the session level is refused before anything changes
    const before = await run('query/run', { site: 'KDY', sql: 'SELECT COUNT(*) FROM ITEMS' })
    expect(await fails(run('query/run', { site: 'KDY', sql: "UPDATE ITEMS SET DESCRIPTION = 'x' WHERE ITEMNO = 1", session: s.token }))).toMatchObject({ code: 'ACCESS_DENIED' })
    expect((await run('query/run', { site: 'KDY', sql: 'SELECT COUNT(*) FROM ITEMS' })).rows).toEqual(before.rows)

    await run('security/logout', { session: s.token })
    expect(await fails(run('query/run', { site: 'KDY', sql: 'SELECT 1', session: s.token }))).toMatchObject({ code: 'AUTH_FAILED' })
  })

  it('a transaction begun as a session has each statement checked before it runs', async () => {
    const { run, fails } = await setup()
    await run('security/addUser', { site: 'KDY', user: 'clerk', password: 'clerk-pass-1', clearance: 'INTERNAL' })
    const s = await run('security/login', { site: 'KDY', user: 'clerk', password: 'clerk-pass-1' })
    expect(await fails(run('txn/begin', { site: 'CMB', session: s.token }))).toMatchObject({ code: 'ACCESS_DENIED' })
    const { gid } = await run('txn/begin', { site: 'KDY', session: s.token })
    const denied = await fails(run('txn/exec', { gid, sql: 'UPDATE Employees_KDY SET SALARY = 1 WHERE EMPNO = 3001', site: 'KDY' }))
    expect(denied).toMatchObject({ code: 'ACCESS_DENIED', message: 'clerk is cleared to INTERNAL; EMPLOYEES.SALARY is SECRET' })
    const ok = await run('txn/exec', { gid, sql: "SELECT NAME FROM Employees_KDY WHERE EMPNO = 3001", site: 'KDY' })
    expect(ok.ok).toBe(true)
    expect((await run('txn/commit', { gid })).outcome).toBe('COMMIT')
  })

  it('bad input is refused at the boundary', () => {
    expect(() => calls['security/login'].input.parse({ site: 'KDY', user: 'x', password: '' })).toThrow()
    expect(() => calls['security/addUser'].input.parse({ site: 'KDY', user: 'x', password: 'long-enough', clearance: 'TOPSECRET' })).toThrow()
    expect(() => calls['query/run'].input.parse({ site: 'KDY', sql: 'SELECT 1', session: 'not-a-token' })).toThrow()
  })
})
