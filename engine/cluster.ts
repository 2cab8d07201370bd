/**
 * The cluster façade: one simulator, one network, the sites and their servers. Hosts (worker, CLI,
 * tests) talk to the distributed database only through this object.
 * Extended by the data/catalog/persistence layer (sites' sql.js stores) and by the DQP, DTM and ticket layers.
 */
import { Simulator, formatSiteTime } from './sim/kernel'
import { Network, type Degradation } from './net/network'
import { defaultTopology, validateTopology } from './topology/default'
import { serversOf, type SiteCode, type TopologySpec } from './topology/types'
import { EngineError } from './errors'
import type { ClockView, EngineEventView, Health, TopologyView } from './api/views'

export interface ClusterOptions {
  seed?: number
  topology?: TopologySpec
  startMs?: number
}

const EVENT_RING = 2000

export class Cluster {
  readonly sim: Simulator
  readonly net: Network
  readonly topology: TopologySpec
  private serverDown = new Set<string>()
  private eventSeq = 0
  readonly events: EngineEventView[] = []
  private eventListeners: ((e: EngineEventView) => void)[] = []

  constructor(opts: ClusterOptions = {}) {
    this.topology = validateTopology(structuredClone(opts.topology ?? defaultTopology()))
    this.sim = new Simulator({ seed: opts.seed ?? 1, startMs: opts.startMs })
    this.net = new Network(this.sim, this.topology)
  }

  get siteCodes(): SiteCode[] { return this.topology.sites.map((s) => s.code) }

  site(code: string): TopologySpec['sites'][number] {
    const s = this.topology.sites.find((x) => x.code === code)
    if (!s) throw new EngineError('UNKNOWN_SITE', `unknown site ${code}; sites are ${this.siteCodes.join(', ')}`)
    return s
  }

  // ---- events -------------------------------------------------------------------------------
  log(kind: string, message: string, site?: SiteCode): EngineEventView {
    const e: EngineEventView = { seq: ++this.eventSeq, at: this.sim.now, kind, message, ...(site ? { site } : {}) }
    this.events.push(e)
    if (this.events.length > EVENT_RING) this.events.shift()
    this.sim.record(`log.${kind}`, message)
    for (const fn of this.eventListeners) fn(e)
    return e
  }

  onLog(fn: (e: EngineEventView) => void): () => void {
    this.eventListeners.push(fn)
    return () => { this.eventListeners = this.eventListeners.filter((x) => x !== fn) }
  }

  // ---- failures ----------------------------------------------------------------------------
  isServerUp(id: string): boolean { return !this.serverDown.has(id) }
  /** The site's database service is available: router and primary up. */
  isSiteUp(code: SiteCode): boolean { return this.isServerUp(`${code}.router`) && this.isServerUp(`${code}.primary`) }

  private serverIds(code: SiteCode): string[] { return serversOf(this.site(code)).map((s) => s.id) }

  failServer(id: string): void {
    const code = id.split('.')[0]
    if (!this.serverIds(code).includes(id)) throw new EngineError('NOT_FOUND', `unknown server ${id}`, { site: code })
    if (this.serverDown.has(id)) return
    this.serverDown.add(id)
    if (id.endsWith('.router')) this.net.setSiteReachable(code, false)
    this.log('failure', `${id} failed`, code)
  }

  restoreServer(id: string): void {
    const code = id.split('.')[0]
    if (!this.serverIds(code).includes(id)) throw new EngineError('NOT_FOUND', `unknown server ${id}`, { site: code })
    if (!this.serverDown.delete(id)) return
    if (id.endsWith('.router')) this.net.setSiteReachable(code, true)
    this.log('recovery', `${id} restored`, code)
  }

  /** A whole-site (system) failure: router, application and database servers go down. */
  failSite(code: SiteCode): void {
    for (const id of this.serverIds(code)) if (!id.endsWith('.backup') && !id.endsWith('.repository')) this.failServer(id)
  }

  restoreSite(code: SiteCode): void {
    for (const id of this.serverIds(code)) this.restoreServer(id)
  }

  failLink(id: string): void { this.net.setLinkState(id, 'down'); this.log('failure', `link ${id} down`) }
  restoreLink(id: string): void { this.net.setLinkState(id, 'up'); this.log('recovery', `link ${id} up`) }
  degradeLink(id: string, d: Partial<Degradation>): void {
    this.net.setLinkState(id, 'degraded', d)
    this.log('failure', `link ${id} degraded (+${d.extraDelayMs ?? 0} ms, ×${d.bandwidthFactor ?? 1} bandwidth, ${(d.lossRate ?? 0) * 100}% loss)`)
  }

  // ---- views -------------------------------------------------------------------------------
  siteHealth(code: SiteCode): Health {
    const ids = this.serverIds(code)
    if (!this.isSiteUp(code)) return 'down'
    return ids.some((id) => this.serverDown.has(id)) ? 'degraded' : 'ok'
  }

  topologyView(): TopologyView {
    const elapsed = Math.max(1, this.sim.now - (this.startedAt ??= this.sim.now))
    const blockedAt = new Map<string, number>()
    return {
      profile: this.topology.profile,
      sites: this.topology.sites.map((s) => ({
        code: s.code, name: s.name, city: s.city, hq: s.hq, health: this.siteHealth(s.code), lanBps: s.lanBps,
        x: s.x, y: s.y, clients: s.clients, staff: s.staff,
        servers: serversOf(s).map((v) => ({ ...v, status: this.serverDown.has(v.id) ? 'down' as const : 'up' as const })),
        firewall: { enabled: this.topology.firewalls[s.code]?.enabled ?? false, allow: [...(this.topology.firewalls[s.code]?.allow ?? [])], blocked: blockedAt.get(s.code) ?? 0 },
      })),
      links: [...this.net.links.values()].map((l) => ({
        id: l.spec.id, a: l.spec.a, b: l.spec.b, kind: l.spec.kind, bandwidthBps: l.spec.bandwidthBps, delayMs: l.spec.delayMs,
        encrypted: l.spec.encrypted, state: l.state, bytes: l.stats.bytes, messages: l.stats.messages, dropped: l.stats.dropped,
        queueingMs: l.stats.queueingMs, utilisation: Math.min(1, l.stats.busyMs / elapsed),
      })),
    }
  }
  private startedAt?: number

  clockView(speed: number, running: boolean): ClockView {
    return {
      now: this.sim.now, local: formatSiteTime(this.sim.now), speed, running, seed: this.sim.seed,
      eventsFired: this.sim.eventsFired, traceHash: this.sim.traceHash,
    }
  }
}
