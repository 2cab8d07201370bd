/**
 * Ticket validation protocol (US 7,231,368 B2, FIG. 8) — the corrected protocol core, as pure state machines.
 *
 * Every site's application server is a ticket server S_i. The core is transport-free: each handler takes a
 * server's state and an input and pushes its outputs (messages, decisions) into an `Out` collector. The
 * simulation runtime (runtime.ts) carries the messages over the simulated network; the model checker
 * (modelcheck.ts) explores every interleaving of the same messages. State is plain data (JSON-clonable).
 *
 * Fixes of the literal text (spec §9):
 *  1. A reply records whom the responder voted for (`votedFor`), not just that it answered.
 *  2. A vote (aTKT) is written to the server's stable storage (`durable`) before the reply leaves; a restarted
 *     server answers from that record and never votes twice.
 *  3. The conflict-mode broadcast is a uniform total-order broadcast: Multi-Paxos among the ticket servers
 *     (ballots, leader election on demand, re-proposal of accepted values, catch-up), surviving a crashed
 *     leader and any minority crash.
 *  4. The decision is a deterministic function of the delivered sequence that at most one claimant can
 *     satisfy: the votes carried by delivered claims and published votes are tallied; X wins once a majority
 *     of servers is known to have voted X; nobody wins once no claimant can still reach a majority.
 *     Conflict-free acceptance (a majority of ACKs for S_i) is the same rule applied to S_i's own replies,
 *     so the fast path and the ordered path can never disagree.
 *
 *  5. Tickets are invoice numbers of SALES: a ticket that is already a sale (written before the ticket servers
 *     started, or outside the protocol at a server's own site) is used. Every server consults the sales it
 *     knows (`Out.sold`: the ledger of invoice numbers every ticket server starts with, and its own site's
 *     fragment) before it votes or claims, and decides such a ticket for the site holding the sale ('sold').
 *     The acceptance and the sale are one outcome: the claimant's sale hook (`Out.decided`) reports whether
 *     the sale was written; if not, the ticket is not reported accepted (status 'failed': won by this site, its
 *     sale still owed) and presenting it again at the winner writes it.
 *
 * The `literal` rule reproduces FIG. 8 as written (responder sets, volatile aTKT, line-32 accept test) so the
 * model checker can show its counterexample.
 */

export type Ticket = string
/** votedFor / winner value meaning "nobody" (an abstention, or a ticket voided by conflicting claims). */
export const NOBODY = -1

export type Rule = 'fixed' | 'literal'

export interface CoreConfig {
  /** Number of ticket servers (sites). */
  n: number
  rule: Rule
  /** Write votes to stable storage before replying (fix 2). Off = literal behaviour: aTKT lost on crash. */
  durableVotes: boolean
  /** Send DECIDED notifications after a decision so other servers answer later claims at once. */
  notifyDecisions: boolean
  /**
   * 'paxos': the built-in Multi-Paxos total-order broadcast over the messages below.
   * 'external': the host orders values (out.abcast) and hands them back with deliverOrdered — used by the
   * model checker to explore the ticket layer against an abstract uniform atomic broadcast.
   */
  abcast: 'paxos' | 'external'
}

export function majority(n: number): number { return Math.ceil((n + 1) / 2) }

export function defaultConfig(n: number, over: Partial<CoreConfig> = {}): CoreConfig {
  return { n, rule: 'fixed', durableVotes: true, notifyDecisions: true, abcast: 'paxos', ...over }
}

// ---- messages ------------------------------------------------------------------------------------

export type LogValue =
  /** Conflict-mode claim: claimant, ticket and its replies (responder → whom it voted for). */
  | { id: string; k: 'claim'; tkt: Ticket; claimant: number; votes: Record<string, number> }
  /** A server publishing its own (durable) vote for a ticket in conflict. */
  | { id: string; k: 'vote'; tkt: Ticket; responder: number; votedFor: number }
  | { id: string; k: 'noop' }

