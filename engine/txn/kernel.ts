/**
 * What the DTM's modules share (engine/txn/dtm.ts wires them): the per-site runtime (lock manager, durable
 * log, committed store, live sub-transactions and coordinator records, decision memory), the transaction list
 * and timeline the consoles read, and the plumbing every module uses — site-bound timers in virtual time,
 * messages over cluster.net, log appends with group fsync, crash hooks at named 2PC steps.
 *
 * The modules: twopc/runtime.ts (the coordinator and participant machines of twopc/machine.ts carried out),
 * executor.ts (statements under strict 2PL), deadlock.ts (local and global detection), recovery.ts (crash
 * and restart from the 2PC log). Nothing here decides anything about the protocol.
 */
import type { Cluster } from '../cluster'
import type { SimEvent } from '../sim/kernel'
import { EngineError, toErrorInfo, type ErrorInfo } from '../errors'
import type { LockManager } from './lock'
import type { DurableLog, TxnLogRecord, TxnWrite } from './log'
import type { Row, TxnStore } from './store'
import type { CoordState as MCoord, PartState as MPart } from './twopc/machine'
import type * as Machine from './twopc/machine'
import type { CoordState, Decision, DeadlockScheme, HeuristicReport, PartState, Protocol, TimelineEvent, TxnInfo, VictimPolicy } from '../api/txn'
import type { Localized } from './global'
import type { RowChange } from '../integrity/dim'

/** Named 2PC steps where a site can be crashed on purpose. */
export const STEPS = ['wait', 'prepare', 'ready', 'vote', 'decide', 'commit', 'ack'] as const
export type Step = (typeof STEPS)[number]

export interface DtmOptions {
  protocol: Protocol
  scheme: DeadlockScheme
  victim: VictimPolicy
  lockTimeoutMs: number
  /** Coordinator in WAIT. */
  voteTimeoutMs: number
  /** Participant in INITIAL without activity or PREPARE. */
  initialTimeoutMs: number
  /** Participant in READY before it starts asking (then every retryMs). */
  decisionTimeoutMs: number
  retryMs: number
  /** Coordinator re-sends COMMIT to participants that have not acknowledged. */
  resendMs: number
  /** A statement whose result never comes back. */
  execTimeoutMs: number
  detectIntervalMs: number
  gatherTimeoutMs: number
  /** Participants apply committed transactions in groups: decisions arriving within this window share one local commit. */
  groupCommitMs: number
  timeline: boolean
  timelineKeep: number
  recordHistory: boolean
  /** Test hook: called right after a record was appended (after its fsync when forced). */
  onLog?: (site: string, rec: TxnLogRecord, forced: boolean) => void
  /**
   * The 2PC state machines the DTM runs (default: twopc/machine.ts). Tests replace one function with a broken
   * one to show the DTM follows the machines and nothing else (the model checker's mutants, run live).
   */
  machine?: Partial<typeof Machine>
}

export const DEFAULT_OPTIONS: DtmOptions = {
  protocol: 'distributed', scheme: 'detect', victim: 'youngest',
  lockTimeoutMs: 5000, voteTimeoutMs: 1500, initialTimeoutMs: 30_000, decisionTimeoutMs: 600, retryMs: 500,
  resendMs: 800, execTimeoutMs: 8000, detectIntervalMs: 1000, gatherTimeoutMs: 300,
  groupCommitMs: 0, timeline: true, timelineKeep: 400, recordHistory: false,
}

export interface ExecResult {
  ok: boolean; rows?: Row[]; affected?: number; error?: ErrorInfo; site: string; sql: string; at: number
  /** A global statement: the fragment-level operations it was localized into (site, fragment, SQL). */
  localized?: Localized
  /** Row images a write shipped back for the DIM's key and foreign-key checks (consumed by the coordinator). */
  changes?: RowChange[]
}
export interface CommitResult { gid: string; outcome: Decision | 'UNKNOWN'; reason?: string; latencyMs: number }

