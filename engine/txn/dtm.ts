/**
 * The Distributed Transaction Manager (DTM): at every site a transaction coordinator, a scheduler (the
 * lock manager, strict 2PL) and a recovery manager (a durable log); two-phase commit in three topologies
 * with presumed abort, timeouts, cooperative termination and restart recovery; local and global
 * deadlock handling. All communication goes through cluster.net; all time is cluster.sim.
 *
 * The protocol is the pure state machines of twopc/machine.ts (model-checked exhaustively by
 * twopc/modelcheck.ts), carried out by twopc/runtime.ts:
 *   coordinator  INITIAL → WAIT → COMMIT | ABORT
 *   participant  INITIAL → READY → COMMIT | ABORT   (or RO: read-only, no phase two)
 * This class is the client API and the views; the work is done by its modules:
 *   kernel.ts     per-site runtime, messages, the 2PC log with group fsync, crash hooks
 *   executor.ts   statements under strict 2PL (and the DIM's checks inside the transaction)
 *   deadlock.ts   local and global deadlock detection, wound-wait
 *   recovery.ts   crash and restart from the 2PC log
 */
import type { Cluster } from '../cluster'
import { EngineError } from '../errors'
import { LockManager } from './lock'
import { MemoryStableLog, type DurableLog } from './log'
import { MemoryStore, type TxnStore } from './store'
import { SiteTxnStore } from './sqlstore'
import { FileTxnLog } from './filelog'
import type { PreParsed } from './global'
import type { Val } from './stmt'
import type { Wfg } from './wfg'
import { DEFAULT_OPTIONS, INFO_KEEP, STEPS, TxnKernel, gidOrder, trimOldest, type CommitResult, type DtmOptions, type ExecResult, type HistoryOp, type SiteRt, type Step } from './kernel'
import { TwoPcRuntime } from './twopc/runtime'
import { Executor, classify } from './executor'
import { DeadlockDetector } from './deadlock'
import { Recovery } from './recovery'
import type { CoordState, Decision, DeadlockRecord, DeadlockScheme, HeuristicReport, InDoubtView, PartState, Protocol, TimelineEvent, TxnInfo, TxnView, VictimPolicy, Vote, WfgView } from '../api/txn'

export type { CoordState, Decision, DeadlockRecord, DeadlockScheme, HeuristicReport, InDoubtView, PartState, Protocol, TimelineEvent, TxnInfo, TxnView, VictimPolicy, Vote, WfgView }
export type { CommitResult, DtmOptions, ExecResult, HistoryOp, Step }
export { DEFAULT_OPTIONS, STEPS, classify, gidOrder }

export class Dtm {
  readonly opts: DtmOptions
  private readonly k: TxnKernel
  private readonly tpc: TwoPcRuntime
  private readonly ex: Executor
  private readonly dl: DeadlockDetector
  private readonly rec: Recovery
  private unsub: () => void

  constructor(readonly cluster: Cluster, opts: Partial<DtmOptions> = {}) {
    this.opts = { ...DEFAULT_OPTIONS, ...opts }
    const k = (this.k = new TxnKernel(cluster, this.opts, (code) => newSite(code)))
    this.tpc = new TwoPcRuntime(k)
    this.dl = new DeadlockDetector(k, this.tpc)
    this.ex = new Executor(k, this.tpc, this.dl)
    this.rec = new Recovery(k, this.tpc)
    const dir = cluster.ready ? cluster.dataDir : null
    for (const code of cluster.siteCodes) this.addSite(code, cluster.ready ? new SiteTxnStore(cluster, code) : undefined, dir ? cluster.openTxnLog(code) : undefined)
    // a persisted cluster reopened after a crash: every live site recovers from its 2PC log at once
    // (in-doubt participants with their locks, open coordinator records), then resolves through the protocol
    if (dir) for (const s of this.k.sites.values()) if (s.log.records().length) this.rec.recover(s, `${cluster.dataDir}`)
    this.unsub = cluster.on((e) => {
      if ((e.type !== 'server.down' && e.type !== 'server.up') || e.role !== 'primary') return
      if (e.type === 'server.down') this.rec.onCrash(e.site)
      else if (cluster.isServerUp(e.server)) this.rec.onRestart(e.site)
    })
  }

