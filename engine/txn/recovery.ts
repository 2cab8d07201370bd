/**
 * Failures and recovery of the DTM's sites. A crash loses every site's volatile transaction state (live
 * sub-transactions, coordinator records, locks, the decision memory, what waited for an fsync); the 2PC log
 * keeps what was forced. A restart (or reopening a data directory) rebuilds from the log: prepared
 * participants are in doubt again with their write locks re-acquired and ask for the decision; open
 * coordinator records are reopened (a decision is re-sent until acknowledged, WAIT without a decision becomes
 * ABORT: presumed abort); hand-resolved participants go on asking the coordinator for the real decision.
 */
import type { Decision, Protocol } from '../api/txn'
import type { TxnLogRecord } from './log'
import type { Coord, SiteRt, Sub, TxnKernel } from './kernel'
import type { TwoPcRuntime } from './twopc/runtime'

export class Recovery {
  constructor(private readonly k: TxnKernel, private readonly tpc: TwoPcRuntime) {}
  onCrash(code: string): void {
    const s = this.k.sites.get(code)
    if (!s) return
    s.epoch++
    s.log.crash()
    s.locks.clear()
    for (const sub of s.subs.values()) { this.k.cluster.sim.cancel(sub.timer); this.k.cluster.sim.cancel(sub.lockTimer); this.k.note(sub.gid, { kind: 'note', site: code, detail: `${code} crashed (participant ${sub.state})` }) }
    s.subs.clear()
    s.commitQueue = []
    s.flushTimer = undefined
    s.outbox = []
    this.k.cluster.sim.cancel(s.syncEv)
    s.syncEv = undefined
    for (const c of s.coords.values()) {
      this.k.cluster.sim.cancel(c.timer); this.k.cluster.sim.cancel(c.resendTimer)
      for (const [id, e] of [...c.execCbs]) this.k.finishExec(c, id, { ok: false, error: { code: 'SITE_DOWN', message: `${code} crashed`, site: code }, site: e.site, sql: e.sql, at: this.k.now })
      if (this.k.tlOn) this.k.note(c.gid, { kind: 'note', site: code, detail: `${code} crashed (coordinator ${c.state})` })
      // INITIAL: nothing was prepared, so the transaction is certainly aborted; WAIT: the outcome is not known yet
      if (c.m.phase === 'INITIAL') this.k.finishTxn(c, 'ABORT', `coordinator ${code} crashed`)
      else if (c.m.phase === 'WAIT') this.k.finishTxn(c, 'UNKNOWN', `coordinator ${code} crashed while waiting for votes`)
      // COMMIT decided but its log record not yet stable (group commit): the application was not told; it cannot be now
      else if (c.m.phase === 'COMMIT' && c.onDone) this.k.finishTxn(c, 'UNKNOWN', `coordinator ${code} crashed before its COMMIT record was stable`)
    }
    s.coords.clear()
    s.outcomes.clear()
    s.heuristics.clear()
  }

  /** Local recovery from the log, then resolution of in-doubt transactions. */
  onRestart(code: string): void {
    const s = this.k.sites.get(code)
    if (!s) return
    this.recover(s, 'restart')
  }

