/**
 * Explicit-state model checker for two-phase commit, on the pure machines of machine.ts (the ticket checker's
 * approach, engine/ticket/modelcheck.ts: interned component keys, copy-on-write worlds, exact de-duplication).
 *
 * A world is, per (site, transaction), one immutable component — the coordinator and participant machines
 * there (volatile), the stable log (what a crash keeps: forced records only — a lazily written record is
 * treated as lost), whether the writes were applied, the retry rounds used in this life of the site — plus
 * every site's up flag and its one lock, the messages in flight (a multiset), the application's answers and
 * the fault budgets. Timing is abstracted away: a timeout may fire at any moment of the state it guards
 * (coordinator INITIAL and WAIT, participant INITIAL, READY inquiries, re-sends). From a world the enabled
 * actions are: a transaction begins (its statements go out and take the participants' locks); a message is
 * delivered (to a crashed site it is lost) or lost (budget); a timeout fires; a site crashes (budget) at any
 * point, or restarts; optionally an administrator resolves an in-doubt participant by hand. Retries are
 * bounded per life of a site (one inquiry round, one re-send round; every restart renews them), so the space
 * is finite; with one loss in the budget that is enough for every decision to get through.
 *
 * Checked in every world: atomicity (no site commits while another aborts; the application's answer agrees),
 * a participant never commits without the coordinator's logged COMMIT, locks held until the end (a prepared or
 * active participant holds its lock; writes are applied only under it), and the machines' own assertions
 * (ProtocolViolation). In every terminal world with every site up: nothing is left undecided or
 * unacknowledged (every participant learned the decision once crashes and losses stopped). With permanent
 * crashes (`restarts: false`) the checker reports the blocked worlds: a participant in READY that nobody alive
 * can tell the decision — 2PC's blocking case — with a witness trace.
 *
 * ## Keys
 * Components are serialised (canonical JSON) once, when created, and interned to small integers; messages too.
 * A world's key is a short string of integers (positional component ids, up mask, locks, sorted message ids,
 * answers, budgets). Equal keys ⇔ equal worlds: exact, no hashing, so no collision can hide a state.
 *
 * ## Symmetry (sound, exact quotient)
 * `symmetry` names a permutation of sites and transactions (an involution) under which the configuration is
 * invariant (checked at start: every transaction maps to one with the permuted coordinator and the permuted
 * participant list, in the same order). The machines use site and transaction names only for equality and
 * addressing (never an order that changes their behaviour: sorting is used only to enumerate actions), and the
 * invariants are quantified over all sites and transactions, so the permuted world of a reachable world is
 * reachable and violates an invariant iff the original does. The search stores min(key(w), key(πw)): each
 * orbit {w, πw} is explored once, and the reported count is the number of orbits.
 *
 * ## Two concurrent transactions: the composition (see `foreign`)
 * The space of two concurrent transactions with every crash point and every message loss is checked by
 * composition. Transaction T2 can affect T1 in exactly three ways: (1) it holds the shared site's lock, which
 * delays T1's statement there (T1's EXEC waits) — T1 can never lose a lock it holds, because a lock is taken
 * only when free and released only by its holder (both checked); (2) a crash or restart of a site they share
 * wipes both (the one-transaction model already crashes and restarts every site at every point, and a restart
 * renews everyone's retry rounds); (3) it spends the shared fault budgets, which only removes faults from
 * T1's runs. T2 sends T1 no message and T1's machines never read T2's. So every run of the two-transaction
 * system, projected on T1 and the shared lock, is a run of "T1 + a foreign lock holder at the shared site"
 * that takes the free lock at any moment (at most `takes` times: T2 takes it by its statement and again when
 * a recovered READY re-acquires it — two with one crash) and releases it at any later moment. `foreign`
 * checks exactly that system, exhaustively, with every crash and loss; by the S1↔S2, T1↔T2 symmetry of
 * `threeSites` the same result holds for T2. Per-transaction invariants (atomicity, commit needs the decision,
 * locks held until the end) are therefore proved for the two-transaction system; mutual exclusion at the
 * shared site follows from "locks held until the end" for both. Liveness (nothing undecided once faults stop)
 * assumes the foreign holder eventually releases; that is T2's own liveness, which does not depend on T1 while
 * T2 holds the lock (T2 waits for nothing T1 holds: the shared lock is the only one they share).
 * The direct product (`txns` with both transactions) is also explorable; `threeSites` with `both: true` runs it.
 *
 * No partial-order reduction: every interleaving of every world is explored.
 */
import {
  type CoordState, type Decision, type LogRec, type Msg, type Out, type PartState, type Topology, ProtocolViolation,
  coordAck, coordCommit, coordDecide, coordQuery, coordRecover, coordResend, coordTimeout, coordVote,
  newCoord, newPart, partDecision, partHeuristic, partInquire, partLocalAbort, partPeerVote, partPrepare, partQueried, partRecover, partReply,
} from './machine'