export type Msg =
  | { t: 'NEWTKT'; from: number; to: number; tkt: Ticket }
  /** ACK when votedFor === to (the claimant), NACK naming votedFor otherwise. `decided` if already decided. */
  | { t: 'REPLY'; from: number; to: number; tkt: Ticket; votedFor: number; decided?: number; sold?: true }
  | { t: 'DECIDED'; from: number; to: number; tkt: Ticket; winner: number }
  | { t: 'FWD'; from: number; to: number; val: LogValue }
  | { t: 'PREPARE'; from: number; to: number; bal: number; fromSlot: number }
  | { t: 'PROMISE'; from: number; to: number; bal: number; ok: boolean; promised: number; accepted: [number, number, LogValue][] }
  | { t: 'ACCEPT'; from: number; to: number; bal: number; slot: number; val: LogValue }
  | { t: 'ACCEPTED'; from: number; to: number; bal: number; slot: number; ok: boolean; promised: number }
  | { t: 'COMMIT'; from: number; to: number; slot: number; val: LogValue }
  | { t: 'CATCHUP'; from: number; to: number; fromSlot: number }

export type MsgKind = Msg['t']

// ---- state ---------------------------------------------------------------------------------------

export type ClaimMode = 'collecting' | 'conflict'
/** Explicit states of a ticket at a server (shown by the console). */
export type TicketPhase = 'idle' | 'collecting' | 'conflict' | 'accepted' | 'rejected'

export interface Received {
  client: string; sale: unknown; at: number
  /** 'failed': this server won the ticket but its sale could not be written (owed: re-presenting writes it). */
  status: 'pending' | 'accepted' | 'rejected' | 'failed'
  /** Why the sale could not be written (status 'failed'). */
  error?: string
}

/** Stable storage: survives a crash. Every field is written before any message that depends on it leaves. */
export interface Durable {
  /** aTKT: ticket → claimant this server voted for (NOBODY = abstained). */
  votes: Record<Ticket, number>
  /** rTKT: tickets presented by users at this server, with the sale they carry. */
  received: Record<Ticket, Received>
  /** vTKT: ticket → winner (NOBODY = voided). */
  decided: Record<Ticket, number>
  /** How the decision was reached (for the console). */
  how: Record<Ticket, DecisionHow>
  /** Vote tallies built from the delivered log: ticket → responder → votedFor. */
  tally: Record<Ticket, Record<string, number>>
  /** Index: received tickets still pending here, and tallies not yet decisive (so retries need not scan all). */
  open: Record<Ticket, 1>
  openTally: Record<Ticket, 1>
  /** Literal rule: SRVS per ticket (claimants delivered so far, in order). */
  srvs: Record<Ticket, number[]>
  /** Literal rule: delivered REPLIES per claimant per ticket. */
  lreplies: Record<Ticket, Record<string, number[]>>
  /** Paxos acceptor + learner. */
  promised: number
  accepted: Record<string, [number, LogValue]>
  chosen: Record<string, LogValue>
  /** Next slot to deliver (all lower slots delivered). */
  next: number
  deliveredIds: Record<string, 1>
}

export interface Claim { mode: ClaimMode; replies: Record<string, number>; proposed: boolean }

export interface Volatile {
  claims: Record<Ticket, Claim>
  /** Literal rule: aTKT lives here (lost on crash) when durableVotes is off. */
  vvotes: Record<Ticket, number>
  /** Paxos proposer state. */
  role: 'follower' | 'candidate' | 'leader'
  bal: number
  /** Highest ballot heard of (its leader is bal % n). */
  leaderBal: number
  promises: Record<string, [number, number, LogValue][]>
  nextSlot: number
  acks: Record<string, Record<string, 1>>
  /** Values this server wants broadcast that are not yet delivered. */
  pending: Record<string, LogValue>
  published: Record<Ticket, 1>
}

export interface ServerState { id: number; up: boolean; d: Durable; v: Volatile }

/** 'sold': the ticket was already a sale at the winner's site before it was claimed (fix 5). */
export type DecisionHow = 'conflict-free' | 'conflict' | 'learned' | 'sold'

export type Decision = { server: number; tkt: Ticket; winner: number; how: DecisionHow; accepted: boolean; client?: string; sale?: unknown }

export interface Out {
  send(m: Msg): void
  /**
   * Called at the claimant when its own received ticket reaches an outcome (accept → record the sale).
   * For an acceptance it returns false (or an error text) when the sale could not be written: the ticket is
   * then not accepted here (status 'failed') — the acceptance and the sale are one outcome.
   */
  decided(d: Decision): boolean | string | void
  /**
   * Fix 5: the site (server index) where ticket τ is already a sale, as this server knows it (the ledger every
   * ticket server starts with, and its own site's sales), or undefined.
   */
  sold?(server: number, tkt: Ticket): number | undefined
  /** Observation hook (trace): a log value delivered at a server. */
  delivered?(server: number, slot: number, val: LogValue): void
  /** External broadcast only: a value to order. */
  abcast?(server: number, val: LogValue): void
}

