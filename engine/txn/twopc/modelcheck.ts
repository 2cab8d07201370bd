/**
 * Explicit-state model checker for two-phase commit, on the pure machines of machine.ts (the ticket checker's
 * approach, engine/ticket/modelcheck.ts).
 *
 * A world is every site's volatile machines (coordinators, participants), its stable log (what a crash keeps:
 * forced records only — a lazily written record is treated as lost), its one lock, and the messages in flight
 * (a multiset: any message may be delivered next, or lost). Timing is abstracted away: a timeout may fire at
 * any moment of the state it guards (coordinator WAIT, participant INITIAL, READY inquiries, re-sends). From a
 * world the enabled actions are: a transaction begins (its statements go out and take the participants'
 * locks); a message is delivered (to a crashed site it is lost) or lost (budget); a timeout fires; a site
 * crashes (budget) or restarts; optionally an administrator resolves an in-doubt participant by hand. Retries
 * are bounded per life of a site (two inquiry rounds, two re-send rounds; every restart renews them), so the
 * space is finite; with one loss in the budget that is enough for every decision to get through.
 *
 * Checked in every world: atomicity (no site commits while another aborts; the application's answer agrees),
 * a participant never commits without the coordinator's logged COMMIT, locks held until the end (a prepared or
 * active participant holds its lock; writes are applied only under it), and the machines' own assertions. In
 * every terminal world with every site up: nothing is left undecided or unacknowledged. With permanent crashes
 * (`restarts: false`) the checker reports the blocked worlds: a participant in READY that nobody alive can
 * tell the decision — 2PC's blocking case.
 */
import {
  type CoordState, type Decision, type LogRec, type Msg, type Out, type PartState, type Topology, ProtocolViolation,
  coordAck, coordCommit, coordDecide, coordQuery, coordRecover, coordResend, coordTimeout, coordVote,
  newCoord, newPart, partDecision, partHeuristic, partInquire, partLocalAbort, partPeerVote, partPrepare, partQueried, partRecover, partReply,
} from './machine'

export interface TxnSpec { tx: string; coord: number; parts: number[] }

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
  maxStates?: number
  stopAtViolation?: boolean
  /** Stop at the first blocked terminal world (to show the blocking case quickly). */
  stopAtBlocked?: boolean
}

type GlueMsg = Msg | { t: 'EXEC'; tx: string; from: string; to: string } | { t: 'DONE'; tx: string; from: string; to: string; ok: boolean }

interface DLog { c?: 'WAIT' | 'COMMIT'; p?: 'READY' | 'COMMIT'; h?: Decision }

interface SiteW {
  up: boolean
  coords: Record<string, CoordState & { done: string[] }>
  parts: Record<string, PartState>
  log: Record<string, DLog>
  lock: string | null
  applied: string[]
  /** Inquiry / re-send rounds used in this life of the site (renewed at every restart). */
  rounds: Record<string, number>
}

export interface World {
  s: SiteW[]
  /** Messages in flight as [canonical JSON, message], kept sorted by the JSON (a multiset). Never mutated. */
  net: [string, GlueMsg][]
  client: Record<string, Decision>
  begun: string[]
  crashes: number
  losses: number
  heuristics: { tx: string; site: string; heuristic: Decision; decision: Decision; damage: boolean }[]
}

export type Action =
  | { a: 'begin'; tx: string }
  | { a: 'deliver'; i: number }
  | { a: 'lose'; i: number }
  | { a: 'ctimeout'; site: number; tx: string }
  | { a: 'itimeout'; site: number; tx: string }
  | { a: 'inquire'; site: number; tx: string }
  | { a: 'resend'; site: number; tx: string }
  | { a: 'crash'; site: number }
  | { a: 'restart'; site: number }
  | { a: 'resolve'; site: number; tx: string; d: Decision }