export interface TxnSpec { tx: string; coord: number; parts: number[] }

/** Deliberately broken protocols (mutation tests: the checker must find their counterexamples). */
export type Mutant =
  /** A READY participant that times out commits on its own instead of asking. */
  | 'commit-on-ready-timeout'
  /** A READY participant that times out aborts on its own (and releases its locks). */
  | 'abort-on-ready-timeout'
  /** The coordinator commits on its WAIT timeout. */
  | 'commit-on-wait-timeout'
  /** A participant releases its locks when it votes (before the decision). */
  | 'release-at-ready'

export interface TwoPcCheckConfig {
  topology: Topology
  sites: number
  txns: TxnSpec[]
  maxCrashes: number
  maxLosses: number
  /** Crashed sites restart (else a crash is permanent: shows blocking). */
  restarts: boolean
  /** An administrator may resolve an in-doubt participant by hand while its coordinator is down. */
  heuristics?: boolean
  /** Another transaction holding `site`'s lock at any moment, at most `takes` times (the composition above). */
  foreign?: { site: number; takes: number }
  /** A permutation of sites and of transactions (indices) under which the configuration is invariant. */
  symmetry?: { sites: number[]; txns: number[] }
  mutant?: Mutant
  maxStates?: number
  stopAtViolation?: boolean
  /** Stop at the first blocked terminal world (to show the blocking case quickly). */
  stopAtBlocked?: boolean
}

type GlueMsg = Msg | { t: 'EXEC'; tx: string; from: string; to: string } | { t: 'DONE'; tx: string; from: string; to: string; ok: boolean }

interface DLog { c?: 'WAIT' | 'COMMIT'; p?: 'READY' | 'COMMIT'; h?: Decision }

/** One (site, transaction) component. Immutable once in a world (copy-on-write). */
interface Comp {
  c?: CoordState & { done: string[] }
  p?: PartState
  log: DLog
  applied?: boolean
  /** Inquiry / re-send rounds used in this life of the site. */
  q?: number
  r?: number
}

export interface World {
  /** comps[site * NT + txn] */
  comps: Comp[]
  up: number
  /** Per site: −1 free, a transaction index, or NT (the foreign holder). */
  lock: number[]
  /** Message ids in flight, sorted (a multiset). */
  net: number[]
  /** Per transaction: 0 no answer yet, 1 COMMIT, 2 ABORT. */
  client: number[]
  begun: number
  crashes: number
  losses: number
  ftakes: number
  heuristics: { tx: string; site: string; heuristic: Decision; decision: Decision; damage: boolean }[]
}

export type Action =
  | { a: 'begin'; t: number }
  | { a: 'deliver'; i: number }
  | { a: 'lose'; i: number }
  | { a: 'ctimeout'; site: number; t: number }
  | { a: 'itimeout'; site: number; t: number }
  | { a: 'inquire'; site: number; t: number }
  | { a: 'resend'; site: number; t: number }
  | { a: 'crash'; site: number }
  | { a: 'restart'; site: number }
  | { a: 'resolve'; site: number; t: number; d: Decision }
  | { a: 'ftake' }
  | { a: 'frelease' }

export interface TwoPcResult {
  /** Distinct worlds (orbits, with symmetry). */
  states: number
  transitions: number
  terminal: number
  /** Terminal worlds, every site up, with something undecided or unacknowledged (must be 0). */
  undecided: number
  undecidedExample?: string[]
  /** Terminal worlds in which an up participant stays READY (2PC's blocking; only with permanent crashes). */
  blocked: number
  blockedExample?: string[]
  heuristicDamage: number
  damageExample?: string[]
  complete: boolean
  violations: { invariant: string; detail: string; trace: string[] }[]
  ms: number
}

const name = (i: number) => `S${i + 1}`
const idx = (s: string) => Number(s.slice(1)) - 1

export function canon(x: unknown): string {
  if (x === null || typeof x !== 'object') return x === undefined ? 'null' : JSON.stringify(x)
  if (Array.isArray(x)) { let s = '['; for (let i = 0; i < x.length; i++) s += (i ? ',' : '') + canon(x[i]); return s + ']' }
  const o = x as Record<string, unknown>
  const keys = Object.keys(o).filter((k) => o[k] !== undefined).sort()
  let s = '{'
  for (let i = 0; i < keys.length; i++) s += (i ? ',' : '') + JSON.stringify(keys[i]) + ':' + canon(o[keys[i]])
  return s + '}'
}

