/**
 * The ticket servers running on the cluster: one per site (the site's application server), talking only
 * through cluster.net, timed by cluster.sim. POS clients present tickets (invoice numbers) at a site and retry
 * at another site after a timeout. Records a per-ticket message trace for the sequence diagram, the history of
 * client requests, and calls the sale hook exactly once, at the accepting site, when it accepts.
 */
import type { Cluster } from '../cluster'
import { EngineError } from '../errors'
import type { SiteCode } from '../topology/types'
import {
  type CoreConfig, type Decision, type LogValue, type Msg, type Out, type ServerState, NOBODY,
  crash, defaultConfig, hasWork, leaderOf, majority, newServer, phaseOf, receive, restart, resume, retryPending, startElection, submit,
} from './core'

import type { AttemptView, Outcome, TicketRequestView, TicketStateView, TicketTraceEvent } from '../api/tickets'
export type { AttemptView, Outcome, TicketRequestView, TicketServerView, TicketStateView, TicketTraceEvent } from '../api/tickets'

export interface SaleRecord { site: SiteCode; ticket: string; client: string; sale: unknown; at: number }

export interface TicketServiceOptions {
  /** Called exactly once per accepted ticket, at the accepting site, in the same step as the acceptance. */
  recordSale?: (r: SaleRecord) => void
  /** Client timeout before retrying at the next site (virtual ms). */
  clientTimeoutMs?: number
  /** Server retry period for unfinished work (virtual ms). */
  retryMs?: number
  core?: Partial<CoreConfig>
  /** Keep traces for this many tickets. */
  traceTickets?: number
  /** Record traces at all (off in throughput benches). */
  trace?: boolean
}

const BYTES: Record<Msg['t'], number> = { NEWTKT: 40, REPLY: 48, DECIDED: 40, FWD: 96, PREPARE: 24, PROMISE: 64, ACCEPT: 112, ACCEPTED: 32, COMMIT: 104, CATCHUP: 24 }

interface ClientReq {
  view: TicketRequestView
  sites: SiteCode[]
  next: number
  sale: unknown
  timer?: ReturnType<Cluster['sim']['schedule']>
  listeners: ((v: TicketRequestView) => void)[]
}

export class TicketService {
  readonly cfg: CoreConfig
  readonly servers: ServerState[]
  readonly codes: SiteCode[]
  private idx = new Map<SiteCode, number>()
  private traces = new Map<string, TicketTraceEvent[]>()
  private requests: ClientReq[] = []
  private waiting = new Map<string, ClientReq[]>() // `${site}|${ticket}` → requests waiting at that site
  private tickTimer: (ReturnType<Cluster['sim']['schedule']> | undefined)[] = []
  private idleTicks: number[] = []
  private lastProgress: number[] = []
  private seenNext: number[] = []
  private seenBal: number[] = []
  private backoff: number[] = []
  private nextReq = 1
  readonly sales: SaleRecord[] = []
  private unsub: () => void
  decisions = 0

  constructor(readonly cluster: Cluster, private opts: TicketServiceOptions = {}) {
    this.codes = cluster.siteCodes
    this.codes.forEach((c, i) => this.idx.set(c, i))
    // DECIDED notifications are not needed on the WAN: a later claimant learns the winner from its majority of
    // (durable) votes in the same single round trip; leaving them out saves two messages per ticket.
    this.cfg = defaultConfig(this.codes.length, { notifyDecisions: false, ...opts.core })
    this.servers = this.codes.map((_, i) => newServer(i, this.cfg))
    this.lastProgress = this.codes.map(() => 0)
    this.seenNext = this.codes.map(() => 0)
    this.seenBal = this.codes.map(() => 0)
    this.backoff = this.codes.map(() => 0)
    this.idleTicks = this.codes.map(() => 0)
    this.unsub = cluster.on((e) => {
      if ((e.type === 'server.down' || e.type === 'server.up') && e.role === 'app') this.sync(e.site)
      // after a repair, servers that gave up retrying start again
      if (e.type === 'server.up' || e.type === 'link.up' || e.type === 'site.recovered') this.kick()
    })
  }

  /** Unsubscribes and cancels the retry timers (the cluster's registry calls this when the cluster closes). */
  dispose(): void {
    this.unsub()
    for (let i = 0; i < this.tickTimer.length; i++) { this.cluster.sim.cancel(this.tickTimer[i]); this.tickTimer[i] = undefined }
    this.cluster.subsystems.release('tickets', this)
  }

