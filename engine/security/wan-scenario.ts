/**
 * Scenario-language commands for the WAN's defences (engine/security/{firewall,intruder}.ts):
 *   intruder probe SITE|all          connection attempts to every service of the router(s)
 *   intruder sniff LINK|all          read every frame that crossed the link(s)
 *   intruder drill                   probe all routers, make WAN traffic (a login, a unit-price query), sniff all links
 *   intruder tamper LINK [N]         flip a byte in the next N frames crossing LINK
 *   intruder replay LINK             re-send the newest frame captured on LINK
 *   firewall allow|deny SERVICE from HOST at SITE     put a rule first in SITE's table (SERVICE or *, HOST, known-sites or *)
 *   firewall reset SITE              back to the default table (allow ddbms from known-sites)
 * Expectations: expect probes blocked N|all · expect probes open N · expect sniffed ciphertext|plaintext ·
 *   expect credentials N · expect unitprices N|some|none · expect rejected LINK N
 */
import { registerCommand, registerExpectation, type ScenarioContext } from '../scenario/runner'
import { EngineError } from '../errors'
import { addFirewallRule, defaultRules, setFirewallRules } from './firewall'
import { probeSite, runDrill, sniffLink, INTRUDER_HOST, type ProbeResult, type SniffReport } from './intruder'
import { dqpFor } from '../query/dqp'

interface WanResult { probes?: ProbeResult[]; sniffs?: SniffReport[]; replay?: { accepted: boolean; reason?: string } }
const wan = (ctx: ScenarioContext): WanResult => (ctx.last?.value ?? {}) as WanResult

registerCommand({
  name: 'intruder', usage: 'intruder probe SITE|all | intruder sniff LINK|all | intruder drill | intruder tamper LINK [N] | intruder replay LINK',
  summary: `an outside host (${INTRUDER_HOST}) on the WAN: probes routers, sniffs links, tampers with or replays frames`,
  run: async (ctx, a) => {
    const verb = a[0]?.toLowerCase(), what = a[1]
    const c = ctx.cluster
    if (verb === 'probe' && what) {
      const probes = (what.toLowerCase() === 'all' ? c.siteCodes : [what]).flatMap((s) => probeSite(c, s))
      ctx.last = { value: { probes }, source: `intruder probe ${what}` }
      ctx.out.push(`intruder probed ${what}: ${probes.filter((p) => p.outcome === 'blocked').length} of ${probes.length} blocked, open: ${probes.filter((p) => p.outcome === 'open').map((p) => `${p.site}:${p.service}`).join(', ') || 'none'}`)
      return
    }
    if (verb === 'sniff' && what) {
      const sniffs = (what.toLowerCase() === 'all' ? [...c.net.links.keys()] : [c.net.link(what).spec.id]).map((id) => sniffLink(c, id))
      ctx.last = { value: { sniffs }, source: `intruder sniff ${what}` }
      for (const s of sniffs) ctx.out.push(`intruder sniffed ${s.link}: ${s.frames} frames, ${s.sealed} sealed, ${s.credentials} credential(s) and ${s.unitPrices} unit price(s) in clear`)
      return
    }
    if (verb === 'drill') {
      const dqp = await dqpFor(c)
      const r = await runDrill(c, { query: (site, sql) => dqp.run(site, sql) })
      ctx.last = { value: { probes: r.probes, sniffs: r.sniffs }, source: 'intruder drill' }
      ctx.out.push(`intruder drill: ${r.summary}`)
      return
    }
    if (verb === 'tamper' && what) { c.net.tamperNext(what, a[2] ? Number(a[2]) || 1 : 1); return }
    if (verb === 'replay' && what) {
      const frames = c.net.captured(what)
      if (!frames.length) throw new EngineError('BAD_INPUT', `nothing captured on ${what} yet`)
      let replay: WanResult['replay']
      c.net.replay(what, frames[frames.length - 1], (accepted, reason) => { replay = { accepted, reason } })
      c.sim.runUntilTrue(() => replay !== undefined, 100_000)
      ctx.last = { value: { replay }, source: `intruder replay ${what}` }
      ctx.out.push(`intruder replayed a frame on ${what}: ${replay?.accepted ? 'accepted' : `rejected (${replay?.reason})`}`)
      return
    }
    throw new EngineError('BAD_INPUT', 'usage: intruder probe KDY | intruder sniff CMB-KDY | intruder drill | intruder tamper CMB-KDY | intruder replay CMB-KDY')
  },
})

