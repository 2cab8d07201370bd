/**
 * The network model between sites: per-site Gigabit LAN, WAN links with bandwidth and propagation delay,
 * transfers serialised per link direction (a busy T1 queues), link states, loss, firewalls, accounting.
 * Transfer time on a link = queueing + bytes·8/bandwidth + propagation delay.
 * Sites only talk through here: a message is a sized payload delivered by a simulation event.
 */
import type { Simulator } from '../sim/kernel'
import type { LinkSpec, SiteCode, TopologySpec } from '../topology/types'
import { EngineError } from '../errors'

export type LinkState = 'up' | 'down' | 'degraded'

export interface Degradation { extraDelayMs: number; bandwidthFactor: number; lossRate: number }

/** Bytes every message carries besides its payload (routing + DDBMS header). */
export const MESSAGE_HEADER_BYTES = 64
/** Per-hop overhead of the encrypted tunnel on an encrypted WAN link. */
export const ENCRYPTION_OVERHEAD_BYTES = 37

export interface LinkStats {
  bytes: number
  messages: number
  dropped: number
  queueingMs: number
  busyMs: number
}

export interface LinkRuntime {
  spec: LinkSpec
  state: LinkState
  degradation: Degradation
  /** Epoch increments whenever the link goes down: messages in flight from an older epoch are lost. */
  epoch: number
  /** Transmitter busy until (virtual ms), per direction: spec.a → spec.b, and back. */
  busyAB: number
  busyBA: number
  stats: LinkStats
}

export interface Message<P = unknown> {
  id: number
  from: SiteCode
  to: SiteCode
  kind: string
  bytes: number
  payload: P
  sentAt: number
}

export interface Delivery<P = unknown> extends Message<P> { deliveredAt: number; path: SiteCode[] }

export type NetEvent =
  | { type: 'sent'; msg: Message; route: SiteCode[] }
  | { type: 'delivered'; msg: Message; at: number }
  | { type: 'dropped'; msg: Message; at: number; reason: string }
  | { type: 'blocked'; from: string; to: SiteCode; kind: string; reason: string; at: number }

export interface SendOptions<P> {
  from: SiteCode
  to: SiteCode
  kind: string
  payload: P
  /** Payload size in bytes (the header is added). */
  bytes: number
  onDeliver: (d: Delivery<P>) => void
  onDrop?: (reason: string) => void
}

export class Network {
  readonly links = new Map<string, LinkRuntime>()
  private siteUp = new Map<SiteCode, boolean>()
  private nextId = 1
  private listeners: ((e: NetEvent) => void)[] = []
  readonly lanStats = new Map<SiteCode, LinkStats>()
  blockedCount = 0

  constructor(private sim: Simulator, private topo: TopologySpec) {
    for (const l of topo.links) this.addLink(l)
    for (const s of topo.sites) { this.siteUp.set(s.code, true); this.lanStats.set(s.code, emptyStats()) }
  }

  get topology(): TopologySpec { return this.topo }

  addLink(l: LinkSpec): void {
    this.routes.clear()
    this.links.set(l.id, {
      spec: l, state: 'up', degradation: { extraDelayMs: 0, bandwidthFactor: 1, lossRate: 0 }, epoch: 0,
      busyAB: 0, busyBA: 0, stats: emptyStats(),
    })
  }

  addSite(code: SiteCode): void { this.siteUp.set(code, true); this.lanStats.set(code, emptyStats()); this.routes.clear() }

  onEvent(fn: (e: NetEvent) => void): () => void {
    this.listeners.push(fn)
    return () => { this.listeners = this.listeners.filter((x) => x !== fn) }
  }

  link(id: string): LinkRuntime {
    const l = this.links.get(id)
    if (!l) throw new EngineError('UNKNOWN_LINK', `unknown link ${id}; links are ${[...this.links.keys()].join(', ')}`)
    return l
  }

  linkBetween(a: SiteCode, b: SiteCode): LinkRuntime | undefined {
    for (const l of this.links.values()) if ((l.spec.a === a && l.spec.b === b) || (l.spec.a === b && l.spec.b === a)) return l
    return undefined
  }

  setLinkState(id: string, state: LinkState, degradation?: Partial<Degradation>): void {
    const l = this.link(id)
    if (state === 'down' && l.state !== 'down') l.epoch++
    l.state = state
    this.routes.clear()
    l.degradation = state === 'degraded'
      ? { ...l.degradation, ...degradation }
      : { extraDelayMs: 0, bandwidthFactor: 1, lossRate: 0 }
    this.routes.clear()
    this.sim.record('net.link', id, state)
  }