/**
 * An empty record keyed by untrusted strings (tickets are user input): no prototype, so a ticket named
 * `constructor`, `__proto__` or `toString` is an ordinary key — never an inherited member, never a prototype
 * change. (Not a Map: the state stays plain JSON-clonable data for the model checker's canonical keys.)
 */
export function dict<T>(): Record<string, T> { return Object.create(null) as Record<string, T> }

/** The initial ballot: server 0 leads, phase 1 already done on an empty log (a reachable state). */
export function initialBallot(n: number): number { return n }

export function newServer(id: number, cfg: CoreConfig): ServerState {
  const b = initialBallot(cfg.n)
  return {
    id, up: true,
    d: { votes: dict(), received: dict(), decided: dict(), how: dict(), tally: dict(), open: dict(), openTally: dict(), srvs: dict(), lreplies: dict(), promised: b, accepted: {}, chosen: {}, next: 0, deliveredIds: dict() },
    v: freshVolatile(id, cfg),
  }
}

function freshVolatile(id: number, cfg: CoreConfig): Volatile {
  const b = initialBallot(cfg.n)
  return { claims: dict(), vvotes: dict(), role: id === b % cfg.n ? 'leader' : 'follower', bal: id === b % cfg.n ? b : 0, leaderBal: b, promises: {}, nextSlot: 0, acks: {}, pending: dict(), published: dict() }
}

// ---- votes ---------------------------------------------------------------------------------------

function voteOf(s: ServerState, cfg: CoreConfig, tkt: Ticket): number | undefined {
  return cfg.durableVotes ? s.d.votes[tkt] : s.v.vvotes[tkt]
}
function castVote(s: ServerState, cfg: CoreConfig, tkt: Ticket, claimant: number): void {
  // Fix 2: forced to stable storage before the reply is sent (the caller sends after this returns).
  if (cfg.durableVotes) s.d.votes[tkt] = claimant
  else s.v.vvotes[tkt] = claimant
}

/** Tally rule (fix 4): X once ≥ majority voted X; NOBODY once nobody can reach a majority; else undefined. */
export function evaluateTally(votes: Record<string, number>, n: number): number | undefined {
  const maj = majority(n)
  const count = new Map<number, number>()
  let known = 0
  for (const k in votes) { known++; const x = votes[k]; if (x !== NOBODY) count.set(x, (count.get(x) ?? 0) + 1) }
  let best = 0
  for (const [x, c] of count) { if (c >= maj) return x; if (c > best) best = c }
  return best + (n - known) < maj ? NOBODY : undefined
}

// ---- client input --------------------------------------------------------------------------------

export type SubmitResult =
  | { kind: 'started' }
  | { kind: 'rejected'; reason: 'duplicate-here' | 'already-used' | 'voided' | 'sold' | 'failed'; winner?: number; error?: string }
  | { kind: 'accepted'; winner: number }

/** Fix 5: a ticket that is already a sale at some site is decided for that site before anyone votes on it. */
function checkSold(s: ServerState, cfg: CoreConfig, tkt: Ticket, out: Out): number | undefined {
  if (cfg.rule !== 'fixed' || !out.sold || s.d.decided[tkt] !== undefined) return undefined
  const at = out.sold(s.id, tkt)
  if (at === undefined) return undefined
  decide(s, cfg, tkt, at, 'sold', out)
  return at
}

/** A user presents ticket τ at S_i (FIG. 8 lines 6–12). */
export function submit(s: ServerState, cfg: CoreConfig, tkt: Ticket, client: string, sale: unknown, now: number, out: Out): SubmitResult {
  const prior = s.d.received[tkt]
  if (prior?.status === 'failed' && s.d.decided[tkt] === s.id) {
    // won here, sale owed: this presentation writes it (one outcome: accepted only once it is written)
    prior.client = client
    const r = out.decided({ server: s.id, tkt, winner: s.id, how: s.d.how[tkt], accepted: true, client, sale: prior.sale })
    if (r === false || typeof r === 'string') { prior.error = typeof r === 'string' ? r : prior.error; return { kind: 'rejected', reason: 'failed', winner: s.id, error: prior.error } }
    prior.status = 'accepted'
    delete prior.error
    delete s.d.open[tkt]
    return { kind: 'accepted', winner: s.id }
  }
  if (!s.d.received[tkt]) checkSold(s, cfg, tkt, out)
  const dec = s.d.decided[tkt]
  if (dec !== undefined) {
    if (dec === NOBODY) return { kind: 'rejected', reason: 'voided' }
    return { kind: 'rejected', reason: s.d.how[tkt] === 'sold' ? 'sold' : 'already-used', winner: dec }
  }
  if (s.d.received[tkt]) return { kind: 'rejected', reason: 'duplicate-here' }
  s.d.received[tkt] = { client, sale, status: 'pending', at: now }
  s.d.open[tkt] = 1
  startClaim(s, cfg, tkt, out)
  return { kind: 'started' }
}

