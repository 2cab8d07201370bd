/**
 * Each site router's inbound firewall (spec §8): a rule table per site, first match decides, default deny.
 * The default table admits the DDBMS service from the known sites only; the operator edits it per site.
 * Every connection that a rule (or the default) denies is counted and kept in the firewall log.
 */
import { EngineError } from '../errors'
import type { FirewallRule, FirewallSpec, SiteCode } from '../topology/types'
import type { Cluster } from '../cluster'
import type { FirewallView } from '../api/wan'

export type { FirewallLogEntry, FirewallView } from '../api/wan'

/** The services a router knows, with their ports (the DDBMS service is the only one the sites need from each other). */
export const SERVICES: Record<string, number> = { ddbms: 7400, ssh: 22, telnet: 23, http: 80, smb: 445, snmp: 161 }
export const DDBMS = 'ddbms'

export function defaultRules(): FirewallRule[] { return [{ action: 'allow', from: 'known-sites', service: DDBMS }] }

/** The rule table in force for a firewall (its own, or the default). */
export function rulesOf(fw: FirewallSpec): FirewallRule[] { return fw.rules ?? defaultRules() }

export interface Verdict { allowed: boolean; rule: string }

export function describeRule(r: FirewallRule): string { return `${r.action} ${r.service} from ${r.from}` }

/** Decides a connection from `host` to `service` at a router with firewall `fw` (absent or disabled: admitted). */
export function decide(fw: FirewallSpec | undefined, site: SiteCode, host: string, service: string): Verdict {
  if (!fw || !fw.enabled) return { allowed: true, rule: 'firewall disabled' }
  if (host === site) return { allowed: true, rule: 'own site' }
  const rules = fw.rules ?? DEFAULT_RULES
  const i = firstMatch(fw, rules, host, service)
  if (i >= 0) return { allowed: rules[i].action === 'allow', rule: `rule ${i + 1}: ${describeRule(rules[i])}` }
  return { allowed: false, rule: 'default deny inbound' }
}

/** decide(…).allowed without building the verdict's text (the network asks this for every message it sends). */
export function admits(fw: FirewallSpec | undefined, site: SiteCode, host: string, service: string): boolean {
  if (!fw || !fw.enabled || host === site) return true
  const rules = fw.rules ?? DEFAULT_RULES
  const i = firstMatch(fw, rules, host, service)
  return i >= 0 && rules[i].action === 'allow'
}

/** The default table, read-only (rulesOf hands out fresh copies). */
const DEFAULT_RULES: readonly FirewallRule[] = Object.freeze(defaultRules().map((r) => Object.freeze(r)))

/** Index of the first rule matching a connection from `host` to `service` (first match decides); -1: none. */
function firstMatch(fw: FirewallSpec, rules: readonly FirewallRule[], host: string, service: string): number {
  for (let i = 0; i < rules.length; i++) {
    const r = rules[i]
    if (r.service !== '*' && r.service !== service) continue
    if (r.from === '*' || r.from === host || (r.from === 'known-sites' && fw.allow.includes(host))) return i
  }
  return -1
}

const HOST_RE = /^([A-Z]{3}|[A-Za-z0-9][A-Za-z0-9.:-]{0,62})$/

/** Checks a rule table given as data; returns a clean copy or throws BAD_INPUT (changing nothing). */
export function validateRules(input: unknown): FirewallRule[] {
  if (!Array.isArray(input)) throw new EngineError('BAD_INPUT', 'firewall rules are a list of {action, from, service}')
  if (input.length > 64) throw new EngineError('BAD_INPUT', 'a firewall has at most 64 rules')
  return input.map((r, i) => {
    const o = r as Partial<FirewallRule>
    if (!o || (o.action !== 'allow' && o.action !== 'deny')) throw new EngineError('BAD_INPUT', `rule ${i + 1}: action must be allow or deny`)
    if (typeof o.service !== 'string' || (o.service !== '*' && !(o.service in SERVICES))) throw new EngineError('BAD_INPUT', `rule ${i + 1}: service must be * or one of ${Object.keys(SERVICES).join(', ')}`)
    if (typeof o.from !== 'string' || !(o.from === '*' || o.from === 'known-sites' || HOST_RE.test(o.from))) throw new EngineError('BAD_INPUT', `rule ${i + 1}: from must be *, known-sites, a site code or a host address`)
    return { action: o.action, from: o.from, service: o.service }
  })
}


/** A site router's firewall as the console shows it: its table, how much it blocked, its newest log entries. */
export function firewallView(cluster: Cluster, site: SiteCode): FirewallView {
  const fw = cluster.net.firewall(site)
  return {
    site, enabled: fw.enabled, allow: [...fw.allow], rules: rulesOf(fw).map((r) => ({ ...r })), blocked: cluster.net.blockedAt.get(site) ?? 0,
    log: cluster.net.firewallLog.filter((e) => e.site === site).slice(-50).reverse(),
  }
}

/** Replaces a site's rule table (validated first: bad input changes nothing). */
export function setFirewallRules(cluster: Cluster, site: SiteCode, rules: unknown): FirewallView {
  const fw = cluster.net.firewall(site)
  const clean = validateRules(rules)
  fw.rules = clean
  cluster.log('security', `firewall at ${site}: rule table set (${clean.length ? clean.map(describeRule).join('; ') : 'no rules: everything denied'})`, site)
  return firewallView(cluster, site)
}

/** Puts one rule first in a site's table (the scenario's `firewall allow|deny …`). */
export function addFirewallRule(cluster: Cluster, site: SiteCode, rule: FirewallRule): FirewallView {
  return setFirewallRules(cluster, site, [rule, ...rulesOf(cluster.net.firewall(site))])
}