  /** A site's router: when down the site is cut off from the WAN (its own LAN still works). */
  setSiteReachable(code: SiteCode, up: boolean): void {
    if (!this.siteUp.has(code)) throw new EngineError('UNKNOWN_SITE', `unknown site ${code}`)
    this.siteUp.set(code, up)
    this.routes.clear()
    this.sim.record('net.site', code, up ? 'up' : 'down')
  }

  isSiteReachable(code: SiteCode): boolean { return this.siteUp.get(code) === true }

  /** Routes computed since the last change of a link's state or delay or of a site's reachability. */
  private routes = new Map<string, SiteCode[] | undefined>()
  private sites = new Map<SiteCode, TopologySpec['sites'][number]>()

  /** Shortest route by propagation delay over usable links and reachable sites; undefined when none (cached; do not modify). */
  route(from: SiteCode, to: SiteCode): SiteCode[] | undefined {
    const k = `${from}>${to}`
    if (this.routes.has(k)) return this.routes.get(k)
    const r = this.computeRoute(from, to)
    this.routes.set(k, r)
    return r
  }

  private computeRoute(from: SiteCode, to: SiteCode): SiteCode[] | undefined {
    if (from === to) return [from]
    if (!this.isSiteReachable(from) || !this.isSiteReachable(to)) return undefined
    const dist = new Map<SiteCode, number>([[from, 0]])
    const prev = new Map<SiteCode, SiteCode>()
    const todo = new Set<SiteCode>([...this.siteUp.keys()].filter((c) => this.isSiteReachable(c)))
    while (todo.size) {
      let u: SiteCode | undefined
      for (const c of todo) if (dist.has(c) && (u === undefined || dist.get(c)! < dist.get(u)!)) u = c
      if (u === undefined) break
      todo.delete(u)
      if (u === to) break
      for (const l of this.links.values()) {
        if (l.state === 'down') continue
        const v = l.spec.a === u ? l.spec.b : l.spec.b === u ? l.spec.a : undefined
        if (!v || !todo.has(v)) continue
        const d = dist.get(u)! + l.spec.delayMs + l.degradation.extraDelayMs
        if (!dist.has(v) || d < dist.get(v)!) { dist.set(v, d); prev.set(v, u) }
      }
    }
    if (!dist.has(to)) return undefined
    const path: SiteCode[] = [to]
    while (path[0] !== from) path.unshift(prev.get(path[0])!)
    return path
  }

  /** Checks a message from an arbitrary host against the destination router's firewall. */
  admits(fromHost: string, to: SiteCode): boolean {
    const fw = this.topo.firewalls[to]
    if (!fw || !fw.enabled) return true
    return fromHost === to || fw.allow.includes(fromHost)
  }

  /**
   * Sends a message. Throws UNREACHABLE at once when no route exists (the caller learns of a partition
   * the way a TCP connect fails); a message that is lost in flight is reported via onDrop (if given).
   */
  send<P>(o: SendOptions<P>): Message<P> {
    if (!this.admits(o.from, o.to)) {
      this.blockedCount++
      this.emit({ type: 'blocked', from: o.from, to: o.to, kind: o.kind, reason: 'firewall', at: this.sim.now })
      throw new EngineError('FIREWALL_BLOCKED', `firewall at ${o.to} blocked ${o.kind} from ${o.from}`, { site: o.to })
    }
    const route = this.route(o.from, o.to)
    if (!route) throw new EngineError('UNREACHABLE', `no route from ${o.from} to ${o.to}`, { site: o.to })
    const msg: Message<P> = { id: this.nextId++, from: o.from, to: o.to, kind: o.kind, bytes: o.bytes + MESSAGE_HEADER_BYTES, payload: o.payload, sentAt: this.sim.now }
    if (this.listeners.length) this.emit({ type: 'sent', msg, route })
    this.sim.record('net.send', msg.id, o.kind, o.from, o.to, msg.bytes)
    this.hop(msg, route, 0, o)
    return msg
  }