function startClaim(s: ServerState, cfg: CoreConfig, tkt: Ticket, out: Out): void {
  s.v.claims[tkt] = { mode: 'collecting', replies: {}, proposed: false }
  for (let j = 0; j < cfg.n; j++) if (j !== s.id) out.send({ t: 'NEWTKT', from: s.id, to: j, tkt })
  // The server's own NEWTKT is handled locally (same machine): vote, then count its own reply.
  const my = onNewTkt(s, cfg, s.id, tkt, out)
  onReply(s, cfg, s.id, tkt, my.votedFor, my.decided, out, my.sold)
}

function onNewTkt(s: ServerState, cfg: CoreConfig, claimant: number, tkt: Ticket, out?: Out): { votedFor: number; decided?: number; sold?: true } {
  let v = voteOf(s, cfg, tkt)
  // fix 5: before its first vote on τ, a server consults the sales it knows (a sale there decides τ for its site)
  const sold = v === undefined && out ? checkSold(s, cfg, tkt, out) : undefined
  if (v === undefined) { castVote(s, cfg, tkt, sold ?? claimant); v = sold ?? claimant }
  const dec = cfg.rule === 'fixed' ? s.d.decided[tkt] : undefined
  return dec === undefined ? { votedFor: v } : { votedFor: v, decided: dec, ...(s.d.how[tkt] === 'sold' ? { sold: true as const } : {}) }
}

function onReply(s: ServerState, cfg: CoreConfig, from: number, tkt: Ticket, votedFor: number, decided: number | undefined, out: Out, sold?: true): void {
  const c = s.v.claims[tkt]
  if (!c || s.d.decided[tkt] !== undefined) return
  if (decided !== undefined) return decide(s, cfg, tkt, decided, sold ? 'sold' : 'learned', out)
  if (c.mode !== 'collecting') return
  c.replies[from] = votedFor
  const count = Object.keys(c.replies).length
  if (count < majority(cfg.n)) return
  if (cfg.rule === 'literal') {
    // Lines 21–23: all ACK → accept; else conflict mode with REPLIES = the set of responders (defect 1).
    if (Object.values(c.replies).every((x) => x === s.id)) return decide(s, cfg, tkt, s.id, 'conflict-free', out)
    c.mode = 'conflict'
    const responders = Object.keys(c.replies).map(Number).sort((a, b) => a - b)
    const votes: Record<string, number> = {}
    for (const r of responders) votes[r] = r // literal: only *who* answered is known
    return propose(s, cfg, { id: `c${s.id}:${tkt}`, k: 'claim', tkt, claimant: s.id, votes }, out)
  }
  const w = evaluateTally(c.replies, cfg.n)
  if (w !== undefined) return decide(s, cfg, tkt, w, w === s.id ? 'conflict-free' : 'learned', out)
  c.mode = 'conflict'
  propose(s, cfg, { id: `c${s.id}:${tkt}`, k: 'claim', tkt, claimant: s.id, votes: { ...c.replies } }, out)
}

function decide(s: ServerState, cfg: CoreConfig, tkt: Ticket, winner: number, how: Durable['how'][string], out: Out): void {
  if (s.d.decided[tkt] !== undefined) return
  s.d.decided[tkt] = winner
  s.d.how[tkt] = how
  delete s.v.claims[tkt]
  const r = s.d.received[tkt]
  if (r && r.status === 'pending') {
    const accepted = winner === s.id && how !== 'sold'
    const ok = out.decided({ server: s.id, tkt, winner, how, accepted, client: r.client, sale: r.sale })
    // one outcome: an acceptance whose sale could not be written is not an acceptance (the sale stays owed)
    const failed = accepted && (ok === false || typeof ok === 'string')
    r.status = failed ? 'failed' : accepted ? 'accepted' : 'rejected'
    if (failed) r.error = typeof ok === 'string' ? ok : 'the sale could not be written'
    delete s.d.open[tkt]
  }
  if (cfg.notifyDecisions && cfg.rule === 'fixed' && how !== 'learned' && how !== 'conflict') {
    for (let j = 0; j < cfg.n; j++) if (j !== s.id) out.send({ t: 'DECIDED', from: s.id, to: j, tkt, winner })
  }
}

