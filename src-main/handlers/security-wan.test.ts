import { describe, expect, it } from 'vitest'
import { Cluster } from '../../engine/cluster'
import { calls } from '../ipc/contract'
import { handlerRig } from '../testing/handler-rig'
import { toErrorInfo } from '../../engine/errors'
import { legacyTopology } from '../../engine/topology/default'

async function setup(legacy = false) {
  const cluster = await Cluster.create({ seed: 61, sales: 50, ...(legacy ? { topology: legacyTopology() } : {}) })
  const { run, emitted } = handlerRig(cluster)
  const fails = async (p: () => Promise<unknown>) => { try { await p() } catch (e) { return toErrorInfo(e) } throw new Error('expected a failure') }
  return { cluster, run, fails, emitted }
}

describe('firewall, intruder drill and packet inspector calls', () => {
  it('firewall rules get/set: validated, per site, bad input changes nothing', async () => {
    const { run, fails, emitted } = await setup()
    const fws = await run('security/firewalls', {})
    expect(fws.map((f) => f.site)).toEqual(['CMB', 'MBI', 'KDY'])
    expect(fws[2].rules).toEqual([{ action: 'allow', from: 'known-sites', service: 'ddbms' }])
    const v = await run('security/setFirewallRules', { site: 'KDY', rules: [{ action: 'deny', from: 'MBI', service: '*' }, { action: 'allow', from: 'known-sites', service: 'ddbms' }] })
    expect(v.rules).toHaveLength(2)
    expect(emitted).toContain('security/changed')
    expect(await fails(() => run('security/setFirewallRules', { site: 'KDY', rules: [{ action: 'allow', from: '*', service: 'gopher' }] }))).toMatchObject({ code: 'BAD_INPUT' })
    expect(await fails(() => run('security/setFirewallRules', { site: 'XYZ', rules: [] }))).toMatchObject({ code: 'UNKNOWN_SITE' })
    expect(await fails(async () => calls['security/setFirewallRules'].input.parse({ site: 'KDY', rules: [{ action: 'maybe', from: '*', service: '*' }] }))).toBeDefined()
    expect((await run('security/firewalls', {}))[2].rules).toHaveLength(2)
  })

  it('the drill: modern probes blocked and ciphertext only; the packet inspector shows sealed frames', async () => {
    const { run } = await setup()
    const r = await run('security/intruderDrill', {})
    expect(r.profile).toBe('modern')
    expect(r.probes.every((p) => p.outcome === 'blocked')).toBe(true)
    expect(r.sniffs.reduce((n, s) => n + s.credentials + s.unitPrices, 0)).toBe(0)
    expect(r.sniffs.reduce((n, s) => n + s.sealed, 0)).toBeGreaterThan(0)
    const fw = await run('security/firewalls', {})
    expect(fw.every((f) => f.blocked === 6 && f.log.length === 6)).toBe(true)
    const packets = await run('security/packets', { link: 'CMB-MBI', limit: 10 })
    expect(packets.length).toBeGreaterThan(0)
    expect(packets.every((p) => p.sealed && !p.kind)).toBe(true)
  })

  it('legacy: the drill reads a credential (redacted) and unit prices in clear; no secret in any answer', async () => {
    const { run } = await setup(true)
    const r = await run('security/intruderDrill', {})
    expect(r.probes.filter((p) => p.outcome === 'open')).toHaveLength(6)
    expect(r.sniffs.reduce((n, s) => n + s.credentials, 0)).toBe(1)
    expect(r.sniffs.reduce((n, s) => n + s.unitPrices, 0)).toBeGreaterThan(0)
    const packets = await run('security/packets', {})
    const text = JSON.stringify(r) + JSON.stringify(packets)
    expect(text).not.toMatch(/drill-[0-9a-f]{12}/) // the drill's password
    expect(text).toContain('credential in clear (redacted)')
  })
})