  /** Rebuilds a site's transaction state from its durable log (after a restart, or on reopening a data directory). */
  recover(s: SiteRt, why: string): void {
    const code = s.code
    if (!this.k.up(code)) return
    for (const r of s.log.records()) {
      // gids are never reused: continue the origin's sequence after the logged ones
      const [o, n] = r.gid.split('-')
      if (o === code && Number(n) > s.seq) s.seq = Number(n)
    }
    const ready = new Map<string, TxnLogRecord>()
    // prepared work decided here (its READY record, then COMMIT / ABORT / HEURISTIC): what the decision was
    const decided = new Map<string, { d: Decision; ready: TxnLogRecord }>()
    const coordOpen = new Map<string, TxnLogRecord>()
    for (const r of s.log.records()) {
      if (r.role === 'part') {
        if (r.type === 'READY') ready.set(r.gid, r)
        else if (r.type === 'RO') this.k.remember(s, r.gid, 'RO')
        else {
          const rd = ready.get(r.gid)
          if (r.type === 'HEURISTIC') s.heuristics.set(r.gid, { decision: r.decision!, coord: rd?.coord ?? r.gid.split('-')[0] })
          if (rd) decided.set(r.gid, { d: (r.decision ?? r.type) as Decision, ready: rd })
          ready.delete(r.gid)
          this.k.remember(s, r.gid, (r.decision ?? r.type) as Decision)
        }
      } else {
        if (r.type === 'WAIT' || r.type === 'COMMIT' || (r.type === 'ABORT' && r.participants?.length)) coordOpen.set(r.gid, r)
        if (r.type === 'COMMIT') this.k.remember(s, r.gid, 'COMMIT')
        if (r.type === 'END' || (r.type === 'ABORT' && !r.participants?.length)) coordOpen.delete(r.gid)
        if (r.type === 'ABORT') this.k.remember(s, r.gid, 'ABORT')
      }
    }
    // a site that is a database server holds its prepared work itself. Prepared there and decided here (the
    // decision was logged, the crash came before COMMIT / ROLLBACK PREPARED): the decision is carried out now.
    // Prepared there with no record here at all: never voted for (a crash between PREPARE TRANSACTION and the
    // READY force): presumed abort. A READY record: in doubt, finished by the protocol (below).
    if (s.store.prepared) {
      let held: string[] = []
      try { held = s.store.prepared() } catch (e) {
        this.k.cluster.log('recovery', `${code}: the server's prepared transactions could not be read (${e instanceof Error ? e.message : String(e)}); those decided here are finished when it answers`, code)
      }
      for (const gid of held) {
        if (ready.has(gid)) continue
        const dd = decided.get(gid)
        if (dd) {
          this.tpc.settleRecovered(s, gid, dd.d, dd.ready.writes ?? [])
          this.k.cluster.log('recovery', `${code}: ${gid} was still prepared at the server after its ${dd.d} was logged here; ${dd.d === 'COMMIT' ? 'committed' : 'rolled back'} now`, code)
          continue
        }
        this.tpc.settleRecovered(s, gid, 'ABORT', [])
        this.k.cluster.log('recovery', `${code}: ${gid} was prepared at the server but never voted for here; rolled back`, code)
      }
    }
    for (const r of ready.values()) {
      const m = this.tpc.recoverPart(r.gid, code, r.coord!, (r.protocol as Protocol) ?? 'centralized', r.participants ?? [])
      const sub: Sub = {
        gid: r.gid, site: code, coord: r.coord!, startAt: r.startAt ?? r.at, m, state: 'READY', writes: new Map((r.writes ?? []).map((w) => [`${w.table}:${w.key}`, w])),
        busy: false, stmts: [], lastActivity: this.k.now, termRound: 0, readyAt: r.at,
        // the server keeps it prepared (the decision finishes it there; if it was lost, the READY record redoes it)
        ...(s.store.prepare ? { prepared: true } : {}),
      }
      s.subs.set(r.gid, sub)
      this.k.recoveredInfo(r.gid, r.coord!, r.protocol as Protocol, r.startAt ?? r.at).sites[code] = 'READY'
      for (const l of r.locks ?? []) s.locks.install(r.gid, l.resource, l.mode)
      if (this.k.tlOn) this.k.note(r.gid, { kind: 'state', site: code, detail: 'recovered READY from the log: in doubt, locks re-acquired' })
      sub.timer = this.k.at(s, 1, 'txn.readyTimeout', () => this.tpc.readyTimeout(s, sub))
    }
    for (const r of coordOpen.values()) {
      const logged = r.type === 'COMMIT' || r.type === 'ABORT' ? r.type : 'WAIT'
      const protocol = (r.protocol as Protocol) ?? 'centralized'
      // until the machine is rebuilt from the record (at once for a decision, a moment later for WAIT): no new work
      const c: Coord = {
        gid: r.gid, origin: code, startAt: r.startAt ?? r.at, m: { ...this.tpc.M.newCoord(r.gid, code, protocol, r.participants ?? []), phase: 'WAIT' }, state: logged,
        pending: 0, execCbs: new Map(),
      }
      s.coords.set(r.gid, c)
      const ri = this.k.recoveredInfo(r.gid, code, protocol, c.startAt)
      ri.coordState = c.state
      for (const p of c.m.participants) ri.sites[p] ??= 'READY'
      if (this.k.tlOn) this.k.note(r.gid, { kind: 'state', site: code, detail: `recovered coordinator ${c.state} from the log` })
      if (logged !== 'WAIT') this.tpc.recoverCoord(s, c, logged)
      else c.timer = this.k.at(s, 1, 'txn.voteTimeout', () => { if (s.coords.get(c.gid) === c) this.tpc.recoverCoord(s, c, 'WAIT') })
    }
    for (const gid of s.heuristics.keys()) this.tpc.heuristicInquiry(s, gid)
    this.k.cluster.log('recovery', `${code} transaction recovery (${why}): ${ready.size} in doubt, ${coordOpen.size} coordinator record(s) reopened`, code)
  }

}
