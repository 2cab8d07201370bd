/**
 * Two-phase commit at run time: the pure coordinator and participant machines of machine.ts, fed with what
 * arrives over cluster.net (PREPARE, votes, decisions, acknowledgements, inquiries), with timeouts in virtual
 * time and with the client's requests, and their outputs carried out here:
 *
 *   send    → a message over cluster.net (kinds txn.prepare, txn.vote, txn.peerVote, txn.commit, txn.abort,
 *             txn.ack, txn.query, txn.queryReply), leaving once the sender's forced records are stable
 *   log     → a record of the site's 2PC log, filled in with what recovery needs (participants, after-images,
 *             locks), forced with one fsync per window (group commit)
 *   apply   → the sub-transaction's after-images into the site's store; COMMIT decisions arriving within the
 *             group-commit window share one local transaction
 *   release → the sub-transaction's locks
 *   answer  → the client's commit callback (COMMIT once the decision is stable)
 *
 * Every protocol decision is the machines' (machine.ts, model-checked exhaustively by modelcheck.ts); this
 * module decides nothing, and asserts the invariants the checker proves: after-images are applied only by a
 * participant whose machine is in COMMIT, and locks are released only when it has ended (COMMIT, ABORT, or
 * read-only). Crash points (kernel.hook) sit between outputs, where the old hand-written DTM had them.
 */
import { EngineError, type ErrorInfo } from '../../errors'
import * as Machine from './machine'
import { ProtocolViolation, type CoordState as MCoord, type Decision, type LogRec, type Msg, type Out, type PartState as MPart, type Topology } from './machine'
import type { TxnWrite } from '../log'
import type { Protocol } from '../../api/txn'
import type { Coord, Eff, SiteRt, Sub, TxnKernel } from '../kernel'

type M = typeof Machine

/** What a message carries besides the machine's fields: the sender's view of the transaction. */
interface Meta { coord: string; topology: Topology; participants: readonly string[] }

interface Ctx {
  gid: string
  sub?: Sub
  coord?: Coord
  meta: Meta
  /** A hand resolution: who. */
  by?: string
}

const NO_META: Meta = { coord: '', topology: 'centralized', participants: [] }

function check(ok: boolean, what: string): void { if (!ok) throw new ProtocolViolation(what) }
export function originOf(gid: string): string { return gid.split('-')[0] }

/** A machine step's outputs, in the order the machine gave them. */
class Collector implements Out {
  readonly effs: Eff[] = []
  send(m: Msg): void { this.effs.push({ k: 'send', m }) }
  log(site: string, tx: string, rec: LogRec): void { this.effs.push({ k: 'log', site, tx, rec }) }
  apply(site: string, tx: string): void { this.effs.push({ k: 'apply', site, tx }) }
  release(site: string, tx: string): void { this.effs.push({ k: 'release', site, tx }) }
  answer(tx: string, d: Decision, reason: string): void { this.effs.push({ k: 'answer', tx, d, reason }) }
  heuristic(h: Machine.Heuristic): void { this.effs.push({ k: 'heuristic', h }) }
}

export class TwoPcRuntime {
  readonly M: M
  constructor(private readonly k: TxnKernel) {
    this.M = { ...Machine, ...(k.opts.machine ?? {}) }
  }

  private metaOf(x: MPart | MCoord): Meta {
    return { coord: 'coord' in x ? x.coord : x.site, topology: x.topology, participants: x.participants }
  }

  // ---- carrying out a machine step -------------------------------------------------------------------
  /**
   * Runs one machine step at site `s` and carries out its outputs in order; lock releases run last, after the
   * runtime's bookkeeping (`sync`). Returns false if the site crashed on the way (a crash hook): the rest of
   * the outputs are lost with it, as they would be.
   */
  private step(s: SiteRt, ctx: Ctx, fn: (out: Out) => void, sync?: () => void): boolean {
    // a crashed site takes no input (its machines are volatile state, lost with it)
    if (!this.k.up(s.code)) return false
    const out = new Collector()
    fn(out)
    const effs = out.effs
    const epoch = s.epoch
    const releases: string[] = []
    const sent = new Set<string>()
    // the decision record this step wrote: after-images are applied only behind one (write-ahead)
    let decided = false
    for (let i = 0; i < effs.length; i++) {
      if (s.epoch !== epoch || !this.k.up(s.code)) return false
      const e = effs[i]
      switch (e.k) {
        case 'send': {
          // the same vote to the same site twice in one step (the coordinator's site is also a peer): one message,
          // taken there by both roles
          const key = e.m.t === 'VOTE' ? `${e.m.to}|${e.m.vote}` : ''
          if (key && sent.has(key)) break
          if (key) sent.add(key)
          this.ship(s, e.m, ctx.meta)
          break
        }
        case 'log':
          if (e.rec.role === 'part' && e.rec.type === 'COMMIT' && ctx.sub) {
            // group commit: the COMMIT record, the apply, the lock release and what follows run at the site's flush
            this.enqueueCommit(s, ctx.sub, effs.slice(i))
            i = effs.length
            break
          }
          if (e.rec.type === 'HEURISTIC' && e.rec.decision === 'COMMIT') decided = true
          if (!this.logRec(s, ctx, e.rec)) return false
          break
        case 'apply':
          check(decided, `${ctx.gid} at ${s.code}: after-images applied without a COMMIT record`)
          this.applyNow(s, ctx)
          break
        case 'release': releases.push(e.tx); break
        case 'answer':
          this.answer(s, ctx.coord!, e.d, e.reason)
          if (this.k.hook(s, 'decide', ctx.gid)) return false
          break
        // the participant's own report (the coordinator hears of it from the acknowledgement, in the list's view)
        case 'heuristic': if (e.h.site === s.code) this.heuristicMet(s, e.h.tx, e.h.decision); break
      }
    }
    if (s.epoch !== epoch) return false
    sync?.()
    for (const tx of releases) this.release(s, tx, ctx.sub)
    return s.epoch === epoch && this.k.up(s.code)
  }

