/**
 * The network model between sites: per-site Gigabit LAN, WAN links with bandwidth and propagation delay,
 * transfers serialised per link direction (a busy T1 queues), link states, loss, firewalls, accounting.
 * Transfer time on a link = queueing + bytes·8/bandwidth + propagation delay.
 * Sites only talk through here: a message is a sized payload delivered by a simulation event.
 * On a WAN hop the message is a real frame (engine/net/frame.ts): on an encrypted link its inner part is sealed
 * with AES-256-GCM under the link's per-direction key (X25519 + HKDF, engine/security/crypto.ts) and a counter;
 * the receiving end opens it and rejects (does not deliver, logs and counts) a frame whose tag or counter fails.
 * The link is charged the frame's real size. LAN hops stay inside the site's router and are not sealed.
 */
import type { Simulator } from '../sim/kernel'
import type { FirewallSpec, LinkSpec, SiteCode, TopologySpec } from '../topology/types'
import { EngineError } from '../errors'
import { GCM_TAG_BYTES, ReplayWindow, exchangeLinkKeys, open, sealInto, type LinkKeys } from '../security/crypto'
import { FLAG_SEALED, INNER_HEADER_BYTES, OUTER_HEADER_BYTES, RECORD_LENGTH_BYTES, innerPlain, outerHeader, readOuter, recordCount, splitRecord, writeOuter } from './frame'
import { DDBMS, SERVICES, admits as firewallAdmits, decide, type FirewallLogEntry } from '../security/firewall'

export type LinkState = 'up' | 'down' | 'degraded'

export interface Degradation { extraDelayMs: number; bandwidthFactor: number; lossRate: number }

/** A link that misbehaves without failing (nemesis drills): each message crossing it is sent twice, or held back so later ones overtake it, with these probabilities. */
export interface LinkChaos { duplicate: number; reorder: number }

/** A site's LAN (the star between its router and its servers): down, or slow and lossy. */
export interface LanState { state: 'up' | 'down' | 'degraded'; extraDelayMs: number; lossRate: number }

/** Bytes a message sent alone carries besides its payload: the frame's outer header, its length and the DDBMS header. */
export const MESSAGE_HEADER_BYTES = OUTER_HEADER_BYTES + RECORD_LENGTH_BYTES + INNER_HEADER_BYTES
/** Per-hop overhead of sealing on an encrypted WAN link: the AES-GCM tag. */
export const ENCRYPTION_OVERHEAD_BYTES = GCM_TAG_BYTES
/** Frames kept per link for the packet inspector and a sniffer (the newest), and bytes kept of each. */
const CAPTURE_KEEP = 64
const CAPTURE_BYTES = 2048
/** Messages queued behind a busy transmitter share a record up to this many bytes (as TLS records are at most 16 KiB). */
const RECORD_MAX = 16 * 1024

export interface LinkStats {
  bytes: number
  messages: number
  dropped: number
  queueingMs: number
  busyMs: number
  /** Frames the receiving end refused: a tag that did not verify (tampered) or a counter seen before (replayed). */
  rejected: number
  /** Messages the link carried twice (LinkChaos.duplicate) / held back so later ones overtook them (LinkChaos.reorder). */
  duplicated: number
  reordered: number
}

/** One frame as it crossed a link (the first CAPTURE_BYTES of it). */
export interface CapturedFrame {
  at: number
  link: string
  from: SiteCode
  to: SiteCode
  seq: number
  sealed: boolean
  /** The whole frame's length on the wire. */
  bytes: number
  /** DDBMS messages the frame carries (those that queued behind the transmitter travel in one frame). */
  messages: number
  frame: Buffer
  /** What happened at the receiving end, once it arrived. */
  outcome?: 'accepted' | 'rejected' | 'lost'
  note?: string
}

