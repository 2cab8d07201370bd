import { describe, expect, it } from 'vitest'
import { runScenario } from '../scenario/runner'
import '../scenario/plugins'
import { Cluster } from '../cluster'
import { defaultTopology, legacyTopology, validateTopology } from '../topology/default'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { inspectPackets, redact } from './inspector'
import { probeSite } from './intruder'
import { firewallView, setFirewallRules } from './firewall'

describe('an intruder on the WAN', () => {
  it('modern profile: every probe is blocked and logged by the firewalls, and the links carry only ciphertext', async () => {
    const r = await runScenario(`
      seed 9
      sales 50
      user add clerk at KDY clearance INTERNAL password "clerk-pass-1"
      intruder drill
      expect probes blocked all
      expect sniffed ciphertext
      expect credentials 0
      expect unitprices none
      login clerk at CMB home KDY password "clerk-pass-1"
      intruder sniff CMB-KDY
      expect sniffed ciphertext
      intruder tamper CMB-KDY
      as operator
      query CMB SELECT STOCKCODE, UNITPRICE FROM STOCK_KDY LIMIT 3
      expect error UNREACHABLE
      expect rejected CMB-KDY 1
      intruder replay CMB-KDY
      expect rejected CMB-KDY 2
    `)
    expect(r.failed).toBeUndefined()
    expect(r.ok).toBe(true)
  })

  it('legacy profile: the same intruder reaches the services and reads a credential and unit prices in clear', async () => {
    const r = await runScenario(`
      profile legacy
      seed 9
      sales 50
      intruder drill
      expect probes blocked 0
      expect probes open 6
      expect sniffed plaintext
      expect credentials 1
      expect unitprices some
    `)
    expect(r.failed).toBeUndefined()
    expect(r.ok).toBe(true)
  })

  it('the rule table decides: a rule admitting ssh from the intruder opens it at that site only; bad rules change nothing', async () => {
    const c = await Cluster.create({ seed: 10, sales: 0 })
    expect(probeSite(c, 'KDY').every((p) => p.outcome === 'blocked')).toBe(true)
    expect(firewallView(c, 'KDY').blocked).toBe(6)
    expect(firewallView(c, 'KDY').log[0]).toMatchObject({ site: 'KDY', from: '203.0.113.66', rule: 'default deny inbound' })
    setFirewallRules(c, 'KDY', [{ action: 'allow', from: '203.0.113.66', service: 'ssh' }, { action: 'allow', from: 'known-sites', service: 'ddbms' }])
    const p = probeSite(c, 'KDY')
    expect(p.filter((x) => x.outcome !== 'blocked').map((x) => `${x.service}:${x.outcome}`)).toEqual(['ssh:open'])
    expect(probeSite(c, 'CMB').every((x) => x.outcome === 'blocked')).toBe(true)
    const before = JSON.stringify(firewallView(c, 'KDY').rules)
    expect(() => setFirewallRules(c, 'KDY', [{ action: 'allow', from: '*', service: 'nfs' }])).toThrow(/service must be/)
    expect(() => setFirewallRules(c, 'KDY', 'everything')).toThrow(/list/)
    expect(JSON.stringify(firewallView(c, 'KDY').rules)).toBe(before)
    // denying ddbms from MBI cuts MBI's DDBMS traffic to KDY (FIREWALL_BLOCKED), not CMB's
    setFirewallRules(c, 'KDY', [{ action: 'deny', from: 'MBI', service: 'ddbms' }, { action: 'allow', from: 'known-sites', service: 'ddbms' }])
    expect(c.net.admits('MBI', 'KDY')).toBe(false)
    expect(c.net.admits('CMB', 'KDY')).toBe(true)
  })

  it('the packet inspector shows headers, sizes and ciphertext, and in the legacy plaintext never a secret', async () => {
    const c = await Cluster.create({ seed: 12, sales: 0, topology: legacyTopology() })
    const r = await runScenario('intruder drill', { cluster: c })
    expect(r.ok).toBe(true)
    const packets = inspectPackets(c)
    const login = packets.find((p) => p.kind?.split(', ').includes('legacy.login'))!
    expect(login.sealed).toBe(false)
    expect(login.secrets).toContain('password')
    expect(login.excerpt).toContain('credential in clear (redacted)')
    expect(login.excerpt).not.toMatch(/drill-[0-9a-f]{12}/)
    expect(packets.some((p) => p.kind?.split(', ').includes('dqp.result') && /UNITPRICE/.test(p.excerpt))).toBe(true)

    const m = await Cluster.create({ seed: 12, sales: 0 })
    await runScenario('intruder drill', { cluster: m })
    const sealed = inspectPackets(m)
    expect(sealed.length).toBeGreaterThan(0)
    for (const p of sealed) { expect(p.sealed).toBe(true); expect(p.kind).toBeUndefined(); expect(p.header).toMatch(/^ID v1 sealed seq=\d+ len=\d+$/); expect(p.excerpt).toMatch(/^[0-9a-f]+…?$/) }
    expect(() => inspectPackets(m, 'XXX-YYY')).toThrow(/unknown link/)
  })

  it('a rule table survives a close and reopen of a persisted cluster; a damaged one is refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'iddb-fw-'))
    try {
      let c = await Cluster.create({ seed: 13, sales: 0, dataDir: join(dir, 'd') })
      setFirewallRules(c, 'MBI', [{ action: 'deny', from: '*', service: 'ddbms' }])
      c.close()
      c = await Cluster.open(join(dir, 'd'))
      expect(firewallView(c, 'MBI').rules).toEqual([{ action: 'deny', from: '*', service: 'ddbms' }])
      expect(c.net.admits('CMB', 'MBI')).toBe(false)
      c.close()
    } finally { rmSync(dir, { recursive: true, force: true }) }
    const t = defaultTopology()
    t.firewalls.KDY.rules = [{ action: 'allow', from: '*', service: 'gopher' }]
    expect(() => validateTopology(t)).toThrow(/firewall rules of KDY/)
  })

  it('the same seed and intruder script give the same trace hash', async () => {
    const script = 'seed 21\nsales 20\nintruder drill\nintruder tamper CMB-MBI\nquery CMB SELECT COUNT(*) FROM STOCK_MBI\nintruder replay CMB-KDY'
    const a = await runScenario(script), b = await runScenario(script), c = await runScenario(script.replace('seed 21', 'seed 22'))
    expect(a.traceHash).toBe(b.traceHash)
    expect(c.traceHash).not.toBe(a.traceHash)
  })

  it('redaction covers secrets in JSON, in cut-off JSON and as long hex strings', () => {
    expect(redact('{"user":"a","password":"hunter22","nested":{"token":"t"}}')).toEqual({ text: '{"user":"a","password":"‹credential in clear (redacted)›","nested":{"token":"‹credential in clear (redacted)›"}}', secrets: ['password', 'token'] })
    expect(redact('{"user":"a","password":"hunt').text).not.toContain('hunt')
    expect(redact('session 0123456789abcdef0123456789abcdef ok').text).toBe('session ‹hex redacted› ok')
  })
})