export interface HistoryOp { gid: string; site: string; item: string; op: 'r' | 'w' }

/** A sub-transaction: the participant machine at one site plus what the executor keeps for it. */
export interface Sub {
  gid: string
  site: string
  coord: string
  startAt: number
  /** The participant machine (twopc/machine.ts): the protocol state, the votes it knows, its participant list. */
  m: MPart
  /** The machine's phase as the views show it (kept in step by the runtime). */
  state: PartState
  writes: Map<string, TxnWrite>
  busy: boolean
  /** Ids of the txn.exec requests this sub-transaction has taken: a duplicated request is ignored, never run twice. */
  execIds?: Set<number>
  waitingSql?: string
  pendingReply?: (r: { error?: ErrorInfo }) => void
  stmts: string[]
  lastActivity: number
  timer?: SimEvent
  lockTimer?: SimEvent
  termRound: number
  readyAt?: number
  /** Its after-images are held prepared by the site's own server (TxnStore.prepare: PREPARE TRANSACTION). */
  prepared?: boolean
  /** COMMIT learned, waiting in the site's group commit (its outputs run at the flush). */
  committing?: boolean
  deferred?: Eff[]
}

/** A coordinator record at the origin site: the coordinator machine plus the client's callbacks. */
export interface Coord {
  gid: string
  origin: string
  startAt: number
  /** The coordinator machine (twopc/machine.ts). */
  m: MCoord
  /** The machine's phase as the views show it. */
  state: CoordState
  pending: number
  timer?: SimEvent
  resendTimer?: SimEvent
  onDone?: (r: CommitResult) => void
  commitReqAt?: number
  execCbs: Map<number, { cb: (r: ExecResult) => void; timer: SimEvent; site: string; sql: string }>
}

export interface SiteRt {
  code: string
  epoch: number
  locks: LockManager
  log: DurableLog
  store: TxnStore
  subs: Map<string, Sub>
  coords: Map<string, Coord>
  /** What this site decided for transactions it no longer holds (answers late messages and inquiries). */
  outcomes: Map<string, Decision | 'RO'>
  seq: number
  commitQueue: Sub[]
  flushTimer?: SimEvent
  /** Group commit on a file log: what waits for the next fsync (messages, client answers). */
  outbox: (() => void)[]
  syncEv?: SimEvent
  /** Transactions resolved here by hand (heuristic decisions), until the coordinator's decision is known. */
  heuristics: Map<string, { decision: Decision; coord: string; met?: Decision }>
}

/** One output of a machine step (twopc/machine.ts `Out`), carried out by the runtime. */
export type Eff =
  | { k: 'send'; m: Machine.Msg }
  | { k: 'log'; site: string; tx: string; rec: Machine.LogRec }
  | { k: 'apply'; site: string; tx: string }
  | { k: 'release'; site: string; tx: string }
  | { k: 'answer'; tx: string; d: Decision; reason: string }
  | { k: 'heuristic'; h: Machine.Heuristic }

const OUTCOME_KEEP = 20_000
/** Transactions kept in the list (views, console). */
export const INFO_KEEP = 5_000

export class TxnKernel {
  readonly sites = new Map<string, SiteRt>()
  readonly tl = new Map<string, TimelineEvent[]>()
  readonly info = new Map<string, TxnInfo>()
  readonly history: HistoryOp[] = []
  /** Hand resolutions (heuristic decisions) and what the coordinator decided: heuristic damage when they differ. */
  readonly heuristics: HeuristicReport[] = []
  readonly stats = { committed: 0, aborted: 0, unknown: 0, inDoubtResolved: 0, messages: 0, series: [] as { t: number; committed: number; aborted: number }[] }
  crashHooks: { site: string; step: Step; restartAfterMs?: number; gid?: string; link?: string }[] = []
  /** Transactions known only from a log after a restart or reopen: a participant's decision ends their list entry. */
  readonly recovered = new Set<string>()
  private msgSeq = 0

