/**
 * Scenario commands for the nemesis faults and the failure drills (engine/cluster/nemesis.ts, drills.ts):
 *   partition CMB | MBI KDY      heal
 *   lan fail KDY                 lan degrade KDY loss=0.1 delay=5ms      lan restore KDY
 *   link duplicate CMB-KDY p=0.2 link reorder CMB-KDY p=0.2              link clean CMB-KDY
 *   skew KDY +5m                 skew KDY -30s                           skew KDY 0
 *   media fail KDY [corrupt|lost] --yes          (repair: recover KDY from backup)
 *   drill transaction|system|communication [SITE]   drill media SITE --yes
 *   expect drill ok | expect drill lost N | expect clock SITE HH:MM[:SS] | expect link LINK down | expect lan SITE down
 */
import { EngineError } from '../errors'
import { formatSiteTime } from '../sim/kernel'
import { DRILL_CATEGORIES, runDrill, drillView, type DrillCategory } from '../cluster/drills'
import { parseDuration, registerCommand, registerExpectation } from './runner'

const usage = (u: string) => new EngineError('BAD_INPUT', `usage: ${u}`)
const kv = (args: string[]) => Object.fromEntries(args.filter((a) => a.includes('=')).map((a) => a.split('=') as [string, string]))
const yes = (args: string[]) => args.includes('--yes')

/** "5ms" / "5" → ms (a bare number is ms). */
const ms = (s: string | undefined, dflt = 0) => (s === undefined ? dflt : /^\d+(\.\d+)?$/.test(s) ? Number(s) : parseDuration(s))
const prob = (s: string | undefined, what: string) => {
  const p = Number(s)
  if (s === undefined || !(p >= 0 && p <= 1)) throw new EngineError('BAD_INPUT', `${what} needs p=P with 0 ≤ P ≤ 1`)
  return p
}