  /** A log output, with what recovery needs filled in. False: the site crashed right after (a crash hook). */
  private logRec(s: SiteRt, ctx: Ctx, rec: LogRec): boolean {
    const { k } = this
    const gid = ctx.gid
    if (rec.role === 'coord') {
      const c = ctx.coord!
      const protocol = c.m.topology
      switch (rec.type) {
        case 'WAIT':
          k.force(s, { type: 'WAIT', gid, role: 'coord', participants: [...c.m.participants], protocol, startAt: c.startAt }, true)
          return !k.hook(s, 'wait', gid)
        case 'COMMIT': k.force(s, { type: 'COMMIT', gid, role: 'coord', participants: [...c.m.owed], protocol }, true); return true
        case 'ABORT': k.force(s, { type: 'ABORT', gid, role: 'coord', participants: [...c.m.owed], protocol }, false); return true
        case 'END':
          if (k.hook(s, 'ack', gid)) return false
          k.force(s, { type: 'END', gid, role: 'coord' }, false)
          return true
      }
    }
    const sub = ctx.sub
    switch (rec.type) {
      case 'READY': {
        check(!!sub, `${gid} at ${s.code}: READY without work`)
        const locks = s.locks.heldLocks(gid).filter((l) => l.mode === 'X' || l.mode === 'IX')
        k.force(s, { type: 'READY', gid, role: 'part', coord: sub!.coord, participants: [...sub!.m.participants], protocol: sub!.m.topology, writes: [...sub!.writes.values()], locks, startAt: sub!.startAt }, true)
        return !k.hook(s, 'ready', gid)
      }
      case 'RO': k.force(s, { type: 'RO', gid, role: 'part' }, rec.force); return true
      // forced once prepared: a participant that learned ABORT is never in doubt again after a crash or a reopen
      case 'ABORT': k.force(s, { type: 'ABORT', gid, role: 'part', decision: 'ABORT' }, rec.force || sub?.readyAt !== undefined); return true
      case 'HEURISTIC': k.force(s, { type: 'HEURISTIC', gid, role: 'part', decision: (rec as { decision: Decision }).decision, by: ctx.by }, true); return true
      case 'COMMIT': k.force(s, { type: 'COMMIT', gid, role: 'part', decision: 'COMMIT' }, true); return true
    }
    return true
  }

  /** A hand resolution's COMMIT: the after-images at once, once the HEURISTIC record is stable. */
  private applyNow(s: SiteRt, ctx: Ctx): void {
    const sub = ctx.sub
    check(!!sub && sub.m.phase === 'COMMIT', `${ctx.gid} at ${s.code}: apply without a COMMIT`)
    if (s.log.dirty) this.k.syncLog(s)
    if (!sub!.prepared) s.store.apply([...sub!.writes.values()])
    else if (!this.tryPrepared(s, sub!, 'COMMIT')) this.retryPrepared(s, sub!, 'COMMIT')
  }

  /**
   * The decision for work the site's server holds prepared: COMMIT PREPARED / ROLLBACK PREPARED. A server that
   * has lost the prepared transaction (it is neither prepared nor committed there) is given the after-images
   * again from the READY record (redo: nothing committed is lost); one that committed what is now to be rolled
   * back is reported (the site disagrees with the decision and needs repair by hand). False: the server could not
   * be reached (the caller tries again later; the transaction stays prepared there, its locks held).
   */
  private tryPrepared(s: SiteRt, sub: Sub, d: Decision): boolean {
    if (!this.settlePrepared(s, sub.gid, d, sub.writes.values())) return false
    sub.prepared = false
    return true
  }