  constructor(readonly cluster: Cluster, readonly opts: DtmOptions, private newSite: (code: string) => SiteRt) {}

  rt(code: string): SiteRt {
    let s = this.sites.get(code)
    if (!s) {
      this.cluster.site(code) // throws UNKNOWN_SITE
      s = this.newSite(code)
      this.sites.set(code, s)
    }
    return s
  }

  /** The live coordinator record of `gid` at its origin (an aborted one waiting for acknowledgements is no longer active). */
  coordOf(gid: string): { s: SiteRt; c: Coord } {
    const s = this.sites.get(gid.split('-')[0])
    const live = s?.coords.get(gid)
    const c = live?.m.phase === 'ABORT' ? undefined : live
    if (!s || !c) {
      const i = this.info.get(gid)
      throw new EngineError(i ? 'ABORTED' : 'NOT_FOUND', i ? `transaction ${gid} is no longer active (${i.outcome ?? 'coordinator lost'}${i.reason ? `: ${i.reason}` : ''})` : `no transaction ${gid}`)
    }
    return { s, c }
  }

  up(code: string): boolean { return this.cluster.isServerUp(`${code}.primary`) }
  get now(): number { return this.cluster.sim.now }

  /** Schedules work that belongs to a site: it does not run if the site crashed in between. */
  at(s: SiteRt, delay: number, kind: string, fn: () => void): SimEvent {
    const epoch = s.epoch
    return this.cluster.sim.schedule(delay, kind, () => { if (s.epoch === epoch && this.up(s.code)) fn() })
  }

  runGrants(gs: (() => void)[]): void { for (const g of gs) g() }

  // ---- timeline / monitoring ----------------------------------------------------------------
  /** Timeline recording is on (callers test it first, so nothing is built for a timeline nobody keeps). */
  get tlOn(): boolean { return this.opts.timeline }
  note(gid: string, ev: Omit<TimelineEvent, 'at'>): void {
    if (!this.opts.timeline || gid.startsWith('dl#')) return
    let l = this.tl.get(gid)
    if (!l) {
      l = []
      this.tl.set(gid, l)
      if (this.tl.size > this.opts.timelineKeep) this.tl.delete(this.tl.keys().next().value!)
    }
    if (l.length < 2000) l.push({ at: this.now, ...ev })
  }

  setPart(s: SiteRt, sub: Sub, st: PartState | 'RO'): void {
    if (st !== 'RO') sub.state = st
    if (this.tlOn) this.note(sub.gid, { kind: 'state', site: s.code, detail: st === 'RO' ? 'read-only: locks released, no phase two' : `participant ${st}` })
    const i = this.info.get(sub.gid)
    if (i) i.sites[s.code] = st
    if (i && !i.outcome && (st === 'COMMIT' || st === 'ABORT') && this.recovered.has(sub.gid) && !this.sites.get(i.origin)?.coords.has(sub.gid)) {
      // no live coordinator will report it: the participants' decision is the outcome
      i.outcome = st
      i.endAt = this.now
      i.reason = 'resolved after recovery'
      this.recovered.delete(sub.gid)
    }
  }

  setCoord(c: Coord, st: CoordState): void {
    c.state = st
    if (this.tlOn) this.note(c.gid, { kind: 'state', site: c.origin, detail: `coordinator ${st}` })
    const i = this.info.get(c.gid)
    if (i) i.coordState = st
  }

  remember(s: SiteRt, gid: string, o: Decision | 'RO'): void {
    s.outcomes.set(gid, o)
    if (s.outcomes.size > OUTCOME_KEEP) trimOldest(s.outcomes, OUTCOME_KEEP)
  }

  /** The list entry of a transaction known only from a log (after a restart or reopen). */
  recoveredInfo(gid: string, origin: string, protocol: Protocol | undefined, startAt: number): TxnInfo {
    this.recovered.add(gid)
    if (this.recovered.size > OUTCOME_KEEP) trimOldest(this.recovered, OUTCOME_KEEP)
    let i = this.info.get(gid)
    if (!i) {
      i = { gid, origin: gid.split('-')[0] || origin, protocol: protocol ?? 'centralized', startAt, coordState: 'WAIT', sites: {}, statements: [] }
      this.info.set(gid, i)
    }
    return i
  }