/** Literal rule decision for claimant i (line 32): own claim delivered and REPLIES_i ⊆ SRVS_i. */
function literalDeliver(s: ServerState, cfg: CoreConfig, val: Extract<LogValue, { k: 'claim' }>, out: Out): void {
  const srvs = (s.d.srvs[val.tkt] ??= [])
  if (!srvs.includes(val.claimant)) srvs.push(val.claimant)
  const reps = (s.d.lreplies[val.tkt] ??= {})
  reps[val.claimant] = Object.keys(val.votes).map(Number)
  const c = s.v.claims[val.tkt]
  if (!c || c.mode !== 'conflict' || s.d.decided[val.tkt] !== undefined) return
  // Line 31: wait until our own claim is delivered (j = i); then line 32.
  if (val.claimant !== s.id) return
  const covered = reps[s.id].every((r) => srvs.includes(r))
  decide(s, cfg, val.tkt, covered ? s.id : NOBODY, 'conflict', out)
}

// ---- delivery of the total order (application of the log) -----------------------------------------

function applyValue(s: ServerState, cfg: CoreConfig, slot: number, val: LogValue, out: Out): void {
  out.delivered?.(s.id, slot, val)
  if (val.k === 'noop') return
  if (cfg.rule === 'literal') { if (val.k === 'claim') literalDeliver(s, cfg, val, out); return }
  const t = (s.d.tally[val.tkt] ??= {})
  if (val.k === 'claim') { for (const r in val.votes) if (t[r] === undefined) t[r] = val.votes[r] }
  else if (t[val.responder] === undefined) t[val.responder] = val.votedFor
  const w = evaluateTally(t, cfg.n)
  if (w !== undefined) delete s.d.openTally[val.tkt]
  else s.d.openTally[val.tkt] = 1
  if (w !== undefined) decide(s, cfg, val.tkt, w, 'conflict', out)
  // Until the tally decides, every server (decided or not) publishes its durable vote so it can complete.
  else publishVote(s, cfg, val.tkt, out)
}

/** In conflict, every server publishes its durable vote (abstaining if it never voted) through the log. */
function publishVote(s: ServerState, cfg: CoreConfig, tkt: Ticket, out: Out): void {
  const t = s.d.tally[tkt]
  if (!t || t[s.id] !== undefined || s.v.published[tkt]) return
  s.v.published[tkt] = 1
  let v = voteOf(s, cfg, tkt)
  if (v === undefined) { castVote(s, cfg, tkt, NOBODY); v = NOBODY }
  propose(s, cfg, { id: `v${s.id}:${tkt}`, k: 'vote', tkt, responder: s.id, votedFor: v }, out)
}

function deliverReady(s: ServerState, cfg: CoreConfig, out: Out): void {
  for (;;) {
    const val = s.d.chosen[s.d.next]
    if (!val) return
    const slot = s.d.next++
    if (val.k !== 'noop') {
      if (s.d.deliveredIds[val.id]) continue
      s.d.deliveredIds[val.id] = 1
    }
    delete s.v.pending[val.id]
    applyValue(s, cfg, slot, val, out)
  }
}

function learn(s: ServerState, cfg: CoreConfig, slot: number, val: LogValue, out: Out): void {
  if (slot < s.d.next || s.d.chosen[slot]) return
  s.d.chosen[slot] = val
  deliverReady(s, cfg, out)
}

// ---- Multi-Paxos ---------------------------------------------------------------------------------

export function leaderOf(s: ServerState, cfg: CoreConfig): number { return s.v.leaderBal % cfg.n }

/** Submits a value to the total-order broadcast. */
function propose(s: ServerState, cfg: CoreConfig, val: LogValue, out: Out): void {
  if (s.d.deliveredIds[val.id]) return
  s.v.pending[val.id] = val
  if (cfg.abcast === 'external') { out.abcast!(s.id, val); return }
  sendToLeader(s, cfg, val, out)
}

