import { describe, expect, it } from 'vitest'
import { runScenario } from '../scenario/runner'
import './scenario'

describe('security commands in the scenario language', () => {
  it('users, local and remote logins, no read up, no write down, plain-text links refused', async () => {
    const r = await runScenario(`
      seed 5
      sales 300
      user add clerk at KDY clearance INTERNAL password "clerk-pass-1"
      user add boss at CMB clearance SECRET password "boss-pass-123"
      login clerk at KDY password wrong-password
      expect error AUTH_FAILED
      login clerk at KDY password "clerk-pass-1"
      query KDY SELECT * FROM EMPLOYEES WHERE EMPNO < 0
      expect hidden SALARY
      expect columns EMPNO,NAME,POSITION,DEPT,BRCODE,CLEARANCE
      query KDY SELECT NAME, SALARY FROM EMPLOYEES
      expect error ACCESS_DENIED
      query KDY SELECT COUNT(*) FROM V_STAFF_DIRECTORY
      expect value 102
      query KDY UPDATE ITEMS SET DESCRIPTION = 'x' WHERE ITEMNO = 1
      expect error ACCESS_DENIED
      login boss at KDY home CMB password "boss-pass-123"
      query KDY SELECT MAX(SALARY) FROM EMPLOYEES
      expect rows 1
      as operator
      query KDY SELECT COUNT(*) FROM EMPLOYEES WHERE SALARY > 0
      expect value 102
      logout clerk
      fail link CMB-KDY
      fail link MBI-KDY
      login boss at KDY home CMB password "boss-pass-123"
      expect error UNREACHABLE
    `)
    expect(r.failed).toBeUndefined()
    expect(r.ok).toBe(true)
    expect(r.lines.map((l) => l.message ?? '').join('\n')).toMatch(/boss logged in at KDY \(SECRET; checked by CMB over CMB-KDY \(encrypted\)\)/)
  })

  it('the legacy network: a remote login is refused because the link is plain text', async () => {
    const r = await runScenario(`
      profile legacy
      sales 0
      user add clerk at KDY clearance INTERNAL password "clerk-pass-1"
      login clerk at CMB home KDY password "clerk-pass-1"
      expect error ACCESS_DENIED
      login clerk at KDY password "clerk-pass-1"
    `)
    expect(r.ok).toBe(true)
  })
})
