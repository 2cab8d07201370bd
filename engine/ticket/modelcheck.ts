/**
 * Explicit-state model checker for the ticket protocol, on the same core state machines the runtime uses.
 *
 * A world is every server's state (stable + volatile), the multiset of messages in flight, the clients'
 * submissions not yet made, and the fault budget. From a world the enabled actions are: a client presents its
 * ticket; any one in-flight message is delivered (messages to a crashed or cut-off server are lost); a server
 * crashes (budget) or restarts; a server starts a leader election (budget). The checker walks every
 * interleaving depth-first, de-duplicating worlds exactly by their interned structural key (see below), pruning
 * redundant interleavings of independent actions with sleep sets (which never prune a world), and checks in every
 * world: at most one acceptance (and one recorded sale) per ticket; all servers that decided agree; a server
 * cut off from the majority never accepts; the acceptance and the sale are one outcome (every acceptance has
 * its sale written, an acceptance whose sale could not be written is not an acceptance: `unwritable`); a
 * ticket that is already a sale (`soldAt`: in the ledger the servers start with) is never accepted and every
 * decision names the site holding the sale. It reports the number of distinct worlds explored.
 */
import {
  type CoreConfig, type LogValue, type Msg, type Out, type ServerState, type Ticket, NOBODY,
  crash, defaultConfig, dict, deliverOrdered, newServer, receive, restart, startElection, submit,
} from './core'

export interface CheckConfig {
  core: CoreConfig
  /** Claimant servers (each presents `ticket` once, at any point of the run). */
  claimants: number[]
  ticket?: Ticket
  maxCrashes?: number
  /** Restart crashed servers (else a crash is permanent). */
  restarts?: boolean
  maxElections?: number
  /** A server cut off from all others for the whole run. */
  isolated?: number
  /** Stop after this many distinct worlds (the result says `complete: false`). */
  maxStates?: number
  /** Stop at the first violation (default true). */
  stopAtViolation?: boolean
  /** Sleep-set partial-order reduction (default true; prunes transitions, never worlds). */
  sleepSets?: boolean
  /** The ticket is already a sale at this server's site, in the sales ledger every server starts with (fix 5). */
  soldAt?: number
  /** This server's sale writes fail (its database cannot write): its acceptance must not be reported. */
  unwritable?: number
  /** Broken-protocol check: the servers do not consult the sales ledger (the invariants still expect it). */
  ignoreSales?: boolean
}

export interface World {
  s: ServerState[]
  net: Msg[]
  todo: number[]
  crashes: number
  elections: number
  /** Sales recorded per ticket (acceptances reported to the sale hook). */
  sales: Record<string, number>
  /** External broadcast: values submitted but not yet ordered (by id), and the total order so far. */
  pool: Record<string, LogValue>
  log: LogValue[]
}

export type Action =
  | { a: 'submit'; server: number }
  | { a: 'deliver'; msg: Msg }
  | { a: 'crash'; server: number }
  | { a: 'restart'; server: number }
  | { a: 'elect'; server: number }
  /** External broadcast: the value `id` is appended to the total order. */
  | { a: 'order'; id: string }
  /** External broadcast: server learns the next value of the total order. */
  | { a: 'learn'; server: number }

export interface Violation { invariant: string; detail: string; trace: string[] }

export interface CheckResult {
  states: number
  transitions: number
  terminal: number
  /** Terminal worlds (nothing left to do) in which a claimant with every server up never decided. */
  undecidedTerminal: number
  undecidedExample?: string[]
  maxDepth: number
  complete: boolean
  violations: Violation[]
  ms: number
}

export function initialWorld(cfg: CheckConfig): World {
  const s = Array.from({ length: cfg.core.n }, (_, i) => newServer(i, cfg.core))
  return { s, net: [], todo: [...cfg.claimants], crashes: 0, elections: 0, sales: {}, pool: {}, log: [] }
}