export interface TwoPcResult {
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

function canon(x: unknown): string {
  if (x === null || typeof x !== 'object') return x === undefined ? 'null' : JSON.stringify(x)
  if (Array.isArray(x)) return '[' + x.map(canon).join(',') + ']'
  const o = x as Record<string, unknown>
  return '{' + Object.keys(o).filter((k) => o[k] !== undefined).sort().map((k) => JSON.stringify(k) + ':' + canon(o[k])).join(',') + '}'
}

export function initialWorld(cfg: TwoPcCheckConfig): World {
  const s: SiteW[] = Array.from({ length: cfg.sites }, () => ({ up: true, coords: {}, parts: {}, log: {}, lock: null, applied: [], rounds: {} }))
  return { s, net: [], client: {}, begun: [], crashes: 0, losses: 0, heuristics: [] }
}

/** Deep copy of plain data. */
function clonePlain<T>(x: T): T {
  if (typeof x !== 'object' || x === null) return x
  if (Array.isArray(x)) return x.map(clonePlain) as T
  const o: Record<string, unknown> = {}
  for (const k in x as Record<string, unknown>) o[k] = clonePlain((x as Record<string, unknown>)[k])
  return o as T
}

/** The sites an action can change (−1: all of them). */
function touched(w: World, act: Action, cfg: TwoPcCheckConfig): number {
  switch (act.a) {
    case 'begin': return spec(cfg, act.tx).coord
    case 'deliver': return idx(w.net[act.i][1].to)
    case 'lose': return -2
    case 'restart': return -1
    default: return act.site
  }
}

/** The world after `act`; `w` is left as it was (copy-on-write of the sites the action can change). */
export function successor(w: World, cfg: TwoPcCheckConfig, act: Action): World {
  const t = touched(w, act, cfg)
  const s = t === -1 ? w.s.map(clonePlain) : w.s.slice()
  if (t >= 0) s[t] = clonePlain(s[t])
  const n: World = { s, net: w.net.slice(), client: { ...w.client }, begun: w.begun.slice(), crashes: w.crashes, losses: w.losses, heuristics: w.heuristics.slice() }
  apply(n, cfg, act)
  return n
}

const siteKeys = new WeakMap<SiteW, string>()
function worldKey(w: World): string {
  let k = ''
  for (const x of w.s) {
    let sk = siteKeys.get(x)
    if (sk === undefined) { sk = canon(x); siteKeys.set(x, sk) }
    k += sk + '|'
  }
  for (const [m] of w.net) k += m + ';'
  return k + '|' + canon(w.client) + [...w.begun].sort().join(',') + '|' + w.crashes + w.losses + canon(w.heuristics)
}

function spec(cfg: TwoPcCheckConfig, tx: string): TxnSpec { return cfg.txns.find((t) => t.tx === tx)! }

function push(w: World, m: GlueMsg): void {
  const k = canon(m)
  let lo = 0, hi = w.net.length
  while (lo < hi) { const mid = (lo + hi) >> 1; if (w.net[mid][0] < k) lo = mid + 1; else hi = mid }
  w.net.splice(lo, 0, [k, m])
}

function collector(w: World): Out {
  return {
    send: (m) => push(w, m),
    log(site, tx, rec: LogRec) {
      if (!rec.force) return // lazily written: a crash may lose it; the model keeps only what is forced
      const l = (w.s[idx(site)].log[tx] ??= {})
      if (rec.role === 'coord') l.c = rec.type as 'WAIT' | 'COMMIT'
      else if (rec.type === 'HEURISTIC') l.h = rec.decision
      else l.p = rec.type as 'READY' | 'COMMIT'
    },
    apply(site, tx) {
      const x = w.s[idx(site)]
      if (x.lock !== tx) throw new ProtocolViolation(`locks held until the end: ${tx} applied its writes at ${site} without its lock`)
      x.applied.push(tx)
    },
    release(site, tx) { const x = w.s[idx(site)]; if (x.lock === tx) x.lock = null },
    answer(tx, d) { w.client[tx] ??= d },
    heuristic(h) { if (!w.heuristics.some((x) => x.tx === h.tx && x.site === h.site)) w.heuristics.push(h) },
  }
}

export function enabled(w: World, cfg: TwoPcCheckConfig): Action[] {
  const acts: Action[] = []
  for (const t of cfg.txns) if (!w.begun.includes(t.tx) && w.s[t.coord].up) acts.push({ a: 'begin', tx: t.tx })
  const flying = new Set<string>()
  for (let i = 0; i < w.net.length; i++) {
    const m = w.net[i][1]
    // a re-send waits while the decision or its acknowledgement is on its way; an inquiry while it or an answer is
    if (m.t === 'DECISION' || m.t === 'QUERY') flying.add(`${m.t}|${m.tx}|${m.from}`)
    if (m.t === 'ACK') flying.add(`DECISION|${m.tx}|${m.to}`)
    if (m.t === 'REPLY') flying.add(`QUERY|${m.tx}|${m.to}`)
    if (i > 0 && w.net[i][0] === w.net[i - 1][0]) continue
    // a statement waits for the lock (it is delivered once the lock is free, or refused if aborted meanwhile)
    const to = w.s[idx(m.to)]
    if (m.t === 'EXEC' && to.up && to.lock !== null && to.lock !== m.tx && !to.parts[m.tx]) { /* waiting */ } else acts.push({ a: 'deliver', i })
    if (w.losses < cfg.maxLosses) acts.push({ a: 'lose', i })
  }
  w.s.forEach((x, site) => {
    if (!x.up) { if (cfg.restarts) acts.push({ a: 'restart', site }); return }
    for (const tx of Object.keys(x.coords).sort()) {
      const c = x.coords[tx]
      if (c.phase === 'WAIT' || c.phase === 'INITIAL') acts.push({ a: 'ctimeout', site, tx })
      if ((c.phase === 'COMMIT' || c.phase === 'ABORT') && !c.ended && (x.rounds['r' + tx] ?? 0) < 1 && !flying.has(`DECISION|${tx}|${name(site)}`)) acts.push({ a: 'resend', site, tx })
    }
    for (const tx of Object.keys(x.parts).sort()) {
      const p = x.parts[tx]
      if (p.phase === 'INITIAL') acts.push({ a: 'itimeout', site, tx })
      if (p.phase === 'READY' && p.heuristic === undefined) {
        if ((x.rounds['q' + tx] ?? 0) < 1 && !flying.has(`QUERY|${tx}|${name(site)}`)) acts.push({ a: 'inquire', site, tx })
        if (cfg.heuristics && !w.s[idx(p.coord)].up) for (const d of ['COMMIT', 'ABORT'] as const) acts.push({ a: 'resolve', site, tx, d })
      }
    }
    if (w.crashes < cfg.maxCrashes) acts.push({ a: 'crash', site })
  })
  return acts
}

function deliver(w: World, cfg: TwoPcCheckConfig, m: GlueMsg, out: Out): void {
  const site = idx(m.to)
  const x = w.s[site]
  if (!x.up) return // lost: the site is down
  const t = spec(cfg, m.tx)
  const parts = t.parts.map(name)
  switch (m.t) {
    case 'EXEC': {
      const p = x.parts[m.tx]
      let ok = false
      if (!p && (x.lock === null || x.lock === m.tx)) { x.lock = m.tx; x.parts[m.tx] = newPart(m.tx, m.to, m.from, cfg.topology, parts); ok = true }
      push(w, { t: 'DONE', tx: m.tx, from: m.to, to: m.from, ok })
      return
    }
    case 'DONE': {
      const c = x.coords[m.tx]
      if (!c || c.phase !== 'INITIAL') return
      if (!m.ok) return coordDecide(c, 'ABORT', `${m.from} failed`, out)
      if (!c.done.includes(m.from)) c.done.push(m.from)
      if (c.done.length === c.participants.length) coordCommit(c, out)
      return
    }
    case 'PREPARE': {
      x.parts[m.tx] = partPrepare(x.parts[m.tx], m.tx, m.to, { from: m.from, coord: name(t.coord), topology: cfg.topology, participants: parts, votes: m.votes }, out)
      return
    }
    case 'VOTE': {
      if (site === t.coord && !(cfg.topology === 'linear' && m.vote === 'YES' && !m.votes)) {
        const c = x.coords[m.tx]
        if (c) coordVote(c, m.from, m.vote, m.votes, out)
      }
      // a peer vote (distributed), or a NO passed back along a linear chain; the coordinator's own site may be a participant
      if (t.parts.includes(site) && m.from !== m.to && !(cfg.topology === 'centralized')) {
        if (cfg.topology === 'distributed' || m.vote === 'NO') partPeerVote(x.parts[m.tx], m.from, m.vote, out)
      }
      return
    }
    case 'DECISION': x.parts[m.tx] = partDecision(x.parts[m.tx], m.tx, m.to, name(t.coord), m.d, out); return
    case 'ACK': { const c = x.coords[m.tx]; if (c) coordAck(c, m.from, m.d, m.heuristic, out); return }
    case 'QUERY': {
      if (site === t.coord) {
        const c = x.coords[m.tx]
        // no coordinator record here: presumed abort — unless the log says COMMIT (recovered) or END forgot it
        if (!c && x.log[m.tx]?.c === 'COMMIT') { push(w, { t: 'REPLY', tx: m.tx, from: m.to, to: m.from, d: 'COMMIT' }); return }
        coordQuery(c, m.tx, m.to, m.from, out)
        return
      }
      x.parts[m.tx] = partQueried(x.parts[m.tx], m.tx, m.to, m.from, out)
      return
    }
    case 'REPLY': partReply(x.parts[m.tx], m.d, out); return
  }
}

export function apply(w: World, cfg: TwoPcCheckConfig, act: Action): void {
  const out = collector(w)
  switch (act.a) {
    case 'begin': {
      const t = spec(cfg, act.tx)
      w.begun.push(act.tx)
      w.s[t.coord].coords[act.tx] = { ...newCoord(act.tx, name(t.coord), cfg.topology, t.parts.map(name)), done: [] }
      for (const p of t.parts) push(w, { t: 'EXEC', tx: act.tx, from: name(t.coord), to: name(p) })
      return
    }
    case 'deliver': { const m = w.net[act.i][1]; w.net.splice(act.i, 1); deliver(w, cfg, m, out); return }
    case 'lose': w.net.splice(act.i, 1); w.losses++; return
    case 'ctimeout': coordTimeout(w.s[act.site].coords[act.tx], 'WAIT timeout', out); return
    case 'itimeout': partLocalAbort(w.s[act.site].parts[act.tx], out); return
    case 'inquire': { const x = w.s[act.site]; x.rounds['q' + act.tx] = (x.rounds['q' + act.tx] ?? 0) + 1; partInquire(x.parts[act.tx], out); return }
    case 'resend': {
      const x = w.s[act.site]
      x.rounds['r' + act.tx] = (x.rounds['r' + act.tx] ?? 0) + 1
      coordResend(x.coords[act.tx], out)
      return
    }
    case 'resolve': partHeuristic(w.s[act.site].parts[act.tx], act.d, out); return
    case 'crash': {
      w.crashes++
      const x = w.s[act.site]
      x.up = false
      x.coords = {}; x.parts = {}; x.lock = null; x.rounds = {}
      return
    }
    case 'restart': {
      const x = w.s[act.site]
      x.up = true
      for (const y of w.s) y.rounds = {} // a restart is news: everyone may retry again
      for (const tx of Object.keys(x.log).sort()) {
        const l = x.log[tx]
        const t = spec(cfg, tx)
        const parts = t.parts.map(name)
        if (l.p || l.h) {
          x.parts[tx] = partRecover(tx, name(act.site), name(t.coord), cfg.topology, parts, l.h ?? (l.p === 'COMMIT' ? 'COMMIT' : 'READY'), l.h)
          if (l.p === 'READY' && !l.h) x.lock = tx
        }
        if (l.c) x.coords[tx] = { ...coordRecover(tx, name(act.site), cfg.topology, parts, l.c, out), done: [] }
      }
      return
    }
  }
}

export function describe(w: World, act: Action): string {
  switch (act.a) {
    case 'begin': return `begin ${act.tx}`
    case 'deliver': case 'lose': {
      const m = w.net[act.i][1] as GlueMsg & Record<string, unknown>
      const extra = m.t === 'VOTE' ? ` ${m.vote}` : m.t === 'DECISION' || m.t === 'REPLY' || m.t === 'ACK' ? ` ${m.d ?? '-'}` : m.t === 'DONE' ? ` ${m.ok ? 'ok' : 'failed'}` : ''
      return `${act.a} ${m.t}${extra} ${m.tx} ${m.from}→${m.to}`
    }
    case 'crash': case 'restart': return `${act.a} ${name(act.site)}`
    case 'resolve': return `resolve ${act.tx} at ${name(act.site)} by hand: ${act.d}`
    default: return `${act.a} ${act.tx} at ${name(act.site)}`
  }
}

/** The invariants; the first broken one, or undefined. */
export function checkInvariants(w: World, cfg: TwoPcCheckConfig): { invariant: string; detail: string } | undefined {
  for (const t of cfg.txns) {
    const seen = new Map<Decision, string>()
    const note = (d: Decision, who: string) => { if (!seen.has(d)) seen.set(d, who) }
    if (w.client[t.tx]) note(w.client[t.tx], 'the application')
    w.s.forEach((x, i) => {
      const c = x.coords[t.tx]
      if (c && (c.phase === 'COMMIT' || c.phase === 'ABORT')) note(c.phase, `coordinator ${name(i)}`)
      if (x.log[t.tx]?.c === 'COMMIT') note('COMMIT', `coordinator ${name(i)} (log)`)
      const p = x.parts[t.tx]
      if (p && p.heuristic === undefined && (p.phase === 'COMMIT' || p.phase === 'ABORT')) note(p.phase, name(i))
      if (x.log[t.tx]?.p === 'COMMIT') note('COMMIT', `${name(i)} (log)`)
    })
    if (seen.size > 1) return { invariant: 'atomicity', detail: `${t.tx}: ${seen.get('COMMIT')} committed while ${seen.get('ABORT')} aborted` }
    const coordCommitted = w.s[t.coord].log[t.tx]?.c === 'COMMIT'
    for (let i = 0; i < w.s.length; i++) {
      const x = w.s[i]
      const p = x.parts[t.tx]
      if ((x.log[t.tx]?.p === 'COMMIT' || (p?.phase === 'COMMIT' && p.heuristic === undefined)) && !coordCommitted) return { invariant: 'commit-needs-decision', detail: `${t.tx} committed at ${name(i)} without the coordinator's COMMIT` }
      if (x.up && p && (p.phase === 'INITIAL' || p.phase === 'READY') && x.lock !== t.tx) return { invariant: 'locks-held-until-end', detail: `${t.tx} is ${p.phase} at ${name(i)} without its lock` }
      if (x.applied.includes(t.tx) && !(x.log[t.tx]?.p === 'COMMIT' || x.log[t.tx]?.h === 'COMMIT')) return { invariant: 'apply-after-commit', detail: `${t.tx} applied at ${name(i)} before COMMIT was logged` }
    }
  }
  return undefined
}

function settled(w: World, cfg: TwoPcCheckConfig): boolean {
  for (const t of cfg.txns) {
    for (const x of w.s) {
      const p = x.parts[t.tx]
      if (p && (p.phase === 'INITIAL' || p.phase === 'READY')) return false
      const c = x.coords[t.tx]
      if (c && !c.ended) return false
    }
  }
  return true
}

// ---- partial-order reduction: sleep sets (as engine/ticket/modelcheck.ts) -------------------------------
//
// A delivery, a WAIT or INITIAL timeout and a `begin` change only the one site they happen at (and add
// messages to the multiset); two such actions at different sites commute, and neither disables the other (a
// delivery removes only its own message; whether a statement waits for a lock depends on its own site only).
// Every other action (loss, crash, restart, inquiries and re-sends — whose enabling looks at the messages in
// flight —, hand resolutions) counts as dependent on everything. Sleep sets with the stored-set revisit rule
// prune interleavings, never worlds: every reachable world is still visited and checked.

/** The action's identity across worlds (a delivery is named by its message), or undefined if never put to sleep. */
function sleepKey(w: World, act: Action): string | undefined {
  switch (act.a) {
    case 'deliver': return 'd' + w.net[act.i][0]
    case 'ctimeout': case 'itimeout': return act.a + act.site + act.tx
    case 'begin': return 'b' + act.tx
    default: return undefined
  }
}
function sleepSite(key: string, cfg: TwoPcCheckConfig): number {
  if (key[0] === 'd') return idx((JSON.parse(key.slice(1)) as GlueMsg).to)
  if (key[0] === 'b') return spec(cfg, key.slice(1)).coord
  return Number(key[8])
}

export function modelCheck(cfg: TwoPcCheckConfig): TwoPcResult {
  const t0 = performance.now()
  const res: TwoPcResult = { states: 0, transitions: 0, terminal: 0, undecided: 0, blocked: 0, heuristicDamage: 0, complete: true, violations: [], ms: 0 }
  const maxStates = cfg.maxStates ?? 20_000_000
  const stopAt = cfg.stopAtViolation ?? true
  const visited = new Map<string, Set<string>>()
  const w0 = initialWorld(cfg)
  visited.set(worldKey(w0), new Set())
  res.states = 1
  type Frame = { w: World; acts: Action[]; i: number; sleep: Set<string>; label?: string }
  const stack: Frame[] = [{ w: w0, acts: enabled(w0, cfg), i: 0, sleep: new Set() }]
  const trace = (last: string) => stack.slice(1).map((f) => f.label!).concat(last)
  const siteOfKey = new Map<string, number>()
  const siteOf = (k: string) => { let x = siteOfKey.get(k); if (x === undefined) { x = sleepSite(k, cfg); siteOfKey.set(k, x) } return x }
  while (stack.length) {
    const f = stack[stack.length - 1]
    if (f.i >= f.acts.length) { stack.pop(); continue }
    const act = f.acts[f.i++]
    const label = describe(f.w, act)
    const key = sleepKey(f.w, act)
    const child = new Set<string>()
    if (key !== undefined) {
      const site = siteOf(key)
      for (const k of f.sleep) if (k !== key && siteOf(k) !== site) child.add(k)
      f.sleep.add(key)
    }
    let w: World
    res.transitions++
    try { w = successor(f.w, cfg, act) } catch (e) {
      if (!(e instanceof ProtocolViolation)) throw e
      res.violations.push({ invariant: 'assertion', detail: e.message, trace: trace(label) })
      if (stopAt) break
      continue
    }
    const k = worldKey(w)
    const stored = visited.get(k)
    if (stored !== undefined) {
      // revisit: explore what was asleep at the earlier visit(s) but is awake now
      const todo = [...stored].filter((x) => !child.has(x))
      if (!todo.length) continue
      visited.set(k, new Set([...stored].filter((x) => child.has(x))))
      const acts = enabled(w, cfg).filter((a) => { const sk = sleepKey(w, a); return sk !== undefined && todo.includes(sk) })
      if (acts.length) stack.push({ w, acts, i: 0, sleep: child, label })
      continue
    }
    visited.set(k, child)
    res.states++
    const bad = checkInvariants(w, cfg)
    if (bad) { res.violations.push({ ...bad, trace: trace(label) }); if (stopAt) break; continue }
    if (w.heuristics.some((h) => h.damage)) { res.heuristicDamage++; res.damageExample ??= trace(label) }
    if (res.states >= maxStates) { res.complete = false; break }
    const all = enabled(w, cfg)
    if (all.every((a) => a.a === 'crash' || a.a === 'lose' || a.a === 'resolve')) {
      res.terminal++
      if (w.s.every((x) => x.up) && w.begun.length === cfg.txns.length && !settled(w, cfg)) { res.undecided++; res.undecidedExample ??= trace(label) }
      if (w.s.some((x) => x.up && Object.values(x.parts).some((p) => p.phase === 'READY' && p.heuristic === undefined))) { res.blocked++; res.blockedExample ??= trace(label); if (cfg.stopAtBlocked) { res.complete = false; break } }
    }
    const acts = child.size ? all.filter((a) => { const sk = sleepKey(w, a); return sk === undefined || !child.has(sk) }) : all
    if (acts.length) stack.push({ w, acts, i: 0, sleep: child, label })
  }
  if (res.violations.length && stopAt) res.complete = false
  res.ms = performance.now() - t0
  return res
}

/** Three sites, two concurrent transactions sharing a site (and its lock): T1 at S1 over S1, S3; T2 at S2 over S2, S3. */
export function threeSites(topology: Topology, over: Partial<TwoPcCheckConfig> = {}): TwoPcCheckConfig {
  return {
    topology, sites: 3, maxCrashes: 1, maxLosses: 1, restarts: true,
    txns: [{ tx: 'T1', coord: 0, parts: [0, 2] }, { tx: 'T2', coord: 1, parts: [1, 2] }],
    ...over,
  }
}