/** External broadcast: the value ordered at `slot` reaches this server (slots are handed over in order or not). */
export function deliverOrdered(s: ServerState, cfg: CoreConfig, slot: number, val: LogValue, out: Out): void {
  if (!s.up) return
  learn(s, cfg, slot, val, out)
}

function sendToLeader(s: ServerState, cfg: CoreConfig, val: LogValue, out: Out): void {
  if (s.v.role === 'leader') return leaderPropose(s, cfg, val, out)
  if (s.v.role === 'candidate') return // proposed once elected
  const l = leaderOf(s, cfg)
  if (l !== s.id) out.send({ t: 'FWD', from: s.id, to: l, val })
}

function leaderPropose(s: ServerState, cfg: CoreConfig, val: LogValue, out: Out): void {
  for (const k in s.v.acks) { const sl = Number(k); const a = s.d.accepted[sl]; if (a && a[1].id === val.id && a[0] === s.v.bal) return }
  const slot = s.v.nextSlot++
  sendAccept(s, cfg, slot, val, out)
}

function sendAccept(s: ServerState, cfg: CoreConfig, slot: number, val: LogValue, out: Out): void {
  s.v.acks[slot] = {}
  for (let j = 0; j < cfg.n; j++) if (j !== s.id) out.send({ t: 'ACCEPT', from: s.id, to: j, bal: s.v.bal, slot, val })
  // local acceptor
  if (s.v.bal >= s.d.promised) {
    s.d.promised = s.v.bal
    s.d.accepted[slot] = [s.v.bal, val]
    onAccepted(s, cfg, s.id, s.v.bal, slot, true, s.v.bal, out)
  }
}

function onAccepted(s: ServerState, cfg: CoreConfig, from: number, bal: number, slot: number, ok: boolean, promised: number, out: Out): void {
  if (!ok) { if (s.v.role !== 'follower' && promised > s.v.bal) stepDown(s, cfg, promised, out); return }
  if (s.v.role !== 'leader' || bal !== s.v.bal) return
  const a = s.v.acks[slot]
  if (!a) return
  a[from] = 1
  if (Object.keys(a).length < majority(cfg.n)) return
  delete s.v.acks[slot]
  const val = s.d.accepted[slot]?.[1]
  if (!val) return
  for (let j = 0; j < cfg.n; j++) if (j !== s.id) out.send({ t: 'COMMIT', from: s.id, to: j, slot, val })
  learn(s, cfg, slot, val, out)
}

function stepDown(s: ServerState, cfg: CoreConfig, bal: number, out: Out): void {
  if (bal > s.v.leaderBal) s.v.leaderBal = bal
  s.v.role = 'follower'
  s.v.acks = {}
  s.v.promises = {}
  reforward(s, cfg, out)
}

function reforward(s: ServerState, cfg: CoreConfig, out: Out): void {
  const l = leaderOf(s, cfg)
  if (l === s.id) return
  for (const id of Object.keys(s.v.pending).sort()) out.send({ t: 'FWD', from: s.id, to: l, val: s.v.pending[id] })
}

/** Leader election (on timeout or on demand): phase 1 with a ballot higher than any seen. */
export function startElection(s: ServerState, cfg: CoreConfig, out: Out): void {
  if (!s.up) return
  const round = Math.floor(Math.max(s.d.promised, s.v.leaderBal, s.v.bal) / cfg.n) + 1
  s.v.bal = round * cfg.n + s.id
  s.v.role = 'candidate'
  s.v.promises = {}
  s.v.acks = {}
  for (let j = 0; j < cfg.n; j++) if (j !== s.id) out.send({ t: 'PREPARE', from: s.id, to: j, bal: s.v.bal, fromSlot: s.d.next })
  s.d.promised = s.v.bal
  s.v.leaderBal = s.v.bal
  onPromise(s, cfg, s.id, s.v.bal, true, s.v.bal, acceptedList(s, s.d.next), out)
}

/** Accepted (and chosen) values from `fromSlot` on: what a promise must report to a new leader. */
function acceptedList(s: ServerState, fromSlot: number): [number, number, LogValue][] {
  const r: [number, number, LogValue][] = []
  for (const k in s.d.accepted) { const sl = Number(k); if (sl >= fromSlot) r.push([sl, s.d.chosen[k] ? Number.MAX_SAFE_INTEGER : s.d.accepted[k][0], s.d.chosen[k] ?? s.d.accepted[k][1]]) }
  for (const k in s.d.chosen) { const sl = Number(k); if (sl >= fromSlot && !s.d.accepted[k]) r.push([sl, Number.MAX_SAFE_INTEGER, s.d.chosen[k]]) }
  return r.sort((a, b) => a[0] - b[0])
}