function collector(w: World, cfg: CheckConfig): Out {
  return {
    send(m) { w.net.push(m) },
    decided(d) {
      if (!d.accepted) return true
      if (cfg.unwritable === d.server) return 'the sale could not be written'
      w.sales[d.tkt] = (w.sales[d.tkt] ?? 0) + 1
      return true
    },
    abcast(_server, val) { if (!w.log.some((x) => x.id === val.id)) w.pool[val.id] = val },
    ...(cfg.soldAt !== undefined && !cfg.ignoreSales ? { sold: () => cfg.soldAt } : {}),
  }
}

function cut(cfg: CheckConfig, a: number, b: number): boolean {
  return cfg.isolated !== undefined && a !== b && (a === cfg.isolated || b === cfg.isolated)
}

export function enabled(w: World, cfg: CheckConfig): Action[] {
  const acts: Action[] = []
  for (let k = 0; k < w.todo.length; k++) { const i = w.todo[k]; if (w.s[i].up && w.todo.indexOf(i) === k) acts.push({ a: 'submit', server: i }) }
  // Links are FIFO per direction (the simulated network serialises each link direction), so only the oldest
  // message of each (from → to) channel can be delivered next.
  const heads = new Set<number>()
  for (const m of w.net) {
    const ch = m.from * 64 + m.to
    if (heads.has(ch)) continue
    heads.add(ch)
    acts.push({ a: 'deliver', msg: m })
  }
  for (const id of Object.keys(w.pool).sort()) acts.push({ a: 'order', id })
  for (const x of w.s) if (x.up && x.d.next < w.log.length) acts.push({ a: 'learn', server: x.id })
  for (const x of w.s) {
    if (x.up && w.crashes < (cfg.maxCrashes ?? 0)) acts.push({ a: 'crash', server: x.id })
    if (!x.up && (cfg.restarts ?? true)) acts.push({ a: 'restart', server: x.id })
    if (cfg.core.abcast === 'paxos' && x.up && x.v.role !== 'leader' && w.elections < (cfg.maxElections ?? 0)) acts.push({ a: 'elect', server: x.id })
  }
  return acts
}

export function apply(w: World, cfg: CheckConfig, act: Action): void {
  const out = collector(w, cfg)
  const tkt = cfg.ticket ?? 'T1'
  switch (act.a) {
    case 'submit': {
      w.todo.splice(w.todo.indexOf(act.server), 1)
      submit(w.s[act.server], cfg.core, tkt, `client@${act.server}`, { invno: tkt }, 0, out)
      return
    }
    case 'deliver': {
      let idx = w.net.indexOf(act.msg)
      if (idx < 0) { const k = JSON.stringify(act.msg); idx = w.net.findIndex((m) => JSON.stringify(m) === k) }
      const m = w.net.splice(idx, 1)[0]
      if (cut(cfg, m.from, m.to)) return
      receive(w.s[m.to], cfg.core, m, out)
      return
    }
    case 'crash': w.crashes++; crash(w.s[act.server], cfg.core); return
    case 'restart': restart(w.s[act.server], cfg.core, out); return
    case 'elect': w.elections++; startElection(w.s[act.server], cfg.core, out); return
    case 'order': w.log.push(w.pool[act.id]); delete w.pool[act.id]; return
    case 'learn': { const x = w.s[act.server]; deliverOrdered(x, cfg.core, x.d.next, w.log[x.d.next], out); return }
  }
}

export function describe(act: Action): string {
  if (act.a === 'order') return `order ${act.id}`
  if (act.a !== 'deliver') return `${act.a} S${act.server + 1}`
  const m = act.msg as Msg & Record<string, unknown>
  const extra = m.t === 'REPLY' ? ` votedFor=${m.votedFor === NOBODY ? '-' : 'S' + (Number(m.votedFor) + 1)}`
    : m.t === 'ACCEPT' || m.t === 'COMMIT' ? ` slot=${m.slot} ${valText(m.val as never)}`
    : m.t === 'FWD' ? ` ${valText(m.val as never)}` : ''
  return `deliver ${m.t} S${m.from + 1}→S${m.to + 1}${extra}`
}