  /** COMMIT / ROLLBACK PREPARED of `gid` at the site's server (see tryPrepared); `writes`: its READY after-images. */
  settlePrepared(s: SiteRt, gid: string, d: Decision, writes: Iterable<TxnWrite>): boolean {
    const st = s.store
    try {
      if (d === 'COMMIT') {
        const r = st.commitPrepared!(gid)
        if (r === 'absent') {
          this.k.cluster.log('recovery', `${gid}: ${s.code}'s server no longer held it prepared; its after-images were applied from the READY record`, s.code)
          st.apply([...writes])
        }
      } else {
        const r = st.rollbackPrepared!(gid)
        if (r === 'already-committed') this.k.cluster.log('txn', `${gid}: ${s.code}'s server had committed it but the decision is ABORT; the sites disagree and need repair by hand`, s.code)
      }
    } catch (e) {
      this.k.cluster.log('txn', `${gid}: ${d === 'COMMIT' ? 'COMMIT' : 'ROLLBACK'} PREPARED at ${s.code}'s server failed (${e instanceof Error ? e.message : String(e)}); tried again in ${this.k.opts.retryMs} ms`, s.code)
      return false
    }
    return true
  }

  /** A decision the server did not take yet: tried again until it does; then `done`. */
  private retryPrepared(s: SiteRt, sub: Sub, d: Decision, done?: () => void): void {
    this.k.at(s, this.k.opts.retryMs, 'txn.preparedRetry', () => {
      if (this.tryPrepared(s, sub, d)) done?.()
      else this.retryPrepared(s, sub, d, done)
    })
  }

  /** A decision logged here for work the server still holds prepared (found at recovery): carried out, retried until it is. */
  settleRecovered(s: SiteRt, gid: string, d: Decision, writes: readonly TxnWrite[]): void {
    if (this.settlePrepared(s, gid, d, writes)) return
    this.k.at(s, this.k.opts.retryMs, 'txn.preparedRetry', () => this.settleRecovered(s, gid, d, writes))
  }

  /**
   * Work of the participant's server started as the message to it left (TxnStore.prepareAhead / commitAhead): the
   * servers of a transaction then prepare, and commit, at once instead of one after the other; each participant
   * still takes its PREPARE and its decision in the protocol's order, and its call finds the work done (or waits for
   * it). Started as the message leaves, so behind the sender's forced records (a COMMIT only once the decision is
   * stable). Only work the participant will be asked for is started: a PREPARE to a sub-transaction that has
   * finished its statements and holds writes, a COMMIT to one that is prepared at its server and READY; a prepare
   * the participant does not take after all (it aborted first) is rolled back (finishPart → dropAhead).
   */
  private startAhead(m: Msg): void {
    if (m.t !== 'PREPARE' && !(m.t === 'DECISION' && m.d === 'COMMIT')) return
    const t = this.k.sites.get(m.to)
    if (!t || !this.k.up(m.to)) return
    const sub = t.subs.get(m.tx)
    if (!sub || sub.committing) return
    try {
      if (m.t === 'PREPARE' && t.store.prepareAhead && sub.m.phase === 'INITIAL' && !sub.busy && !sub.prepared && sub.writes.size) t.store.prepareAhead(m.tx, [...sub.writes.values()])
      else if (m.t === 'DECISION' && t.store.commitAhead && sub.prepared && sub.m.phase === 'READY') t.store.commitAhead(m.tx)
    } catch { /* not started: the participant's own call does it when the message arrives */ }
  }

  /** A prepare started ahead for a participant that aborted before taking it: rolled back at its server (retried until it is). */
  private dropAhead(s: SiteRt, gid: string): void {
    if (!s.store.dropAhead) return
    try { s.store.dropAhead(gid) } catch (e) {
      this.k.cluster.log('txn', `${gid}: the prepare started ahead at ${s.code}'s server could not be rolled back yet (${e instanceof Error ? e.message : String(e)}); tried again in ${this.k.opts.retryMs} ms`, s.code)
      this.settleRecovered(s, gid, 'ABORT', [])
    }
  }

  private release(s: SiteRt, gid: string, sub: Sub | undefined): void {
    // locks are held until the end: only a participant that has decided (or voted read-only) lets them go
    if (sub) check(sub.m.phase === 'COMMIT' || sub.m.phase === 'ABORT' || sub.m.phase === 'RO', `${gid} at ${s.code}: locks released in ${sub.m.phase}`)
    this.k.runGrants(s.locks.releaseAll(gid))
  }