  // ---- the 2PC log and group commit -------------------------------------------------------------
  /** Appends a record to the site's log; a forced one is made stable by the next group fsync. */
  force(s: SiteRt, rec: Omit<TxnLogRecord, 'at'>, force: boolean): void {
    const r = rec as TxnLogRecord
    r.at = this.now
    s.log.append(r, force)
    if (force && s.log.dirty) this.scheduleSync(s) // the hook hears of it once it is stable
    else this.opts.onLog?.(s.code, r, force)
    if (this.tlOn) this.note(rec.gid, { kind: 'log', site: s.code, detail: `${force ? 'force-write' : 'write'} ${rec.type}${rec.role === 'coord' ? ' (coordinator)' : ''}` })
  }

  /** Runs `fn` once every forced record of the site is stable (at once if none is waiting for its fsync). */
  afterForce(s: SiteRt, fn: () => void): void {
    if (!s.log.dirty) { fn(); return }
    s.outbox.push(fn)
    this.scheduleSync(s)
  }

  scheduleSync(s: SiteRt): void {
    // a sync event that fired while the site was down (or before its restart) ran nothing: schedule a new one,
    // or the site's outbox (every message waiting for a stable log) would wait for ever
    if (s.syncEv && !s.syncEv.done && !s.syncEv.cancelled) return
    s.syncEv = this.at(s, this.opts.groupCommitMs, 'txn.logSync', () => this.syncLog(s))
  }

  /** One fsync for the site's forced records of the window, then what waited for it. */
  syncLog(s: SiteRt): void {
    this.cluster.sim.cancel(s.syncEv)
    s.syncEv = undefined
    const stable = s.log.sync?.() ?? []
    for (const r of stable) this.opts.onLog?.(s.code, r, true)
    const q = s.outbox
    s.outbox = []
    for (const fn of q) fn()
  }

  // ---- messaging ----------------------------------------------------------------------------
  /**
   * A message from one site's transaction manager to another's; it leaves once the sender's forced records are
   * stable (`onLeave` runs then, as it leaves).
   */
  send(from: string, to: string, kind: string, gid: string, bytes: number, onArrive: () => void, onLeave?: () => void): void {
    const fs = this.sites.get(from)
    if (fs?.log.dirty) { this.afterForce(fs, () => this.send(from, to, kind, gid, bytes, onArrive, onLeave)); return }
    onLeave?.()
    const id = ++this.msgSeq
    this.stats.messages++
    if (this.tlOn) this.note(gid, { kind: 'send', site: from, to, msg: kind, id })
    if (from === to) {
      // within one site (coordinator and local participant share the site's transaction manager): no network hop
      this.cluster.sim.schedule(0, kind, () => {
        if (!this.up(to)) { this.note(gid, { kind: 'drop', site: to, msg: kind, id, detail: `${to} is down` }); return }
        if (this.tlOn) this.note(gid, { kind: 'deliver', site: to, to: from, msg: kind, id })
        onArrive()
      })
      return
    }
    try {
      this.cluster.net.send({
        from, to, kind, payload: gid, bytes,
        onDeliver: () => {
          if (!this.up(to)) { this.note(gid, { kind: 'drop', site: to, msg: kind, id, detail: `${to} is down` }); return }
          if (this.tlOn) this.note(gid, { kind: 'deliver', site: to, to: from, msg: kind, id })
          onArrive()
        },
        onDrop: this.tlOn ? (reason) => this.note(gid, { kind: 'drop', site: to, msg: kind, id, detail: reason }) : undefined,
      })
    } catch (e) {
      if (this.tlOn) this.note(gid, { kind: 'drop', site: to, msg: kind, id, detail: toErrorInfo(e).message })
    }
  }