function valText(v: { k: string; claimant?: number; responder?: number; votedFor?: number }): string {
  if (v.k === 'claim') return `claim(S${(v.claimant ?? 0) + 1})`
  if (v.k === 'vote') return `vote(S${(v.responder ?? 0) + 1}→${v.votedFor === NOBODY ? '-' : 'S' + ((v.votedFor ?? 0) + 1)})`
  return 'noop'
}

/** Invariants; returns the first broken one or undefined. */
export function checkInvariants(w: World, cfg: CheckConfig): { invariant: string; detail: string } | undefined {
  const tkt = cfg.ticket ?? 'T1'
  const acceptors = w.s.filter((x) => x.d.received[tkt]?.status === 'accepted').map((x) => x.id)
  if (acceptors.length > 1) return { invariant: 'at-most-once', detail: `ticket ${tkt} accepted at ${acceptors.map((i) => 'S' + (i + 1)).join(' and ')}` }
  if ((w.sales[tkt] ?? 0) > 1) return { invariant: 'sale-once', detail: `sale for ${tkt} recorded ${w.sales[tkt]} times` }
  let dec: number | undefined
  for (const x of w.s) {
    const d = x.d.decided[tkt]
    if (d === undefined) continue
    if (cfg.core.rule === 'literal' && d === NOBODY) continue // literal REJECT is local, not a global outcome
    if (dec === undefined) dec = d
    else if (dec !== d) return { invariant: 'agreement', detail: `servers decided different winners for ${tkt}` }
  }
  if (dec !== undefined && dec !== NOBODY && acceptors.length === 1 && acceptors[0] !== dec) return { invariant: 'agreement', detail: `S${acceptors[0] + 1} accepted but the decision is S${dec + 1}` }
  if (cfg.isolated !== undefined && acceptors.includes(cfg.isolated)) return { invariant: 'minority-never-accepts', detail: `S${cfg.isolated + 1} accepted while cut off from the majority` }
  // fix 5: the acceptance and the sale are one outcome; a ticket already sold is never sold again
  if (acceptors.length !== (w.sales[tkt] ?? 0)) return { invariant: 'one-outcome', detail: `${acceptors.length} acceptance(s) of ${tkt} but ${w.sales[tkt] ?? 0} sale(s) written` }
  if (cfg.unwritable !== undefined && acceptors.includes(cfg.unwritable)) return { invariant: 'one-outcome', detail: `S${cfg.unwritable + 1} reported ${tkt} accepted although its sale could not be written` }
  if (cfg.soldAt !== undefined) {
    if (acceptors.length || (w.sales[tkt] ?? 0) > 0) return { invariant: 'sold-once', detail: `${tkt}, already a sale at S${cfg.soldAt + 1}, accepted again at ${acceptors.map((i) => 'S' + (i + 1)).join(', ') || 'a server'}` }
    if (dec !== undefined && dec !== cfg.soldAt) return { invariant: 'sold-once', detail: `${tkt}, already a sale at S${cfg.soldAt + 1}, decided for ${dec === NOBODY ? 'nobody' : 'S' + (dec + 1)}` }
  }
  return undefined
}

// ---- canonical form ------------------------------------------------------------------------------------
//
// Worlds are immutable once explored: a transition copies the world's small containers (message list, pool,
// log) and deep-copies only the one server the action touches (copy-on-write); the other servers, the
// messages and the broadcast values are shared by reference between a world and its successors. Each shared
// component is serialised once, when it is created, and interned to a small integer (cached per object), so a
// world's key is a short string of integers: the servers' ids, the in-flight messages' ids in canonical
// (per-channel FIFO) order, the claimants still to submit, the fault counters, the sales, the pool and the
// total order. Equal keys ⇔ equal canonical worlds (exact: no hash, so no collision can hide a state).