  /** After a repair: servers that gave up retrying start again. */
  kick(): void {
    for (let i = 0; i < this.servers.length; i++) { this.idleTicks[i] = 0; this.ensureTick(i) }
  }

  private i(site: SiteCode): number {
    const i = this.idx.get(site)
    if (i === undefined) throw new EngineError('UNKNOWN_SITE', `unknown site ${site}; sites are ${this.codes.join(', ')}`, { site })
    return i
  }

  /** Brings a ticket server's up/down state in line with the cluster's application server. */
  private sync(site: SiteCode): void {
    const i = this.i(site)
    const s = this.servers[i]
    const up = this.cluster.isServerUp(`${site}.app`)
    this.lastProgress[i] = this.cluster.sim.now
    if (s.up && !up) {
      crash(s, this.cfg)
      this.traceAll('crash', site, `${site} ticket server crashed (volatile state lost, stable log kept)`)
    } else if (!s.up && up) {
      this.traceAll('restart', site, `${site} ticket server restarted from its stable log`)
      this.run(i, (out) => restart(s, this.cfg, out))
    }
  }

  // ---- outputs ------------------------------------------------------------------------------
  private outs: Out[] = []
  private out(i: number): Out {
    return (this.outs[i] ??= {
      send: (m) => this.send(m),
      decided: (d) => this.onDecided(d),
      delivered: this.opts.trace === false ? undefined : (srv, slot, val) => { if (val.k !== 'noop') this.trace(val.tkt, { at: this.cluster.sim.now, kind: 'deliver', site: this.codes[srv], msg: 'DELIVER', detail: `slot ${slot}: ${valText(val, this.codes)}` }) },
    })
  }

  private run(i: number, f: (out: Out) => void): void {
    const s = this.servers[i]
    const hadPending = anyKey(s.v.pending)
    f(this.out(i))
    // progress of the total order: a delivery, or the first value waiting
    if (s.d.next !== this.seenNext[i] || (!hadPending && anyKey(s.v.pending))) { this.seenNext[i] = s.d.next; this.lastProgress[i] = this.cluster.sim.now; this.backoff[i] = 0 }
    // hearing of a newer ballot (a candidate or a new leader) also counts as progress: give it time
    if (s.v.leaderBal !== this.seenBal[i]) { this.seenBal[i] = s.v.leaderBal; this.lastProgress[i] = this.cluster.sim.now }
    this.idleTicks[i] = 0
    this.ensureTick(i)
  }

  /**
   * Outbox coalescing: every protocol message a server emits to the same peer within one virtual instant
   * travels in one network message (one header, one routing decision). No added delay.
   */
  private outbox = new Map<number, Msg[]>()
  private flushScheduled = false

  private send(m: Msg): void {
    if (this.opts.trace !== false) {
      const tkt = msgTicket(m)
      if (tkt) this.trace(tkt, { at: this.cluster.sim.now, kind: 'send', msg: m.t, from: this.codes[m.from], to: this.codes[m.to], detail: msgLabel(m, this.codes) })
    }
    const key = m.from * 1024 + m.to
    const q = this.outbox.get(key)
    if (q) q.push(m)
    else this.outbox.set(key, [m])
    if (!this.flushScheduled) {
      this.flushScheduled = true
      this.cluster.sim.schedule(0, 'ticket.flush', () => this.flush())
    }
  }

  private flush(): void {
    this.flushScheduled = false
    const batches = [...this.outbox.values()]
    this.outbox.clear()
    for (const msgs of batches) this.transmit(msgs)
  }

  private transmit(msgs: Msg[]): void {
    const first = msgs[0]
    const from = this.codes[first.from], to = this.codes[first.to]
    let bytes = 0
    for (const m of msgs) bytes += BYTES[m.t] + (m.t === 'PROMISE' ? m.accepted.length * 96 : 0)
    const tracing = this.opts.trace !== false
    const lost = (why: string) => {
      if (!tracing) return
      for (const m of msgs) { const tkt = msgTicket(m); if (tkt) this.trace(tkt, { at: this.cluster.sim.now, kind: 'drop', msg: m.t, from, to, detail: `${msgLabel(m, this.codes)} lost: ${why}` }) }
    }
    try {
      this.cluster.net.send({
        from, to, kind: msgs.length === 1 ? `ticket.${first.t}` : 'ticket.batch', payload: msgs, bytes,
        onDeliver: () => {
          const i = first.to
          const s = this.servers[i]
          if (!s.up || !this.cluster.isServerUp(`${to}.app`)) return lost(`${to} ticket server down`)
          for (const m of msgs) {
            if (tracing) { const tkt = msgTicket(m); if (tkt) this.trace(tkt, { at: this.cluster.sim.now, kind: 'deliver', msg: m.t, from, to, detail: msgLabel(m, this.codes) }) }
            this.run(i, (out) => receive(s, this.cfg, m, out))
          }
        },
        onDrop: (reason) => lost(reason),
      })
    } catch (e) {
      if (!(e instanceof EngineError)) throw e
      lost(`not sent: ${e.message}`)
    }
  }