  /** The cluster's DTM (built by the cluster's subsystem registry on first use; opts apply then). */
  static of(cluster: Cluster, opts?: Partial<DtmOptions>): Dtm { return cluster.subsystems.dtm(opts) }
  /** The cluster's DTM if one has been built (the DIM asks without building one). */
  static existing(cluster: Cluster): Dtm | undefined { return cluster.subsystems.built.includes('dtm') ? Dtm.of(cluster) : undefined }

  get info(): Map<string, TxnInfo> { return this.k.info }
  get history(): HistoryOp[] { return this.k.history }
  get deadlocks(): DeadlockRecord[] { return this.dl.deadlocks }
  /** Hand resolutions (heuristic decisions) and what the coordinator decided: heuristic damage when they differ. */
  get heuristics(): HeuristicReport[] { return this.k.heuristics }
  get stats(): TxnKernel['stats'] { return this.k.stats }

  dispose(): void {
    this.unsub()
    for (const s of this.k.sites.values()) if (s.log instanceof FileTxnLog) s.log.close()
    this.dl.dispose()
    this.cluster.subsystems.release('dtm', this)
  }

  addSite(code: string, store?: TxnStore, log?: DurableLog): void {
    if (this.k.sites.has(code)) return
    const s = newSite(code)
    if (store) s.store = store
    if (log) s.log = log
    this.k.sites.set(code, s)
  }

  setStore(code: string, store: TxnStore): void { this.k.rt(code).store = store }
  // failover (engine/cluster/failover.ts): the promoted backup server's copy of the 2PC log becomes the site's log before its restart
  setLog(code: string, log: DurableLog): void { this.k.rt(code).log = log }
  /**
   * Gives a site a durable 2PC log kept elsewhere (a live deployment's directory) and recovers from what it holds:
   * in-doubt participants with their locks, open coordinator records, the gid sequence (gids are never reused).
   */
  openLog(code: string, log: DurableLog): void {
    const s = this.k.rt(code)
    if (s.subs.size || s.coords.size) throw new EngineError('CONFLICT', `${code} has transactions running: its 2PC log cannot be replaced now`, { site: code })
    s.log = log
    if (log.records().length) this.rec.recover(s, 'log opened')
  }
  store(code: string): TxnStore { return this.k.rt(code).store }
  log(code: string): DurableLog { return this.k.rt(code).log }
  locks(code: string): LockManager { return this.k.rt(code).locks }

  // ---- crash hooks --------------------------------------------------------------------------
  /** Crashes `site` the next time it reaches `step` (optionally for one transaction); restarts it after a delay. */
  crashAt(site: string, step: Step, opts: { restartAfterMs?: number; gid?: string } = {}): void {
    this.k.rt(site)
    this.k.addCrashHook({ site, step, ...opts })
  }

  /** Fails a WAN link the next time `site` reaches `step` (the site goes on); restores it after a delay. */
  failLinkAt(site: string, step: Step, link: string, opts: { restoreAfterMs?: number } = {}): void {
    this.k.rt(site)
    this.cluster.net.link(link)
    this.k.addCrashHook({ site, step, link, restartAfterMs: opts.restoreAfterMs })
  }

  pendingCrashHooks(): { site: string; step: Step }[] { return this.k.crashHooks.map(({ site, step }) => ({ site, step })) }