function onPromise(s: ServerState, cfg: CoreConfig, from: number, bal: number, ok: boolean, promised: number, accepted: [number, number, LogValue][], out: Out): void {
  if (!ok) { if (s.v.role !== 'follower' && promised > s.v.bal) stepDown(s, cfg, promised, out); return }
  if (s.v.role !== 'candidate' || bal !== s.v.bal) return
  s.v.promises[from] = accepted
  if (Object.keys(s.v.promises).length < majority(cfg.n)) return
  // Elected: re-propose, per slot, the value accepted with the highest ballot; fill gaps with no-ops.
  const best = new Map<number, [number, LogValue]>()
  for (const k in s.v.promises) for (const [sl, b, v] of s.v.promises[k]) {
    const cur = best.get(sl)
    if (!cur || b > cur[0]) best.set(sl, [b, v])
  }
  s.v.role = 'leader'
  s.v.promises = {}
  const top = best.size ? Math.max(...best.keys()) + 1 : 0
  s.v.nextSlot = Math.max(top, s.d.next)
  for (let sl = s.d.next; sl < top; sl++) {
    if (s.d.chosen[sl]) continue
    sendAccept(s, cfg, sl, best.get(sl)?.[1] ?? { id: `n${s.v.bal}:${sl}`, k: 'noop' }, out)
  }
  for (const id of Object.keys(s.v.pending).sort()) {
    const inLog = [...best.values()].some(([, v]) => v.id === id)
    if (!inLog) leaderPropose(s, cfg, s.v.pending[id], out)
  }
}

// ---- message dispatch ----------------------------------------------------------------------------

export function receive(s: ServerState, cfg: CoreConfig, m: Msg, out: Out): void {
  if (!s.up) return
  switch (m.t) {
    case 'NEWTKT': {
      const r = onNewTkt(s, cfg, m.from, m.tkt, out)
      out.send({ t: 'REPLY', from: s.id, to: m.from, tkt: m.tkt, votedFor: r.votedFor, ...(r.decided !== undefined ? { decided: r.decided } : {}), ...(r.sold ? { sold: true } : {}) })
      return
    }
    case 'REPLY': return onReply(s, cfg, m.from, m.tkt, m.votedFor, m.decided, out, m.sold)
    case 'DECIDED': return decide(s, cfg, m.tkt, m.winner, 'learned', out)
    case 'FWD':
      if (s.d.deliveredIds[m.val.id]) return
      if (s.v.role === 'leader') return leaderPropose(s, cfg, m.val, out)
      if (s.v.role === 'candidate') { s.v.pending[m.val.id] = m.val; return }
      // A follower does not relay (two stale followers could bounce a value forever): the proposer retries
      // towards the leader it learns of from PREPARE/ACCEPT, and elects one itself if none makes progress.
      return
    case 'PREPARE': {
      const ok = m.bal > s.d.promised
      if (ok) { s.d.promised = m.bal; if (m.bal > s.v.leaderBal) { const was = s.v.role; s.v.leaderBal = m.bal; if (was !== 'follower') { s.v.role = 'follower'; s.v.acks = {}; s.v.promises = {} } } }
      out.send({ t: 'PROMISE', from: s.id, to: m.from, bal: m.bal, ok, promised: s.d.promised, accepted: ok ? acceptedList(s, m.fromSlot) : [] })
      if (ok) reforward(s, cfg, out)
      return
    }
    case 'PROMISE': return onPromise(s, cfg, m.from, m.bal, m.ok, m.promised, m.accepted, out)
    case 'ACCEPT': {
      const ok = m.bal >= s.d.promised
      if (ok) {
        s.d.promised = m.bal
        s.d.accepted[m.slot] = [m.bal, m.val]
        if (m.bal > s.v.leaderBal) { const was = s.v.role; s.v.leaderBal = m.bal; if (was !== 'follower') { s.v.role = 'follower'; s.v.acks = {}; s.v.promises = {} }; reforward(s, cfg, out) }
      }
      out.send({ t: 'ACCEPTED', from: s.id, to: m.from, bal: m.bal, slot: m.slot, ok, promised: s.d.promised })
      return
    }
    case 'ACCEPTED': return onAccepted(s, cfg, m.from, m.bal, m.slot, m.ok, m.promised, out)
    case 'COMMIT': return learn(s, cfg, m.slot, m.val, out)
    case 'CATCHUP': {
      // At most a window of chosen values per request; the requester asks again for more.
      let n = 0
      for (let sl = m.fromSlot; n < 32; sl++) { const v = s.d.chosen[sl]; if (!v) break; out.send({ t: 'COMMIT', from: s.id, to: m.from, slot: sl, val: v }); n++ }
      return
    }
  }
}