  private answer(s: SiteRt, c: Coord, d: Decision, reason: string): void {
    const { k } = this
    check(c.m.phase === d, `${c.gid}: answer ${d} in ${c.m.phase}`)
    if (d === 'COMMIT') {
      // the application hears COMMIT only once the decision is stable
      k.afterForce(s, () => k.finishTxn(c, 'COMMIT'))
      return
    }
    for (const [id, e] of [...c.execCbs]) k.finishExec(c, id, { ok: false, error: { code: 'ABORTED', message: `transaction aborted: ${reason}` }, site: e.site, sql: e.sql, at: k.now })
    k.finishTxn(c, 'ABORT', reason || undefined)
  }

  // ---- messages ----------------------------------------------------------------------------------------
  private ship(s: SiteRt, m: Msg, meta: Meta): void {
    const n = meta.participants.length
    let kind: string, bytes = 24
    switch (m.t) {
      case 'PREPARE': kind = 'txn.prepare'; bytes = 40 + n * (m.from === originOf(m.tx) ? 4 : 8); break
      case 'VOTE': kind = m.to === originOf(m.tx) ? 'txn.vote' : 'txn.peerVote'; bytes = 24 + (m.votes ? n * 4 : 0); break
      case 'DECISION': kind = m.d === 'COMMIT' ? 'txn.commit' : 'txn.abort'; break
      case 'ACK': kind = 'txn.ack'; break
      case 'QUERY': kind = 'txn.query'; break
      case 'REPLY': kind = 'txn.queryReply'; break
    }
    const meta2: Meta = m.t === 'PREPARE' ? { coord: meta.coord, topology: meta.topology, participants: [...meta.participants] } : meta
    this.k.send(s.code, m.to, kind, m.tx, bytes, () => this.arrive(this.k.rt(m.to), m, meta2), () => this.startAhead(m))
  }

  private arrive(s: SiteRt, m: Msg, meta: Meta): void {
    switch (m.t) {
      case 'PREPARE': return this.onPrepare(s, m, meta)
      case 'VOTE': return this.onVote(s, m)
      case 'DECISION': return this.onDecision(s, m)
      case 'ACK': return this.onAck(s, m)
      case 'QUERY': return this.onQuery(s, m, meta)
      case 'REPLY': return this.onReply(s, m)
    }
  }

  /** The participant machine of a transaction this site no longer holds live, rebuilt from its decision memory. */
  private remembered(s: SiteRt, gid: string): MPart | undefined {
    const h = s.heuristics.get(gid)
    const base = { tx: gid, site: s.code, coord: h?.coord ?? originOf(gid), topology: 'centralized' as Topology, participants: [], votes: {} }
    if (h) return { ...base, phase: h.decision, heuristic: h.decision }
    const o = s.outcomes.get(gid)
    return o ? { ...base, phase: o } : undefined
  }

  /** A participant step on a transaction with no live sub-transaction here: what it decided is remembered. */
  private stepRemembered(s: SiteRt, gid: string, fn: (p: MPart | undefined, out: Out) => MPart | undefined, meta: Meta = NO_META): void {
    const before = s.outcomes.get(gid)
    let after: MPart | undefined
    this.step(s, { gid, meta }, (out) => { after = fn(this.remembered(s, gid), out) })
    if (after && !before && (after.phase === 'COMMIT' || after.phase === 'ABORT' || after.phase === 'RO') && !s.heuristics.has(gid)) this.k.remember(s, gid, after.phase)
  }

  // ---- participant ---------------------------------------------------------------------------------------
  private onPrepare(s: SiteRt, m: Extract<Msg, { t: 'PREPARE' }>, meta: Meta): void {
    const { k } = this
    const gid = m.tx
    if (k.hook(s, 'prepare', gid)) return
    let sub = s.subs.get(gid)
    if (sub?.busy && sub.m.phase === 'INITIAL') { this.localAbort(s, sub, 'PREPARE arrived while a statement was running'); sub = undefined }
    const pm = { from: m.from, coord: meta.coord, topology: meta.topology, participants: [...meta.participants], votes: m.votes }
    if (!sub) { this.stepRemembered(s, gid, (p, out) => this.M.partPrepare(p, gid, s.code, pm, out), pm); return }
    const theSub = sub
    k.cluster.sim.cancel(theSub.timer)
    const readOnly = theSub.m.phase === 'INITIAL' && theSub.writes.size === 0
    if (!readOnly && theSub.m.phase === 'INITIAL' && s.store.prepare && !theSub.prepared) {
      // a site that is a database server keeps the work prepared itself (PREPARE TRANSACTION) before READY is
      // forced and the vote goes out; a server that refuses it makes this a local abort (the vote is NO)
      try {
        s.store.prepare(gid, [...theSub.writes.values()])
        theSub.prepared = true
      } catch (e) {
        const why = `${s.code} could not prepare ${gid}: ${e instanceof Error ? e.message : String(e)}`
        if (k.tlOn) k.note(gid, { kind: 'note', site: s.code, detail: `${why} → votes no` })
        k.cluster.log('txn', `${why}; it votes no`, s.code)
        this.localAbort(s, theSub, why)
        this.stepRemembered(s, gid, (p, out) => this.M.partPrepare(p, gid, s.code, pm, out), pm)
        return
      }
    }
    const alive = this.step(s, { gid, sub: theSub, meta: { ...pm } }, (out) => { theSub.m = this.M.partPrepare(theSub.m, gid, s.code, pm, out, readOnly) }, () => this.syncPart(s, theSub))
    if (alive && theSub.m.phase === 'READY') k.hook(s, 'vote', gid)
  }