  // ---- client API (at the origin site) ------------------------------------------------------
  begin(origin: string, opts: { protocol?: Protocol } = {}): string {
    const s = this.k.rt(origin)
    if (!this.k.up(origin)) throw this.cluster.siteDownError(origin, 'cannot begin a transaction there')
    const gid = `${origin}-${++s.seq}`
    const protocol = opts.protocol ?? this.opts.protocol
    s.coords.set(gid, { gid, origin, startAt: this.k.now, m: this.tpc.M.newCoord(gid, origin, protocol, []), state: 'INITIAL', pending: 0, execCbs: new Map() })
    this.k.info.set(gid, { gid, origin, protocol, startAt: this.k.now, coordState: 'INITIAL', sites: {}, statements: [] })
    if (this.k.info.size > INFO_KEEP) trimOldest(this.k.info, INFO_KEEP)
    if (this.k.tlOn) this.k.note(gid, { kind: 'state', site: origin, detail: `begin (${protocol} 2PC); coordinator INITIAL` })
    return gid
  }

  /** A fragment-level statement of transaction `gid` at `site`. */
  exec(gid: string, site: string, sql: string, params: Val[] = [], cb: (r: ExecResult) => void = () => {}): void {
    this.ex.exec(gid, site, sql, params, cb)
  }

  /**
   * A global statement (global relation or fragment names) inside transaction `gid`: localized with the
   * DQP's catalog into fragment-level operations (see global.ts), run one after the other as operations
   * of the sub-transactions at their sites (strict 2PL: S locks for reads, X for writes). The result
   * unions the rows / sums the counts; the first failing operation fails the statement (and, as for any
   * failed operation, the transaction is aborted).
   */
  execGlobal(gid: string, sql: string, params: Val[] = [], cb: (r: ExecResult) => void = () => {}, pre?: PreParsed): void {
    this.ex.execGlobal(gid, sql, params, cb, pre)
  }

  /** Records a statement of an active transaction refused before the DTM saw it (e.g. by the security manager). */
  recordRefused(gid: string, site: string, sql: string, e: unknown): void { this.ex.recordRefused(gid, site, sql, e) }

  commit(gid: string, cb: (r: CommitResult) => void = () => {}): void {
    const { s, c } = this.k.coordOf(gid)
    if (c.m.phase !== 'INITIAL') throw new EngineError('CONFLICT', `transaction ${gid} is already ${c.m.phase}`)
    if (c.pending > 0) throw new EngineError('CONFLICT', `transaction ${gid} still has ${c.pending} statement(s) running`)
    c.onDone = cb
    c.commitReqAt = this.k.now
    this.tpc.commit(s, c, this.k.info.get(gid)?.statements.length ?? 0)
  }

  abort(gid: string, reason = 'aborted by the application'): void {
    const { s, c } = this.k.coordOf(gid)
    if (c.m.phase !== 'INITIAL') throw new EngineError('CONFLICT', `transaction ${gid} is ${c.m.phase}; only an active transaction can be aborted`)
    this.tpc.globalAbort(s, c, reason)
  }

  // ---- in-doubt transactions ------------------------------------------------------------------
  inDoubt(): InDoubtView[] {
    const out: InDoubtView[] = []
    for (const s of this.k.sites.values()) {
      if (!this.k.up(s.code)) continue
      for (const sub of s.subs.values()) {
        if (sub.m.phase !== 'READY' || sub.committing) continue
        out.push({
          gid: sub.gid, site: s.code, coordinator: sub.coord, participants: [...sub.m.participants], protocol: sub.m.topology, state: 'READY',
          since: sub.readyAt ?? sub.lastActivity, ageMs: this.k.now - (sub.readyAt ?? sub.lastActivity), inquiries: sub.termRound,
          locks: s.locks.heldLocks(sub.gid).map((l) => `${l.mode} ${l.resource}`), writes: sub.writes.size,
        })
      }
    }
    return out.sort((a, b) => a.since - b.since)
  }

