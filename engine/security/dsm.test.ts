import { describe, it, expect } from 'vitest'
import { Cluster } from '../cluster'
import { SecurityManager } from './dsm'
import { legacyTopology } from '../topology/default'
import { dqpFor } from '../query/dqp'
import type { EngineError } from '../errors'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const err = (f: () => unknown): EngineError => {
  try { f() } catch (e) { return e as EngineError }
  throw new Error('expected an error')
}

describe('distributed security manager: users at their home site, local authentication', () => {
  it('keeps a salted hash at the home site (and its backup), never the password, never at other sites', async () => {
    const c = await Cluster.create({ seed: 31, sales: 0 })
    const dsm = SecurityManager.of(c)
    dsm.addUser('KDY', 'nimal', 'kandy-pass-1', 'INTERNAL')
    c.settle()
    expect(dsm.users()).toEqual([{ name: 'nimal', home: 'KDY', clearance: 'INTERNAL', createdAt: expect.any(Number) }])
    const kdy = c.siteInternals('KDY')
    expect(kdy.backup.query('SELECT USERNAME, CLEARANCE FROM SEC_USERS').rows).toEqual([['nimal', 'INTERNAL']])
    for (const db of [kdy.primary, kdy.backup]) expect(Buffer.from(db.export()).includes(Buffer.from('kandy-pass-1'))).toBe(false)
    expect(c.siteInternals('CMB').primary.hasTable('SEC_USERS')).toBe(true)
    expect(c.siteInternals('CMB').primary.count('SEC_USERS')).toBe(0)
    expect(c.siteInternals('CMB').repository!.hasTable('SEC_USERS')).toBe(false)
    expect(err(() => dsm.addUser('CMB', 'nimal', 'another-pass', 'PUBLIC')).code).toBe('CONFLICT')
    expect(err(() => dsm.addUser('CMB', 'x', 'short', 'PUBLIC')).code).toBe('BAD_INPUT')
    expect(err(() => dsm.addUser('CMB', 'kamal', 'long-enough', 'TOP')).code).toBe('BAD_INPUT')
    // global SQL has no name for it
    const dqp = await dqpFor(c)
    await expect(dqp.run('KDY', 'SELECT * FROM SEC_USERS')).rejects.toThrow()
  })

  it('users survive a close and reopen of a persisted cluster, and a recovery of the primary from its backup', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'iddb-sec-'))
    try {
      let c = await Cluster.create({ seed: 36, sales: 0, dataDir: join(dir, 'd') })
      SecurityManager.of(c).addUser('MBI', 'priya', 'mumbai-pass-1', 'CONFIDENTIAL')
      c.settle()
      c.close()
      c = await Cluster.open(join(dir, 'd'))
      expect(SecurityManager.of(c).login('MBI', 'priya', 'mumbai-pass-1').clearance).toBe('CONFIDENTIAL')
      c.recoverFromBackup('MBI')
      expect(SecurityManager.of(c).login('MBI', 'priya', 'mumbai-pass-1').user).toBe('priya')
      c.close()
    } finally { rmSync(dir, { recursive: true, force: true }) }
  })

  it('checks passwords at the user’s site, locks out after five failures, and audits without secrets', async () => {
    const c = await Cluster.create({ seed: 32, sales: 0 })
    const dsm = SecurityManager.of(c)
    dsm.addUser('KDY', 'nimal', 'kandy-pass-1', 'CONFIDENTIAL')
    expect(err(() => dsm.login('KDY', 'nimal', 'wrong-pass')).code).toBe('AUTH_FAILED')
    expect(err(() => dsm.login('KDY', 'nobody', 'kandy-pass-1')).message).toBe('wrong user name or password')
    const s = dsm.login('KDY', 'nimal', 'kandy-pass-1', { level: 'INTERNAL' })
    expect(s).toMatchObject({ user: 'nimal', site: 'KDY', home: 'KDY', clearance: 'CONFIDENTIAL', level: 'INTERNAL', via: 'checked at KDY' })
    expect(s.token).toMatch(/^[0-9a-f]{32}$/)
    expect(err(() => dsm.login('KDY', 'nimal', 'kandy-pass-1', { level: 'SECRET' })).code).toBe('ACCESS_DENIED')
    for (let i = 0; i < 5; i++) err(() => dsm.login('KDY', 'nimal', 'bad'))
    expect(err(() => dsm.login('KDY', 'nimal', 'kandy-pass-1')).message).toMatch(/locked out/)
    c.sim.advance(61_000)
    expect(dsm.login('KDY', 'nimal', 'kandy-pass-1').user).toBe('nimal')
    const audit = JSON.stringify(dsm.state().audit)
    expect(audit).toContain('wrong user name or password')
    expect(audit).not.toContain('kandy-pass-1')
    expect(audit).not.toContain(s.token)
    expect(JSON.stringify(dsm.state().sessions)).not.toContain(s.token)
    dsm.logout(s.token)
    expect(err(() => dsm.authorize(s.token, 'KDY', 'SELECT 1')).code).toBe('AUTH_FAILED')
    // the operator resets a password: the old one stops working, sessions close, a lockout is lifted
    const s2 = dsm.login('KDY', 'nimal', 'kandy-pass-1')
    for (let i = 0; i < 5; i++) err(() => dsm.login('KDY', 'nimal', 'bad'))
    dsm.setPassword('KDY', 'nimal', 'new-kandy-pass')
    expect(err(() => dsm.authorize(s2.token, 'KDY', 'SELECT 1')).code).toBe('AUTH_FAILED')
    expect(err(() => dsm.login('KDY', 'nimal', 'kandy-pass-1')).code).toBe('AUTH_FAILED')
    expect(dsm.login('KDY', 'nimal', 'new-kandy-pass').user).toBe('nimal')
    expect(err(() => dsm.setPassword('KDY', 'nobody', 'whatever-123')).code).toBe('NOT_FOUND')
    expect(err(() => dsm.setPassword('KDY', 'nimal', 'short')).code).toBe('BAD_INPUT')
  })

  it('a user logging in at another site is checked by the home site over the encrypted WAN, never over plain text', async () => {
    const c = await Cluster.create({ seed: 33, sales: 0 })
    const dsm = SecurityManager.of(c)
    dsm.addUser('KDY', 'nimal', 'kandy-pass-1', 'INTERNAL')
    const s = dsm.login('CMB', 'nimal', 'kandy-pass-1', { home: 'KDY' })
    expect(s.via).toBe('checked by KDY over CMB-KDY (encrypted)')
    expect(s.virtualMs).toBeGreaterThan(2 * 4) // there and back over the 4 ms link
    expect(err(() => dsm.login('CMB', 'nimal', 'wrong-pass', { home: 'KDY' })).code).toBe('AUTH_FAILED')
    c.failSite('KDY')
    expect(err(() => dsm.login('CMB', 'nimal', 'kandy-pass-1', { home: 'KDY' })).code).toMatch(/UNREACHABLE|SITE_DOWN/)

    const legacy = await Cluster.create({ seed: 34, sales: 0, topology: legacyTopology() })
    const d2 = SecurityManager.of(legacy)
    d2.addUser('KDY', 'nimal', 'kandy-pass-1', 'INTERNAL')
    const e = err(() => d2.login('CMB', 'nimal', 'kandy-pass-1', { home: 'KDY' }))
    expect(e.code).toBe('ACCESS_DENIED')
    expect(e.message).toMatch(/not encrypted/)
    expect(d2.login('KDY', 'nimal', 'kandy-pass-1').via).toBe('checked at KDY') // at home it still works
  })
})