/** The crypto state of a link for one epoch: keys and a counter and replay window per direction. */
interface LinkCrypto { epoch: number; keys: LinkKeys; sendAB: number; sendBA: number; winAB: ReplayWindow; winBA: ReplayWindow }

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
  crypto?: LinkCrypto
  /** Plain-link counters (a legacy frame still numbers itself, but nothing checks it). */
  plainAB: number
  plainBA: number
  captured: CapturedFrame[]
  /** An active attacker's pending change to the next frame(s) crossing (see tamperNext). */
  tamper: number
  /** Duplication and reordering of the messages crossing (setLinkChaos). */
  chaos: LinkChaos
  /** The record each direction is filling while its transmitter is busy (sealed when it starts). */
  openAB?: LinkRecord
  openBA?: LinkRecord
}

interface LinkRecord {
  /** The record that queued behind this one when it was full. */
  next?: LinkRecord
  items: { msg: Message; route: SiteCode[]; i: number; o: SendOptions<unknown>; inner: Buffer; queuedAt: number; epoch: number }[]
  bytes: number
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
  | { type: 'rejected'; link: string; from: SiteCode; to: SiteCode; seq: number; reason: 'tampered' | 'replayed'; at: number }

export interface SendOptions<P> {
  from: SiteCode
  to: SiteCode
  kind: string
  payload: P
  /** Payload size in bytes (the header is added). */
  bytes: number
  /** The payload as serialized on the wire (built once, on the first WAN hop); else a descriptor of it padded to `bytes`. */
  wire?: () => Buffer | string
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
  /** Connections the routers' firewalls refused (newest last, bounded). */
  readonly firewallLog: FirewallLogEntry[] = []
  /** Connections refused per site's router since start. */
  readonly blockedAt = new Map<SiteCode, number>()
  private securityListeners: ((e: Extract<NetEvent, { type: 'rejected' }>) => void)[] = []

  /** Each site's LAN state (absent: up). */
  private lans = new Map<SiteCode, LanState>()

  constructor(private sim: Simulator, private topo: TopologySpec) {
    for (const l of topo.links) this.addLink(l)
    for (const s of topo.sites) { this.siteUp.set(s.code, true); this.lanStats.set(s.code, emptyStats()) }
  }

  /**
   * A site's LAN fails (its servers cannot reach each other nor the router: the backup feed and every message
   * to or from the site's servers stop; traffic passing through its router still flows) or degrades (extra
   * delay, loss on every LAN hop), or comes back (`up`).
   */
  setLanState(code: SiteCode, state: LanState['state'], d: Partial<Omit<LanState, 'state'>> = {}): void {
    if (!this.siteUp.has(code)) throw new EngineError('UNKNOWN_SITE', `unknown site ${code}`)
    if (state === 'up') this.lans.delete(code)
    else this.lans.set(code, { state, extraDelayMs: state === 'degraded' ? d.extraDelayMs ?? 0 : 0, lossRate: state === 'degraded' ? d.lossRate ?? 0 : 0 })
    this.routes.clear()
    this.sim.record('net.lan', code, state)
  }

  lanState(code: SiteCode): LanState { return this.lans.get(code) ?? { state: 'up', extraDelayMs: 0, lossRate: 0 } }

  /** Duplication / reordering of the messages crossing a link (0 for none). */
  setLinkChaos(id: string, chaos: Partial<LinkChaos>): void {
    const l = this.link(id)
    l.chaos = { ...l.chaos, ...chaos }
    this.sim.record('net.chaos', id, l.chaos.duplicate, l.chaos.reorder)
  }

  get topology(): TopologySpec { return this.topo }

  addLink(l: LinkSpec): void {
    this.routes.clear()
    this.between.clear()
    this.links.set(l.id, {
      spec: l, state: 'up', degradation: { extraDelayMs: 0, bandwidthFactor: 1, lossRate: 0 }, epoch: 0,
      busyAB: 0, busyBA: 0, stats: emptyStats(), plainAB: 0, plainBA: 0, captured: [], tamper: 0, chaos: { duplicate: 0, reorder: 0 },
    })
  }

  addSite(code: SiteCode): void { this.siteUp.set(code, true); this.lanStats.set(code, emptyStats()); this.routes.clear() }