  private onVote(s: SiteRt, m: Extract<Msg, { t: 'VOTE' }>): void {
    const gid = m.tx
    const c = s.code === originOf(gid) ? s.coords.get(gid) : undefined
    if (c && c.m.phase === 'WAIT') this.step(s, { gid, coord: c, meta: this.metaOf(c.m) }, (out) => this.M.coordVote(c.m, m.from, m.vote, m.votes, out), () => this.syncCoord(s, c))
    // a peer's vote (distributed), or a NO passed back along a linear chain
    const sub = s.subs.get(gid)
    if (!sub || m.from === s.code || sub.committing) return
    const t = sub.m.topology
    if (t === 'distributed' || (t === 'linear' && m.vote === 'NO')) {
      this.step(s, { gid, sub, meta: this.metaOf(sub.m) }, (out) => this.M.partPeerVote(sub.m, m.from, m.vote, out), () => this.syncPart(s, sub, { reason: `${m.from} voted no` }))
    }
  }

  private onDecision(s: SiteRt, m: Extract<Msg, { t: 'DECISION' }>): void {
    const gid = m.tx
    const sub = s.subs.get(gid)
    // COMMIT already learned, waiting for the group's local commit: its acknowledgement follows the flush
    if (sub?.committing) return
    if (!sub) {
      if (m.d === 'COMMIT' && !this.remembered(s, gid)) {
        // nothing known here can have voted yes (the decision memory is bounded): say so, acknowledge nothing
        this.k.cluster.log('txn', `${gid}: COMMIT reached ${s.code}, which holds no record of it (ignored)`, s.code)
        return
      }
      this.stepRemembered(s, gid, (p, out) => this.M.partDecision(p, gid, s.code, originOf(gid), m.d, out))
      return
    }
    this.step(s, { gid, sub, meta: this.metaOf(sub.m) }, (out) => { sub.m = this.M.partDecision(sub.m, gid, s.code, originOf(gid), m.d, out) }, () => this.syncPart(s, sub, { reason: `aborted by ${m.from}` }))
  }

  /** READY timed out: in doubt; ask the coordinator (and the peers: cooperative termination). */
  readyTimeout(s: SiteRt, sub: Sub): void {
    const { k } = this
    if (s.subs.get(sub.gid) !== sub || sub.m.phase !== 'READY' || sub.committing) return
    sub.termRound++
    const peers = sub.termRound > 1 || sub.m.topology !== 'centralized'
    if (k.tlOn) k.note(sub.gid, { kind: 'timeout', site: s.code, detail: `READY timed out: in doubt, asking ${peers ? 'the coordinator and peers' : 'the coordinator'}` })
    this.step(s, { gid: sub.gid, sub, meta: this.metaOf(sub.m) }, (out) => this.M.partInquire(sub.m, out, peers))
    sub.timer = k.at(s, k.opts.retryMs, 'txn.readyTimeout', () => this.readyTimeout(s, sub))
  }

  private onQuery(s: SiteRt, m: Extract<Msg, { t: 'QUERY' }>, meta: Meta): void {
    const gid = m.tx
    if (s.code === originOf(gid)) {
      // the coordinator: its record, else its decision memory (a COMMIT is remembered after END), else presumed abort
      const c = s.coords.get(gid)
      const ended: MCoord | undefined = !c && s.outcomes.get(gid) === 'COMMIT' ? { ...this.M.newCoord(gid, s.code, meta.topology, []), phase: 'COMMIT', ended: true } : undefined
      this.step(s, { gid, coord: c, meta: NO_META }, (out) => this.M.coordQuery(c?.m ?? ended, gid, s.code, m.from, out))
      return
    }
    const sub = s.subs.get(gid)
    if (sub) {
      this.step(s, { gid, sub, meta: this.metaOf(sub.m) }, (out) => { sub.m = this.M.partQueried(sub.m, gid, s.code, m.from, out) }, () => this.syncPart(s, sub, { reason: `${m.from} asked while ${s.code} had not voted` }))
      return
    }
    // no record here: in the linear and distributed topologies a read-only vote is logged, so this site cannot
    // have voted yes and says ABORT; in the centralized one a forgotten read-only vote is possible: no answer
    if (!this.remembered(s, gid) && meta.topology === 'centralized') return
    this.stepRemembered(s, gid, (p, out) => this.M.partQueried(p, gid, s.code, m.from, out))
  }