/** JSON with object keys sorted (so equal worlds serialize equally). */
export function canon(x: unknown): string {
  if (x === null || typeof x !== 'object') return x === undefined ? 'null' : JSON.stringify(x)
  if (Array.isArray(x)) { let s = '['; for (let i = 0; i < x.length; i++) s += (i ? ',' : '') + canon(x[i]); return s + ']' }
  const o = x as Record<string, unknown>
  const keys = Object.keys(o).filter((k) => o[k] !== undefined).sort()
  let s = '{'
  for (let i = 0; i < keys.length; i++) s += (i ? ',' : '') + JSON.stringify(keys[i]) + ':' + canon(o[keys[i]])
  return s + '}'
}

function sortedKeys<T>(o: Record<string, T>): Record<string, T> {
  const ks = Object.keys(o)
  if (ks.length < 2) return o
  ks.sort()
  const r: Record<string, T> = Object.getPrototypeOf(o) === null ? dict<T>() : {}
  for (const k of ks) r[k] = o[k]
  return r
}

/** Deep copy of plain data (objects, arrays, primitives), preserving key order and null prototypes (core's dict()). */
function clonePlain<T>(x: T): T {
  if (typeof x !== 'object' || x === null) return x
  if (Array.isArray(x)) { const a = new Array(x.length); for (let i = 0; i < x.length; i++) a[i] = clonePlain(x[i]); return a as T }
  const o: Record<string, unknown> = Object.getPrototypeOf(x) === null ? dict() : {}
  const src = x as Record<string, unknown>
  for (const k in src) o[k] = clonePlain(src[k])
  return o as T
}

/**
 * Canonical JSON of one server. The core builds every object with a fixed key order and keys most records by
 * integers (which JS orders numerically), so JSON.stringify is canonical once the few string-keyed records are
 * sorted (done in place: the server is a fresh copy about to be frozen, or an initial server).
 */
function canonServer(x: ServerState): string {
  x.v.pending = sortedKeys(x.v.pending)
  x.v.published = sortedKeys(x.v.published)
  x.d.deliveredIds = sortedKeys(x.d.deliveredIds)
  x.d.open = sortedKeys(x.d.open)
  x.d.openTally = sortedKeys(x.d.openTally)
  return JSON.stringify(x)
}

/** Interns the canonical serialisation of immutable components (servers, messages, broadcast values). */
class Keys {
  private table = new Map<string, number>()
  private ids = new WeakMap<object, number>()
  private intern(s: string): number {
    let x = this.table.get(s)
    if (x === undefined) { x = this.table.size; this.table.set(s, x) }
    return x
  }
  server(x: ServerState): number {
    let id = this.ids.get(x)
    if (id === undefined) { id = this.intern('s' + canonServer(x)); this.ids.set(x, id) }
    return id
  }
  /** Messages and log values are never mutated after creation (the core copies what it stores). */
  value(x: Msg | LogValue): number {
    let id = this.ids.get(x)
    if (id === undefined) { id = this.intern('m' + JSON.stringify(x)); this.ids.set(x, id) }
    return id
  }
  get size(): number { return this.table.size }
  world(w: World): string {
    let k = ''
    for (const x of w.s) k += this.server(x) + '.'
    k += '|'
    const net = w.net
    if (net.length) {
      if (net.length >= 4096 || w.s.length > 64) throw new Error('model checker: world too large for its key encoding')
      // canonical message order: by channel, FIFO order within a channel (stable sort)
      const ord = net.map((m, i) => (m.from * 64 + m.to) * 4096 + i).sort((a, b) => a - b)
      for (const o of ord) k += this.value(net[o % 4096]) + ','
    }
    k += '|'
    if (w.todo.length) k += [...w.todo].sort((a, b) => a - b).join(',')
    k += '|' + w.crashes + '|' + w.elections + '|'
    for (const t of Object.keys(w.sales).sort()) k += t + '=' + w.sales[t] + ','
    k += '|'
    const pool = Object.keys(w.pool)
    if (pool.length) k += pool.map((id) => this.value(w.pool[id])).sort((a, b) => a - b).join(',')
    k += '|'
    for (const v of w.log) k += this.value(v) + ','
    return k
  }
}

