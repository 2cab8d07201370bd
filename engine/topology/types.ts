/** Topology is data: sites, their servers and LAN, and the WAN links. A fourth branch is one more entry. */
export type SiteCode = string

export type ServerKind = 'router' | 'primary' | 'backup' | 'repository' | 'app'

export interface ServerSpec {
  id: string // e.g. "CMB.primary"
  kind: ServerKind
  label: string
}

export interface SiteSpec {
  code: SiteCode // "CMB"
  name: string // "Colombo HQ"
  city: string
  hq: boolean
  /** Gigabit Ethernet star LAN at the site, bits per second. */
  lanBps: number
  /** One-way LAN propagation + switching delay, ms. */
  lanDelayMs: number
  /** Whether this site hosts the main repository (Colombo). */
  repository: boolean
  /** Where to draw it (0..100 map coordinates). */
  x: number
  y: number
  /** Number of client/requestor (POS, back office) terminals. */
  clients: number
  staff: number
}

export type LinkKind = 'T1' | 'ISDN' | 'E1' | 'FIBER'

export interface LinkSpec {
  id: string // "CMB-MBI"
  a: SiteCode
  b: SiteCode
  kind: LinkKind
  bandwidthBps: number
  /** One-way propagation delay, ms. */
  delayMs: number
  encrypted: boolean
}

/** One row of a router's inbound rule table: the first rule that matches a connection decides it. */
export interface FirewallRule {
  action: 'allow' | 'deny'
  /** A host (site code or outside address), 'known-sites' (the sites in `allow`), or '*' (anyone). */
  from: string
  /** A service name (ddbms, ssh, telnet, http, smb, snmp) or '*'. */
  service: string
}

export interface FirewallSpec {
  enabled: boolean
  /** Hosts (site codes) whose DDBMS traffic the router admits. */
  allow: SiteCode[]
  /** The inbound rule table (default: allow ddbms from known sites); anything no rule allows is denied. */
  rules?: FirewallRule[]
}

/**
 * The deployment (engine/api/compare.ts `Design`): `distributed` allocates fragments at their branches (spec §3);
 * `legacy` is the pre-project centralized system, every relation in one database at the HQ site.
 */
export type DesignName = 'distributed' | 'legacy'

export interface TopologySpec {
  profile: 'modern' | 'legacy'
  /** The allocation (default distributed). Legacy: every fragment at the HQ site, no replicas, copies or vertical fragments. */
  design?: DesignName
  sites: SiteSpec[]
  links: LinkSpec[]
  firewalls: Record<SiteCode, FirewallSpec>
}

export const T1_BPS = 1_544_000
export const ISDN_BPS = 128_000
export const GIGABIT_BPS = 1_000_000_000

export function serversOf(site: SiteSpec): ServerSpec[] {
  const s: ServerSpec[] = [
    { id: `${site.code}.router`, kind: 'router', label: `${site.code} router / firewall` },
    { id: `${site.code}.app`, kind: 'app', label: `${site.code} application server` },
    { id: `${site.code}.primary`, kind: 'primary', label: `${site.code} database server` },
    { id: `${site.code}.backup`, kind: 'backup', label: `${site.code} backup server` },
  ]
  if (site.repository) s.push({ id: `${site.code}.repository`, kind: 'repository', label: `${site.code} main repository` })
  return s
}