  private onReply(s: SiteRt, m: Extract<Msg, { t: 'REPLY' }>): void {
    const gid = m.tx
    if (s.heuristics.has(gid)) { if (m.d) this.heuristicMet(s, gid, m.d); return }
    const sub = s.subs.get(gid)
    if (!sub || sub.m.phase !== 'READY' || sub.committing || !m.d) return
    if (this.k.tlOn) this.k.note(gid, { kind: 'note', site: s.code, detail: `learned ${m.d} from ${m.from}` })
    this.step(s, { gid, sub, meta: this.metaOf(sub.m) }, (out) => this.M.partReply(sub.m, m.d, out), () => this.syncPart(s, sub))
  }

  /** Local abort of a sub-transaction that has not voted (timeouts, a failed lock, a deadlock victim). */
  localAbort(s: SiteRt, sub: Sub, reason: string, code: ErrorInfo['code'] = 'ABORTED'): void {
    if (sub.m.phase !== 'INITIAL') return
    this.step(s, { gid: sub.gid, sub, meta: this.metaOf(sub.m) }, (out) => this.M.partLocalAbort(sub.m, out), () => this.syncPart(s, sub, { reason, code }))
  }

  /** Local abort (allowed only before the vote) + a request to the coordinator to abort globally. */
  abortFromSite(s: SiteRt, gid: string, reason: string, code: ErrorInfo['code'] = 'ABORTED'): void {
    const sub = s.subs.get(gid)
    if (sub && sub.m.phase !== 'INITIAL') return
    if (sub) this.localAbort(s, sub, reason, code)
    const origin = originOf(gid)
    this.k.send(s.code, origin, 'txn.abortReq', gid, 32, () => {
      const o = this.k.rt(origin)
      const c = o.coords.get(gid)
      if (c && c.m.phase === 'INITIAL') this.globalAbort(o, c, reason)
    })
  }

  /** Keeps the runtime's bookkeeping in step with the participant machine after a step. */
  private syncPart(s: SiteRt, sub: Sub, why?: { reason: string; code?: ErrorInfo['code'] }): void {
    const { k } = this
    const ph = sub.m.phase
    if (ph === sub.state || ph === 'NONE' || ph === 'INITIAL' || s.subs.get(sub.gid) !== sub) return
    if (ph === 'READY') {
      k.cluster.sim.cancel(sub.timer)
      k.setPart(s, sub, 'READY')
      sub.readyAt = k.now
      sub.timer = k.at(s, k.opts.decisionTimeoutMs, 'txn.readyTimeout', () => this.readyTimeout(s, sub))
      return
    }
    if (ph === 'COMMIT' && sub.committing) return // the flush finishes it
    this.finishPart(s, sub, ph, why)
  }

  private finishPart(s: SiteRt, sub: Sub, o: 'COMMIT' | 'ABORT' | 'RO', why?: { reason: string; code?: ErrorInfo['code'] }): void {
    const { k } = this
    k.cluster.sim.cancel(sub.timer)
    k.cluster.sim.cancel(sub.lockTimer)
    s.subs.delete(sub.gid)
    if (sub.termRound > 0 && o !== 'RO') k.stats.inDoubtResolved++
    k.setPart(s, sub, o)
    if (sub.m.heuristic === undefined) k.remember(s, sub.gid, o)
    if (o === 'ABORT' && sub.prepared && !this.tryPrepared(s, sub, 'ABORT')) this.retryPrepared(s, sub, 'ABORT')
    if (!sub.prepared) this.dropAhead(s, sub.gid)
    if (o === 'ABORT') sub.pendingReply?.({ error: { code: why?.code ?? 'ABORTED', message: why?.reason ?? `${sub.gid} aborted at ${s.code}`, site: s.code } })
  }

  // ---- group commit ----------------------------------------------------------------------------------------
  private enqueueCommit(s: SiteRt, sub: Sub, rest: Eff[]): void {
    sub.committing = true
    sub.deferred = rest
    s.commitQueue.push(sub)
    if (!s.flushTimer) s.flushTimer = this.k.at(s, this.k.opts.groupCommitMs, 'txn.groupCommit', () => this.flushCommits(s))
  }