  // ---- crash hooks --------------------------------------------------------------------------
  addCrashHook(h: { site: string; step: Step; restartAfterMs?: number; gid?: string; link?: string }): void {
    if (!STEPS.includes(h.step)) throw new EngineError('BAD_INPUT', `unknown 2PC step ${h.step}; steps are ${STEPS.join(', ')}`)
    this.crashHooks.push(h)
  }

  /** True if the site was crashed here (the caller must stop). */
  hook(s: SiteRt, step: Step, gid: string): boolean {
    if (!this.crashHooks.length) return false
    const i = this.crashHooks.findIndex((h) => h.site === s.code && h.step === step && (!h.gid || h.gid === gid))
    if (i < 0) return false
    const h = this.crashHooks.splice(i, 1)[0]
    if (h.link) {
      if (this.tlOn) this.note(gid, { kind: 'note', site: s.code, detail: `link ${h.link} fails at ${step}` })
      this.cluster.failLink(h.link)
      if (h.restartAfterMs !== undefined) this.cluster.sim.schedule(h.restartAfterMs, 'txn.linkRestore', () => this.cluster.restoreLink(h.link!))
      return false
    }
    if (this.tlOn) this.note(gid, { kind: 'note', site: s.code, detail: `crash at ${step}` })
    this.cluster.failSite(s.code)
    if (h.restartAfterMs !== undefined) this.cluster.sim.schedule(h.restartAfterMs, 'txn.restart', () => this.cluster.restoreSite(s.code))
    return true
  }

  // ---- the client's answers -------------------------------------------------------------------
  finishExec(c: Coord, id: number, r: ExecResult): void {
    const e = c.execCbs.get(id)
    if (!e) return
    c.execCbs.delete(id)
    this.cluster.sim.cancel(e.timer)
    c.pending--
    e.cb(r)
  }

  finishTxn(c: Coord, outcome: Decision | 'UNKNOWN', reason?: string): void {
    const i = this.info.get(c.gid)
    if (i && !i.outcome) {
      i.outcome = outcome; i.endAt = this.now; i.reason = reason
      this.cluster.log('txn', `${c.gid} ${outcome === 'COMMIT' ? 'committed' : outcome === 'ABORT' ? 'aborted' : 'ended with an unknown outcome'}${reason ? `: ${reason}` : ''}`, c.origin)
      if (outcome === 'COMMIT') this.stats.committed++
      else if (outcome === 'ABORT') this.stats.aborted++
      else this.stats.unknown++
      const sec = Math.floor(this.now / 1000) * 1000
      const last = this.stats.series[this.stats.series.length - 1]
      if (last && last.t === sec) { if (outcome === 'COMMIT') last.committed++; else last.aborted++ }
      else {
        this.stats.series.push({ t: sec, committed: outcome === 'COMMIT' ? 1 : 0, aborted: outcome === 'COMMIT' ? 0 : 1 })
        if (this.stats.series.length > 600) this.stats.series.shift()
      }
    }
    const cb = c.onDone
    c.onDone = undefined
    cb?.({ gid: c.gid, outcome, reason, latencyMs: this.now - (c.commitReqAt ?? this.now) })
  }
}

/**
 * Drops the oldest entries of an insertion-ordered Map or Set down to 7/8 of `cap`, in one pass. (Deleting one
 * entry per insert walks the deleted slots at the front of the table on every call: quadratic over a long run.)
 */
export function trimOldest(m: Map<string, unknown> | Set<string>, cap: number): void {
  let n = m.size - Math.floor(cap * 7 / 8)
  for (const k of m.keys()) { if (n-- <= 0) break; m.delete(k) }
}

/** Orders gids by origin then sequence number. */
export function gidOrder(a: string, b: string): number {
  const [oa, na] = a.split('-'), [ob, nb] = b.split('-')
  return oa === ob ? Number(na) - Number(nb) : oa < ob ? -1 : 1
}