  private onDecided(d: Decision): void {
    this.decisions++
    const site = this.codes[d.server]
    const now = this.cluster.sim.now
    if (d.accepted) {
      const rec: SaleRecord = { site, ticket: d.tkt, client: d.client ?? '?', sale: d.sale, at: now }
      this.opts.recordSale?.(rec)
      this.sales.push(rec)
      if (this.sales.length > 5000) this.sales.shift()
    }
    if (this.opts.trace !== false) this.trace(d.tkt, { at: now, kind: 'decide', site, detail: d.accepted ? `${site} ACCEPTS ${d.tkt} (${d.how})` : d.winner === NOBODY ? `${site} rejects ${d.tkt}: voided by conflicting claims (${d.how})` : `${site} rejects ${d.tkt}: already used at ${this.codes[d.winner]} (${d.how})` })
    const key = `${site}|${d.tkt}`
    const reqs = this.waiting.get(key)
    if (!reqs) return
    this.waiting.delete(key)
    for (const r of reqs) {
      const answer = d.accepted ? `accepted at ${site}` : d.winner === NOBODY ? `rejected: ticket ${d.tkt} voided by conflicting concurrent claims` : `rejected: already used at ${this.codes[d.winner]}`
      this.finish(r, site, d.accepted ? 'accepted' : 'rejected', answer, d.winner === NOBODY ? undefined : this.codes[d.winner], d.how)
    }
  }

  // ---- timers ---------------------------------------------------------------------------------
  private ensureTick(i: number): void {
    if (this.tickTimer[i] || !hasWork(this.servers[i])) return
    const period = this.opts.retryMs ?? 150
    this.tickTimer[i] = this.cluster.sim.schedule(period, 'ticket.retry', () => {
      this.tickTimer[i] = undefined
      const s = this.servers[i]
      if (!s.up || !hasWork(s)) return
      if (++this.idleTicks[i] > 60) return // give up until something new happens (keeps the simulation idle-able)
      const stalled = this.cluster.sim.now - this.lastProgress[i]
      const out = this.out(i)
      // A follower whose values make no progress for a while suspects the leader and runs an election.
      // Randomised, exponentially backed-off election timeout (avoids duelling candidates).
      const electAfter = 2 * period * 2 ** Math.min(this.backoff[i], 5) + this.cluster.sim.rng.int(0, 2 * period)
      if (s.v.role !== 'leader' && anyKey(s.v.pending) && stalled >= electAfter) {
        this.traceAll('elect', this.codes[i], `${this.codes[i]} suspects leader ${this.codes[leaderOf(s, this.cfg)]} and starts an election`)
        startElection(s, this.cfg, out)
        this.backoff[i]++
        this.lastProgress[i] = this.cluster.sim.now
        this.seenBal[i] = s.v.leaderBal
      } else {
        resume(s, this.cfg, out)
        retryPending(s, this.cfg, out)
      }
      this.ensureTick(i)
    })
  }

  // ---- clients --------------------------------------------------------------------------------
  /**
   * A POS client presents `ticket` at `sites[0]`; on timeout it retries at the next site in `sites`.
   * Returns the request's live view (updated as the simulation runs); `onDone` fires when it finishes.
   */
  present(ticket: string, sites: SiteCode[], opts: { client?: string; sale?: unknown; onDone?: (v: TicketRequestView) => void } = {}): TicketRequestView {
    if (!/^[A-Za-z0-9._:-]{1,64}$/.test(ticket)) throw new EngineError('BAD_INPUT', `a ticket is 1–64 letters, digits or . _ : -, got "${ticket}"`)
    if (!sites.length) throw new EngineError('BAD_INPUT', 'at least one site')
    for (const s of sites) this.i(s)
    const view: TicketRequestView = { id: this.nextReq++, ticket, client: opts.client ?? `POS@${sites[0]}`, submittedAt: this.cluster.sim.now, outcome: 'pending', answer: 'pending', attempts: [] }
    const req: ClientReq = { view, sites, next: 0, sale: opts.sale ?? { invno: ticket }, listeners: opts.onDone ? [opts.onDone] : [] }
    this.requests.push(req)
    if (this.requests.length > 2000) this.requests.shift()
    this.attempt(req)
    return view
  }