/** Deep copy of plain data. */
function clonePlain<T>(x: T): T {
  if (typeof x !== 'object' || x === null) return x
  if (Array.isArray(x)) { const a = new Array(x.length); for (let i = 0; i < x.length; i++) a[i] = clonePlain(x[i]); return a as T }
  const o: Record<string, unknown> = {}
  const src = x as Record<string, unknown>
  for (const k in src) if (src[k] !== undefined) o[k] = clonePlain(src[k])
  return o as T
}

const EMPTY: Comp = { log: {} }

/** Votes as a canonical (key-sorted) list. */
function encVotes(v: Record<string, string> | undefined): string {
  if (!v) return ''
  const ks = Object.keys(v)
  if (ks.length > 1) ks.sort()
  let s = ''
  for (const k of ks) s += k + '=' + v[k] + ' '
  return s
}

/**
 * Canonical serialisation of a component: every field of the machines' states, in a fixed order (no key
 * sorting of whole objects: the hot path of the search). Exact — two components with equal strings are equal.
 */
function encComp(k: Comp): string {
  const c = k.c, p = k.p, l = k.log
  return JSON.stringify([
    c ? [c.tx, c.site, c.topology, c.participants, c.phase, encVotes(c.votes), c.owed, c.ended, c.done] : 0,
    p ? [p.tx, p.site, p.coord, p.topology, p.participants, p.phase, encVotes(p.votes), p.heuristic ?? 0] : 0,
    l.c ?? 0, l.p ?? 0, l.h ?? 0, k.applied ? 1 : 0, k.q ?? 0, k.r ?? 0,
  ])
}

function encMsg(m: GlueMsg): string {
  const o = m as GlueMsg & { vote?: string; votes?: Record<string, string>; d?: string; ok?: boolean; heuristic?: string }
  return JSON.stringify([o.t, o.tx, o.from, o.to, o.vote ?? 0, o.votes ? encVotes(o.votes) : 0, o.d ?? 0, o.ok ?? 0, o.heuristic ?? 0])
}