  onEvent(fn: (e: NetEvent) => void): () => void {
    this.listeners.push(fn)
    return () => { this.listeners = this.listeners.filter((x) => x !== fn) }
  }

  /** Rejections of tampered or replayed frames (the cluster logs them). */
  onSecurityEvent(fn: (e: Extract<NetEvent, { type: 'rejected' }>) => void): () => void {
    this.securityListeners.push(fn)
    return () => { this.securityListeners = this.securityListeners.filter((x) => x !== fn) }
  }

  link(id: string): LinkRuntime {
    const l = this.links.get(id)
    if (!l) throw new EngineError('UNKNOWN_LINK', `unknown link ${id}; links are ${[...this.links.keys()].join(', ')}`)
    return l
  }

  linkBetween(a: SiteCode, b: SiteCode): LinkRuntime | undefined {
    let m = this.between.get(a)
    if (!m) { m = new Map(); this.between.set(a, m) }
    if (m.has(b)) return m.get(b)
    let found: LinkRuntime | undefined
    for (const l of this.links.values()) if ((l.spec.a === a && l.spec.b === b) || (l.spec.a === b && l.spec.b === a)) { found = l; break }
    m.set(b, found)
    return found
  }
  /** linkBetween's answers, per end (links are only ever added: cleared then). */
  private between = new Map<SiteCode, Map<SiteCode, LinkRuntime | undefined>>()

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

  /** Routes computed since the last change of a link's state or delay or of a site's reachability, per origin. */
  private routes = new Map<SiteCode, Map<SiteCode, SiteCode[] | undefined>>()
  private sites = new Map<SiteCode, TopologySpec['sites'][number]>()

  /** Shortest route by propagation delay over usable links and reachable sites; undefined when none (cached; do not modify). */
  route(from: SiteCode, to: SiteCode): SiteCode[] | undefined {
    let m = this.routes.get(from)
    if (!m) { m = new Map(); this.routes.set(from, m) }
    if (m.has(to)) return m.get(to)
    const r = this.computeRoute(from, to)
    m.set(to, r)
    return r
  }