  /** Estimated one-way time for `bytes` from a to b on idle links (for cost models). */
  estimateMs(a: SiteCode, b: SiteCode, bytes: number): number {
    const route = this.route(a, b)
    if (!route) return Infinity
    const total = bytes + MESSAGE_HEADER_BYTES
    if (route.length === 1) {
      const s = this.topo.sites.find((x) => x.code === a)!
      return s.lanDelayMs + (total * 8 * 1000) / s.lanBps
    }
    let ms = 0
    for (let i = 0; i + 1 < route.length; i++) {
      const l = this.linkBetween(route[i], route[i + 1])!
      const b2 = total + (l.spec.encrypted ? ENCRYPTION_OVERHEAD_BYTES : 0)
      ms += l.spec.delayMs + l.degradation.extraDelayMs + (b2 * 8 * 1000) / (l.spec.bandwidthBps * l.degradation.bandwidthFactor)
    }
    return ms
  }

  private hop<P>(msg: Message<P>, route: SiteCode[], i: number, o: SendOptions<P>): void {
    const now = this.sim.now
    if (route.length === 1) {
      const s = this.site(msg.from)
      const st = this.lanStats.get(msg.from)!
      const tx = (msg.bytes * 8 * 1000) / s.lanBps
      st.bytes += msg.bytes; st.messages++; st.busyMs += tx
      this.sim.schedule(s.lanDelayMs + tx, 'net.lan', () => this.deliver(msg, route, o))
      return
    }
    const a = route[i], b = route[i + 1]
    const l = this.linkBetween(a, b)
    if (!l || l.state === 'down' || !this.isSiteReachable(b)) return this.drop(msg, o, `link ${a}-${b} down`)
    const forward = l.spec.a === a
    const bytes = msg.bytes + (l.spec.encrypted ? ENCRYPTION_OVERHEAD_BYTES : 0)
    const bw = l.spec.bandwidthBps * l.degradation.bandwidthFactor
    const start = Math.max(now, forward ? l.busyAB : l.busyBA)
    const tx = (bytes * 8 * 1000) / bw
    if (forward) l.busyAB = start + tx
    else l.busyBA = start + tx
    l.stats.bytes += bytes; l.stats.messages++; l.stats.queueingMs += start - now; l.stats.busyMs += tx
    const epoch = l.epoch
    const lost = l.degradation.lossRate > 0 && this.sim.rng.chance(l.degradation.lossRate)
    const arrive = start - now + tx + l.spec.delayMs + l.degradation.extraDelayMs
    this.sim.schedule(arrive, 'net.hop', () => {
      if (lost) return this.drop(msg, o, `lost on ${l.spec.id}`, l)
      if (l.epoch !== epoch || l.state === 'down') return this.drop(msg, o, `link ${l.spec.id} failed in flight`, l)
      if (!this.isSiteReachable(b)) return this.drop(msg, o, `${b} unreachable`, l)
      if (i + 2 < route.length) this.hop(msg, route, i + 1, o)
      else this.deliver(msg, route, o)
    })
  }

  private site(code: SiteCode): TopologySpec['sites'][number] {
    let s = this.sites.get(code)
    if (!s) { s = this.topo.sites.find((x) => x.code === code)!; this.sites.set(code, s) }
    return s
  }

  private deliver<P>(msg: Message<P>, route: SiteCode[], o: SendOptions<P>): void {
    if (this.listeners.length) this.emit({ type: 'delivered', msg, at: this.sim.now })
    this.sim.record('net.deliver', msg.id)
    // the message itself becomes the delivery (no copy per hop): it is not used after this
    const d = msg as Delivery<P>
    d.deliveredAt = this.sim.now
    d.path = route
    o.onDeliver(d)
  }

  private drop<P>(msg: Message<P>, o: SendOptions<P>, reason: string, l?: LinkRuntime): void {
    if (l) l.stats.dropped++
    if (this.listeners.length) this.emit({ type: 'dropped', msg, at: this.sim.now, reason })
    this.sim.record('net.drop', msg.id, reason)
    o.onDrop?.(reason)
  }

  private emit(e: NetEvent): void { for (const fn of this.listeners) fn(e) }

  /** Bytes per WAN link since start (or since resetStats). */
  statsSnapshot(): Record<string, LinkStats & { state: LinkState }> {
    const out: Record<string, LinkStats & { state: LinkState }> = {}
    for (const [id, l] of this.links) out[id] = { ...l.stats, state: l.state }
    return out
  }

  resetStats(): void {
    for (const l of this.links.values()) l.stats = emptyStats()
    for (const k of this.lanStats.keys()) this.lanStats.set(k, emptyStats())
  }
}

function emptyStats(): LinkStats { return { bytes: 0, messages: 0, dropped: 0, queueingMs: 0, busyMs: 0 } }