  private attempt(req: ClientReq): void {
    const site = req.sites[req.next++]
    const i = this.i(site)
    const now = this.cluster.sim.now
    const a: AttemptView = { site, at: now, outcome: 'pending' }
    req.view.attempts.push(a)
    const lan = this.cluster.site(site).lanDelayMs
    if (this.opts.trace !== false) this.trace(req.view.ticket, { at: now, kind: 'client', site, detail: `${req.view.client} presents ${req.view.ticket} at ${site}` })
    this.cluster.sim.schedule(lan, 'ticket.client', () => {
      const s = this.servers[i]
      if (!s.up || !this.cluster.isServerUp(`${site}.app`)) return // no answer: the client times out
      if (this.opts.trace !== false) this.trace(req.view.ticket, { at: this.cluster.sim.now, kind: 'submit', site, detail: `${site} receives ${req.view.ticket} from ${req.view.client}` })
      let r = { kind: 'started' } as ReturnType<typeof submit>
      this.run(i, (out) => { r = submit(s, this.cfg, req.view.ticket, req.view.client, req.sale, this.cluster.sim.now, out) })
      if (req.view.outcome !== 'pending') return
      if (r.kind === 'started') {
        const key = `${site}|${req.view.ticket}`
        const list = this.waiting.get(key) ?? []
        list.push(req)
        this.waiting.set(key, list)
      } else if (r.kind === 'rejected') {
        const answer = r.reason === 'already-used' ? `rejected: already used at ${this.codes[r.winner!]}` : r.reason === 'voided' ? `rejected: ticket ${req.view.ticket} voided by conflicting concurrent claims` : `rejected: ticket ${req.view.ticket} already presented at ${site} (in progress)`
        this.finish(req, site, 'rejected', answer, r.winner !== undefined ? this.codes[r.winner] : undefined, 'learned')
      }
    })
    const timeout = this.opts.clientTimeoutMs ?? 2000
    req.timer = this.cluster.sim.schedule(lan + timeout, 'ticket.client.timeout', () => {
      if (req.view.outcome !== 'pending') return
      a.outcome = 'timeout'
      a.answer = `no answer from ${site} within ${timeout} ms`
      const key = `${site}|${req.view.ticket}`
      const list = this.waiting.get(key)
      if (list) { const k = list.indexOf(req); if (k >= 0) list.splice(k, 1); if (!list.length) this.waiting.delete(key) }
      if (req.next < req.sites.length) this.attempt(req)
      else { req.view.outcome = 'timeout'; req.view.answer = `no answer from ${req.sites.join(', ')}`; req.view.decidedAt = this.cluster.sim.now; for (const f of req.listeners) f(req.view) }
    })
  }

  private finish(req: ClientReq, site: SiteCode, outcome: Outcome, answer: string, winner: SiteCode | undefined, how: TicketRequestView['mode']): void {
    if (req.view.outcome !== 'pending') return
    this.cluster.sim.cancel(req.timer)
    const a = req.view.attempts[req.view.attempts.length - 1]
    if (a && a.site === site) { a.outcome = outcome; a.answer = answer }
    req.view.outcome = outcome
    req.view.answer = answer
    req.view.acceptedAt = winner
    req.view.mode = how
    req.view.decidedAt = this.cluster.sim.now
    this.cluster.log('ticket', `ticket ${req.view.ticket} ${outcome} at ${site}: ${answer}`, site)
    for (const f of req.listeners) f(req.view)
  }

  // ---- traces and views -------------------------------------------------------------------------
  private trace(tkt: string, e: TicketTraceEvent): void {
    let t = this.traces.get(tkt)
    if (!t) {
      t = []
      this.traces.set(tkt, t)
      const max = this.opts.traceTickets ?? 200
      if (this.traces.size > max) this.traces.delete(this.traces.keys().next().value!)
    }
    if (t.length < 2000) t.push(e)
  }