  private computeRoute(from: SiteCode, to: SiteCode): SiteCode[] | undefined {
    if (from === to) return this.lans.get(from)?.state === 'down' ? undefined : [from]
    if (!this.isSiteReachable(from) || !this.isSiteReachable(to)) return undefined
    if (this.lans.get(from)?.state === 'down' || this.lans.get(to)?.state === 'down') return undefined
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

  /** Checks a connection from an arbitrary host to a service against the destination router's rule table. */
  admits(fromHost: string, to: SiteCode, service: string = DDBMS): boolean {
    return firewallAdmits(this.topo.firewalls[to], to, fromHost, service)
  }

  firewall(site: SiteCode): FirewallSpec {
    const fw = this.topo.firewalls[site]
    if (!fw) throw new EngineError('UNKNOWN_SITE', `unknown site ${site}`)
    return fw
  }

  /**
   * A connection attempt from `host` to `service` at `site`'s router (decided by its firewall): a refusal is
   * counted, logged and recorded in the trace. Returns the verdict.
   */
  connect(host: string, site: SiteCode, service: string): { allowed: boolean; rule: string } {
    const v = decide(this.firewall(site), site, host, service)
    this.sim.record('net.connect', host, site, service, v.allowed ? 1 : 0)
    if (!v.allowed) this.logBlocked(host, site, service, v.rule)
    return v
  }

  private logBlocked(host: string, site: SiteCode, service: string, rule: string): void {
    this.blockedCount++
    this.blockedAt.set(site, (this.blockedAt.get(site) ?? 0) + 1)
    this.firewallLog.push({ at: this.sim.now, site, from: host, service, port: SERVICES[service] ?? 0, rule })
    if (this.firewallLog.length > 500) this.firewallLog.shift()
  }

  /**
   * Sends a message. Throws UNREACHABLE at once when no route exists (the caller learns of a partition
   * the way a TCP connect fails); a message that is lost in flight is reported via onDrop (if given).
   */
  send<P>(o: SendOptions<P>): Message<P> {
    const fw = this.topo.firewalls[o.to]
    if (!firewallAdmits(fw, o.to, o.from, DDBMS)) {
      const verdict = decide(fw, o.to, o.from, DDBMS)
      this.logBlocked(o.from, o.to, DDBMS, verdict.rule)
      this.emit({ type: 'blocked', from: o.from, to: o.to, kind: o.kind, reason: 'firewall', at: this.sim.now })
      throw new EngineError('FIREWALL_BLOCKED', `firewall at ${o.to} blocked ${o.kind} from ${o.from}`, { site: o.to })
    }
    const route = this.route(o.from, o.to)
    if (!route) {
      const lan = [o.from, o.to].find((c) => this.lans.get(c)?.state === 'down')
      throw new EngineError('UNREACHABLE', lan ? `the LAN at ${lan} is down: no route from ${o.from} to ${o.to}` : `no route from ${o.from} to ${o.to}`, { site: o.to })
    }
    const id = this.nextId++
    // the serialized message, once: sealed (or sent in clear) on each WAN hop
    const inner = route.length > 1 ? innerPlain(id, o.from, o.to, o.kind, o.wire ? o.wire() : describe(o.kind, o.payload), o.bytes) : undefined
    const msg: Message<P> = { id, from: o.from, to: o.to, kind: o.kind, bytes: inner ? inner.length + OUTER_HEADER_BYTES + RECORD_LENGTH_BYTES : o.bytes + MESSAGE_HEADER_BYTES, payload: o.payload, sentAt: this.sim.now }
    if (this.listeners.length) this.emit({ type: 'sent', msg, route })
    this.sim.record('net.send', msg.id, o.kind, o.from, o.to, msg.bytes)
    this.hop(msg, route, 0, o, inner)
    return msg
  }

  /** The link's keys and counters for its current epoch (a link that failed and came back exchanges keys anew). */
  private cryptoOf(l: LinkRuntime): LinkCrypto {
    let c = l.crypto
    if (!c || c.epoch !== l.epoch) {
      const keys = exchangeLinkKeys(this.sim.seed, l.spec.id, l.spec.a, l.spec.b, l.epoch)
      if (!keys.agreed) throw new EngineError('INTERNAL', `key exchange on ${l.spec.id} did not agree`)
      c = l.crypto = { epoch: l.epoch, keys, sendAB: 0, sendBA: 0, winAB: new ReplayWindow(), winBA: new ReplayWindow() }
      this.sim.record('net.rekey', l.spec.id, l.epoch)
    }
    return c
  }

  /** The frame for one hop: the inner part sealed under the direction's key and next counter, or in clear. */
  private frameFor(l: LinkRuntime, forward: boolean, inner: Buffer): { frame: Buffer; seq: number; sealed: boolean } {
    if (!l.spec.encrypted) {
      const seq = forward ? l.plainAB++ : l.plainBA++
      const h = outerHeader(0, seq, inner.length)
      return { frame: Buffer.concat([h, inner], h.length + inner.length), seq, sealed: false }
    }
    const c = this.cryptoOf(l)
    const seq = forward ? c.sendAB++ : c.sendBA++
    // one buffer for the whole frame: the clear header (the AAD), then the ciphertext and the tag written after it
    const frame = writeOuter(Buffer.allocUnsafe(OUTER_HEADER_BYTES + inner.length + GCM_TAG_BYTES), FLAG_SEALED, seq, inner.length + GCM_TAG_BYTES)
    sealInto(forward ? c.keys.ab : c.keys.ba, seq, frame, OUTER_HEADER_BYTES, inner)
    return { frame, seq, sealed: true }
  }

  /**
   * The receiving end of a hop: a sealed frame must verify under the direction's key with a counter not seen
   * before; returns the inner part, or the reason it is refused. A plain frame is taken as it is (the legacy
   * network cannot tell a changed or replayed frame).
   */
  private receive(l: LinkRuntime, forward: boolean, frame: Buffer): { inner: Buffer } | { reason: 'tampered' | 'replayed' } {
    const h = readOuter(frame)
    if (!h) return { reason: 'tampered' }
    if (!l.spec.encrypted) return { inner: frame.subarray(OUTER_HEADER_BYTES) }
    const c = this.cryptoOf(l)
    if (!h.sealed) return { reason: 'tampered' }
    const inner = open(forward ? c.keys.ab : c.keys.ba, h.seq, frame.subarray(0, OUTER_HEADER_BYTES), frame.subarray(OUTER_HEADER_BYTES))
    if (!inner) return { reason: 'tampered' }
    if (!(forward ? c.winAB : c.winBA).accept(h.seq)) return { reason: 'replayed' }
    return { inner }
  }

  private capture(l: LinkRuntime, from: SiteCode, to: SiteCode, f: { frame: Buffer; seq: number; sealed: boolean }, messages: number): CapturedFrame {
    const cf: CapturedFrame = {
      at: this.sim.now, link: l.spec.id, from, to, seq: f.seq, sealed: f.sealed, bytes: f.frame.length, messages,
      frame: f.frame.length <= CAPTURE_BYTES ? f.frame : Buffer.from(f.frame.subarray(0, CAPTURE_BYTES)),
    }
    l.captured.push(cf)
    if (l.captured.length > CAPTURE_KEEP) l.captured.shift()
    return cf
  }

  /** The frames that crossed a link, oldest first (the newest CAPTURE_KEEP). */
  captured(linkId: string): readonly CapturedFrame[] { return this.link(linkId).captured }

  /** An active attacker on the link flips one byte of each of the next `n` frames that cross it. */
  tamperNext(linkId: string, n = 1): void { this.link(linkId).tamper += n }

  /**
   * An active attacker re-sends a frame it captured on the link (a copy, toward the same end). The receiving end
   * checks it like any frame: on an encrypted link its counter was already used, so it is rejected and logged.
   * Returns what the receiving end did.
   */
  replay(linkId: string, frame: CapturedFrame, onOutcome?: (accepted: boolean, reason?: string) => void): void {
    const l = this.link(linkId)
    if (l.state === 'down') throw new EngineError('UNREACHABLE', `link ${linkId} is down`)
    const forward = frame.from === l.spec.a
    const copy = Buffer.from(frame.frame)
    const epoch = l.epoch
    this.sim.record('net.replay', linkId, frame.seq)
    this.sim.schedule(l.spec.delayMs + (copy.length * 8 * 1000) / l.spec.bandwidthBps, 'net.hop', () => {
      if (l.epoch !== epoch) return onOutcome?.(false, 'link failed in flight')
      const r = this.receive(l, forward, copy)
      if ('reason' in r) { this.reject(l, frame.from, frame.to, frame.seq, r.reason); return onOutcome?.(false, r.reason) }
      // a plain link takes the copy for a new message: the legacy receiver cannot tell
      this.sim.record('net.replayAccepted', linkId, frame.seq)
      onOutcome?.(true)
    })
  }

  private reject(l: LinkRuntime, from: SiteCode, to: SiteCode, seq: number, reason: 'tampered' | 'replayed'): void {
    l.stats.rejected++
    this.sim.record('net.reject', l.spec.id, seq, reason)
    const e = { type: 'rejected' as const, link: l.spec.id, from, to, seq, reason, at: this.sim.now }
    for (const fn of this.securityListeners) fn(e)
    if (this.listeners.length) this.emit(e)
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
      const b2 = total + (l.spec.encrypted ? ENCRYPTION_OVERHEAD_BYTES : 0) // the frame: headers, payload, tag
      ms += l.spec.delayMs + l.degradation.extraDelayMs + (b2 * 8 * 1000) / (l.spec.bandwidthBps * l.degradation.bandwidthFactor)
    }
    return ms
  }

