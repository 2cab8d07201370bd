/**
 * Logins in the two designs (issue 14: the legacy system had "authentication only at Colombo"). In the legacy
 * design every user is kept at Colombo and a branch's login is the old one — the user name and password in one
 * plain message to Colombo — so an HQ outage stops every branch's logins and the password can be read on the
 * line; in the distributed design a user logs in at their home branch whatever Colombo's state.
 */
import { describe, expect, it } from 'vitest'
import { createDesignCluster } from '../compare'
import { SecurityManager } from './dsm'
import type { EngineError } from '../errors'

const err = (f: () => unknown): EngineError => {
  try { f() } catch (e) { return e as EngineError }
  throw new Error('expected an error')
}

describe('logins: legacy design against distributed', () => {
  it('legacy: a Kandy clerk is kept at Colombo, logs in at Kandy through Colombo in clear, and cannot while Colombo is down', async () => {
    const c = await createDesignCluster('legacy', { sales: 0 })
    const dsm = SecurityManager.of(c)
    dsm.addUser('KDY', 'kdy.clerk', 'kandy-pass-1', 'INTERNAL')
    expect(dsm.users()).toEqual([{ name: 'kdy.clerk', home: 'CMB', clearance: 'INTERNAL', createdAt: expect.any(Number) }])
    expect(c.siteInternals('KDY').primary.count('SEC_USERS')).toBe(0)
    const link = [...c.net.links.keys()].find((id) => id.includes('KDY') && id.includes('CMB'))!
    const mark = c.net.captured(link).length
    const t0 = c.sim.now
    const s = dsm.login('KDY', 'kdy.clerk', 'kandy-pass-1')
    expect(s.home).toBe('CMB')
    expect(s.via).toMatch(/old login.*in clear/)
    expect(c.sim.now - t0, 'the login waited for Colombo over the WAN').toBeGreaterThan(10)
    const frames = c.net.captured(link).slice(mark)
    expect(frames.some((f) => !f.sealed && f.frame.includes(Buffer.from('kandy-pass-1'))), 'the old login sends the password readable on the line').toBe(true)
    expect(err(() => dsm.login('KDY', 'kdy.clerk', 'wrong-password')).code).toBe('AUTH_FAILED')
    c.failSite('CMB')
    expect(err(() => dsm.login('KDY', 'kdy.clerk', 'kandy-pass-1')).code).toMatch(/SITE_DOWN|UNREACHABLE/)
    c.restoreSite('CMB')
    for (const id of c.net.links.keys()) if (id.includes('KDY')) c.failLink(id) // Kandy cut off
    expect(err(() => dsm.login('KDY', 'kdy.clerk', 'kandy-pass-1')).code).toMatch(/UNREACHABLE/)
  })

  it('distributed: the same clerk is kept at Kandy and logs in there while Colombo is down; the password never crosses a link', async () => {
    const c = await createDesignCluster('distributed', { sales: 0 })
    const dsm = SecurityManager.of(c)
    dsm.addUser('KDY', 'kdy.clerk', 'kandy-pass-1', 'INTERNAL')
    expect(dsm.users()[0].home).toBe('KDY')
    const marks = new Map([...c.net.links.keys()].map((id) => [id, c.net.captured(id).length]))
    c.failSite('CMB')
    const s = dsm.login('KDY', 'kdy.clerk', 'kandy-pass-1')
    expect(s.home).toBe('KDY')
    for (const [id, m] of marks) expect(c.net.captured(id).slice(m).some((f) => f.frame.includes(Buffer.from('kandy-pass-1')))).toBe(false)
  })
})