/** Full canonical serialization of a world (debugging / tests; the search uses interned keys). */
export function canonWorld(w: World): string {
  const net = w.net.map((m, i) => [m.from * 64 + m.to, i, canon(m)] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]).map((x) => x[2])
  return `{"s":${canon(w.s)},"net":[${net.join(',')}],"todo":${JSON.stringify([...w.todo].sort())},"c":${w.crashes},"e":${w.elections},"sales":${canon(w.sales)},"pool":${canon(w.pool)},"log":${canon(w.log)}}`
}

/** The server whose state an action may change (−1: none). */
function touched(act: Action): number {
  switch (act.a) {
    case 'deliver': return act.msg.to
    case 'order': return -1
    default: return act.server
  }
}

/** The world after `act`, leaving `w` untouched (copy-on-write of the one server the action can change). */
export function successor(w: World, cfg: CheckConfig, act: Action): World {
  const s = w.s.slice()
  const t = touched(act)
  if (t >= 0) s[t] = clonePlain(s[t])
  const n: World = { s, net: w.net.slice(), todo: w.todo.slice(), crashes: w.crashes, elections: w.elections, sales: { ...w.sales }, pool: { ...w.pool }, log: w.log.slice() }
  apply(n, cfg, act)
  return n
}

// ---- partial-order reduction: sleep sets -----------------------------------------------------------------
//
// Independence. A delivery to server X, `learn` at X and `submit` at X change only X's state; besides, they
// remove the head of a channel into X (delivery), append messages to the tails of channels out of X, add
// values to the broadcast pool whose ids name X (`c<X>:…`, `v<X>:…`: a server proposes only its own claim and
// its own vote) and increment the sale counter (addition commutes). Two such actions at different servers
// X ≠ Y therefore commute — they touch disjoint servers, disjoint channel heads (a tail append never changes a
// non-empty channel's head) and disjoint pool ids — and neither disables the other (a channel head, X's `up` and
// X's log position stay as they were). Every other action (order, crash, restart, elect) is treated as dependent
// on everything (they share the pool, the total order or the fault budgets).
//
// Sleep sets (Godefroid, "Partial-Order Methods for the Verification of Concurrent Systems", §5.3, with state
// matching): after exploring action t from world s, t is put to sleep in the siblings explored later and stays
// asleep along their descendants until a dependent action runs — the skipped interleavings only reorder
// independent actions and reach the same worlds. Sleep sets prune transitions, never worlds: with the stored
// sleep set per world (re-exploring, on a revisit, the actions that were asleep at the first visit and are not
// asleep now) every reachable world is still visited, so every invariant is still checked in every reachable
// world and the terminal-world (termination) check sees every terminal world.

/** Bit of a sleepable action (deliver / learn / submit), −1 for the others. Needs 2n + n² ≤ 30. */
function sleepBit(act: Action, n: number): number {
  if (n * n + 2 * n > 30) return -1
  switch (act.a) {
    case 'deliver': return act.msg.from * n + act.msg.to
    case 'learn': return n * n + act.server
    case 'submit': return n * n + n + act.server
    default: return -1
  }
}

/** Mask of the sleeping actions (bits) that are independent of action `t` (touching server `tx`). */
function independentOf(sleep: number, t: Action, n: number): number {
  if (sleepBit(t, n) < 0) return 0
  const tx = touched(t)
  // keep bits whose action touches a server other than tx
  let keep = 0
  for (let b = 0; b < n * n; b++) if ((sleep >>> b) & 1 && b % n !== tx) keep |= 1 << b
  for (let x = 0; x < n; x++) if (x !== tx) keep |= sleep & ((1 << (n * n + x)) | (1 << (n * n + n + x)))
  return keep
}