  /** `chaosDone`: this hop's duplication / reordering was already decided (the copy, or the message held back). */
  private hop<P>(msg: Message<P>, route: SiteCode[], i: number, o: SendOptions<P>, inner?: Buffer, chaosDone = false): void {
    const now = this.sim.now
    if (route.length === 1) {
      const s = this.site(msg.from)
      const st = this.lanStats.get(msg.from)!
      const tx = (msg.bytes * 8 * 1000) / s.lanBps
      st.bytes += msg.bytes; st.messages++; st.busyMs += tx
      const lan = this.lans.get(msg.from)
      const lost = !!lan && lan.lossRate > 0 && this.sim.rng.chance(lan.lossRate)
      this.sim.schedule(s.lanDelayMs + (lan?.extraDelayMs ?? 0) + tx, 'net.lan', () => {
        if (this.lans.get(msg.from)?.state === 'down') { st.dropped++; return this.drop(msg, o, `the LAN at ${msg.from} failed in flight`) }
        if (lost) { st.dropped++; return this.drop(msg, o, `lost on the LAN at ${msg.from}`) }
        this.deliver(msg, route, o)
      })
      return
    }
    const a = route[i], b = route[i + 1]
    const l = this.linkBetween(a, b)
    if (!l || l.state === 'down' || !this.isSiteReachable(b)) return this.drop(msg, o, `link ${a}-${b} down`)
    if (!chaosDone && (l.chaos.duplicate > 0 || l.chaos.reorder > 0)) {
      if (l.chaos.reorder > 0 && this.sim.rng.chance(l.chaos.reorder)) {
        // held back before it reaches the transmitter: messages sent after it cross first
        l.stats.reordered++
        const holdMs = Math.max(5, l.spec.delayMs) * (1 + 2 * this.sim.rng.next())
        this.sim.record('net.reorder', msg.id, l.spec.id, holdMs)
        this.sim.schedule(holdMs, 'net.hold', () => this.hop(msg, route, i, o, inner, true))
        return
      }
      if (l.chaos.duplicate > 0 && this.sim.rng.chance(l.chaos.duplicate)) {
        // the sender's transport sends it again (a fresh frame and counter, so the receiving end takes it): delivered twice
        l.stats.duplicated++
        this.sim.record('net.duplicate', msg.id, l.spec.id)
        this.hop({ ...msg }, route, i, o, inner, true)
      }
    }
    const forward = l.spec.a === a
    // the message joins the direction's record that waits for the transmitter (or opens one that starts when it is free)
    let rec = forward ? l.openAB : l.openBA
    // a full record (RECORD_MAX) is followed by the next one, which starts when it has been sent
    while (rec && rec.items.length && rec.bytes + RECORD_LENGTH_BYTES + inner!.length > RECORD_MAX) rec = rec.next ??= { items: [], bytes: 0 }
    const item = { msg, route, i, o: o as SendOptions<unknown>, inner: inner!, queuedAt: now, epoch: l.epoch }
    if (!rec) {
      const r: LinkRecord = { items: [item], bytes: RECORD_LENGTH_BYTES + inner!.length }
      const startAt = Math.max(now, forward ? l.busyAB : l.busyBA)
      // an idle transmitter sends the message at once, alone; behind a busy one it opens the record that waits
      if (startAt <= now) return this.transmit(l, forward, a, b, r)
      if (forward) l.openAB = r
      else l.openBA = r
      this.sim.schedule(startAt - now, 'net.seal', () => this.transmit(l, forward, a, b, r))
      return
    }
    rec.items.push(item)
    rec.bytes += RECORD_LENGTH_BYTES + inner!.length
  }