  /**
   * The site's group commit: the COMMIT records of every decision learned in the window (one fsync for all),
   * then their after-images in one local transaction, the locks, and what the machines sent after (the
   * acknowledgements, a linear chain's COMMIT passed back).
   */
  private flushCommits(s: SiteRt): void {
    const { k } = this
    s.flushTimer = undefined
    const batch = s.commitQueue.filter((sub) => s.subs.get(sub.gid) === sub)
    s.commitQueue = []
    if (!batch.length) return
    batch.forEach((sub, i) => k.force(s, { type: 'COMMIT', gid: sub.gid, role: 'part', decision: 'COMMIT' }, i === batch.length - 1))
    if (s.log.dirty) k.syncLog(s)
    const writes: TxnWrite[] = []
    for (const sub of batch) {
      check(sub.m.phase === 'COMMIT' && sub.readyAt !== undefined, `${sub.gid} at ${s.code}: applied in ${sub.m.phase}`)
      if (!sub.prepared) for (const w of sub.writes.values()) writes.push(w)
    }
    if (writes.length) s.store.apply(writes)
    // work the site's server holds prepared: COMMIT PREPARED; one the server cannot take now stays committing
    // (its locks held, its acknowledgement owed) and is finished when a retry gets through
    const done = batch.filter((sub) => {
      if (!sub.prepared || this.tryPrepared(s, sub, 'COMMIT')) return true
      this.retryPrepared(s, sub, 'COMMIT', () => { if (s.subs.get(sub.gid) === sub) this.completeCommits(s, [sub]) })
      return false
    })
    this.completeCommits(s, done)
  }

  /** The end of a group's COMMIT: the participants finished, their locks released, what the machines sent after it. */
  private completeCommits(s: SiteRt, batch: Sub[]): void {
    const { k } = this
    for (const sub of batch) { sub.committing = false; this.finishPart(s, sub, 'COMMIT') }
    for (const sub of batch) for (const e of sub.deferred ?? []) if (e.k === 'release') this.release(s, e.tx, sub)
    const epoch = s.epoch
    for (const sub of batch) {
      if (k.hook(s, 'commit', sub.gid) || s.epoch !== epoch) return
      for (const e of sub.deferred ?? []) if (e.k === 'send') this.ship(s, e.m, this.metaOf(sub.m))
      sub.deferred = undefined
    }
  }

  // ---- coordinator ---------------------------------------------------------------------------------------
  /** The client asks to commit (the coordinator at the origin site). */
  commit(s: SiteRt, c: Coord, tried: number): void {
    const { k } = this
    if (!c.m.participants.length && tried) {
      // No statement reached a site. Statements were given, so every one of them was refused: there is
      // nothing to commit, and saying COMMIT would claim work that was never done.
      this.globalAbort(s, c, `nothing to commit: ${tried === 1 ? 'its only statement' : `all ${tried} statements`} failed`)
      return
    }
    const alive = this.step(s, { gid: c.gid, coord: c, meta: this.metaOf(c.m) }, (out) => this.M.coordCommit(c.m, out), () => this.syncCoord(s, c))
    if (alive && c.m.phase === 'WAIT') c.timer = k.at(s, k.opts.voteTimeoutMs, 'txn.voteTimeout', () => this.voteTimeout(s, c))
  }

  private voteTimeout(s: SiteRt, c: Coord): void {
    if (s.coords.get(c.gid) !== c || c.m.phase !== 'WAIT') return
    if (this.k.tlOn) this.k.note(c.gid, { kind: 'timeout', site: s.code, detail: 'coordinator WAIT timed out → global abort' })
    this.globalAbort(s, c, 'votes did not arrive in time')
  }

  /** The coordinator aborts (INITIAL or WAIT): the application's abort, a failed statement, a timeout, a deadlock victim. */
  globalAbort(s: SiteRt, c: Coord, reason: string): void {
    if (c.m.phase === 'COMMIT' || c.m.phase === 'ABORT') return
    this.step(s, { gid: c.gid, coord: c, meta: this.metaOf(c.m) }, (out) => this.M.coordTimeout(c.m, reason, out), () => this.syncCoord(s, c))
  }

  private onAck(s: SiteRt, m: Extract<Msg, { t: 'ACK' }>): void {
    const c = s.coords.get(m.tx)
    if (!c) return
    this.step(s, { gid: m.tx, coord: c, meta: this.metaOf(c.m) }, (out) => this.M.coordAck(c.m, m.from, m.d, m.heuristic, out), () => this.syncCoord(s, c))
  }

  private armResend(s: SiteRt, c: Coord): void {
    const { k } = this
    k.cluster.sim.cancel(c.resendTimer)
    c.resendTimer = k.at(s, k.opts.resendMs, 'txn.resend', () => {
      if (s.coords.get(c.gid) !== c || c.m.ended || !c.m.owed.length) return
      if (k.tlOn) k.note(c.gid, { kind: 'timeout', site: s.code, detail: `no ACK from ${c.m.owed.join(', ')}: re-send ${c.m.phase}` })
      this.step(s, { gid: c.gid, coord: c, meta: this.metaOf(c.m) }, (out) => this.M.coordResend(c.m, out))
      this.armResend(s, c)
    })
  }