registerCommand({
  name: 'firewall', usage: 'firewall allow|deny SERVICE from HOST at SITE | firewall reset SITE', summary: "edit a site router's inbound rule table",
  run: (ctx, a) => {
    const verb = a[0]?.toLowerCase()
    if (verb === 'reset' && a[1]) { setFirewallRules(ctx.cluster, a[1], defaultRules()); return }
    const from = a[2]?.toLowerCase() === 'from' ? a[3] : undefined, site = a[4]?.toLowerCase() === 'at' ? a[5] : undefined
    if ((verb !== 'allow' && verb !== 'deny') || !a[1] || !from || !site) throw new EngineError('BAD_INPUT', 'usage: firewall allow ssh from 203.0.113.66 at KDY | firewall reset KDY')
    addFirewallRule(ctx.cluster, site, { action: verb, service: a[1].toLowerCase(), from })
  },
})

const count = (want: string | undefined, got: number, total: number): boolean =>
  want === 'all' ? got === total && total > 0 : want === 'some' ? got > 0 : want === 'none' ? got === 0 : got === Number(want)

registerExpectation({
  name: 'probes', usage: 'expect probes blocked|open N|all   (the last probe or drill)',
  check: (ctx, a) => {
    const probes = wan(ctx).probes
    if (!probes) return 'no probe ran'
    const which = a[0]?.toLowerCase() === 'open' ? 'open' : 'blocked'
    const got = probes.filter((p) => p.outcome === which).length
    return count(a[1]?.toLowerCase(), got, probes.length) ? undefined : `${got} of ${probes.length} probes ${which}, expected ${a[1]}`
  },
})

registerExpectation({
  name: 'sniffed', usage: 'expect sniffed ciphertext|plaintext   (ciphertext: every frame sealed and nothing read)',
  check: (ctx, a) => {
    const s = wan(ctx).sniffs
    if (!s) return 'nothing sniffed'
    const frames = s.reduce((n, x) => n + x.frames, 0), sealed = s.reduce((n, x) => n + x.sealed, 0), found = s.reduce((n, x) => n + x.findings.length, 0)
    if (!frames) return 'no frame crossed the sniffed links'
    if (a[0]?.toLowerCase() === 'plaintext') return sealed < frames ? undefined : `all ${frames} frames were sealed`
    return sealed === frames && !found ? undefined : `${frames - sealed} of ${frames} frames in clear, ${found} finding(s)`
  },
})

for (const [name, key] of [['credentials', 'credentials'], ['unitprices', 'unitPrices']] as const) {
  registerExpectation({
    name, usage: `expect ${name} N|some|none   (read in clear by the last sniff or drill)`,
    check: (ctx, a) => {
      const s = wan(ctx).sniffs
      if (!s) return 'nothing sniffed'
      const got = s.reduce((n, x) => n + x[key], 0)
      return count(a[0]?.toLowerCase(), got, got) ? undefined : `${got} ${name} read in clear, expected ${a[0]}`
    },
  })
}

registerExpectation({
  name: 'rejected', usage: 'expect rejected LINK N   (frames the receiving end refused on LINK)',
  check: (ctx, a) => {
    const got = ctx.cluster.net.link(a[0] ?? '').stats.rejected
    return got === Number(a[1]) ? undefined : `${got} frames rejected on ${a[0]}, expected ${a[1]}`
  },
})