describe('multi-level security: no read up, no write down', () => {
  async function setup() {
    const c = await Cluster.create({ seed: 35, sales: 50 })
    const dsm = SecurityManager.of(c)
    dsm.addUser('KDY', 'clerk', 'clerk-pass-1', 'INTERNAL')
    dsm.addUser('KDY', 'boss', 'boss-pass-12', 'SECRET')
    return { c, dsm, clerk: dsm.login('KDY', 'clerk', 'clerk-pass-1').token, boss: dsm.login('KDY', 'boss', 'boss-pass-12', { level: 'CONFIDENTIAL' }).token, secret: dsm.login('KDY', 'boss', 'boss-pass-12').token }
  }

  it('reads: named columns above the session level are refused, a star leaves them out, views are checked through', async () => {
    const { dsm, clerk, boss, secret } = await setup()
    expect([...dsm.authorize(clerk, 'KDY', 'SELECT * FROM EMPLOYEES').hidden]).toEqual(['SALARY'])
    expect([...dsm.authorize(clerk, 'KDY', 'SELECT * FROM STOCK_KDY').hidden]).toEqual(['UNITPRICE'])
    expect(dsm.authorize(clerk, 'KDY', 'SELECT NAME, DEPT FROM V_STAFF_DIRECTORY').hidden.size).toBe(0)
    const e = err(() => dsm.authorize(clerk, 'KDY', 'SELECT NAME, SALARY FROM EMPLOYEES'))
    expect(e.code).toBe('ACCESS_DENIED')
    expect(e.message).toBe("no read up: EMPLOYEES.SALARY is SECRET; clerk's session runs at INTERNAL")
    // a predicate or an aggregate over a secret column reads it too
    expect(err(() => dsm.authorize(clerk, 'KDY', 'SELECT COUNT(*) FROM Employees_KDY WHERE SALARY > 100000')).code).toBe('ACCESS_DENIED')
    expect(err(() => dsm.authorize(clerk, 'KDY', 'SELECT x FROM (SELECT MAX(e.SALARY) AS x FROM EMPLOYEES e) t')).code).toBe('ACCESS_DENIED')
    expect(err(() => dsm.authorize(boss, 'KDY', 'SELECT SALARY FROM EMPLOYEES')).code).toBe('ACCESS_DENIED')
    expect(dsm.authorize(boss, 'KDY', 'SELECT UNITPRICE FROM Stock_KDY').hidden.size).toBe(0)
    expect(dsm.authorize(secret, 'KDY', 'SELECT SALARY FROM EMPLOYEES').hidden.size).toBe(0)
    // sessions issue requests at their own site only; the operator (no session) is trusted
    expect(err(() => dsm.authorize(clerk, 'CMB', 'SELECT * FROM ITEMS')).code).toBe('ACCESS_DENIED')
    expect(dsm.authorize(undefined, 'CMB', 'SELECT SALARY FROM EMPLOYEES').user).toBeNull()
  })

  it('writes: from the session level up to the clearance, never down', async () => {
    const { dsm, clerk, boss, secret } = await setup()
    expect(dsm.authorize(clerk, 'KDY', "UPDATE Stock_KDY SET QTY = QTY - 1 WHERE STOCKCODE = 'x'").user).toBe('clerk')
    expect(err(() => dsm.authorize(clerk, 'KDY', 'UPDATE Stock_KDY SET UNITPRICE = 1')).message).toBe('clerk is cleared to INTERNAL; STOCK_KDY.UNITPRICE is CONFIDENTIAL')
    expect(err(() => dsm.authorize(clerk, 'KDY', "INSERT INTO ITEMS (ITEMNO, DESCRIPTION) VALUES (9999, 'x')")).message).toMatch(/^no write down: ITEMS.ITEMNO is PUBLIC/)
    expect(dsm.authorize(boss, 'KDY', "UPDATE Stock_KDY SET UNITPRICE = 12 WHERE STOCKCODE = 'x'").user).toBe('boss')
    expect(err(() => dsm.authorize(boss, 'KDY', "UPDATE Stock_KDY SET QTY = 1 WHERE STOCKCODE = 'x'")).code).toBe('ACCESS_DENIED')
    expect(err(() => dsm.authorize(secret, 'KDY', "DELETE FROM Sales_KDY WHERE INVNO = 1")).code).toBe('ACCESS_DENIED')
    expect(dsm.state().audit.filter((a) => a.action === 'refused').length).toBeGreaterThanOrEqual(4)
  })
})