  private traceAll(kind: TicketTraceEvent['kind'], site: SiteCode, detail: string): void {
    if (this.opts.trace === false) return
    // shown in the diagrams of the tickets still undecided somewhere
    for (const tkt of this.traces.keys()) {
      if (this.servers.some((x) => x.d.received[tkt] && x.d.decided[tkt] === undefined)) this.trace(tkt, { at: this.cluster.sim.now, kind, site, detail })
    }
  }

  traceOf(ticket: string): TicketTraceEvent[] { return [...(this.traces.get(ticket) ?? [])] }

  history(limit = 200): TicketRequestView[] { return this.requests.slice(-limit).map((r) => structuredClone(r.view)) }

  /** The outcome of a ticket across the servers: winner if any server decided. */
  outcomeOf(ticket: string): { decided: boolean; winner?: SiteCode; voided?: boolean; acceptedAt: SiteCode[] } {
    let winner: number | undefined
    const acceptedAt: SiteCode[] = []
    for (const s of this.servers) {
      const d = s.d.decided[ticket]
      if (d !== undefined) winner = d
      if (s.d.received[ticket]?.status === 'accepted') acceptedAt.push(this.codes[s.id])
    }
    return winner === undefined ? { decided: false, acceptedAt } : winner === NOBODY ? { decided: true, voided: true, acceptedAt } : { decided: true, winner: this.codes[winner], acceptedAt }
  }

  stateView(limit = 50): TicketStateView {
    const name = (x: number) => (x === NOBODY ? '-' : this.codes[x])
    const last = <T>(xs: T[]) => xs.slice(-limit)
    return {
      n: this.cfg.n, majority: majority(this.cfg.n), rule: this.cfg.rule,
      servers: this.servers.map((s) => ({
        site: this.codes[s.id], up: s.up, role: s.v.role, leader: this.codes[leaderOf(s, this.cfg)], ballot: Math.max(s.v.leaderBal, s.d.promised), logLength: s.d.next,
        rTKT: last(Object.entries(s.d.received)).map(([ticket, r]) => ({ ticket, client: r.client, status: r.status })),
        aTKT: last(Object.entries(s.d.votes)).map(([ticket, v]) => ({ ticket, votedFor: name(v) })),
        vTKT: last(Object.entries(s.d.decided)).map(([ticket, w]) => ({ ticket, winner: name(w), how: s.d.how[ticket] ?? '' })),
        claims: Object.entries(s.v.claims).map(([ticket, c]) => ({ ticket, phase: phaseOf(s, ticket), replies: Object.entries(c.replies).map(([f, v]) => ({ from: this.codes[Number(f)], votedFor: name(v) })) })),
      })),
    }
  }
}

function anyKey(o: object): boolean { for (const _ in o) return true; return false }

function msgTicket(m: Msg): string | undefined {
  if (m.t === 'NEWTKT' || m.t === 'REPLY' || m.t === 'DECIDED') return m.tkt
  if ((m.t === 'FWD' || m.t === 'ACCEPT' || m.t === 'COMMIT') && m.val.k !== 'noop') return m.val.tkt
  return undefined
}

export function valText(v: LogValue, codes: SiteCode[]): string {
  const n = (x: number) => (x === NOBODY ? '-' : codes[x])
  if (v.k === 'claim') return `claim(${codes[v.claimant]}, ${v.tkt}, votes {${Object.entries(v.votes).map(([r, x]) => `${codes[Number(r)]}→${n(x)}`).join(', ')}})`
  if (v.k === 'vote') return `vote(${codes[v.responder]}→${n(v.votedFor)}, ${v.tkt})`
  return 'noop'
}

function msgLabel(m: Msg, codes: SiteCode[]): string {
  const n = (x: number) => (x === NOBODY ? '-' : codes[x])
  switch (m.t) {
    case 'NEWTKT': return `NEWTKT(${codes[m.from]}, ${m.tkt})`
    case 'REPLY': return `${m.votedFor === m.to ? 'ACK' : 'NACK'}(voted ${n(m.votedFor)}, ${m.tkt})${m.decided !== undefined ? ` decided ${n(m.decided)}` : ''}`
    case 'DECIDED': return `DECIDED(${m.tkt} → ${n(m.winner)})`
    case 'FWD': return `BROADCAST ${valText(m.val, codes)}`
    case 'ACCEPT': return `ACCEPT b${m.bal} slot ${m.slot} ${valText(m.val, codes)}`
    case 'COMMIT': return `COMMIT slot ${m.slot} ${valText(m.val, codes)}`
    default: return m.t
  }
}
