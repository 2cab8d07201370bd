import { GIGABIT_BPS, ISDN_BPS, T1_BPS, type DesignName, type LinkSpec, type SiteSpec, type TopologySpec } from './types'
import { EngineError } from '../errors'
import { validateRules } from '../security/firewall'

const SITES: SiteSpec[] = [
  { code: 'CMB', name: 'Colombo HQ', city: 'Colombo', hq: true, lanBps: GIGABIT_BPS, lanDelayMs: 0.2, repository: true, x: 30, y: 75, clients: 12, staff: 48 },
  { code: 'MBI', name: 'Mumbai', city: 'Mumbai', hq: false, lanBps: GIGABIT_BPS, lanDelayMs: 0.2, repository: false, x: 15, y: 15, clients: 8, staff: 31 },
  { code: 'KDY', name: 'Kandy', city: 'Kandy', hq: false, lanBps: GIGABIT_BPS, lanDelayMs: 0.2, repository: false, x: 75, y: 60, clients: 6, staff: 23 },
]

/** Default WAN: three leased T1 lines with their one-way propagation delays. */
const LINKS: LinkSpec[] = [
  { id: 'CMB-MBI', a: 'CMB', b: 'MBI', kind: 'T1', bandwidthBps: T1_BPS, delayMs: 18, encrypted: true },
  { id: 'CMB-KDY', a: 'CMB', b: 'KDY', kind: 'T1', bandwidthBps: T1_BPS, delayMs: 4, encrypted: true },
  { id: 'MBI-KDY', a: 'MBI', b: 'KDY', kind: 'T1', bandwidthBps: T1_BPS, delayMs: 20, encrypted: true },
]

function allowAll(sites: SiteSpec[]): TopologySpec['firewalls'] {
  const codes = sites.map((s) => s.code)
  return Object.fromEntries(codes.map((c) => [c, { enabled: true, allow: codes.filter((x) => x !== c) }]))
}

export function defaultTopology(): TopologySpec {
  const sites = SITES.map((s) => ({ ...s }))
  return { profile: 'modern', sites, links: LINKS.map((l) => ({ ...l })), firewalls: allowAll(sites) }
}

/** The pre-project network: Kandy on ISDN, no firewalls, no encryption. */
export function legacyTopology(): TopologySpec {
  const t = defaultTopology()
  t.profile = 'legacy'
  for (const l of t.links) {
    l.encrypted = false
    if (l.a === 'KDY' || l.b === 'KDY') { l.kind = 'ISDN'; l.bandwidthBps = ISDN_BPS; l.delayMs += 10 }
  }
  for (const f of Object.values(t.firewalls)) f.enabled = false
  return t
}

/**
 * The legacy centralized deployment (issue 14): the pre-project network (legacyTopology) and every relation in ONE
 * database at the HQ site; branch clients and application servers reach it over the WAN; users are kept and
 * checked at the HQ site only.
 */
export function legacyDesignTopology(base: TopologySpec = legacyTopology()): TopologySpec {
  const t = structuredClone(base)
  t.design = 'legacy'
  return t
}

/** The topology of a design: the default network for `distributed`, the legacy network and allocation for `legacy`. */
export function designTopology(design: DesignName): TopologySpec {
  if (design === 'legacy') return legacyDesignTopology()
  if (design === 'distributed') return defaultTopology()
  throw new EngineError('BAD_INPUT', `unknown design ${String(design)}: distributed or legacy`)
}

/** The design a topology describes (default distributed). */
export function designOf(t: TopologySpec): DesignName { return t.design ?? 'distributed' }

/** The site holding every relation in the legacy design (and the main repository): the HQ site. */
export function hqSite(t: TopologySpec): SiteSpec {
  return t.sites.find((s) => s.hq) ?? t.sites.find((s) => s.repository) ?? t.sites[0]
}

/** Validates a topology given as data (e.g. from a JSON file adding a fourth branch). */
export function validateTopology(t: TopologySpec): TopologySpec {
  const codes = new Set<string>()
  for (const s of t.sites) {
    if (!/^[A-Z]{3}$/.test(s.code)) throw new EngineError('BAD_INPUT', `site code must be three capital letters: ${s.code}`)
    if (codes.has(s.code)) throw new EngineError('BAD_INPUT', `duplicate site ${s.code}`)
    codes.add(s.code)
  }
  if (t.sites.filter((s) => s.repository).length !== 1) throw new EngineError('BAD_INPUT', 'exactly one site must host the main repository')
  if (t.design !== undefined && t.design !== 'distributed' && t.design !== 'legacy') throw new EngineError('BAD_INPUT', `design must be distributed or legacy, not ${String(t.design)}`)
  if (t.design === 'legacy' && !hqSite(t).repository) throw new EngineError('BAD_INPUT', 'the legacy design keeps every relation at the HQ site, which must host the main repository')
  const ids = new Set<string>()
  for (const l of t.links) {
    if (!codes.has(l.a) || !codes.has(l.b) || l.a === l.b) throw new EngineError('BAD_INPUT', `link ${l.id} joins unknown sites`)
    if (ids.has(l.id)) throw new EngineError('BAD_INPUT', `duplicate link ${l.id}`)
    if (!(l.bandwidthBps > 0) || !(l.delayMs >= 0)) throw new EngineError('BAD_INPUT', `link ${l.id} needs bandwidth > 0 and delay ≥ 0`)
    ids.add(l.id)
  }
  for (const c of codes) if (!t.firewalls[c]) t.firewalls[c] = { enabled: true, allow: [...codes].filter((x) => x !== c) }
  for (const [c, fw] of Object.entries(t.firewalls)) {
    if (fw.rules === undefined) continue
    try { fw.rules = validateRules(fw.rules) } catch (e) { throw new EngineError('BAD_INPUT', `firewall rules of ${c}: ${e instanceof Error ? e.message : String(e)}`) }
  }
  return t
}

/** Adds a branch by configuration: the site plus T1 links to the listed peers. */
export function withBranch(t: TopologySpec, site: Omit<SiteSpec, 'repository' | 'hq'> & { links: { to: string; delayMs: number }[] }): TopologySpec {
  const { links, ...rest } = site
  const next: TopologySpec = structuredClone(t)
  next.sites.push({ ...rest, hq: false, repository: false })
  for (const l of links) next.links.push({ id: `${l.to}-${site.code}`, a: l.to, b: site.code, kind: 'T1', bandwidthBps: T1_BPS, delayMs: l.delayMs, encrypted: true })
  const codes = next.sites.map((s) => s.code)
  for (const c of codes) next.firewalls[c] = { enabled: next.firewalls[c]?.enabled ?? true, allow: codes.filter((x) => x !== c) }
  return validateTopology(next)
}