/** The checker's tables for one run: interned components and messages, the configuration's indices. */
class Ctx {
  readonly NT: number
  readonly N: number
  readonly txIndex = new Map<string, number>()
  readonly parts: string[][]
  private compIds = new Map<string, number>()
  private compList: Comp[] = []
  private compOf = new WeakMap<Comp, number>()
  readonly msgIds = new Map<string, number>()
  readonly msgs: GlueMsg[] = []
  /** Per message id: its transaction index and destination site. */
  readonly msgTx: number[] = []
  readonly msgTo: number[] = []
  private compImg: number[] = []
  private msgImg: number[] = []
  private rename?: Map<string, string>
  constructor(readonly cfg: TwoPcCheckConfig) {
    this.NT = cfg.txns.length
    this.N = cfg.sites
    cfg.txns.forEach((t, i) => this.txIndex.set(t.tx, i))
    this.parts = cfg.txns.map((t) => t.parts.map(name))
    const sym = cfg.symmetry
    if (sym) {
      const ok = sym.sites.length === this.N && sym.txns.length === this.NT && cfg.txns.every((t, i) => {
        const u = cfg.txns[sym.txns[i]]
        return u.coord === sym.sites[t.coord] && u.parts.length === t.parts.length && t.parts.every((p, k) => u.parts[k] === sym.sites[p])
      }) && sym.sites.every((j, i) => sym.sites[j] === i) && sym.txns.every((j, i) => sym.txns[j] === i)
        && (!cfg.foreign || sym.sites[cfg.foreign.site] === cfg.foreign.site)
      if (!ok) throw new Error('2PC model checker: the symmetry is not an involution that maps the configuration onto itself')
      this.rename = new Map()
      for (let i = 0; i < this.N; i++) this.rename.set(name(i), name(sym.sites[i]))
      cfg.txns.forEach((t, i) => this.rename!.set(t.tx, cfg.txns[sym.txns[i]].tx))
    }
  }
  comp(c: Comp): number {
    let id = this.compOf.get(c)
    if (id === undefined) {
      const s = encComp(c)
      id = this.compIds.get(s)
      if (id === undefined) { id = this.compList.length; this.compIds.set(s, id); this.compList.push(c) }
      this.compOf.set(c, id)
    }
    return id
  }
  msg(m: GlueMsg): number {
    const s = encMsg(m)
    let id = this.msgIds.get(s)
    if (id === undefined) {
      id = this.msgs.length
      this.msgIds.set(s, id)
      this.msgs.push(m)
      this.msgTx.push(this.txIndex.get(m.tx)!)
      this.msgTo.push(idx(m.to))
    }
    return id
  }
  private renamed(s: string): string {
    const r = this.rename!
    return canon(JSON.parse(s.replace(/"([^"\\]*)"/g, (all, x: string) => { const y = r.get(x); return y === undefined ? all : JSON.stringify(y) })))
  }
  private compImage(id: number): number {
    let j = this.compImg[id]
    if (j === undefined) {
      const img = JSON.parse(this.renamed(canon(this.compList[id]))) as Comp
      img.log ??= {}
      j = this.comp(img)
      this.compImg[id] = j
    }
    return j
  }
  private msgImage(id: number): number {
    let j = this.msgImg[id]
    if (j === undefined) { j = this.msg(JSON.parse(this.renamed(canon(this.msgs[id]))) as GlueMsg); this.msgImg[id] = j }
    return j
  }
  private encode(ids: number[], up: number, lock: number[], net: number[], w: World, client: number[], begun: number): string {
    let k = ''
    for (let i = 0; i < ids.length; i++) k += ids[i] + '.'
    k += '|' + up + '|' + lock.join(',') + '|' + net.join(',') + '|' + client.join('') + '|' + begun + '|' + w.crashes + w.losses + w.ftakes
    if (w.heuristics.length) k += '|' + canon(w.heuristics)
    return k
  }
  key(w: World): string {
    const ids = w.comps.map((c) => this.comp(c))
    const k = this.encode(ids, w.up, w.lock, w.net, w, w.client, w.begun)
    const sym = this.cfg.symmetry
    if (!sym) return k
    const { NT, N } = this
    const ids2 = new Array<number>(ids.length)
    let up2 = 0
    const lock2 = new Array<number>(N)
    for (let s = 0; s < N; s++) {
      const s2 = sym.sites[s]
      for (let t = 0; t < NT; t++) ids2[s2 * NT + sym.txns[t]] = this.compImage(ids[s * NT + t])
      if (w.up & (1 << s)) up2 |= 1 << s2
      const l = w.lock[s]
      lock2[s2] = l < 0 || l === NT ? l : sym.txns[l]
    }
    const net2 = w.net.map((m) => this.msgImage(m)).sort((a, b) => a - b)
    const client2 = new Array<number>(NT)
    let begun2 = 0
    for (let t = 0; t < NT; t++) { client2[sym.txns[t]] = w.client[t]; if (w.begun & (1 << t)) begun2 |= 1 << sym.txns[t] }
    const k2 = this.encode(ids2, up2, lock2, net2, w, client2, begun2)
    return k2 < k ? k2 : k
  }
}

export function initialWorld(cfg: TwoPcCheckConfig): World {
  const NT = cfg.txns.length
  return {
    comps: Array.from({ length: cfg.sites * NT }, () => EMPTY), up: (1 << cfg.sites) - 1, lock: Array.from({ length: cfg.sites }, () => -1),
    net: [], client: Array.from({ length: NT }, () => 0), begun: 0, crashes: 0, losses: 0, ftakes: 0, heuristics: [],
  }
}

/** A mutable view of a world being built from its predecessor (copy-on-write of the components it touches). */
class Step {
  private own = new Set<number>()
  constructor(readonly w: World, readonly x: Ctx) {}
  /** The component at (site, t), copied for writing. */
  mut(site: number, t: number): Comp {
    const i = site * this.x.NT + t
    if (!this.own.has(i)) { this.w.comps[i] = clonePlain(this.w.comps[i]); this.own.add(i) }
    return this.w.comps[i]
  }
  get(site: number, t: number): Comp { return this.w.comps[site * this.x.NT + t] }
  push(m: GlueMsg): void {
    const id = this.x.msg(m)
    const net = this.w.net
    let lo = 0, hi = net.length
    while (lo < hi) { const mid = (lo + hi) >> 1; if (net[mid] < id) lo = mid + 1; else hi = mid }
    net.splice(lo, 0, id)
  }
  out(): Out {
    const x = this.x
    return {
      send: (m) => this.push(m),
      log: (site, tx, rec: LogRec) => {
        if (!rec.force) return // lazily written: a crash may lose it; the model keeps only what is forced
        const c = this.mut(idx(site), x.txIndex.get(tx)!)
        const l = c.log
        if (rec.role === 'coord') l.c = rec.type as 'WAIT' | 'COMMIT'
        else if (rec.type === 'HEURISTIC') l.h = rec.decision
        else l.p = rec.type as 'READY' | 'COMMIT'
      },
      apply: (site, tx) => {
        const s = idx(site), t = x.txIndex.get(tx)!
        if (this.w.lock[s] !== t) throw new ProtocolViolation(`locks held until the end: ${tx} applied its writes at ${site} without its lock`)
        this.mut(s, t).applied = true
      },
      release: (site, tx) => { const s = idx(site); if (this.w.lock[s] === x.txIndex.get(tx)) this.w.lock[s] = -1 },
      answer: (tx, d) => { const t = x.txIndex.get(tx)!; if (!this.w.client[t]) this.w.client[t] = d === 'COMMIT' ? 1 : 2 },
      heuristic: (h) => { if (!this.w.heuristics.some((y) => y.tx === h.tx && y.site === h.site)) this.w.heuristics.push(h) },
    }
  }
}

export function enabled(w: World, x: Ctx): Action[] {
  const { cfg, NT, N } = x
  const acts: Action[] = []
  for (let t = 0; t < NT; t++) if (!(w.begun & (1 << t)) && w.up & (1 << cfg.txns[t].coord)) acts.push({ a: 'begin', t })
  const flying = new Set<string>()
  for (let i = 0; i < w.net.length; i++) {
    const m = x.msgs[w.net[i]]
    // a re-send waits while the decision or its acknowledgement is on its way; an inquiry while it or an answer is
    if (m.t === 'DECISION' || m.t === 'QUERY') flying.add(`${m.t}|${m.tx}|${m.from}`)
    else if (m.t === 'ACK') flying.add(`DECISION|${m.tx}|${m.to}`)
    else if (m.t === 'REPLY') flying.add(`QUERY|${m.tx}|${m.to}`)
    if (i > 0 && w.net[i] === w.net[i - 1]) continue
    // a statement waits for the lock (it is delivered once the lock is free, or refused if aborted meanwhile)
    const to = x.msgTo[w.net[i]], t = x.msgTx[w.net[i]]
    const waiting = m.t === 'EXEC' && (w.up & (1 << to)) && w.lock[to] !== -1 && w.lock[to] !== t && !w.comps[to * NT + t].p
    if (!waiting) acts.push({ a: 'deliver', i })
    if (w.losses < cfg.maxLosses) acts.push({ a: 'lose', i })
  }
  for (let site = 0; site < N; site++) {
    if (!(w.up & (1 << site))) { if (cfg.restarts) acts.push({ a: 'restart', site }); continue }
    for (let t = 0; t < NT; t++) {
      const comp = w.comps[site * NT + t]
      const c = comp.c, tx = cfg.txns[t].tx
      if (c) {
        if (c.phase === 'WAIT' || c.phase === 'INITIAL') acts.push({ a: 'ctimeout', site, t })
        if ((c.phase === 'COMMIT' || c.phase === 'ABORT') && !c.ended && !comp.r && !flying.has(`DECISION|${tx}|${name(site)}`)) acts.push({ a: 'resend', site, t })
      }
      const p = comp.p
      if (p) {
        if (p.phase === 'INITIAL') acts.push({ a: 'itimeout', site, t })
        if (p.phase === 'READY' && p.heuristic === undefined) {
          if (!comp.q && !flying.has(`QUERY|${tx}|${name(site)}`)) acts.push({ a: 'inquire', site, t })
          if (cfg.heuristics && !(w.up & (1 << idx(p.coord)))) for (const d of ['COMMIT', 'ABORT'] as const) acts.push({ a: 'resolve', site, t, d })
        }
      }
    }
    if (w.crashes < cfg.maxCrashes) acts.push({ a: 'crash', site })
  }
  const f = cfg.foreign
  if (f && w.up & (1 << f.site)) {
    if (w.lock[f.site] === NT) acts.push({ a: 'frelease' })
    else if (w.lock[f.site] === -1 && w.ftakes < f.takes) acts.push({ a: 'ftake' })
  }
  return acts
}

function deliver(st: Step, m: GlueMsg): void {
  const { x, w } = st
  const { cfg } = x
  const site = idx(m.to)
  if (!(w.up & (1 << site))) return // lost: the site is down
  const ti = x.txIndex.get(m.tx)!
  const t = cfg.txns[ti]
  const parts = x.parts[ti]
  const out = st.out()
  const cur = st.get(site, ti)
  switch (m.t) {
    case 'EXEC': {
      let ok = false
      if (!cur.p && (w.lock[site] === -1 || w.lock[site] === ti)) {
        w.lock[site] = ti
        st.mut(site, ti).p = newPart(m.tx, m.to, m.from, cfg.topology, parts)
        ok = true
      }
      st.push({ t: 'DONE', tx: m.tx, from: m.to, to: m.from, ok })
      return
    }
    case 'DONE': {
      if (!cur.c || cur.c.phase !== 'INITIAL') return
      const c = st.mut(site, ti).c!
      if (!m.ok) return coordDecide(c, 'ABORT', `${m.from} failed`, out)
      if (!c.done.includes(m.from)) c.done.push(m.from)
      if (c.done.length === c.participants.length) coordCommit(c, out)
      return
    }
    case 'PREPARE': {
      const me = st.mut(site, ti)
      me.p = partPrepare(me.p, m.tx, m.to, { from: m.from, coord: name(t.coord), topology: cfg.topology, participants: parts, votes: m.votes }, out)
      if (cfg.mutant === 'release-at-ready' && me.p.phase === 'READY') out.release(m.to, m.tx)
      return
    }
    case 'VOTE': {
      if (site === t.coord && !(cfg.topology === 'linear' && m.vote === 'YES' && !m.votes)) {
        if (cur.c) coordVote(st.mut(site, ti).c!, m.from, m.vote, m.votes, out)
      }
      // a peer vote (distributed), or a NO passed back along a linear chain; the coordinator's own site may be a participant
      if (t.parts.includes(site) && m.from !== m.to && cfg.topology !== 'centralized') {
        if ((cfg.topology === 'distributed' || m.vote === 'NO') && st.get(site, ti).p) partPeerVote(st.mut(site, ti).p, m.from, m.vote, out)
      }
      return
    }
    case 'DECISION': { const me = st.mut(site, ti); me.p = partDecision(me.p, m.tx, m.to, name(t.coord), m.d, out); return }
    case 'ACK': { if (cur.c) coordAck(st.mut(site, ti).c!, m.from, m.d, m.heuristic, out); return }
    case 'QUERY': {
      if (site === t.coord) {
        // no coordinator record here: presumed abort — unless the log says COMMIT (recovered) or END forgot it
        if (!cur.c && cur.log.c === 'COMMIT') { st.push({ t: 'REPLY', tx: m.tx, from: m.to, to: m.from, d: 'COMMIT' }); return }
        coordQuery(cur.c ? st.mut(site, ti).c : undefined, m.tx, m.to, m.from, out)
        return
      }
      const me = st.mut(site, ti)
      me.p = partQueried(me.p, m.tx, m.to, m.from, out)
      return
    }
    case 'REPLY': if (cur.p) partReply(st.mut(site, ti).p, m.d, out); return
  }
}

function apply(st: Step, act: Action): void {
  const { x, w } = st
  const { cfg, NT, N } = x
  const out = st.out()
  switch (act.a) {
    case 'begin': {
      const t = cfg.txns[act.t]
      w.begun |= 1 << act.t
      st.mut(t.coord, act.t).c = { ...newCoord(t.tx, name(t.coord), cfg.topology, x.parts[act.t]), done: [] }
      for (const p of t.parts) st.push({ t: 'EXEC', tx: t.tx, from: name(t.coord), to: name(p) })
      return
    }
    case 'deliver': { const m = x.msgs[w.net[act.i]]; w.net.splice(act.i, 1); deliver(st, m); return }
    case 'lose': w.net.splice(act.i, 1); w.losses++; return
    case 'ctimeout': {
      const c = st.mut(act.site, act.t).c!
      if (cfg.mutant === 'commit-on-wait-timeout' && c.phase === 'WAIT') {
        // broken: decides COMMIT without every vote (bypassing coordDecide's own assertion, as a buggy executor would)
        c.phase = 'COMMIT'; c.owed = [...c.participants]
        out.log(c.site, c.tx, { role: 'coord', type: 'COMMIT', force: true }); out.answer(c.tx, 'COMMIT', 'WAIT timeout')
        coordResend(c, out)
        return
      }
      coordTimeout(c, 'WAIT timeout', out)
      return
    }
    case 'itimeout': partLocalAbort(st.mut(act.site, act.t).p!, out); return
    case 'inquire': {
      const me = st.mut(act.site, act.t)
      me.q = (me.q ?? 0) + 1
      const p = me.p!
      if (cfg.mutant === 'commit-on-ready-timeout' || cfg.mutant === 'abort-on-ready-timeout') {
        // broken: the READY participant decides alone on its timeout
        const d: Decision = cfg.mutant === 'commit-on-ready-timeout' ? 'COMMIT' : 'ABORT'
        p.phase = d
        out.log(p.site, p.tx, { role: 'part', type: d, force: true })
        if (d === 'COMMIT') out.apply(p.site, p.tx)
        out.release(p.site, p.tx)
        return
      }
      partInquire(p, out)
      return
    }
    case 'resend': { const me = st.mut(act.site, act.t); me.r = (me.r ?? 0) + 1; coordResend(me.c!, out); return }
    case 'resolve': partHeuristic(st.mut(act.site, act.t).p!, act.d, out); return
    case 'crash': {
      w.crashes++
      w.up &= ~(1 << act.site)
      w.lock[act.site] = -1
      for (let t = 0; t < NT; t++) {
        const c = st.get(act.site, t)
        if (c.c || c.p || c.q || c.r) { const m = st.mut(act.site, t); m.c = undefined; m.p = undefined; m.q = undefined; m.r = undefined }
      }
      return
    }
    case 'restart': {
      w.up |= 1 << act.site
      // a restart is news: everyone may retry again
      for (let s = 0; s < N; s++) for (let t = 0; t < NT; t++) { const c = st.get(s, t); if (c.q || c.r) { const m = st.mut(s, t); m.q = undefined; m.r = undefined } }
      const ord = cfg.txns.map((t, i) => [t.tx, i] as const).sort((a, b) => (a[0] < b[0] ? -1 : 1))
      for (const [tx, ti] of ord) {
        const l = st.get(act.site, ti).log
        const t = cfg.txns[ti]
        const parts = x.parts[ti]
        if (l.p || l.h) {
          st.mut(act.site, ti).p = partRecover(tx, name(act.site), name(t.coord), cfg.topology, parts, l.h ?? (l.p === 'COMMIT' ? 'COMMIT' : 'READY'), l.h)
          if (l.p === 'READY' && !l.h) {
            if (w.lock[act.site] !== -1) throw new ProtocolViolation(`locks: ${tx} recovered READY at ${name(act.site)} but the lock is held`)
            w.lock[act.site] = ti
          }
        }
        if (l.c) st.mut(act.site, ti).c = { ...coordRecover(tx, name(act.site), cfg.topology, parts, l.c, out), done: [] }
      }
      return
    }
    case 'ftake': w.lock[cfg.foreign!.site] = NT; w.ftakes++; return
    case 'frelease': w.lock[cfg.foreign!.site] = -1; return
  }
}

/** The world after `act`; `w` is left as it was (copy-on-write of the components the action changes). */
function successor(w: World, x: Ctx, act: Action): World {
  const n: World = { comps: w.comps.slice(), up: w.up, lock: w.lock.slice(), net: w.net.slice(), client: w.client.slice(), begun: w.begun, crashes: w.crashes, losses: w.losses, ftakes: w.ftakes, heuristics: w.heuristics.length ? w.heuristics.slice() : w.heuristics }
  apply(new Step(n, x), act)
  return n
}

function describe(w: World, x: Ctx, act: Action): string {
  const tx = (t: number) => x.cfg.txns[t].tx
  switch (act.a) {
    case 'begin': return `begin ${tx(act.t)}`
    case 'deliver': case 'lose': {
      const m = x.msgs[w.net[act.i]] as GlueMsg & Record<string, unknown>
      const extra = m.t === 'VOTE' ? ` ${m.vote}` : m.t === 'DECISION' || m.t === 'REPLY' || m.t === 'ACK' ? ` ${m.d ?? '-'}` : m.t === 'DONE' ? ` ${m.ok ? 'ok' : 'failed'}` : ''
      return `${act.a} ${m.t}${extra} ${m.tx} ${m.from}→${m.to}`
    }
    case 'crash': case 'restart': return `${act.a} ${name(act.site)}`
    case 'resolve': return `resolve ${tx(act.t)} at ${name(act.site)} by hand: ${act.d}`
    case 'ftake': return `another transaction takes ${name(x.cfg.foreign!.site)}'s lock`
    case 'frelease': return `another transaction releases ${name(x.cfg.foreign!.site)}'s lock`
    default: return `${act.a} ${tx(act.t)} at ${name(act.site)}`
  }
}

/** The invariants; the first broken one, or undefined. */
function checkInvariants(w: World, x: Ctx): { invariant: string; detail: string } | undefined {
  const { cfg, NT, N } = x
  for (let t = 0; t < NT; t++) {
    const tx = cfg.txns[t].tx
    let committed: string | undefined, aborted: string | undefined
    if (w.client[t] === 1) committed = 'the application'
    else if (w.client[t] === 2) aborted = 'the application'
    for (let s = 0; s < N; s++) {
      const k = w.comps[s * NT + t]
      const c = k.c
      if (c && c.phase === 'COMMIT') committed ??= `coordinator ${name(s)}`
      if (c && c.phase === 'ABORT') aborted ??= `coordinator ${name(s)}`
      if (k.log.c === 'COMMIT') committed ??= `coordinator ${name(s)} (log)`
      const p = k.p
      if (p && p.heuristic === undefined && p.phase === 'COMMIT') committed ??= name(s)
      if (p && p.heuristic === undefined && p.phase === 'ABORT') aborted ??= name(s)
      if (k.log.p === 'COMMIT') committed ??= `${name(s)} (log)`
    }
    if (committed && aborted) return { invariant: 'atomicity', detail: `${tx}: ${committed} committed while ${aborted} aborted` }
    const coordCommitted = w.comps[cfg.txns[t].coord * NT + t].log.c === 'COMMIT'
    for (let s = 0; s < N; s++) {
      const k = w.comps[s * NT + t]
      const p = k.p
      if ((k.log.p === 'COMMIT' || (p?.phase === 'COMMIT' && p.heuristic === undefined)) && !coordCommitted) return { invariant: 'commit-needs-decision', detail: `${tx} committed at ${name(s)} without the coordinator's COMMIT` }
      if (w.up & (1 << s) && p && (p.phase === 'INITIAL' || p.phase === 'READY') && w.lock[s] !== t) return { invariant: 'locks-held-until-end', detail: `${tx} is ${p.phase} at ${name(s)} without its lock` }
      if (k.applied && !(k.log.p === 'COMMIT' || k.log.h === 'COMMIT')) return { invariant: 'apply-after-commit', detail: `${tx} applied at ${name(s)} before COMMIT was logged` }
    }
  }
  return undefined
}

function settled(w: World): boolean {
  for (const k of w.comps) {
    if (k.p && (k.p.phase === 'INITIAL' || k.p.phase === 'READY')) return false
    if (k.c && !k.c.ended) return false
  }
  return true
}

const quiet = (a: Action) => a.a === 'crash' || a.a === 'lose' || a.a === 'resolve' || a.a === 'ftake'

/** Depth-first exploration of every interleaving from the initial world, exact de-duplication of worlds. */
export function modelCheck(cfg: TwoPcCheckConfig): TwoPcResult {
  const t0 = performance.now()
  const x = new Ctx(cfg)
  const res: TwoPcResult = { states: 0, transitions: 0, terminal: 0, undecided: 0, blocked: 0, heuristicDamage: 0, complete: true, violations: [], ms: 0 }
  const maxStates = cfg.maxStates ?? 50_000_000
  const stopAt = cfg.stopAtViolation ?? true
  const allUp = (1 << cfg.sites) - 1
  const visited = new Set<string>()
  const w0 = initialWorld(cfg)
  visited.add(x.key(w0))
  res.states = 1
  type Frame = { w: World; acts: Action[]; i: number; from?: World; act?: Action }
  const stack: Frame[] = [{ w: w0, acts: enabled(w0, x), i: 0 }]
  const trace = (last: string) => stack.slice(1).map((f) => describe(f.from!, x, f.act!)).concat(last)
  while (stack.length) {
    const f = stack[stack.length - 1]
    if (f.i >= f.acts.length) { stack.pop(); continue }
    const act = f.acts[f.i++]
    let w: World
    res.transitions++
    try { w = successor(f.w, x, act) } catch (e) {
      if (!(e instanceof ProtocolViolation)) throw e
      res.violations.push({ invariant: 'assertion', detail: e.message, trace: trace(describe(f.w, x, act)) })
      if (stopAt) break
      continue
    }
    const k = x.key(w)
    if (visited.has(k)) continue
    visited.add(k)
    res.states++
    const bad = checkInvariants(w, x)
    if (bad) { res.violations.push({ ...bad, trace: trace(describe(f.w, x, act)) }); if (stopAt) break; continue }
    if (w.heuristics.some((h) => h.damage)) { res.heuristicDamage++; res.damageExample ??= trace(describe(f.w, x, act)) }
    if (res.states >= maxStates) { res.complete = false; break }
    const all = enabled(w, x)
    if (all.every(quiet)) {
      res.terminal++
      if (w.up === allUp && w.begun === (1 << x.NT) - 1 && !settled(w)) { res.undecided++; res.undecidedExample ??= trace(describe(f.w, x, act)) }
      if (w.comps.some((k2, i) => w.up & (1 << Math.floor(i / x.NT)) && k2.p && k2.p.phase === 'READY' && k2.p.heuristic === undefined)) {
        res.blocked++
        res.blockedExample ??= trace(describe(f.w, x, act))
        if (cfg.stopAtBlocked) { res.complete = false; break }
      }
    }
    if (all.length) stack.push({ w, acts: all, i: 0, from: f.w, act })
  }
  if (res.violations.length && stopAt) res.complete = false
  res.ms = performance.now() - t0
  return res
}

/**
 * Three sites, two concurrent transactions sharing a site (and its lock): T1 at S1 over S1, S3; T2 at S2 over
 * S2, S3. `both: false` (the default) checks T1 with T2 as the foreign lock holder at S3 (the composition in
 * the header; by the S1↔S2, T1↔T2 symmetry it covers T2 too); `both: true` explores the direct product of the
 * two transactions, with the S1↔S2, T1↔T2 symmetry reduction.
 */
export function threeSites(topology: Topology, over: Partial<TwoPcCheckConfig> & { both?: boolean } = {}): TwoPcCheckConfig {
  const { both, ...rest } = over
  const base: TwoPcCheckConfig = both
    ? { topology, sites: 3, maxCrashes: 1, maxLosses: 1, restarts: true, txns: [{ tx: 'T1', coord: 0, parts: [0, 2] }, { tx: 'T2', coord: 1, parts: [1, 2] }], symmetry: { sites: [1, 0, 2], txns: [1, 0] } }
    : { topology, sites: 3, maxCrashes: 1, maxLosses: 1, restarts: true, txns: [{ tx: 'T1', coord: 0, parts: [0, 2] }], foreign: { site: 2, takes: 2 } }
  return { ...base, ...rest }
}