  /**
   * The transmitter is free: the record (a message sent on an idle link, or every message that queued behind the
   * previous record) is sealed once — or sent in clear on a plain link — and crosses the link as one frame. At the far end
   * it is opened and checked; its messages go on (next hop) or are delivered, in order.
   */
  private transmit(l: LinkRuntime, forward: boolean, a: SiteCode, b: SiteCode, rec: LinkRecord): void {
    if (forward ? l.openAB === rec : l.openBA === rec) { if (forward) l.openAB = rec.next; else l.openBA = rec.next }
    const now = this.sim.now
    const next = rec.next
    if (next) this.sim.schedule(0, 'net.seal', () => this.transmit(l, forward, a, b, next))
    const items = l.state === 'down' ? [] : rec.items.every((it) => it.epoch === l.epoch) ? rec.items : rec.items.filter((it) => it.epoch === l.epoch)
    if (items !== rec.items) for (const it of rec.items) if (!items.includes(it)) this.drop(it.msg, it.o, `link ${l.spec.id} failed in flight`, l)
    if (!items.length) return
    const plain = Buffer.allocUnsafe(items === rec.items ? rec.bytes : items.reduce((n, it) => n + RECORD_LENGTH_BYTES + it.inner.length, 0))
    let at = 0
    for (const it of items) { plain.writeUInt32BE(it.inner.length, at); it.inner.copy(plain, at + RECORD_LENGTH_BYTES); at += RECORD_LENGTH_BYTES + it.inner.length }
    const f = this.frameFor(l, forward, plain)
    if (l.tamper > 0) { l.tamper--; f.frame = Buffer.from(f.frame); f.frame[f.frame.length - 1 - (f.seq % 8)] ^= 0x40; this.sim.record('net.tamper', l.spec.id, f.seq) }
    const cf = this.capture(l, a, b, f, items.length)
    const bytes = f.frame.length
    const bw = l.spec.bandwidthBps * l.degradation.bandwidthFactor
    const start = Math.max(now, forward ? l.busyAB : l.busyBA)
    const tx = (bytes * 8 * 1000) / bw
    if (forward) l.busyAB = start + tx
    else l.busyBA = start + tx
    l.stats.bytes += bytes; l.stats.messages += items.length; l.stats.busyMs += tx
    for (const it of items) l.stats.queueingMs += start - it.queuedAt
    const epoch = l.epoch
    const lost = l.degradation.lossRate > 0 && this.sim.rng.chance(l.degradation.lossRate)
    const arrive = start - now + tx + l.spec.delayMs + l.degradation.extraDelayMs
    const dropAll = (reason: string, link?: LinkRuntime) => { for (const it of items) this.drop(it.msg, it.o, reason, link) }
    this.sim.schedule(arrive, 'net.hop', () => {
      if (lost) { cf.outcome = 'lost'; return dropAll(`lost on ${l.spec.id}`, l) }
      if (l.epoch !== epoch || l.state === 'down') { cf.outcome = 'lost'; return dropAll(`link ${l.spec.id} failed in flight`, l) }
      if (!this.isSiteReachable(b)) { cf.outcome = 'lost'; return dropAll(`${b} unreachable`, l) }
      const r = this.receive(l, forward, f.frame)
      if ('reason' in r) {
        cf.outcome = 'rejected'; cf.note = r.reason
        this.reject(l, a, b, f.seq, r.reason)
        return dropAll(`${r.reason} frame rejected by ${b} on ${l.spec.id}`)
      }
      cf.outcome = 'accepted'
      if (recordCount(r.inner) !== items.length) { cf.outcome = 'rejected'; cf.note = 'malformed'; return dropAll(`malformed frame on ${l.spec.id}`) }
      // the inner parts as received go on to a next hop; a message delivered here needs none of them
      const inners = items.some((it) => it.i + 2 < it.route.length) ? splitRecord(r.inner) : undefined
      for (let k = 0; k < items.length; k++) {
        const it = items[k]
        if (it.i + 2 < it.route.length) this.hop(it.msg, it.route, it.i + 1, it.o, inners![k])
        else this.deliver(it.msg, it.route, it.o)
      }
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

function emptyStats(): LinkStats { return { bytes: 0, messages: 0, dropped: 0, queueingMs: 0, busyMs: 0, rejected: 0, duplicated: 0, reordered: 0 } }

/** The body of a message that gives no wire encoding: its kind and a short payload descriptor (padded by the frame). */
function describe(kind: string, payload: unknown): string {
  if (payload === null || payload === undefined) return kind
  if (typeof payload === 'string' || typeof payload === 'number') return `${kind} ${payload}`
  return kind
}
