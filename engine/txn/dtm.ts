/**
 * The Distributed Transaction Manager (DTM): at every site a transaction coordinator, a scheduler (the
 * lock manager, strict 2PL) and a recovery manager (a durable log); two-phase commit in three topologies
 * with presumed abort, timeouts, cooperative termination and restart recovery; local and global
 * deadlock handling. All communication goes through cluster.net; all time is cluster.sim.
 *
 * State machines (visible in the views):
 *   coordinator  INITIAL → WAIT → COMMIT | ABORT
 *   participant  INITIAL → READY → COMMIT | ABORT
 */
import type { Cluster } from '../cluster'
import type { SimEvent } from '../sim/kernel'
import { EngineError, toErrorInfo, type ErrorInfo } from '../errors'
import { LockManager, type LockMode } from './lock'
import { MemoryStableLog, type DurableLog, type TxnLogRecord, type TxnWrite } from './log'
import { MemoryStore, type Row, type TxnStore } from './store'
import { SiteTxnStore } from './sqlstore'
import { FileTxnLog } from './filelog'
import { checkRow, duplicateKey, imagesNeeded, type RowChange } from '../integrity/dim'
import type { DimRow } from '../integrity/constraints'
import { Dim } from '../integrity'
import { checkInTxn } from '../integrity/txn'
import { runGlobal, type Localized, type OpOptions, type PreParsed } from './global'
import { QueryCatalog } from '../query/catalog'
import { compile, template, type Compiled, type Val } from './stmt'
import { cycleKey, findCycles, reaches, unionWfg, type Wfg } from './wfg'
import type { RequestClass } from '../api/query'
import type { CoordState, Decision, DeadlockRecord, DeadlockScheme, HeuristicReport, InDoubtView, PartState, Protocol, TimelineEvent, TxnInfo, TxnView, VictimPolicy, Vote, WfgView } from '../api/txn'

export type { CoordState, Decision, DeadlockRecord, DeadlockScheme, HeuristicReport, InDoubtView, PartState, Protocol, TimelineEvent, TxnInfo, TxnView, VictimPolicy, Vote, WfgView }

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


interface Sub {
  gid: string
  site: string
  coord: string
  startAt: number
  state: PartState
  writes: Map<string, TxnWrite>
  participants: string[]
  protocol: Protocol
  votes: Map<string, Vote>
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
  committing?: boolean
}

interface Coord {
  gid: string
  origin: string
  startAt: number
  state: CoordState
  protocol: Protocol
  participants: string[]
  pending: number
  votes: Map<string, Vote>
  acks: Set<string>
  phase2: string[]
  timer?: SimEvent
  resendTimer?: SimEvent
  termRound: number
  onDone?: (r: CommitResult) => void
  commitReqAt?: number
  execCbs: Map<number, { cb: (r: ExecResult) => void; timer: SimEvent; site: string; sql: string }>
}

interface SiteRt {
  code: string
  epoch: number
  locks: LockManager
  log: DurableLog
  store: TxnStore
  subs: Map<string, Sub>
  coords: Map<string, Coord>
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


const OUTCOME_KEEP = 20_000
/** Transactions kept in the list (views, console). */
const INFO_KEEP = 5_000

export class Dtm {
  readonly opts: DtmOptions
  private sites = new Map<string, SiteRt>()
  private tl = new Map<string, TimelineEvent[]>()
  readonly info = new Map<string, TxnInfo>()
  readonly history: HistoryOp[] = []
  readonly deadlocks: DeadlockRecord[] = []
  /** Hand resolutions (heuristic decisions) and what the coordinator decided: heuristic damage when they differ. */
  readonly heuristics: HeuristicReport[] = []
  private crashHooks: { site: string; step: Step; restartAfterMs?: number; gid?: string; link?: string }[] = []
  private execSeq = 0
  private msgSeq = 0
  private unsub: () => void
  readonly stats = { committed: 0, aborted: 0, unknown: 0, inDoubtResolved: 0, messages: 0, series: [] as { t: number; committed: number; aborted: number }[] }
  private det = {
    timer: undefined as SimEvent | undefined,
    confirmTimer: undefined as SimEvent | undefined,
    round: 0,
    at: '' as string,
    collecting: undefined as undefined | { round: number; site: string; replies: Map<string, WfgReply>; expected: Set<string>; timer: SimEvent },
    prevKeys: new Set<string>(),
    lastGlobal: new Map() as Wfg,
    lastLocal: {} as Record<string, [string, string[]][]>,
    lastCycles: [] as string[][],
    polls: 0,
  }
  private deadlockSeq = 0
  /** Transactions known only from a log after a restart or reopen: a participant's decision ends their list entry. */
  private recovered = new Set<string>()

  constructor(readonly cluster: Cluster, opts: Partial<DtmOptions> = {}) {
    this.opts = { ...DEFAULT_OPTIONS, ...opts }
    const dir = cluster.ready ? cluster.dataDir : null
    for (const code of cluster.siteCodes) this.addSite(code, cluster.ready ? new SiteTxnStore(cluster, code) : undefined, dir ? cluster.openTxnLog(code) : undefined)
    // a persisted cluster reopened after a crash: every live site recovers from its 2PC log at once
    // (in-doubt participants with their locks, open coordinator records), then resolves through the protocol
    if (dir) for (const s of this.sites.values()) if (s.log.records().length) this.recover(s, `${cluster.dataDir}`)
    this.unsub = cluster.on((e) => {
      if ((e.type !== 'server.down' && e.type !== 'server.up') || e.role !== 'primary') return
      if (e.type === 'server.down') this.onCrash(e.site)
      else if (cluster.isServerUp(e.server)) this.onRestart(e.site)
    })
  }

  /** The cluster's DTM (built by the cluster's subsystem registry on first use; opts apply then). */
  static of(cluster: Cluster, opts?: Partial<DtmOptions>): Dtm { return cluster.subsystems.dtm(opts) }
  /** The cluster's DTM if one has been built (the DIM asks without building one). */
  static existing(cluster: Cluster): Dtm | undefined { return cluster.subsystems.built.includes('dtm') ? Dtm.of(cluster) : undefined }

  dispose(): void {
    this.unsub()
    for (const s of this.sites.values()) if (s.log instanceof FileTxnLog) s.log.close()
    this.cluster.sim.cancel(this.det.timer)
    this.cluster.sim.cancel(this.det.confirmTimer)
    this.cluster.subsystems.release('dtm', this)
  }

  addSite(code: string, store?: TxnStore, log?: DurableLog): void {
    if (this.sites.has(code)) return
    this.sites.set(code, {
      code, epoch: 0, locks: new LockManager(), log: log ?? new MemoryStableLog(), store: store ?? new MemoryStore(),
      subs: new Map(), coords: new Map(), outcomes: new Map(), seq: 0, commitQueue: [], outbox: [], heuristics: new Map(),
    })
  }

  setStore(code: string, store: TxnStore): void { this.rt(code).store = store }
  // failover (engine/cluster/failover.ts): the promoted backup server's copy of the 2PC log becomes the site's log before its restart
  setLog(code: string, log: DurableLog): void { this.rt(code).log = log }
  store(code: string): TxnStore { return this.rt(code).store }
  log(code: string): DurableLog { return this.rt(code).log }
  locks(code: string): LockManager { return this.rt(code).locks }

  private rt(code: string): SiteRt {
    let s = this.sites.get(code)
    if (!s) {
      this.cluster.site(code) // throws UNKNOWN_SITE
      this.addSite(code)
      s = this.sites.get(code)!
    }
    return s
  }

  private up(code: string): boolean { return this.cluster.isServerUp(`${code}.primary`) }
  private get now(): number { return this.cluster.sim.now }

  /** Schedules work that belongs to a site: it does not run if the site crashed in between. */
  private at(s: SiteRt, delay: number, kind: string, fn: () => void): SimEvent {
    const epoch = s.epoch
    return this.cluster.sim.schedule(delay, kind, () => { if (s.epoch === epoch && this.up(s.code)) fn() })
  }

  // ---- timeline / monitoring ----------------------------------------------------------------
  /** Timeline recording is on (callers test it first, so nothing is built for a timeline nobody keeps). */
  private get tlOn(): boolean { return this.opts.timeline }
  private note(gid: string, ev: Omit<TimelineEvent, 'at'>): void {
    if (!this.opts.timeline || gid.startsWith('dl#')) return
    let l = this.tl.get(gid)
    if (!l) {
      l = []
      this.tl.set(gid, l)
      if (this.tl.size > this.opts.timelineKeep) this.tl.delete(this.tl.keys().next().value!)
    }
    if (l.length < 2000) l.push({ at: this.now, ...ev })
  }