registerCommand({
  name: 'partition', usage: 'partition CMB | MBI KDY', summary: 'split the sites into groups: every WAN link between two groups goes down (heal ends it)',
  action: (a) => ({ action: 'nemesis/partition', input: { groups: a.join(' ').split('|').map((g) => g.trim().split(/\s+/).filter(Boolean)) } }),
  run: (ctx, a) => {
    const groups = a.join(' ').split('|').map((g) => g.trim().split(/\s+/).filter(Boolean))
    if (!a.length) throw usage('partition CMB | MBI KDY')
    const links = ctx.cluster.partition(groups)
    ctx.out.push(`links down: ${links.join(', ') || 'none'}`)
  },
})
registerCommand({
  name: 'heal', usage: 'heal', summary: 'end the partition: the links it cut come back',
  action: () => ({ action: 'nemesis/heal', input: {} }),
  run: (ctx) => { ctx.cluster.heal() },
})
registerCommand({
  name: 'lan', usage: 'lan fail|restore SITE | lan degrade SITE [loss=P] [delay=DURATION]', summary: "a site's LAN fails (its servers cannot reach each other), degrades, or comes back",
  action: (a) => ({ action: 'nemesis/lan', input: { site: a[1] } }),
  run: (ctx, a) => {
    const [verb, site] = a
    if (!site) throw usage('lan fail KDY | lan degrade KDY loss=0.1 delay=5ms | lan restore KDY')
    const c = ctx.cluster
    if (verb === 'fail') c.failLan(site)
    else if (verb === 'restore') c.restoreLan(site)
    else if (verb === 'degrade') { const o = kv(a.slice(2)); c.degradeLan(site, { extraDelayMs: ms(o.delay), lossRate: Number(o.loss ?? 0) }) }
    else throw usage('lan fail|degrade|restore SITE')
  },
})
registerCommand({
  name: 'link', usage: 'link duplicate|reorder LINK p=P | link clean LINK', summary: 'messages on a link are sent twice / held back so later ones overtake them, with probability P (clean: neither)',
  action: (a) => ({ action: 'nemesis/linkChaos', input: { link: a[1] } }),
  run: (ctx, a) => {
    const [verb, link] = a
    if (!link) throw usage('link duplicate CMB-KDY p=0.2 | link reorder CMB-KDY p=0.2 | link clean CMB-KDY')
    if (verb === 'duplicate') ctx.cluster.setLinkChaos(link, { duplicate: prob(kv(a).p, 'link duplicate') })
    else if (verb === 'reorder') ctx.cluster.setLinkChaos(link, { reorder: prob(kv(a).p, 'link reorder') })
    else if (verb === 'clean') ctx.cluster.setLinkChaos(link, { duplicate: 0, reorder: 0 })
    else throw usage('link duplicate|reorder|clean LINK')
  },
})
registerCommand({
  name: 'skew', usage: 'skew SITE +5m | -30s | 0', summary: "offset a site's clock (what its timestamps and schedules read); 0 puts it right",
  action: (a) => ({ action: 'nemesis/skew', input: { site: a[0] } }),
  run: (ctx, a) => {
    const [site, off] = a
    const m = /^([+-]?)(.+)$/.exec(off ?? '')
    if (!site || !m) throw usage('skew KDY +5m')
    const v = m[2] === '0' ? 0 : ms(m[2])
    ctx.cluster.skewClock(site, m[1] === '-' ? -v : v)
  },
})
registerCommand({
  name: 'media', usage: 'media fail SITE [corrupt|lost] --yes', summary: "lose or corrupt a primary's database medium (found by the next access; repair: recover SITE from backup)",
  action: (a) => ({ action: 'nemesis/failMedia', input: { site: a[1] } }),
  run: (ctx, a) => {
    const [verb, site] = a
    if (verb !== 'fail' || !site) throw usage('media fail KDY [corrupt|lost] --yes')
    if (!yes(a)) throw new EngineError('BAD_INPUT', `media fail destroys ${site}'s primary database until it is restored: add --yes`, { site })
    const kind = a.includes('lost') ? 'lost' : 'corrupt'
    ctx.cluster.failMedia(site, kind)
  },
})
registerCommand({
  name: 'drill', usage: 'drill transaction|system|media|communication [SITE] [--yes]', summary: 'run a failure drill: workload, fault, repair, and the check that nothing committed was lost (then expect drill ok)',
  action: (a) => ({ action: 'drill/start', input: { category: a[0] } }),
  run: (ctx, a) => {
    const category = a[0] as DrillCategory
    if (!(DRILL_CATEGORIES as readonly string[]).includes(category)) throw usage(`drill ${DRILL_CATEGORIES.join('|')} [SITE] [--yes]`)
    const site = a.slice(1).find((x) => x !== '--yes')
    const v = runDrill(ctx.cluster, category, site, { confirmed: yes(a) })
    const r = v.report!
    ctx.last = { value: v, ok: r.ok, source: `drill ${category}` }
    ctx.out.push(`${category} drill at ${v.site}: ${r.committed} committed, ${r.aborted} aborted, ${r.lost} lost; ${r.checks.map((x) => `${x.name} ${x.ok ? 'ok' : `FAILED (${x.detail})`}`).join('; ')}`)
  },
})
registerExpectation({
  name: 'drill', usage: 'expect drill ok | expect drill lost N',
  check: (ctx, a) => {
    const v = drillView(ctx.cluster)
    if (!v?.report) return 'no drill has finished yet'
    if (a[0] === 'ok') return v.report.ok ? undefined : `the ${v.category} drill's check failed: ${v.report.checks.filter((x) => !x.ok).map((x) => `${x.name}: ${x.detail}`).join('; ')}`
    if (a[0] === 'lost') return v.report.lost === Number(a[1]) ? undefined : `expected ${a[1]} lost, the drill found ${v.report.lost}`
    return 'expect drill ok | expect drill lost N'
  },
})
registerExpectation({
  name: 'clock', usage: 'expect clock SITE HH:MM[:SS]   (what that site’s own clock reads, skew included)',
  check: (ctx, a) => {
    const [site, want] = a
    if (!site || !want) return 'usage: expect clock KDY 08:35'
    const got = formatSiteTime(ctx.cluster.siteNow(ctx.cluster.site(site).code)).slice(11, 11 + want.length)
    return got === want ? undefined : `${site}'s clock reads ${got}, not ${want}`
  },
})
registerExpectation({
  name: 'link', usage: 'expect link LINK up|down|degraded',
  check: (ctx, a) => { const st = ctx.cluster.net.link(a[0] ?? '').state; return st === a[1] ? undefined : `link ${a[0]} is ${st}` },
})
registerExpectation({
  name: 'lan', usage: 'expect lan SITE up|down|degraded',
  check: (ctx, a) => { ctx.cluster.site(a[0] ?? ''); const st = ctx.cluster.net.lanState(a[0]).state; return st === a[1] ? undefined : `the LAN at ${a[0]} is ${st}` },
})
