/**
 * Explicit-state model checker for the ticket protocol, on the same core state machines the runtime uses.
 *
 * A world is every server's state (stable + volatile), the multiset of messages in flight, the clients'
 * submissions not yet made, and the fault budget. From a world the enabled actions are: a client presents its
 * ticket; any one in-flight message is delivered (messages to a crashed or cut-off server are lost); a server
 * crashes (budget) or restarts; a server starts a leader election (budget). The checker walks every
 * interleaving depth-first, de-duplicating worlds by a 64-bit hash of their canonical form, and checks in every
 * world: at most one acceptance (and one recorded sale) per ticket; all servers that decided agree; a server
 * cut off from the majority never accepts. It reports the number of distinct worlds explored.
 */
import {
  type CoreConfig, type LogValue, type Msg, type Out, type ServerState, type Ticket, NOBODY,
  crash, defaultConfig, deliverOrdered, newServer, receive, restart, startElection, submit,
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
    decided(d) { if (d.accepted) w.sales[d.tkt] = (w.sales[d.tkt] ?? 0) + 1 },
    abcast(_server, val) { if (!w.log.some((x) => x.id === val.id)) w.pool[val.id] = val },
  }
  void cfg
}

function cut(cfg: CheckConfig, a: number, b: number): boolean {
  return cfg.isolated !== undefined && a !== b && (a === cfg.isolated || b === cfg.isolated)
}

export function enabled(w: World, cfg: CheckConfig): Action[] {
  const acts: Action[] = []
  const seen = new Set<string>()
  for (const i of w.todo) if (w.s[i].up && !seen.has(`s${i}`)) { seen.add(`s${i}`); acts.push({ a: 'submit', server: i }) }
  // Links are FIFO per direction (the simulated network serialises each link direction), so only the oldest
  // message of each (from → to) channel can be delivered next.
  const heads = new Set<string>()
  for (const m of w.net) {
    const ch = m.from * 64 + m.to
    if (heads.has(String(ch))) continue
    heads.add(String(ch))
    const k = JSON.stringify(m)
    if (seen.has(k)) continue
    seen.add(k)
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
      const k = JSON.stringify(act.msg)
      const idx = w.net.findIndex((m) => JSON.stringify(m) === k)
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
  return undefined
}

// ---- canonical form and hashing ----------------------------------------------------------------------

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
  const r: Record<string, T> = {}
  for (const k of ks) r[k] = o[k]
  return r
}

/**
 * Canonical serialization of a world. The core builds every object with a fixed key order and keys most
 * records by integers (which JS orders numerically), so JSON.stringify is canonical once the few
 * string-keyed records are sorted and the message multiset is sorted.
 */
export function canonWorld(w: World): string {
  for (const x of w.s) {
    x.v.pending = sortedKeys(x.v.pending)
    x.v.published = sortedKeys(x.v.published)
    x.d.deliveredIds = sortedKeys(x.d.deliveredIds)
    x.d.open = sortedKeys(x.d.open)
    x.d.openTally = sortedKeys(x.d.openTally)
  }
  // Stable sort by channel keeps each channel's FIFO order.
  const net = w.net.map((m, i) => [m.from * 64 + m.to, i, JSON.stringify(m)] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]).map((x) => x[2])
  return `{"s":${JSON.stringify(w.s)},"net":[${net.join(',')}],"todo":${JSON.stringify([...w.todo].sort())},"c":${w.crashes},"e":${w.elections},"sales":${JSON.stringify(sortedKeys(w.sales))},"pool":${JSON.stringify(sortedKeys(w.pool))},"log":${JSON.stringify(w.log)}}`
}

function hash64(s: string): string {
  let h1 = 0x811c9dc5, h2 = 0x9747b28c
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    h1 = Math.imul(h1 ^ c, 16777619)
    h2 = Math.imul(h2 ^ c, 0x5bd1e995); h2 ^= h2 >>> 15
  }
  return (h1 >>> 0).toString(36) + ':' + (h2 >>> 0).toString(36)
}

function parseWorld(s: string): World {
  const o = JSON.parse(s) as { s: ServerState[]; net: Msg[]; todo: number[]; c: number; e: number; sales: Record<string, number>; pool: Record<string, LogValue>; log: LogValue[] }
  return { s: o.s, net: o.net, todo: o.todo, crashes: o.c, elections: o.e, sales: o.sales, pool: o.pool, log: o.log }
}

// ---- search -------------------------------------------------------------------------------------------

/** Depth-first exploration of every interleaving, with visited-set de-duplication. */
export function modelCheck(cfg: CheckConfig): CheckResult {
  const t0 = performance.now()
  const visited = new Set<string>()
  const res: CheckResult = { states: 0, transitions: 0, terminal: 0, undecidedTerminal: 0, maxDepth: 0, complete: true, violations: [], ms: 0 }
  const maxStates = cfg.maxStates ?? 5_000_000
  const stopAt = cfg.stopAtViolation ?? true
  const start = canonWorld(initialWorld(cfg))
  visited.add(hash64(start))
  res.states = 1
  // explicit stack: [world string, actions, next action index]
  type Frame = { ws: string; acts: Action[]; i: number; label: string }
  const w0 = parseWorld(start)
  const stack: Frame[] = [{ ws: start, acts: enabled(w0, cfg), i: 0, label: 'start' }]
  outer: while (stack.length) {
    const f = stack[stack.length - 1]
    if (f.i >= f.acts.length) { stack.pop(); continue }
    const act = f.acts[f.i++]
    const w = parseWorld(f.ws)
    apply(w, cfg, act)
    res.transitions++
    const ws = canonWorld(w)
    const h = hash64(ws)
    if (visited.has(h)) continue
    visited.add(h)
    res.states++
    const bad = checkInvariants(w, cfg)
    if (bad) {
      const trace = stack.slice(1).map((x) => x.label).concat(describe(act))
      res.violations.push({ ...bad, trace })
      if (stopAt) break outer
      continue
    }
    if (res.states >= maxStates) { res.complete = false; break }
    const acts = enabled(w, cfg)
    if (!acts.length || acts.every((a) => a.a === 'elect' || a.a === 'crash')) {
      res.terminal++
      if (w.s.every((x) => x.up) && !w.todo.length) {
        const tkt = cfg.ticket ?? 'T1'
        if (w.s.some((x) => x.d.received[tkt]?.status === 'pending' && cfg.isolated !== x.id)) {
          res.undecidedTerminal++
          res.undecidedExample ??= stack.slice(1).map((x) => x.label).concat(describe(act))
        }
      }
    }
    if (acts.length) {
      stack.push({ ws, acts, i: 0, label: describe(act) })
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