// ---- search -------------------------------------------------------------------------------------------

/** Depth-first exploration of every interleaving, with exact de-duplication of visited worlds and sleep sets. */
export function modelCheck(cfg: CheckConfig): CheckResult {
  const t0 = performance.now()
  const n = cfg.core.n
  const useSleep = cfg.sleepSets ?? true
  const keys = new Keys()
  /** world key → sleep set stored at the (last) visit */
  const visited = new Map<string, number>()
  const res: CheckResult = { states: 0, transitions: 0, terminal: 0, undecidedTerminal: 0, maxDepth: 0, complete: true, violations: [], ms: 0 }
  const maxStates = cfg.maxStates ?? 5_000_000
  const stopAt = cfg.stopAtViolation ?? true
  const tkt = cfg.ticket ?? 'T1'
  const w0 = initialWorld(cfg)
  visited.set(keys.world(w0), 0)
  res.states = 1
  type Frame = { w: World; acts: Action[]; i: number; sleep: number; act?: Action }
  const stack: Frame[] = [{ w: w0, acts: enabled(w0, cfg), i: 0, sleep: 0 }]
  const traceOf = (last: Action): string[] => stack.slice(1).map((x) => describe(x.act!)).concat(describe(last))
  outer: while (stack.length) {
    const f = stack[stack.length - 1]
    if (f.i >= f.acts.length) { stack.pop(); continue }
    const act = f.acts[f.i++]
    const bit = useSleep ? sleepBit(act, n) : -1
    const childSleep = bit < 0 ? 0 : independentOf(f.sleep, act, n)
    if (bit >= 0) f.sleep |= 1 << bit
    const w = successor(f.w, cfg, act)
    res.transitions++
    const k = keys.world(w)
    const stored = visited.get(k)
    if (stored !== undefined) {
      // Revisit: explore what was asleep at the earlier visit(s) but is awake now.
      const todo = stored & ~childSleep
      if (!todo) continue
      visited.set(k, stored & childSleep)
      const acts = enabled(w, cfg).filter((a) => { const b = sleepBit(a, n); return b >= 0 && (todo >>> b) & 1 })
      if (acts.length) {
        stack.push({ w, acts, i: 0, sleep: childSleep, act })
        if (stack.length > res.maxDepth) res.maxDepth = stack.length
      }
      continue
    }
    visited.set(k, childSleep)
    res.states++
    const bad = checkInvariants(w, cfg)
    if (bad) {
      res.violations.push({ ...bad, trace: traceOf(act) })
      if (stopAt) break outer
      continue
    }
    if (res.states >= maxStates) { res.complete = false; break }
    const all = enabled(w, cfg)
    if (!all.length || all.every((a) => a.a === 'elect' || a.a === 'crash')) {
      res.terminal++
      if (w.s.every((x) => x.up) && !w.todo.length) {
        if (w.s.some((x) => x.d.received[tkt]?.status === 'pending' && cfg.isolated !== x.id)) {
          res.undecidedTerminal++
          res.undecidedExample ??= traceOf(act)
        }
      }
    }
    const acts = childSleep ? all.filter((a) => { const b = sleepBit(a, n); return b < 0 || !((childSleep >>> b) & 1) }) : all
    if (acts.length) {
      stack.push({ w, acts, i: 0, sleep: childSleep, act })
      if (stack.length > res.maxDepth) res.maxDepth = stack.length
    }
  }
  if (res.violations.length && stopAt) res.complete = false
  res.ms = performance.now() - t0
  return res
}

export function checkConfig(n: number, claimants: number[], over: Partial<CheckConfig> = {}, core: Partial<CoreConfig> = {}): CheckConfig {
  return { core: defaultConfig(n, core), claimants, ...over }
}