  /** An administrator's heuristic decision for an in-doubt participant (logged as HEURISTIC). */
  resolve(gid: string, site: string, decision: Decision, by = 'administrator'): void {
    const s = this.k.rt(site)
    const sub = s.subs.get(gid)
    if (!sub || sub.m.phase !== 'READY' || sub.committing) throw new EngineError('NOT_FOUND', `${gid} is not in doubt at ${site}`, { site })
    if (this.k.tlOn) this.k.note(gid, { kind: 'note', site, detail: `manually resolved: ${decision} by ${by} (heuristic decision)` })
    this.tpc.resolve(s, sub, decision, by)
    s.heuristics.set(gid, { decision, coord: sub.coord })
    this.k.heuristics.push({ gid, site, heuristic: decision, by, at: this.k.now })
    if (this.k.heuristics.length > 1000) this.k.heuristics.shift()
    this.cluster.log('txn', `${gid} at ${site} resolved by hand: heuristic ${decision} (not the coordinator's decision; compared with it when ${sub.coord} answers)`, site)
    this.tpc.heuristicInquiry(s, gid)
  }

  // ---- deadlocks ----------------------------------------------------------------------------
  /** The site that runs global detection: Colombo (HQ) if alive, else the first live site. */
  detectorSite(): string | undefined { return this.dl.detectorSite() }
  /** One gathering round of the global detector. */
  poll(): void { this.dl.poll() }
  /** The omniscient union of the local WFGs right now (tests and the console's live view). */
  currentGlobalWfg(): Wfg { return this.dl.currentGlobalWfg() }
  wfgView(): WfgView { return this.dl.wfgView() }

  // ---- views --------------------------------------------------------------------------------
  timeline(gid: string): TimelineEvent[] { return this.k.tl.get(gid) ?? [] }

  list(limit = 200): TxnView[] {
    const out: TxnView[] = []
    const all = [...this.k.info.values()]
    for (const i of all.slice(-limit).reverse()) {
      const sites = Object.keys(i.sites).map((code) => {
        const s = this.k.sites.get(code)!
        const sub = s.subs.get(i.gid)
        const w = sub ? s.locks.waitingRequest(i.gid) : undefined
        return { site: code, state: sub?.state ?? i.sites[code], locksHeld: sub ? s.locks.heldCount(i.gid) : 0, waitingFor: w ? `${w.mode} ${w.resource}` : undefined }
      })
      const c = this.k.sites.get(i.origin)?.coords.get(i.gid)
      out.push({
        gid: i.gid, origin: i.origin, protocol: i.protocol, coordinatorState: c?.state ?? i.coordState, outcome: i.outcome, reason: i.reason,
        startAt: i.startAt, endAt: i.endAt, ageMs: (i.endAt ?? this.k.now) - i.startAt, sites, statements: i.statements.slice(-20),
        ...(this.k.heuristics.some((h) => h.gid === i.gid) ? { heuristics: this.k.heuristics.filter((h) => h.gid === i.gid).map((h) => ({ ...h })) } : {}),
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
    for (const s of this.k.sites.values()) if (this.k.up(s.code) && (s.subs.has(gid) || s.coords.has(gid))) out.push(s.code)
    return out
  }

  /** Totals for checks: active sub-transactions, in-doubt count, locks held. */
  summary(): { active: number; inDoubt: number; locks: number; waiting: number; coordinators: number } {
    let active = 0, inDoubt = 0, locks = 0, waiting = 0, coordinators = 0
    for (const s of this.k.sites.values()) {
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
    for (const s of this.k.sites.values()) for (const r of s.log.records()) {
      const d = r.decision ?? (r.type === 'COMMIT' || r.type === 'ABORT' ? r.type : undefined)
      if (!d) continue
      let set = out.get(r.gid)
      if (!set) { set = new Set(); out.set(r.gid, set) }
      set.add(`${d}@${s.code}${r.type === 'HEURISTIC' ? '(heuristic)' : ''}`)
    }
    return out
  }
}

function newSite(code: string): SiteRt {
  return {
    code, epoch: 0, locks: new LockManager(), log: new MemoryStableLog(), store: new MemoryStore(),
    subs: new Map(), coords: new Map(), outcomes: new Map(), seq: 0, commitQueue: [], outbox: [], heuristics: new Map(),
  }
}