  private setPart(s: SiteRt, sub: Sub, st: PartState): void {
    sub.state = st
    if (this.tlOn) this.note(sub.gid, { kind: 'state', site: s.code, detail: `participant ${st}` })
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

  private setCoord(c: Coord, st: CoordState): void {
    c.state = st
    if (this.tlOn) this.note(c.gid, { kind: 'state', site: c.origin, detail: `coordinator ${st}` })
    const i = this.info.get(c.gid)
    if (i) i.coordState = st
  }

  private force(s: SiteRt, rec: Omit<TxnLogRecord, 'at'>, force: boolean): void {
    const r = rec as TxnLogRecord
    r.at = this.now
    s.log.append(r, force)
    if (force && s.log.dirty) this.scheduleSync(s) // the hook hears of it once it is stable
    else this.opts.onLog?.(s.code, r, force)
    if (this.tlOn) this.note(rec.gid, { kind: 'log', site: s.code, detail: `${force ? 'force-write' : 'write'} ${rec.type}${rec.role === 'coord' ? ' (coordinator)' : ''}` })
  }

  // ---- group commit (file logs) ----------------------------------------------------------------
  /** Runs `fn` once every forced record of the site is stable (at once if none is waiting for its fsync). */
  private afterForce(s: SiteRt, fn: () => void): void {
    if (!s.log.dirty) { fn(); return }
    s.outbox.push(fn)
    this.scheduleSync(s)
  }

  private scheduleSync(s: SiteRt): void {
    // a sync event that fired while the site was down (or before its restart) ran nothing: schedule a new one,
    // or the site's outbox (every message waiting for a stable log) would wait for ever
    if (s.syncEv && !s.syncEv.done && !s.syncEv.cancelled) return
    s.syncEv = this.at(s, this.opts.groupCommitMs, 'txn.logSync', () => this.syncLog(s))
  }

  /** One fsync for the site's forced records of the window, then what waited for it. */
  private syncLog(s: SiteRt): void {
    this.cluster.sim.cancel(s.syncEv)
    s.syncEv = undefined
    const stable = s.log.sync?.() ?? []
    for (const r of stable) this.opts.onLog?.(s.code, r, true)
    const q = s.outbox
    s.outbox = []
    for (const fn of q) fn()
  }

  private remember(s: SiteRt, gid: string, o: Decision | 'RO'): void {
    s.outcomes.set(gid, o)
    if (s.outcomes.size > OUTCOME_KEEP) s.outcomes.delete(s.outcomes.keys().next().value!)
  }

  // ---- messaging ----------------------------------------------------------------------------
  private send(from: string, to: string, kind: string, gid: string, bytes: number, onArrive: () => void): void {
    const fs = this.sites.get(from)
    if (fs?.log.dirty) { this.afterForce(fs, () => this.send(from, to, kind, gid, bytes, onArrive)); return }
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
  /** Crashes `site` the next time it reaches `step` (optionally for one transaction); restarts it after a delay. */
  crashAt(site: string, step: Step, opts: { restartAfterMs?: number; gid?: string } = {}): void {
    this.rt(site)
    if (!STEPS.includes(step)) throw new EngineError('BAD_INPUT', `unknown 2PC step ${step}; steps are ${STEPS.join(', ')}`)
    this.crashHooks.push({ site, step, ...opts })
  }

  /** Fails a WAN link the next time `site` reaches `step` (the site goes on); restores it after a delay. */
  failLinkAt(site: string, step: Step, link: string, opts: { restoreAfterMs?: number } = {}): void {
    this.rt(site)
    this.cluster.net.link(link)
    this.crashHooks.push({ site, step, link, restartAfterMs: opts.restoreAfterMs })
  }

  pendingCrashHooks(): { site: string; step: Step }[] { return this.crashHooks.map(({ site, step }) => ({ site, step })) }

  /** True if the site was crashed here (the caller must stop). */
  private hook(s: SiteRt, step: Step, gid: string): boolean {
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

  // ---- client API (at the origin site) ------------------------------------------------------
  begin(origin: string, opts: { protocol?: Protocol } = {}): string {
    const s = this.rt(origin)
    if (!this.up(origin)) throw this.cluster.siteDownError(origin, 'cannot begin a transaction there')
    const gid = `${origin}-${++s.seq}`
    const c: Coord = {
      gid, origin, startAt: this.now, state: 'INITIAL', protocol: opts.protocol ?? this.opts.protocol, participants: [], pending: 0,
      votes: new Map(), acks: new Set(), phase2: [], termRound: 0, execCbs: new Map(),
    }
    s.coords.set(gid, c)
    this.info.set(gid, { gid, origin, protocol: c.protocol, startAt: this.now, coordState: 'INITIAL', sites: {}, statements: [] })
    if (this.info.size > INFO_KEEP) this.info.delete(this.info.keys().next().value!)
    if (this.tlOn) this.note(gid, { kind: 'state', site: origin, detail: `begin (${c.protocol} 2PC); coordinator INITIAL` })
    return gid
  }

  private coordOf(gid: string): { s: SiteRt; c: Coord } {
    const origin = gid.split('-')[0]
    const s = this.sites.get(origin)
    const live = s?.coords.get(gid)
    // an aborted transaction's record stays until every participant acknowledged the ABORT: it is no longer active
    const c = live?.state === 'ABORT' ? undefined : live
    if (!s || !c) {
      const i = this.info.get(gid)
      throw new EngineError(i ? 'ABORTED' : 'NOT_FOUND', i ? `transaction ${gid} is no longer active (${i.outcome ?? 'coordinator lost'}${i.reason ? `: ${i.reason}` : ''})` : `no transaction ${gid}`)
    }
    return { s, c }
  }

  exec(gid: string, site: string, sql: string, params: Val[] = [], cb: (r: ExecResult) => void = () => {}): void {
    this.execOp(gid, site, sql, params, cb, true)
  }

  /** The statements of a transaction as the client issued them (a global one counts once): its request class. */
  private countUnit(info: TxnInfo, sites: string[], write: boolean): void {
    if (!sites.length) return
    const u = (info.units ??= [])
    u.push({ sites, write })
    info.requestClass = classify(u)
  }

  /** A fragment-level statement at a site; `top`: issued by the client itself (not part of a global statement). */
  private execOp(gid: string, site: string, sql: string, params: Val[], cb: (r: ExecResult) => void, top: boolean, opts?: OpOptions): void {
    const { s, c } = this.coordOf(gid)
    const fail = (e: unknown) => cb({ ok: false, error: toErrorInfo(e), site, sql, at: this.now })
    if (c.state !== 'INITIAL') return fail(new EngineError('CONFLICT', `transaction ${gid} is ${c.state}`))
    try {
      const t = template(sql)
      if (t.params !== params.length) throw new EngineError('BAD_INPUT', `statement has ${t.params} parameter(s), ${params.length} given`)
      this.rt(site)
    } catch (e) { return this.statementRefused(c, site, sql, e, cb) }
    // a site that already has work of this transaction must still hold it (see onExec: a crash in INITIAL loses it)
    const again = c.participants.includes(site)
    if (!again) c.participants.push(site)
    c.pending++
    const id = ++this.execSeq
    const info = this.info.get(gid)
    const stmtRec = { site, sql, at: this.now } as TxnInfo['statements'][number]
    info?.statements.push(stmtRec)
    const timer = this.at(s, this.opts.execTimeoutMs, 'txn.execTimeout', () => {
      if (!c.execCbs.has(id)) return
      if (this.tlOn) this.note(gid, { kind: 'timeout', site: s.code, detail: `no result from ${site}` })
      this.finishExec(c, id, { ok: false, error: { code: 'TIMEOUT', message: `statement at ${site} timed out` }, site, sql, at: this.now })
      this.globalAbort(s, c, `statement at ${site} timed out`)
    })
    const done = (r: ExecResult) => { stmtRec.ok = r.ok; stmtRec.error = r.error?.message; stmtRec.rows = r.rows?.length ?? r.affected; if (top && info) this.countUnit(info, [site], isWriteSql(sql)); cb(r) }
    c.execCbs.set(id, { cb: (r) => (top ? this.dimThen(c, r.changes, r, done) : done(r)), timer, site, sql })
    // an eager replica operation carries the primary copy's last change batch for this replica (its fence): the
    // coordinator learnt it with the primary copy's result, the replica applies up to it before it runs the operation
    const fence = opts?.fenceFrom ? { origin: opts.fenceFrom, seq: this.cluster.replication.fenceSeq(opts.fenceFrom, site) } : undefined
    this.send(s.code, site, 'txn.exec', gid, 48 + sql.length + params.length * 8 + (fence ? 8 : 0), () => this.onExec(this.rt(site), gid, c.origin, c.startAt, c.protocol, sql, params, id, again, fence))
  }

  /**
   * A global statement (global relation or fragment names) inside transaction `gid`: localized with the
   * DQP's catalog into fragment-level operations (see global.ts), run one after the other as operations
   * of the sub-transactions at their sites (strict 2PL: S locks for reads, X for writes). The result
   * unions the rows / sums the counts; the first failing operation fails the statement (and, as for any
   * failed operation, the transaction is aborted).
   */
  execGlobal(gid: string, sql: string, params: Val[] = [], cb: (r: ExecResult) => void = () => {}, pre?: PreParsed): void {
    const { c } = this.coordOf(gid)
    const fail = (e: unknown, site = c.origin) => cb({ ok: false, error: toErrorInfo(e), site, sql, at: this.now })
    if (c.state !== 'INITIAL') return fail(new EngineError('CONFLICT', `transaction ${gid} is ${c.state}`))
    const info = this.info.get(gid)
    const changes: RowChange[] = []
    const host = { origin: c.origin, isUp: (x: string) => this.up(x) && (x === c.origin || !!this.cluster.net.route(c.origin, x)), exec: (site: string, op: string, k: (r: ExecResult) => void, o?: OpOptions) => this.execOp(gid, site, op, [], (r) => { if (r.changes) changes.push(...r.changes); k(r) }, false, o) }
    runGlobal(this.catalog, host, sql, params, (r0) => this.dimThen(c, r0.ok ? changes : undefined, r0, (r) => {
      const loc = r.localized
      const sites = [...new Set((loc?.ops ?? []).map((o) => o.site))]
      // a site that cannot be reached fails the transaction like a statement that fails there; other refusals
      // (the statement is not accepted) abort nothing
      const unreachable = r.error?.code === 'UNREACHABLE' || r.error?.code === 'SITE_DOWN'
      if (!r.ok && !loc?.ops.length && !unreachable) { this.recordRefused(gid, c.origin, sql, r.error ?? new EngineError('INTERNAL', 'refused')); return cb({ ok: false, error: r.error, site: c.origin, sql, at: this.now, localized: loc }) }
      // the fragment-level operations are the transaction's statements; the global statement is what the class counts
      if (info) this.countUnit(info, sites, loc?.kind !== 'select')
      if (!r.ok) {
        // a statement is atomic: when it fails after some of its operations ran, the transaction is aborted
        // (as when one of its operations fails at a site)
        const o = this.sites.get(c.origin)
        if (o && o.coords.get(gid) === c && c.state === 'INITIAL') this.globalAbort(o, c, `${sql.slice(0, 80)}: ${r.error?.message ?? 'failed'}`)
      }
      cb({ ok: r.ok, site: sites.join(',') || c.origin, sql, at: this.now, localized: loc, ...(r.error ? { error: r.error } : {}), ...(r.rows ? { rows: r.rows } : {}), ...(r.affected !== undefined ? { affected: r.affected } : {}) })
    }), pre)
  }

  /**
   * The DIM's key and foreign-key checks of a statement's row changes (engine/integrity/txn.ts): lookups run
   * as reads of this transaction; a violation fails the statement and aborts the transaction.
   */
  private dimThen<R extends { ok: boolean; error?: ErrorInfo; changes?: RowChange[]; rows?: Row[]; affected?: number }>(c: Coord, changes: RowChange[] | undefined, r: R, cb: (r: R) => void): void {
    delete r.changes
    if (!r.ok || !changes?.length || !this.dimOn) return cb(r)
    const reader = {
      origin: c.origin,
      reachable: (x: string) => this.up(x) && (x === c.origin || !!this.cluster.net.route(c.origin, x)),
      read: (site: string, sql: string, params: Val[], k: (x: ExecResult) => void) => this.execOp(c.gid, site, sql, params, k, false),
      gid: c.gid, locks: (x: string) => this.locks(x),
      wrote: (x: string, table: string) => !!this.info.get(c.gid)?.statements.some((st) => { try { return st.site === x && template(st.sql).kind !== 'select' && template(st.sql).table.toUpperCase() === table.toUpperCase() } catch { return st.site === x } }),
      lockTimeoutMs: this.opts.lockTimeoutMs, answerTimeoutMs: this.opts.execTimeoutMs,
      // a lookup that waits for a lock is an edge of the wait-for graph: the global detector must run
      onWait: () => { if (this.opts.scheme === 'detect') this.ensureDetector() },
    }
    checkInTxn(this.cluster, reader, changes, (e) => {
      // the transaction may have been aborted meanwhile (a deadlock victim, a timeout elsewhere)
      const err = e ?? (c.state !== 'INITIAL' ? { code: 'ABORTED' as const, message: `transaction ${c.gid} was aborted during its integrity check` } : undefined)
      if (!err) return cb(r)
      const o = this.sites.get(c.origin)
      if (o && o.coords.get(c.gid) === c && c.state === 'INITIAL') this.globalAbort(o, c, err.message)
      cb({ ...r, ok: false, error: err, rows: undefined, affected: undefined })
    })
  }

  /**
   * A statement refused before it reached a site (it does not parse, or does not localize) aborts nothing
   * else, but it is recorded as a failed statement of the transaction (see commit: a transaction whose
   * every statement failed has nothing to commit).
   */
  private statementRefused(c: Coord, site: string, sql: string, e: unknown, cb: (r: ExecResult) => void): void {
    this.recordRefused(c.gid, site, sql, e)
    cb({ ok: false, error: toErrorInfo(e), site, sql, at: this.now })
  }

  /** Records a statement of an active transaction refused before the DTM saw it (e.g. by the security manager). */
  recordRefused(gid: string, site: string, sql: string, e: unknown): void {
    const c = this.sites.get(gid.split('-')[0])?.coords.get(gid)
    if (c?.state === 'INITIAL') this.info.get(gid)?.statements.push({ site, sql, at: this.now, ok: false, error: toErrorInfo(e).message })
  }

  private cat?: QueryCatalog
  private get catalog(): QueryCatalog { return (this.cat ??= new QueryCatalog(this.cluster.topology)) }

  private finishExec(c: Coord, id: number, r: ExecResult): void {
    const e = c.execCbs.get(id)
    if (!e) return
    c.execCbs.delete(id)
    this.cluster.sim.cancel(e.timer)
    c.pending--
    e.cb(r)
  }

  commit(gid: string, cb: (r: CommitResult) => void = () => {}): void {
    const { s, c } = this.coordOf(gid)
    if (c.state !== 'INITIAL') throw new EngineError('CONFLICT', `transaction ${gid} is already ${c.state}`)
    if (c.pending > 0) throw new EngineError('CONFLICT', `transaction ${gid} still has ${c.pending} statement(s) running`)
    c.onDone = cb
    c.commitReqAt = this.now
    if (!c.participants.length) {
      // No statement reached a site. Statements were given, so every one of them was refused: there is
      // nothing to commit, and saying COMMIT would claim work that was never done.
      const tried = this.info.get(gid)?.statements.length ?? 0
      if (tried) { this.coordDecide(s, c, 'ABORT', `nothing to commit: ${tried === 1 ? 'its only statement' : `all ${tried} statements`} failed`); return }
      this.setCoord(c, 'WAIT'); this.coordDecide(s, c, 'COMMIT'); return
    }
    this.setCoord(c, 'WAIT')
    if (c.protocol !== 'centralized') this.force(s, { type: 'WAIT', gid, role: 'coord', participants: c.participants, protocol: c.protocol, startAt: c.startAt }, true)
    if (this.hook(s, 'wait', gid)) return
    if (c.protocol === 'linear') {
      this.sendPrepare(s, c, c.participants[0], {})
    } else {
      for (const p of c.participants) this.sendPrepare(s, c, p, {})
    }
    c.timer = this.at(s, this.opts.voteTimeoutMs, 'txn.voteTimeout', () => this.coordTimeout(s, c))
  }

  abort(gid: string, reason = 'aborted by the application'): void {
    const { s, c } = this.coordOf(gid)
    if (c.state !== 'INITIAL') throw new EngineError('CONFLICT', `transaction ${gid} is ${c.state}; only an active transaction can be aborted`)
    this.globalAbort(s, c, reason)
  }

  // ---- participant: statements --------------------------------------------------------------
  private onExec(s: SiteRt, gid: string, coord: string, startAt: number, protocol: Protocol, sql: string, params: Val[], id: number, again = false, fence?: { origin: string; seq: number }): void {
    const reply = (r: { rows?: Row[]; affected?: number; error?: ErrorInfo; changes?: RowChange[] }) => {
      this.send(s.code, coord, 'txn.execResult', gid, 32 + (r.rows ? r.rows.length * 64 : 0) + (r.changes ? r.changes.length * 64 : 0), () => {
        const cs = this.rt(coord).coords.get(gid)
        if (!cs) return
        const res: ExecResult = { ok: !r.error, site: s.code, sql, at: this.now, ...(r.rows ? { rows: r.rows } : {}), ...(r.affected !== undefined ? { affected: r.affected } : {}), ...(r.error ? { error: r.error } : {}), ...(r.changes && !r.error ? { changes: r.changes } : {}) }
        this.finishExec(cs, id, res)
        if (r.error && cs.state === 'INITIAL') this.globalAbort(this.rt(coord), cs, `${s.code}: ${r.error.message}`)
      })
    }
    const known = s.outcomes.get(gid)
    let sub = s.subs.get(gid)
    // a duplicate of a request already taken (the network may deliver a message twice): its one reply is or
    // will be on its way; running it again would apply its writes twice
    if (sub?.execIds?.has(id)) return
    if (!sub && known) return reply({ error: { code: 'ABORTED', message: `${gid} was already ${known} at ${s.code}`, site: s.code } })
    // the coordinator sent work here before, and this site has no trace of it: it crashed in INITIAL (nothing of
    // INITIAL is logged) and lost that work; a new sub-transaction would commit the later statements without it
    if (!sub && again) return reply({ error: { code: 'ABORTED', message: `${s.code} lost ${gid}'s earlier work in a crash (participant INITIAL is not logged); the transaction is aborted`, site: s.code } })
    if (sub && (sub.state !== 'INITIAL' || sub.busy)) return reply({ error: { code: 'CONFLICT', message: `${gid} is ${sub.state} at ${s.code}`, site: s.code } })
    if (!sub) {
      sub = { gid, site: s.code, coord, startAt, state: 'INITIAL', writes: new Map(), participants: [], protocol, votes: new Map(), busy: false, stmts: [], lastActivity: this.now, termRound: 0 }
      s.subs.set(gid, sub)
      const i = this.info.get(gid)
      if (i) i.sites[s.code] = 'INITIAL'
      if (this.tlOn) this.note(gid, { kind: 'state', site: s.code, detail: 'participant INITIAL' })
    }
    let st: Compiled
    let table: string
    let keys: string[] | undefined
    try {
      const t = template(sql)
      table = s.store.resolveTable(t.table)
      // a read-only replica takes no write, except its part of an eager delete (fenced, see execOp)
      if (t.kind !== 'select' && !(fence && t.kind === 'delete')) s.store.checkWrite?.(table)
      const kc = s.store.keyColumn(table)
      st = compile(t, table, kc, s.store.columns?.(table), sql)
      if (st.kind === 'insert') {
        const rows = st.rows!(params)
        if (kc && rows.some((r) => r[kc] === undefined || r[kc] === null)) throw new EngineError('SQL_ERROR', `INSERT into ${table} must give its key ${kc}`)
        keys = kc ? [...new Set(rows.map((r) => String(r[kc])))] : undefined
      } else keys = st.keys(params)
    } catch (e) {
      return reply({ error: { ...toErrorInfo(e), site: s.code } })
    }
    const write = st.kind !== 'select'
    const reqs: [string, LockMode][] = keys !== undefined
      ? [[`T:${table}`, write ? 'IX' : 'IS'], ...keys.map((k): [string, LockMode] => [`R:${table}:${k}`, write ? 'X' : 'S'])]
      : [[`T:${table}`, write ? 'X' : 'S']]
    sub.busy = true
    ;(sub.execIds ??= new Set()).add(id)
    sub.stmts.push(sql)
    sub.lastActivity = this.now
    this.cluster.sim.cancel(sub.timer)
    const theSub = sub
    theSub.pendingReply = (r) => { theSub.busy = false; theSub.pendingReply = undefined; reply(r) }
    const go = () => this.lockSeq(s, theSub, reqs, 0, sql, () => {
      theSub.waitingSql = undefined
      let res: { rows?: Row[]; affected?: number; error?: ErrorInfo; changes?: RowChange[] }
      try { res = this.run(s, theSub, st, params, table, keys) } catch (e) { res = { error: { ...toErrorInfo(e), site: s.code } } }
      // an eager delete's part at a replica: its deletes are let through by replica control at the commit
      if (fence && !res.error) for (const w of theSub.writes.values()) if (w.table === table && w.row === null) w.replica = true
      theSub.lastActivity = this.now
      this.armInitialTimer(s, theSub)
      theSub.pendingReply?.(res)
    })
    if (fence) this.awaitFence(s, theSub, fence, table, go)
    else go()
  }

  /**
   * An eager delete's part at a replica waits until the replica has applied every change of the primary copy up
   * to the fence (so a replicated insert or update of the row still on its way cannot bring it back after the
   * delete), polling its applied marker in virtual time; past the lock timeout the operation fails (the
   * transaction aborts, nothing deleted anywhere).
   */
  private awaitFence(s: SiteRt, sub: Sub, fence: { origin: string; seq: number }, table: string, go: () => void): void {
    const deadline = this.now + this.opts.lockTimeoutMs
    const check = (): void => {
      if (s.subs.get(sub.gid) !== sub || !sub.pendingReply) return
      let applied: number
      try { applied = this.cluster.replication.appliedSeq(fence.origin, s.code) } catch { applied = -1 }
      if (applied >= fence.seq) return go()
      if (this.now >= deadline) {
        sub.pendingReply({ error: { code: 'TIMEOUT', message: `${table} at ${s.code} has applied ${fence.origin}'s changes up to ${applied}, not yet up to ${fence.seq} (the last before the delete) after ${this.opts.lockTimeoutMs} ms: the eager delete cannot run there yet; nothing was deleted`, site: s.code } })
        return
      }
      if (this.tlOn && !noted) this.note(sub.gid, { kind: 'note', site: s.code, detail: `waits for ${table} to apply ${fence.origin}'s changes up to ${fence.seq}` })
      noted = true
      this.at(s, 5, 'txn.fence', check)
    }
    let noted = false
    check()
  }

  private armInitialTimer(s: SiteRt, sub: Sub): void {
    this.cluster.sim.cancel(sub.timer)
    sub.timer = this.at(s, this.opts.initialTimeoutMs, 'txn.initialTimeout', () => {
      if (s.subs.get(sub.gid) !== sub || sub.state !== 'INITIAL' || sub.busy) return
      if (this.tlOn) this.note(sub.gid, { kind: 'timeout', site: s.code, detail: 'participant INITIAL timed out → local abort' })
      this.abortFromSite(s, sub.gid, 'participant timed out in INITIAL')
    })
  }

  private lockSeq(s: SiteRt, sub: Sub, reqs: [string, LockMode][], i: number, sql: string, done: () => void): void {
    for (; i < reqs.length; i++) {
      const [res, mode] = reqs[i]
      const next = i + 1
      const granted = s.locks.acquire(sub.gid, res, mode, () => {
        this.cluster.sim.cancel(sub.lockTimer)
        if (s.subs.get(sub.gid) !== sub) return
        this.lockSeq(s, sub, reqs, next, sql, done)
      }, this.now)
      if (granted) continue
      sub.waitingSql = sql
      if (this.tlOn) this.note(sub.gid, { kind: 'note', site: s.code, detail: `waits for ${mode} lock on ${res}` })
      sub.lockTimer = this.at(s, this.opts.lockTimeoutMs, 'txn.lockTimeout', () => {
        if (s.subs.get(sub.gid) !== sub || !s.locks.isWaiting(sub.gid)) return
        if (this.tlOn) this.note(sub.gid, { kind: 'timeout', site: s.code, detail: `lock timeout on ${res}` })
        this.abortFromSite(s, sub.gid, `lock timeout on ${res} at ${s.code}`, 'TIMEOUT')
      })
      this.onWait(s, sub)
      return
    }
    done()
  }

  /** Runs a compiled fragment-level statement over the committed rows overlaid with the sub-transaction's own writes. */
  /** Whether the DIM's row rules apply (engine/integrity; off while a cluster loads its data, or when switched off). */
  private get dimOn(): boolean { return this.cluster.ready && Dim.of(this.cluster).enabled }

  private run(s: SiteRt, sub: Sub, st: Compiled, params: readonly Val[], table: string, keys: string[] | undefined): { rows?: Row[]; affected?: number; changes?: RowChange[] } {
    const rec = this.opts.recordHistory
    const read = (k: string): Row | undefined => {
      const w = sub.writes.get(`${table}:${k}`)
      if (w) return w.row ?? undefined
      return s.store.get(table, k)
    }
    const rows = (): [string, Row][] => {
      if (keys !== undefined) { const out: [string, Row][] = []; for (const k of keys) { const r = read(k); if (r) out.push([k, r]) } return out }
      const kc = s.store.keyColumn(table)
      const out = new Map<string, Row>()
      for (const r of s.store.scan(table)) out.set(String(r[kc]), r)
      for (const w of sub.writes.values()) if (w.table === table) { if (w.row) out.set(w.key, w.row); else out.delete(w.key) }
      return [...out]
    }
    const hist = (k: string, op: 'r' | 'w') => { if (rec) this.history.push({ gid: sub.gid, site: s.code, item: `${s.code}.${table}:${k}`, op }) }
    const put = (k: string, row: Row | null, cols?: string[]) => {
      const wk = `${table}:${k}`
      if (cols) {
        // an UPDATE: in place unless this transaction already replaced the whole row (insert / full image)
        const prev = sub.writes.get(wk)
        if (prev) cols = prev.row && prev.cols ? [...new Set([...prev.cols, ...cols])] : undefined
      }
      sub.writes.set(wk, cols ? { table, key: k, row, cols } : { table, key: k, row })
      hist(k, 'w')
    }
    switch (st.kind) {
      case 'select': {
        const out: Row[] = []
        for (const [k, r] of rows()) {
          hist(k, 'r')
          if (!st.where(r, params)) continue
          if (!st.proj) { out.push({ ...r }); continue }
          const o: Row = {}
          for (const c of st.proj) o[c.name] = c.ex.fn(r, params)
          out.push(o)
        }
        if (keys === undefined && rec) hist('*', 'r')
        return { rows: out }
      }
      case 'update': {
        // every new image is computed (and checked) before any is buffered: a failing row changes nothing
        const changed: [string, Row][] = []
        for (const [k, r] of rows()) {
          hist(k, 'r')
          if (!st.where(r, params)) continue
          const nr = { ...r }
          for (const a of st.sets!) nr[a.col] = st.store(a.col, a.ex.fn(r, params))
          // the DIM's CHECK and fragment-predicate rules (a row that moves is updated here, then deleted and inserted in its new fragment)
          if (this.dimOn) checkRow(this.cluster.topology, table, s.code, nr as DimRow, { predicate: !st.returning })
          changed.push([k, nr])
        }
        const cols = st.sets!.map((a) => a.col)
        // the images the DIM's key and foreign-key checks need (before the new ones are buffered over the old)
        const changes = this.dimOn && changed.length && imagesNeeded(this.cluster.topology, table, 'update', cols) ? changed.map(([k, nr]): RowChange => ({ fragment: table, site: s.code, before: read(k) as DimRow, after: nr as DimRow })) : undefined
        for (const [k, nr] of changed) put(k, nr, cols)
        const res = st.returning ? { affected: changed.length, rows: changed.map(([, r]) => ({ ...r })) } : { affected: changed.length }
        return changes ? { ...res, changes } : res
      }
      case 'delete': {
        let n = 0
        const changes: RowChange[] | undefined = this.dimOn && imagesNeeded(this.cluster.topology, table, 'delete') ? [] : undefined
        for (const [k, r] of rows()) { hist(k, 'r'); if (st.where(r, params)) { changes?.push({ fragment: table, site: s.code, before: r as DimRow, after: null }); put(k, null); n++ } }
        if (keys === undefined && rec) hist('*', 'w')
        return changes?.length ? { affected: n, changes } : { affected: n }
      }
      case 'insert': {
        if (keys === undefined) throw new EngineError('UNSUPPORTED', `INSERT into ${table}: tables without a one-column key are not supported inside transactions`)
        const kc = s.store.keyColumn(table)
        const news = st.rows!(params)
        const seen = new Set<string>()
        for (const r of news) {
          const k = String(r[kc])
          if (this.dimOn) checkRow(this.cluster.topology, table, s.code, r as DimRow)
          if (seen.has(k) || read(k)) throw (this.dimOn && duplicateKey(this.cluster.topology, table, s.code, r as DimRow, kc)) || new EngineError('CONFLICT', `duplicate key ${k} in ${table}`, { site: s.code })
          seen.add(k)
        }
        for (const r of news) put(String(r[kc]), r)
        if (rec) hist('*', 'w')
        if (this.dimOn && imagesNeeded(this.cluster.topology, table, 'insert')) return { affected: news.length, changes: news.map((r): RowChange => ({ fragment: table, site: s.code, before: null, after: r as DimRow })) }
        return { affected: news.length }
      }
    }
  }

  // ---- aborts -------------------------------------------------------------------------------
  /** Local abort of a sub-transaction (allowed only before it votes) + ask its coordinator to abort globally. */
  private abortFromSite(s: SiteRt, gid: string, reason: string, code: ErrorInfo['code'] = 'ABORTED'): void {
    const sub = s.subs.get(gid)
    if (sub && sub.state !== 'INITIAL') return
    if (sub) this.localAbort(s, sub, reason, code)
    const origin = gid.split('-')[0]
    this.send(s.code, origin, 'txn.abortReq', gid, 32, () => {
      const o = this.rt(origin)
      const c = o.coords.get(gid)
      if (c && c.state === 'INITIAL') this.globalAbort(o, c, reason)
    })
  }

  private localAbort(s: SiteRt, sub: Sub, reason: string, code: ErrorInfo['code'] = 'ABORTED'): void {
    this.cluster.sim.cancel(sub.timer)
    this.cluster.sim.cancel(sub.lockTimer)
    s.subs.delete(sub.gid)
    this.setPart(s, sub, 'ABORT')
    this.remember(s, sub.gid, 'ABORT')
    s.log.append({ type: 'ABORT', gid: sub.gid, role: 'part', at: this.now }, false)
    this.runGrants(s.locks.releaseAll(sub.gid))
    sub.pendingReply?.({ error: { code, message: reason, site: s.code } })
  }

  private runGrants(gs: (() => void)[]): void { for (const g of gs) g() }

  private globalAbort(s: SiteRt, c: Coord, reason: string): void {
    if (c.state === 'COMMIT' || c.state === 'ABORT') return
    // the coordinator is the one point of decision in every topology (see twopc/machine.ts), so it may abort in WAIT
    this.coordDecide(s, c, 'ABORT', reason)
  }

  // ---- two-phase commit: coordinator ---------------------------------------------------------
  private sendPrepare(s: SiteRt, c: Coord, to: string, votes: Record<string, Vote>): void {
    const parts = c.participants
    this.send(s.code, to, 'txn.prepare', c.gid, 40 + parts.length * 4, () =>
      this.onPrepare(this.rt(to), c.gid, c.origin, parts, c.protocol, votes))
  }

  private coordTimeout(s: SiteRt, c: Coord): void {
    if (s.coords.get(c.gid) !== c || c.state !== 'WAIT') return
    if (this.tlOn) this.note(c.gid, { kind: 'timeout', site: s.code, detail: 'coordinator WAIT timed out → global abort' })
    // every topology (spec: coordinator in WAIT times out → global abort)
    this.coordDecide(s, c, 'ABORT', 'votes did not arrive in time')
  }

  private onVoteCoord(s: SiteRt, gid: string, from: string, v: Vote, chain?: Record<string, Vote>): void {
    const c = s.coords.get(gid)
    if (!c || c.state !== 'WAIT') return
    if (chain) for (const [k, x] of Object.entries(chain)) c.votes.set(k, x)
    c.votes.set(from, v)
    if (v === 'NO') return this.coordDecide(s, c, 'ABORT', `${from} voted no`)
    if (c.participants.every((p) => c.votes.has(p))) this.coordDecide(s, c, 'COMMIT')
  }

  private coordDecide(s: SiteRt, c: Coord, d: Decision, reason?: string): void {
    if (c.state === 'COMMIT' || c.state === 'ABORT') return
    this.cluster.sim.cancel(c.timer)
    if (d === 'COMMIT') {
      c.phase2 = c.participants.filter((p) => c.votes.get(p) !== 'RO')
      if (c.phase2.length) this.force(s, { type: 'COMMIT', gid: c.gid, role: 'coord', participants: c.phase2, protocol: c.protocol }, true)
      this.setCoord(c, 'COMMIT')
      this.remember(s, c.gid, 'COMMIT')
      // the application hears COMMIT only once the decision is stable
      this.afterForce(s, () => this.finishTxn(c, 'COMMIT'))
      if (this.hook(s, 'decide', c.gid)) return
      if (!c.phase2.length) { s.coords.delete(c.gid); return }
      // linear: passed back along the chain from its last member; otherwise to every participant
      if (c.protocol === 'linear') this.sendDecision(s, c.gid, c.phase2[c.phase2.length - 1], 'COMMIT')
      else for (const p of c.phase2) this.sendDecision(s, c.gid, p, 'COMMIT')
      this.armResend(s, c)
    } else {
      // ABORT, like COMMIT, is sent until every participant that may hold work acknowledged it (a NO or read-only
      // voter released everything on its own); the record (lazily written) lets a recovered coordinator re-send it
      c.phase2 = c.participants.filter((p) => c.votes.get(p) !== 'NO' && c.votes.get(p) !== 'RO')
      if (c.state === 'WAIT' || c.participants.length) s.log.append({ type: 'ABORT', gid: c.gid, role: 'coord', at: this.now, participants: c.phase2, protocol: c.protocol }, false)
      this.setCoord(c, 'ABORT')
      this.remember(s, c.gid, 'ABORT')
      for (const [id, e] of [...c.execCbs]) this.finishExec(c, id, { ok: false, error: { code: 'ABORTED', message: `transaction aborted: ${reason ?? ''}` }, site: e.site, sql: e.sql, at: this.now })
      this.finishTxn(c, 'ABORT', reason)
      if (!c.phase2.length) s.coords.delete(c.gid)
      if (this.hook(s, 'decide', c.gid)) return
      for (const p of c.phase2) this.sendDecision(s, c.gid, p, 'ABORT')
      if (c.phase2.length) this.armResend(s, c)
    }
  }

  private armResend(s: SiteRt, c: Coord): void {
    this.cluster.sim.cancel(c.resendTimer)
    c.resendTimer = this.at(s, this.opts.resendMs, 'txn.resend', () => {
      if (s.coords.get(c.gid) !== c) return
      const missing = c.phase2.filter((p) => !c.acks.has(p))
      if (!missing.length) return
      const d = c.state === 'ABORT' ? 'ABORT' : 'COMMIT'
      if (this.tlOn) this.note(c.gid, { kind: 'timeout', site: s.code, detail: `no ACK from ${missing.join(', ')}: re-send ${d}` })
      for (const p of missing) this.sendDecision(s, c.gid, p, d)
      this.armResend(s, c)
    })
  }

  private sendDecision(s: SiteRt, gid: string, to: string, d: Decision): void {
    this.send(s.code, to, d === 'COMMIT' ? 'txn.commit' : 'txn.abort', gid, 24, () => this.onDecision(this.rt(to), gid, d, s.code))
  }

  private onAck(s: SiteRt, gid: string, from: string, d: Decision | 'RO', readOnly: string[] = []): void {
    void readOnly
    const c = s.coords.get(gid)
    if (!c || (c.state !== 'COMMIT' && c.state !== 'ABORT') || (d !== 'RO' && c.state !== d)) return
    c.acks.add(from)
    if (c.phase2.every((p) => c!.acks.has(p))) {
      if (this.hook(s, 'ack', gid)) return
      this.cluster.sim.cancel(c.resendTimer)
      s.log.append({ type: 'END', gid, role: 'coord', at: this.now }, false)
      if (this.tlOn) this.note(gid, { kind: 'log', site: s.code, detail: 'write END (all acknowledged)' })
      s.coords.delete(gid)
    }
  }

  private finishTxn(c: Coord, outcome: Decision | 'UNKNOWN', reason?: string): void {
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

  // ---- two-phase commit: participant ---------------------------------------------------------
  private onPrepare(s: SiteRt, gid: string, coord: string, participants: string[], protocol: Protocol, chainVotes: Record<string, Vote>): void {
    if (this.hook(s, 'prepare', gid)) return
    const sub = s.subs.get(gid)
    let vote: Vote
    if (!sub || sub.state === 'ABORT') vote = s.outcomes.get(gid) === 'RO' ? 'RO' : 'NO'
    else if (sub.state === 'READY' || sub.state === 'COMMIT') vote = 'YES'
    else if (sub.busy) { this.localAbort(s, sub, 'PREPARE arrived while a statement was running'); vote = 'NO' }
    else {
      sub.participants = participants
      sub.protocol = protocol
      this.cluster.sim.cancel(sub.timer)
      for (const [k, v] of Object.entries(chainVotes)) sub.votes.set(k, v)
      if (!sub.writes.size) {
        vote = 'RO'
        if (protocol !== 'centralized') this.force(s, { type: 'RO', gid, role: 'part' }, true)
        s.subs.delete(gid)
        this.remember(s, gid, 'RO')
        const i = this.info.get(gid)
        if (i) i.sites[s.code] = 'RO'
        if (this.tlOn) this.note(gid, { kind: 'state', site: s.code, detail: 'read-only: locks released, no phase two' })
        this.runGrants(s.locks.releaseAll(gid))
      } else {
        const locks = s.locks.heldLocks(gid).filter((l) => l.mode === 'X' || l.mode === 'IX')
        this.force(s, { type: 'READY', gid, role: 'part', coord, participants, protocol, writes: [...sub.writes.values()], locks, startAt: sub.startAt }, true)
        this.setPart(s, sub, 'READY')
        sub.readyAt = this.now
        if (this.hook(s, 'ready', gid)) return
        vote = 'YES'
        sub.timer = this.at(s, this.opts.decisionTimeoutMs, 'txn.readyTimeout', () => this.readyTimeout(s, sub))
      }
    }
    this.castVote(s, gid, coord, participants, protocol, vote, chainVotes)
    if (vote === 'YES') this.hook(s, 'vote', gid)
  }

  private castVote(s: SiteRt, gid: string, coord: string, participants: string[], protocol: Protocol, vote: Vote, chainVotes: Record<string, Vote>): void {
    if (this.tlOn) this.note(gid, { kind: 'note', site: s.code, detail: `votes ${vote}` })
    const sub = s.subs.get(gid)
    if (protocol === 'centralized') {
      this.send(s.code, coord, 'txn.vote', gid, 24, () => this.onVoteCoord(this.rt(coord), gid, s.code, vote))
      return
    }
    if (protocol === 'distributed') {
      this.send(s.code, coord, 'txn.vote', gid, 24, () => this.onVoteCoord(this.rt(coord), gid, s.code, vote))
      for (const p of participants) if (p !== s.code) this.send(s.code, p, 'txn.peerVote', gid, 24, () => this.onPeerVote(this.rt(p), gid, s.code, vote))
      // the coordinator is a voter whose vote is cast last: a participant commits on its COMMIT, not on the peers' votes
      if (sub) sub.votes.set(s.code, vote)
      return
    }
    // linear: pass the votes along the chain; the last one decides
    const idx = participants.indexOf(s.code)
    if (vote === 'NO') {
      for (const p of participants) if (p !== s.code) this.sendDecision(s, gid, p, 'ABORT')
      this.send(s.code, coord, 'txn.vote', gid, 24, () => this.onVoteCoord(this.rt(coord), gid, s.code, 'NO'))
      return
    }
    const votes = { ...chainVotes, [s.code]: vote }
    if (idx + 1 < participants.length) {
      const next = participants[idx + 1]
      this.send(s.code, next, 'txn.prepare', gid, 40 + participants.length * 8, () => this.onPrepare(this.rt(next), gid, coord, participants, protocol, votes))
      return
    }
    // last in the chain: the votes go to the coordinator, who decides (and may still time out in WAIT)
    this.send(s.code, coord, 'txn.vote', gid, 24 + participants.length * 4, () => this.onVoteCoord(this.rt(coord), gid, s.code, vote, votes))
  }

  private onPeerVote(s: SiteRt, gid: string, from: string, v: Vote): void {
    const sub = s.subs.get(gid)
    if (!sub) return
    sub.votes.set(from, v)
    if (v === 'NO') {
      if (sub.state === 'INITIAL') this.localAbort(s, sub, `${from} voted no`)
      else if (sub.state === 'READY') this.partDecide(s, sub, 'ABORT')
      return
    }
  }

  private onDecision(s: SiteRt, gid: string, d: Decision, from: string): void {
    const origin = gid.split('-')[0]
    if (s.heuristics.has(gid)) {
      // resolved by hand here: compare with the real decision, never adopt it silently
      this.heuristicMet(s, gid, d)
      this.sendAck(s, gid, origin, d)
      return
    }
    const sub = s.subs.get(gid)
    if (!sub) {
      // already decided (or read-only, or never prepared): re-acknowledge so the coordinator can finish
      const o = s.outcomes.get(gid)
      if (d === 'COMMIT' && (o === 'COMMIT' || o === 'RO')) this.sendAck(s, gid, origin, o)
      if (d === 'ABORT') {
        if (!o) this.remember(s, gid, 'ABORT') // a statement still on its way must not start the transaction here
        this.sendAck(s, gid, origin, 'ABORT')
      }
      return
    }
    if (sub.state === 'INITIAL') {
      // ABORT reaches a participant that has not voted: its locks go at once
      if (d === 'ABORT') { this.localAbort(s, sub, `aborted by ${from}`); this.sendAck(s, gid, origin, 'ABORT') }
      return
    }
    const wasReady = sub.state === 'READY'
    this.partDecide(s, sub, d)
    if (d === 'ABORT') this.sendAck(s, gid, origin, 'ABORT')
    // linear: pass the decision back along the chain
    if (wasReady && sub.protocol === 'linear' && d === 'COMMIT') {
      const prev = prevInChain(sub.participants, sub.participants.indexOf(s.code), Object.fromEntries(sub.votes))
      if (prev && prev !== from) this.sendDecision(s, gid, prev, 'COMMIT')
    }
  }

  private partDecide(s: SiteRt, sub: Sub, d: Decision, heuristic?: string): void {
    if (sub.state !== 'READY' || sub.committing) return
    this.cluster.sim.cancel(sub.timer)
    if (d === 'COMMIT' && !heuristic) {
      // group commit: the after-images of every decision in the window go into one local transaction
      sub.committing = true
      s.commitQueue.push(sub)
      if (!s.flushTimer) s.flushTimer = this.at(s, this.opts.groupCommitMs, 'txn.groupCommit', () => this.flushCommits(s))
      return
    }
    s.subs.delete(sub.gid)
    if (sub.termRound > 0) this.stats.inDoubtResolved++
    if (d === 'COMMIT') {
      if (s.log.dirty) this.syncLog(s)
      s.store.apply([...sub.writes.values()])
      this.force(s, { type: 'HEURISTIC', gid: sub.gid, role: 'part', decision: 'COMMIT', by: heuristic }, true)
    } else {
      // forced: a prepared participant that learned ABORT is never in doubt again after a crash or a reopen
      this.force(s, { type: heuristic ? 'HEURISTIC' : 'ABORT', gid: sub.gid, role: 'part', decision: 'ABORT', by: heuristic }, true)
    }
    this.setPart(s, sub, d)
    this.remember(s, sub.gid, d)
    this.runGrants(s.locks.releaseAll(sub.gid))
  }

  private flushCommits(s: SiteRt): void {
    s.flushTimer = undefined
    // READY records (and anything else forced) are stable before the site's data changes
    if (s.log.dirty) this.syncLog(s)
    const batch = s.commitQueue.filter((sub) => s.subs.get(sub.gid) === sub)
    s.commitQueue = []
    if (!batch.length) return
    const writes: TxnWrite[] = []
    for (const sub of batch) for (const w of sub.writes.values()) writes.push(w)
    s.store.apply(writes)
    batch.forEach((sub, i) => this.force(s, { type: 'COMMIT', gid: sub.gid, role: 'part', decision: 'COMMIT' }, i === batch.length - 1))
    for (const sub of batch) {
      s.subs.delete(sub.gid)
      if (sub.termRound > 0) this.stats.inDoubtResolved++
      this.setPart(s, sub, 'COMMIT')
      this.remember(s, sub.gid, 'COMMIT')
    }
    for (const sub of batch) this.runGrants(s.locks.releaseAll(sub.gid))
    for (const sub of batch) {
      if (this.hook(s, 'commit', sub.gid)) return
      this.sendAck(s, sub.gid, sub.coord, 'COMMIT', sub.votes)
    }
  }

  private sendAck(s: SiteRt, gid: string, coord: string, o: Decision | 'RO', votes?: Map<string, Vote>): void {
    const ro = votes ? [...votes].filter(([, v]) => v === 'RO').map(([k]) => k) : []
    this.send(s.code, coord, 'txn.ack', gid, 24 + ro.length * 4, () => this.onAck(this.rt(coord), gid, s.code, o, ro))
  }

  // ---- termination (in doubt) ---------------------------------------------------------------
  private readyTimeout(s: SiteRt, sub: Sub): void {
    if (s.subs.get(sub.gid) !== sub || sub.state !== 'READY') return
    sub.termRound++
    if (this.tlOn) this.note(sub.gid, { kind: 'timeout', site: s.code, detail: `READY timed out: in doubt, asking ${sub.termRound === 1 ? 'the coordinator' : 'the coordinator and peers'}` })
    this.send(s.code, sub.coord, 'txn.query', sub.gid, 24, () => this.onQueryCoord(this.rt(sub.coord), sub.gid, s.code, (r) => this.onQueryReply(s, sub, sub.coord, r)))
    if (sub.termRound > 1 || sub.protocol !== 'centralized') {
      for (const p of sub.participants) if (p !== s.code) {
        this.send(s.code, p, 'txn.query', sub.gid, 24, () => this.onQueryPeer(this.rt(p), sub.gid, s.code, sub.protocol, (r) => this.onQueryReply(s, sub, p, r)))
      }
    }
    sub.timer = this.at(s, this.opts.retryMs, 'txn.readyTimeout', () => this.readyTimeout(s, sub))
  }

  private onQueryReply(s: SiteRt, sub: Sub, from: string, r: QueryReply): void {
    if (s.subs.get(sub.gid) !== sub || sub.state !== 'READY') return
    if (r.decision) { this.note(sub.gid, { kind: 'note', site: s.code, detail: `learned ${r.decision} from ${from}` }); return this.partDecide(s, sub, r.decision) }
    if (r.vote) sub.votes.set(from, r.vote)
  }

  /** The coordinator answers an in-doubt participant (presumed abort: no record → ABORT). */
  private onQueryCoord(s: SiteRt, gid: string, asker: string, reply: (r: QueryReply) => void): void {
    const c = s.coords.get(gid)
    let r: QueryReply
    if (c) r = c.state === 'COMMIT' ? { decision: 'COMMIT' } : c.state === 'ABORT' ? { decision: 'ABORT' } : {}
    else {
      const o = s.outcomes.get(gid)
      r = o === 'COMMIT' ? { decision: 'COMMIT' } : { decision: 'ABORT' }
    }
    this.send(s.code, asker, 'txn.queryReply', gid, 24, () => reply(r))
  }

  /** A peer answers: its decision, its yes vote, or (not having voted) it aborts and says so. */
  private onQueryPeer(s: SiteRt, gid: string, asker: string, protocol: Protocol, reply: (r: QueryReply) => void): void {
    const sub = s.subs.get(gid)
    let r: QueryReply
    if (s.heuristics.has(gid)) r = {} // a hand resolution is not the coordinator's decision: never taught
    else if (sub) {
      if (sub.state === 'INITIAL') { this.localAbort(s, sub, `${asker} asked while ${s.code} had not voted`); r = { decision: 'ABORT' } }
      else r = sub.committing ? { decision: 'COMMIT' } : { vote: 'YES' }
    } else {
      const o = s.outcomes.get(gid)
      if (o === 'COMMIT' || o === 'ABORT') r = { decision: o }
      else if (o === 'RO') r = { vote: 'RO' }
      // never voted here: in distributed/linear a read-only vote is logged, so no record means it cannot have voted yes
      else r = protocol === 'centralized' ? {} : { decision: 'ABORT' }
      if (!o && protocol !== 'centralized') this.remember(s, gid, 'ABORT')
    }
    this.send(s.code, asker, 'txn.queryReply', gid, 24, () => reply(r))
  }

  // ---- failures and recovery ----------------------------------------------------------------
  private onCrash(code: string): void {
    const s = this.sites.get(code)
    if (!s) return
    s.epoch++
    s.log.crash()
    s.locks.clear()
    for (const sub of s.subs.values()) { this.cluster.sim.cancel(sub.timer); this.cluster.sim.cancel(sub.lockTimer); this.note(sub.gid, { kind: 'note', site: code, detail: `${code} crashed (participant ${sub.state})` }) }
    s.subs.clear()
    s.commitQueue = []
    s.flushTimer = undefined
    s.outbox = []
    this.cluster.sim.cancel(s.syncEv)
    s.syncEv = undefined
    for (const c of s.coords.values()) {
      this.cluster.sim.cancel(c.timer); this.cluster.sim.cancel(c.resendTimer)
      for (const [id, e] of [...c.execCbs]) this.finishExec(c, id, { ok: false, error: { code: 'SITE_DOWN', message: `${code} crashed`, site: code }, site: e.site, sql: e.sql, at: this.now })
      if (this.tlOn) this.note(c.gid, { kind: 'note', site: code, detail: `${code} crashed (coordinator ${c.state})` })
      // INITIAL: nothing was prepared, so the transaction is certainly aborted; WAIT: the outcome is not known yet
      if (c.state === 'INITIAL') this.finishTxn(c, 'ABORT', `coordinator ${code} crashed`)
      else if (c.state === 'WAIT') this.finishTxn(c, 'UNKNOWN', `coordinator ${code} crashed while waiting for votes`)
      // COMMIT decided but its log record not yet stable (group commit): the application was not told; it cannot be now
      else if (c.state === 'COMMIT' && c.onDone) this.finishTxn(c, 'UNKNOWN', `coordinator ${code} crashed before its COMMIT record was stable`)
    }
    s.coords.clear()
    s.outcomes.clear()
    s.heuristics.clear()
  }

  /** Local recovery from the log, then resolution of in-doubt transactions. */
  private onRestart(code: string): void {
    const s = this.sites.get(code)
    if (!s) return
    this.recover(s, 'restart')
  }

  /** Rebuilds a site's transaction state from its durable log (after a restart, or on reopening a data directory). */
  private recover(s: SiteRt, why: string): void {
    const code = s.code
    if (!this.up(code)) return
    for (const r of s.log.records()) {
      // gids are never reused: continue the origin's sequence after the logged ones
      const [o, n] = r.gid.split('-')
      if (o === code && Number(n) > s.seq) s.seq = Number(n)
    }
    const ready = new Map<string, TxnLogRecord>()
    const coordOpen = new Map<string, TxnLogRecord>()
    for (const r of s.log.records()) {
      if (r.role === 'part') {
        if (r.type === 'READY') ready.set(r.gid, r)
        else if (r.type === 'RO') this.remember(s, r.gid, 'RO')
        else {
          const rd = ready.get(r.gid)
          if (r.type === 'HEURISTIC') s.heuristics.set(r.gid, { decision: r.decision!, coord: rd?.coord ?? r.gid.split('-')[0] })
          ready.delete(r.gid)
          this.remember(s, r.gid, (r.decision ?? r.type) as Decision)
        }
      } else {
        if (r.type === 'WAIT' || r.type === 'COMMIT' || (r.type === 'ABORT' && r.participants?.length)) coordOpen.set(r.gid, r)
        if (r.type === 'COMMIT') this.remember(s, r.gid, 'COMMIT')
        if (r.type === 'END' || (r.type === 'ABORT' && !r.participants?.length)) coordOpen.delete(r.gid)
        if (r.type === 'ABORT') this.remember(s, r.gid, 'ABORT')
      }
    }
    for (const r of ready.values()) {
      const sub: Sub = {
        gid: r.gid, site: code, coord: r.coord!, startAt: r.startAt ?? r.at, state: 'READY', writes: new Map((r.writes ?? []).map((w) => [`${w.table}:${w.key}`, w])),
        participants: r.participants ?? [], protocol: (r.protocol as Protocol) ?? 'centralized', votes: new Map([[code, 'YES']]), busy: false, stmts: [], lastActivity: this.now, termRound: 0, readyAt: r.at,
      }
      s.subs.set(r.gid, sub)
      this.recoveredInfo(r.gid, r.coord!, r.protocol as Protocol, r.startAt ?? r.at).sites[code] = 'READY'
      for (const l of r.locks ?? []) s.locks.install(r.gid, l.resource, l.mode)
      if (this.tlOn) this.note(r.gid, { kind: 'state', site: code, detail: 'recovered READY from the log: in doubt, locks re-acquired' })
      sub.timer = this.at(s, 1, 'txn.readyTimeout', () => this.readyTimeout(s, sub))
    }
    for (const r of coordOpen.values()) {
      const c: Coord = {
        gid: r.gid, origin: code, startAt: r.startAt ?? r.at, state: r.type === 'COMMIT' || r.type === 'ABORT' ? r.type : 'WAIT', protocol: (r.protocol as Protocol) ?? 'centralized',
        participants: r.participants ?? [], pending: 0, votes: new Map(), acks: new Set(), phase2: r.participants ?? [], termRound: 0, execCbs: new Map(),
      }
      s.coords.set(r.gid, c)
      const ri = this.recoveredInfo(r.gid, code, c.protocol, c.startAt)
      ri.coordState = c.state
      for (const p of c.participants) ri.sites[p] ??= 'READY'
      if (this.tlOn) this.note(r.gid, { kind: 'state', site: code, detail: `recovered coordinator ${c.state} from the log` })
      if (c.state === 'COMMIT' || c.state === 'ABORT') { for (const p of c.phase2) this.sendDecision(s, c.gid, p, c.state); this.armResend(s, c) }
      else c.timer = this.at(s, 1, 'txn.voteTimeout', () => this.coordTimeout(s, c))
    }
    for (const gid of s.heuristics.keys()) this.heuristicInquiry(s, gid)
    this.cluster.log('recovery', `${code} transaction recovery (${why}): ${ready.size} in doubt, ${coordOpen.size} coordinator record(s) reopened`, code)
  }

  /** The list entry of a transaction known only from a log (after a restart or reopen). */
  private recoveredInfo(gid: string, origin: string, protocol: Protocol | undefined, startAt: number): TxnInfo {
    this.recovered.add(gid)
    if (this.recovered.size > OUTCOME_KEEP) this.recovered.delete(this.recovered.values().next().value!)
    let i = this.info.get(gid)
    if (!i) {
      i = { gid, origin: gid.split('-')[0] || origin, protocol: protocol ?? 'centralized', startAt, coordState: 'WAIT', sites: {}, statements: [] }
      this.info.set(gid, i)
    }
    return i
  }

  // ---- in-doubt transactions ------------------------------------------------------------------
  inDoubt(): InDoubtView[] {
    const out: InDoubtView[] = []
    for (const s of this.sites.values()) {
      if (!this.up(s.code)) continue
      for (const sub of s.subs.values()) {
        if (sub.state !== 'READY' || sub.committing) continue
        out.push({
          gid: sub.gid, site: s.code, coordinator: sub.coord, participants: sub.participants, protocol: sub.protocol, state: 'READY',
          since: sub.readyAt ?? sub.lastActivity, ageMs: this.now - (sub.readyAt ?? sub.lastActivity), inquiries: sub.termRound,
          locks: s.locks.heldLocks(sub.gid).map((l) => `${l.mode} ${l.resource}`), writes: sub.writes.size,
        })
      }
    }
    return out.sort((a, b) => a.since - b.since)
  }

  /** An administrator's heuristic decision for an in-doubt participant (logged as HEURISTIC). */
  resolve(gid: string, site: string, decision: Decision, by = 'administrator'): void {
    const s = this.rt(site)
    const sub = s.subs.get(gid)
    if (!sub || sub.state !== 'READY') throw new EngineError('NOT_FOUND', `${gid} is not in doubt at ${site}`, { site })
    if (this.tlOn) this.note(gid, { kind: 'note', site, detail: `manually resolved: ${decision} by ${by} (heuristic decision)` })
    this.partDecide(s, sub, decision, by)
    s.heuristics.set(gid, { decision, coord: sub.coord })
    this.heuristics.push({ gid, site, heuristic: decision, by, at: this.now })
    if (this.heuristics.length > 1000) this.heuristics.shift()
    this.cluster.log('txn', `${gid} at ${site} resolved by hand: heuristic ${decision} (not the coordinator's decision; compared with it when ${sub.coord} answers)`, site)
    this.heuristicInquiry(s, gid)
  }

  /** A heuristic participant keeps asking the coordinator (only it: a heuristic is never taught) for the real decision. */
  private heuristicInquiry(s: SiteRt, gid: string): void {
    const h = s.heuristics.get(gid)
    if (!h || h.met) return
    this.send(s.code, h.coord, 'txn.query', gid, 24, () => this.onQueryCoord(this.rt(h.coord), gid, s.code, (r) => { if (r.decision) this.heuristicMet(s, gid, r.decision) }))
    this.at(s, this.opts.retryMs * 2, 'txn.heuristicInquiry', () => this.heuristicInquiry(s, gid))
  }

  /** The coordinator's decision reached a participant resolved by hand: consistent, or heuristic damage. */
  private heuristicMet(s: SiteRt, gid: string, d: Decision): void {
    const h = s.heuristics.get(gid)
    if (!h || h.met) return
    h.met = d
    const damage = h.decision !== d
    let rep = this.heuristics.find((x) => x.gid === gid && x.site === s.code)
    if (!rep) { rep = { gid, site: s.code, heuristic: h.decision, by: 'administrator', at: this.now }; this.heuristics.push(rep) }
    if (rep.decision !== undefined) return
    rep.decision = d
    rep.damage = damage
    rep.detectedAt = this.now
    if (this.tlOn) this.note(gid, { kind: 'note', site: s.code, detail: damage ? `HEURISTIC DAMAGE: resolved by hand as ${h.decision}, coordinator decided ${d}` : `heuristic ${h.decision} agrees with the coordinator` })
    if (damage) this.cluster.log('txn', `heuristic damage: ${gid} at ${s.code} was resolved by hand as ${h.decision} but coordinator ${h.coord} decided ${d}; the sites disagree and need repair by hand`, s.code)
    else this.cluster.log('txn', `${gid} at ${s.code}: heuristic ${h.decision} agrees with the coordinator's decision`, s.code)
  }

  // ---- deadlocks ----------------------------------------------------------------------------
  private older(s: SiteRt, a: string, b: string): boolean {
    const sa = s.subs.get(a)?.startAt ?? Infinity
    const sb = s.subs.get(b)?.startAt ?? Infinity
    return sa < sb || (sa === sb && gidOrder(a, b) < 0)
  }

  private onWait(s: SiteRt, sub: Sub): void {
    if (this.opts.scheme === 'wound-wait') {
      for (const b of s.locks.blockersOf(sub.gid)) {
        const bs = s.subs.get(b)
        if (bs && bs.state === 'INITIAL' && this.older(s, sub.gid, b)) {
          this.deadlocks.push({ id: ++this.deadlockSeq, at: this.now, by: 'wound-wait', site: s.code, cycle: [sub.gid, b], victim: b, statements: [{ gid: sub.gid, site: s.code, sql: sub.waitingSql ?? '' }, { gid: b, site: s.code, sql: bs.stmts[bs.stmts.length - 1] ?? '' }] })
          this.trimDeadlocks()
          if (this.tlOn) this.note(b, { kind: 'note', site: s.code, detail: `wounded by older ${sub.gid}` })
          this.at(s, 0, 'txn.wound', () => this.abortFromSite(s, b, `wounded by older ${sub.gid} (wound-wait)`))
        }
      }
      return
    }
    // local deadlock: broken at once
    const path = reaches((v) => s.locks.blockersOf(v), sub.gid, sub.gid, 5000)
    if (path) {
      const victim = this.pickVictim(path, (g) => s.subs.get(g)?.startAt ?? 0, (g) => s.locks.heldCount(g))
      this.deadlocks.push({ id: ++this.deadlockSeq, at: this.now, by: 'local', site: s.code, cycle: path, victim, statements: path.map((g) => ({ gid: g, site: s.code, sql: s.subs.get(g)?.waitingSql ?? '' })) })
      this.trimDeadlocks()
      this.cluster.log('deadlock', `local deadlock at ${s.code}: ${path.join(' → ')} → ${path[0]}; victim ${victim}`, s.code)
      if (this.tlOn) this.note(victim, { kind: 'note', site: s.code, detail: 'chosen as deadlock victim (local WFG)' })
      this.at(s, 0, 'txn.victim', () => this.abortFromSite(s, victim, `deadlock victim at ${s.code}`))
      return
    }
    this.ensureDetector()
  }

  private trimDeadlocks(): void { if (this.deadlocks.length > 500) this.deadlocks.shift() }

  private pickVictim(cycle: string[], startOf: (g: string) => number, locksOf: (g: string) => number): string {
    const sorted = [...cycle].sort((a, b) => (startOf(a) - startOf(b)) || gidOrder(a, b))
    if (this.opts.victim === 'oldest') return sorted[0]
    if (this.opts.victim === 'fewest-locks') return [...sorted].reverse().sort((a, b) => locksOf(a) - locksOf(b))[0]
    return sorted[sorted.length - 1]
  }

  /** The site that runs global detection: Colombo (HQ) if alive, else the first live site. */
  detectorSite(): string | undefined {
    const order = [...this.cluster.topology.sites].sort((a, b) => Number(b.hq) - Number(a.hq)).map((x) => x.code)
    return order.find((c) => this.up(c))
  }

  private ensureDetector(): void {
    if (this.opts.scheme !== 'detect' || this.det.timer) return
    this.det.timer = this.cluster.sim.schedule(this.opts.detectIntervalMs, 'dl.tick', () => this.detectorTick())
  }

  private anyWaiting(): boolean {
    for (const s of this.sites.values()) if (s.locks.waiterCount > 0) return true
    return false
  }

  private detectorTick(): void {
    this.det.timer = undefined
    if (!this.anyWaiting() && !this.det.prevKeys.size) { this.det.prevKeys.clear(); return }
    this.poll()
    this.ensureDetector()
  }

  /** One gathering round: the detector site asks every site for its local WFG over the network. */
  poll(): void {
    const at = this.detectorSite()
    if (!at) return
    if (this.det.collecting) this.analyze()
    const round = ++this.det.round
    const ds = this.rt(at)
    this.det.at = at
    const col = { round, site: at, replies: new Map<string, WfgReply>(), expected: new Set<string>(), timer: undefined as unknown as SimEvent }
    this.det.collecting = col
    col.timer = this.at(ds, this.opts.gatherTimeoutMs, 'dl.gatherTimeout', () => { if (this.det.collecting === col) this.analyze() })
    for (const code of this.sites.keys()) {
      col.expected.add(code)
      this.send(at, code, 'dl.collect', `dl#${round}`, 16, () => {
        const s = this.rt(code)
        const rep = this.localWfgReply(s)
        this.send(code, at, 'dl.wfg', `dl#${round}`, 16 + rep.edges.length * 24, () => {
          if (this.det.collecting !== col) return
          col.replies.set(code, rep)
          if (col.replies.size === col.expected.size) this.analyze()
        })
      })
    }
  }

  private localWfgReply(s: SiteRt): WfgReply {
    const g = s.locks.waitsFor()
    const nodes: WfgReply['nodes'] = {}
    for (const [a, bs] of g) for (const x of [a, ...bs]) {
      if (nodes[x]) continue
      const sub = s.subs.get(x)
      nodes[x] = { startAt: sub?.startAt ?? 0, locks: s.locks.heldCount(x), sql: sub?.waitingSql, state: sub?.state ?? 'INITIAL' }
    }
    return { site: s.code, edges: [...g], nodes }
  }

  private analyze(): void {
    const col = this.det.collecting
    if (!col) return
    this.det.collecting = undefined
    this.cluster.sim.cancel(col.timer)
    this.det.polls++
    const g = unionWfg([...col.replies.values()].map((r) => r.edges))
    const nodes: Record<string, WfgReply['nodes'][string] & { sites: string[] }> = {}
    for (const r of col.replies.values()) for (const [k, v] of Object.entries(r.nodes)) {
      const n = nodes[k] ?? (nodes[k] = { ...v, sites: [] })
      n.locks = Math.max(n.locks, v.locks)
      if (v.sql) { n.sql = v.sql; n.sites.push(r.site) }
      if (v.startAt) n.startAt = v.startAt
    }
    this.det.lastGlobal = g
    this.det.lastLocal = Object.fromEntries([...col.replies].map(([k, r]) => [k, r.edges]))
    const cycles = findCycles(g)
    this.det.lastCycles = cycles
    const keys = new Set<string>()
    let suspects = 0
    for (const cyc of cycles) {
      const key = cycleKey(cyc)
      if (this.det.prevKeys.has(key)) {
        const victim = this.pickVictim(cyc, (x) => nodes[x]?.startAt ?? 0, (x) => nodes[x]?.locks ?? 0)
        const rec: DeadlockRecord = {
          id: ++this.deadlockSeq, at: this.now, by: 'global', site: col.site, cycle: cyc, victim,
          statements: cyc.map((x) => ({ gid: x, site: nodes[x]?.sites[0] ?? '', sql: nodes[x]?.sql ?? '' })),
        }
        this.deadlocks.push(rec)
        this.trimDeadlocks()
        this.cluster.log('deadlock', `global deadlock found at ${col.site}: ${cyc.join(' → ')} → ${cyc[0]}; victim ${victim}`, col.site)
        const targets = new Set([victim.split('-')[0], ...(nodes[victim]?.sites ?? [])])
        for (const t of targets) {
          this.send(col.site, t, 'dl.abort', victim, 24, () => {
            const ts = this.rt(t)
            if (this.tlOn) this.note(victim, { kind: 'note', site: t, detail: 'deadlock victim (global WFG)' })
            const c = ts.coords.get(victim)
            if (c && c.state === 'INITIAL') this.globalAbort(ts, c, `deadlock victim (cycle ${cyc.join(' → ')})`)
            const sub = ts.subs.get(victim)
            if (sub && sub.state === 'INITIAL') this.abortFromSite(ts, victim, 'deadlock victim')
          })
        }
      } else { keys.add(key); suspects++ }
    }
    this.det.prevKeys = keys
    if (suspects && !this.det.confirmTimer) {
      // confirm on a second poll soon, so that a real deadlock stands for less than two intervals
      this.det.confirmTimer = this.cluster.sim.schedule(this.opts.detectIntervalMs / 2, 'dl.confirm', () => { this.det.confirmTimer = undefined; this.poll() })
    }
  }

  /** The omniscient union of the local WFGs right now (tests and the console's live view). */
  currentGlobalWfg(): Wfg {
    return unionWfg([...this.sites.values()].filter((s) => this.up(s.code)).map((s) => [...s.locks.waitsFor()]))
  }

  wfgView(): WfgView {
    const local: WfgView['local'] = {}
    const nodeInfo = new Map<string, WfgView['nodes'][number]>()
    for (const s of this.sites.values()) {
      const edges = this.up(s.code) ? [...s.locks.waitsFor()] : []
      local[s.code] = edges.flatMap(([a, bs]) => bs.map((b) => ({ from: a, to: b })))
      for (const [a, bs] of edges) for (const x of [a, ...bs]) {
        const sub = s.subs.get(x)
        const n = nodeInfo.get(x) ?? { gid: x, origin: x.split('-')[0], startAt: sub?.startAt ?? 0, waitingAt: [] as string[], sql: [] as string[] }
        if (sub?.startAt) n.startAt = sub.startAt
        if (a === x) { n.waitingAt.push(s.code); if (sub?.waitingSql) n.sql.push(`${s.code}: ${sub.waitingSql}`) }
        nodeInfo.set(x, n)
      }
    }
    const g = this.currentGlobalWfg()
    const cycles = findCycles(g)
    const global = [...g].flatMap(([a, bs]) => bs.map((b) => ({ from: a, to: b })))
    // where each wait is, and for which lock: the edge labels of the console's graph
    const waits = global.flatMap(({ from, to }) => [...this.sites.values()].flatMap((s) => {
      if (!local[s.code]?.some((e) => e.from === from && e.to === to)) return []
      const w = s.locks.waitingRequest(from)
      return [{ from, to, site: s.code, lock: w ? `${w.mode} ${w.resource}` : '?' }]
    }))
    return {
      at: this.now, detector: this.detectorSite() ?? null, scheme: this.opts.scheme, intervalMs: this.opts.detectIntervalMs,
      nodes: [...nodeInfo.values()], global, waits, local, cycles,
      lastPoll: { round: this.det.round, at: this.det.at, cycles: this.det.lastCycles, suspects: [...this.det.prevKeys] },
    }
  }

  // ---- views --------------------------------------------------------------------------------
  timeline(gid: string): TimelineEvent[] { return this.tl.get(gid) ?? [] }

  list(limit = 200): TxnView[] {
    const out: TxnView[] = []
    const all = [...this.info.values()]
    for (const i of all.slice(-limit).reverse()) {
      const sites = Object.keys(i.sites).map((code) => {
        const s = this.sites.get(code)!
        const sub = s.subs.get(i.gid)
        const w = sub ? s.locks.waitingRequest(i.gid) : undefined
        return { site: code, state: sub?.state ?? i.sites[code], locksHeld: sub ? s.locks.heldCount(i.gid) : 0, waitingFor: w ? `${w.mode} ${w.resource}` : undefined }
      })
      const c = this.sites.get(i.origin)?.coords.get(i.gid)
      out.push({
        gid: i.gid, origin: i.origin, protocol: i.protocol, coordinatorState: c?.state ?? i.coordState, outcome: i.outcome, reason: i.reason,
        startAt: i.startAt, endAt: i.endAt, ageMs: (i.endAt ?? this.now) - i.startAt, sites, statements: i.statements.slice(-20),
        ...(this.heuristics.some((h) => h.gid === i.gid) ? { heuristics: this.heuristics.filter((h) => h.gid === i.gid).map((h) => ({ ...h })) } : {}),
        ...(i.requestClass ? { requestClass: i.requestClass } : {}),
      })
    }
    return out
  }

  setProtocol(p: Protocol): void { this.opts.protocol = p }
  setScheme(s: DeadlockScheme, victim?: VictimPolicy): void { this.opts.scheme = s; if (victim) this.opts.victim = victim }

  /** Sites (up) where `gid` still has a sub-transaction or a coordinator record (not yet finished there). */
  unfinishedAt(gid: string): string[] {
    const out: string[] = []
    for (const s of this.sites.values()) if (this.up(s.code) && (s.subs.has(gid) || s.coords.has(gid))) out.push(s.code)
    return out
  }

  /** Totals for checks: active sub-transactions, in-doubt count, locks held. */
  summary(): { active: number; inDoubt: number; locks: number; waiting: number; coordinators: number } {
    let active = 0, inDoubt = 0, locks = 0, waiting = 0, coordinators = 0
    for (const s of this.sites.values()) {
      for (const sub of s.subs.values()) { if (sub.state === 'READY') inDoubt++; else active++ }
      locks += s.locks.lockCount
      waiting += s.locks.waiterCount
      coordinators += s.coords.size
    }
    return { active, inDoubt, locks, waiting, coordinators }
  }

  /** Decisions recorded in every site's log (for atomicity checks). */
  loggedDecisions(): Map<string, Set<string>> {
    const out = new Map<string, Set<string>>()
    for (const s of this.sites.values()) for (const r of s.log.records()) {
      const d = r.decision ?? (r.type === 'COMMIT' || r.type === 'ABORT' ? r.type : undefined)
      if (!d) continue
      let set = out.get(r.gid)
      if (!set) { set = new Set(); out.set(r.gid, set) }
      set.add(`${d}@${s.code}${r.type === 'HEURISTIC' ? '(heuristic)' : ''}`)
    }
    return out
  }
}

interface QueryReply { decision?: Decision; vote?: Vote }
interface WfgReply { site: string; edges: [string, string[]][]; nodes: Record<string, { startAt: number; locks: number; sql?: string; state: PartState }> }




/** Linear 2PC passes the decision back along the chain, skipping read-only members (they need no phase two). */
function prevInChain(chain: string[], idx: number, votes: Record<string, Vote>): string | undefined {
  for (let i = idx - 1; i >= 0; i--) if (votes[chain[i]] !== 'RO') return chain[i]
  return undefined
}

/** Request class (spec: remote request, remote transaction, distributed transaction, distributed request). */
export function classify(units: readonly { sites: string[]; write: boolean }[]): RequestClass | undefined {
  if (!units.length) return undefined
  if (units.some((u) => u.sites.length > 1)) return 'distributed request'
  const all = new Set(units.flatMap((u) => u.sites))
  if (all.size > 1) return 'distributed transaction'
  return units.length === 1 && !units[0].write ? 'remote request' : 'remote transaction'
}

function isWriteSql(sql: string): boolean { try { return template(sql).kind !== 'select' } catch { return true } }

/** Orders gids by origin then sequence number. */
export function gidOrder(a: string, b: string): number {
  const [oa, na] = a.split('-'), [ob, nb] = b.split('-')
  return oa === ob ? Number(na) - Number(nb) : oa < ob ? -1 : 1
}