// ---- crash / restart -----------------------------------------------------------------------------

export function crash(s: ServerState, cfg: CoreConfig): void {
  s.up = false
  s.v = freshVolatile(s.id, cfg)
  s.v.role = 'follower'
  s.v.bal = 0
}

/** Restart from stable storage: learn what was decided meanwhile, resume own pending claims and votes. */
export function restart(s: ServerState, cfg: CoreConfig, out: Out): void {
  s.up = true
  s.v = freshVolatile(s.id, cfg)
  s.v.role = 'follower'
  s.v.bal = 0
  s.v.leaderBal = Math.max(s.v.leaderBal, s.d.promised)
  if (cfg.abcast === 'paxos') for (let j = 0; j < cfg.n; j++) if (j !== s.id) out.send({ t: 'CATCHUP', from: s.id, to: j, fromSlot: s.d.next })
  resume(s, cfg, out)
}

/** Re-drives unfinished work (after a restart, or on the runtime's retry timer). */
export function resume(s: ServerState, cfg: CoreConfig, out: Out): void {
  for (const tkt of Object.keys(s.d.open).sort()) {
    const r = s.d.received[tkt]
    if (r.status !== 'pending' || s.d.decided[tkt] !== undefined) continue
    const c = s.v.claims[tkt]
    if (!c) { startClaim(s, cfg, tkt, out); continue }
    if (c.mode === 'collecting') {
      for (let j = 0; j < cfg.n; j++) if (j !== s.id && c.replies[j] === undefined) out.send({ t: 'NEWTKT', from: s.id, to: j, tkt })
    }
  }
  if (cfg.rule === 'fixed') for (const tkt of Object.keys(s.d.openTally).sort()) if (evaluateTally(s.d.tally[tkt], cfg.n) === undefined) { delete s.v.published[tkt]; publishVote(s, cfg, tkt, out) }
}

/** Runtime retry: re-forward values still pending (lost message, crashed leader) and ask peers for missed commits. */
export function retryPending(s: ServerState, cfg: CoreConfig, out: Out): void {
  if (!s.up) return
  if (s.v.role === 'leader') {
    for (const k of Object.keys(s.v.acks)) { const sl = Number(k); const a = s.d.accepted[sl]; if (a && a[0] === s.v.bal) { for (let j = 0; j < cfg.n; j++) if (j !== s.id && !s.v.acks[k][j]) out.send({ t: 'ACCEPT', from: s.id, to: j, bal: s.v.bal, slot: sl, val: a[1] }) } }
  } else reforward(s, cfg, out)
  if (needsCatchup(s)) for (let j = 0; j < cfg.n; j++) if (j !== s.id) out.send({ t: 'CATCHUP', from: s.id, to: j, fromSlot: s.d.next })
}

/** Behind: waiting for own values, or holding chosen/accepted values beyond a gap. */
function needsCatchup(s: ServerState): boolean {
  if (Object.keys(s.v.pending).length) return true
  for (const k in s.d.chosen) if (Number(k) > s.d.next) return true
  for (const k in s.d.accepted) if (Number(k) >= s.d.next) return true
  return false
}

function anyKey(o: object): boolean { for (const _ in o) return true; return false }

export function hasWork(s: ServerState): boolean {
  if (!s.up) return false
  if (anyKey(s.v.pending) || anyKey(s.v.acks) || s.v.role === 'candidate') return true
  for (const t in s.v.claims) if (s.d.decided[t] === undefined) return true
  return false
}

/** The ticket's phase at a server, for the console. */
export function phaseOf(s: ServerState, tkt: Ticket): TicketPhase {
  const d = s.d.decided[tkt]
  if (d !== undefined) return d === s.id && s.d.how[tkt] !== 'sold' && s.d.received[tkt]?.status !== 'failed' ? 'accepted' : 'rejected'
  const c = s.v.claims[tkt]
  return c ? c.mode : 'idle'
}