  /** Keeps the runtime's bookkeeping in step with the coordinator machine after a step. */
  private syncCoord(s: SiteRt, c: Coord): void {
    const { k } = this
    const ph = c.m.phase
    if (ph !== c.state) {
      k.setCoord(c, ph)
      if (ph === 'COMMIT' || ph === 'ABORT') {
        k.cluster.sim.cancel(c.timer)
        k.remember(s, c.gid, ph)
        if (!c.m.ended) this.armResend(s, c)
      }
    }
    if (c.m.ended && s.coords.get(c.gid) === c) {
      k.cluster.sim.cancel(c.resendTimer)
      s.coords.delete(c.gid)
      if (k.tlOn && c.m.owed.length === 0 && ph === 'COMMIT') k.note(c.gid, { kind: 'log', site: s.code, detail: 'all acknowledged: coordinator record ended' })
    }
  }

  // ---- recovery -------------------------------------------------------------------------------------------
  /** A coordinator record reopened from the log: a decision is re-sent; WAIT without a decision becomes ABORT. */
  recoverCoord(s: SiteRt, c: Coord, logged: 'WAIT' | 'COMMIT' | 'ABORT'): void {
    let rec: MCoord | undefined
    this.step(s, { gid: c.gid, coord: c, meta: this.metaOf(c.m) }, (out) => {
      rec = this.M.coordRecover(c.gid, s.code, c.m.topology, [...c.m.participants], logged, out)
      c.m = rec
    }, () => this.syncCoord(s, c))
    // a decision reopened as it was logged: re-sent until every participant acknowledges
    if (s.coords.get(c.gid) === c && !c.m.ended && (c.m.phase === 'COMMIT' || c.m.phase === 'ABORT') && !c.resendTimer) this.armResend(s, c)
  }

  /** A prepared participant reopened from the log: in doubt again. */
  recoverPart(gid: string, site: string, coord: string, protocol: Protocol, participants: string[]): MPart {
    return this.M.partRecover(gid, site, coord, protocol, participants, 'READY')
  }

  // ---- hand resolution (heuristic decisions) ----------------------------------------------------------------
  resolve(s: SiteRt, sub: Sub, d: Decision, by: string): void {
    if (sub.m.phase !== 'READY' || sub.committing) throw new EngineError('NOT_FOUND', `${sub.gid} is not in doubt at ${s.code}`, { site: s.code })
    this.step(s, { gid: sub.gid, sub, meta: this.metaOf(sub.m), by }, (out) => this.M.partHeuristic(sub.m, d, out), () => this.syncPart(s, sub))
  }

  /** A heuristic participant keeps asking the coordinator (only it: a heuristic is never taught) for the real decision. */
  heuristicInquiry(s: SiteRt, gid: string): void {
    const h = s.heuristics.get(gid)
    if (!h || h.met) return
    this.ship(s, { t: 'QUERY', tx: gid, from: s.code, to: h.coord }, NO_META)
    this.k.at(s, this.k.opts.retryMs * 2, 'txn.heuristicInquiry', () => this.heuristicInquiry(s, gid))
  }

  /** The coordinator's decision reached a participant resolved by hand: consistent, or heuristic damage. */
  heuristicMet(s: SiteRt, gid: string, d: Decision): void {
    const { k } = this
    const h = s.heuristics.get(gid)
    if (!h || h.met) return
    h.met = d
    const damage = h.decision !== d
    let rep = k.heuristics.find((x) => x.gid === gid && x.site === s.code)
    if (!rep) { rep = { gid, site: s.code, heuristic: h.decision, by: 'administrator', at: k.now }; k.heuristics.push(rep) }
    if (rep.decision !== undefined) return
    rep.decision = d
    rep.damage = damage
    rep.detectedAt = k.now
    if (k.tlOn) k.note(gid, { kind: 'note', site: s.code, detail: damage ? `HEURISTIC DAMAGE: resolved by hand as ${h.decision}, coordinator decided ${d}` : `heuristic ${h.decision} agrees with the coordinator` })
    if (damage) k.cluster.log('txn', `heuristic damage: ${gid} at ${s.code} was resolved by hand as ${h.decision} but coordinator ${h.coord} decided ${d}; the sites disagree and need repair by hand`, s.code)
    else k.cluster.log('txn', `${gid} at ${s.code}: heuristic ${h.decision} agrees with the coordinator's decision`, s.code)
  }
}
