/**
 * The DTM's executor: a transaction's statements at their sites under strict two-phase locking. A
 * fragment-level statement is compiled (stmt.ts), takes its locks (IS/IX on the table, S/X on the rows it
 * names, S/X on the table when it names none), and runs over the site's committed rows overlaid with the
 * sub-transaction's own buffered after-images; nothing reaches the store before the commit (twopc/runtime.ts
 * applies the after-images once the participant machine is in COMMIT). A global statement is localized with
 * the DQP's catalog (global.ts) into such operations. The DIM's row rules run on every write, its key and
 * foreign-key checks as reads of the same transaction (engine/integrity).
 */
import { EngineError, toErrorInfo, type ErrorInfo } from '../errors'
import type { LockMode } from './lock'
import type { Row } from './store'
import { checkRow, duplicateKey, imagesNeeded, type RowChange } from '../integrity/dim'
import type { DimRow } from '../integrity/constraints'
import { Dim } from '../integrity'
import { checkInTxn } from '../integrity/txn'
import { runGlobal, type OpOptions, type PreParsed } from './global'
import { QueryCatalog } from '../query/catalog'
import { compile, template, type Compiled, type Val } from './stmt'
import type { RequestClass } from '../api/query'
import type { Protocol, TxnInfo } from '../api/txn'
import type { Coord, ExecResult, SiteRt, Sub, TxnKernel } from './kernel'
import type { TwoPcRuntime } from './twopc/runtime'
import type { DeadlockDetector } from './deadlock'

export class Executor {
  private execSeq = 0
  constructor(private readonly k: TxnKernel, private readonly tpc: TwoPcRuntime, private readonly dl: DeadlockDetector) {}

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
    const { s, c } = this.k.coordOf(gid)
    const fail = (e: unknown) => cb({ ok: false, error: toErrorInfo(e), site, sql, at: this.k.now })
    if (c.m.phase !== 'INITIAL') return fail(new EngineError('CONFLICT', `transaction ${gid} is ${c.m.phase}`))
    try {
      const t = template(sql)
      if (t.params !== params.length) throw new EngineError('BAD_INPUT', `statement has ${t.params} parameter(s), ${params.length} given`)
      this.k.rt(site)
    } catch (e) { return this.statementRefused(c, site, sql, e, cb) }
    // a site that already has work of this transaction must still hold it (see onExec: a crash in INITIAL loses it)
    const again = c.m.participants.includes(site)
    if (!again) this.tpc.M.coordEnlist(c.m, site)
    c.pending++
    const id = ++this.execSeq
    const info = this.k.info.get(gid)
    const stmtRec = { site, sql, at: this.k.now } as TxnInfo['statements'][number]
    info?.statements.push(stmtRec)
    const timer = this.k.at(s, this.k.opts.execTimeoutMs, 'txn.execTimeout', () => {
      if (!c.execCbs.has(id)) return
      if (this.k.tlOn) this.k.note(gid, { kind: 'timeout', site: s.code, detail: `no result from ${site}` })
      this.k.finishExec(c, id, { ok: false, error: { code: 'TIMEOUT', message: `statement at ${site} timed out` }, site, sql, at: this.k.now })
      this.tpc.globalAbort(s, c, `statement at ${site} timed out`)
    })
    const done = (r: ExecResult) => { stmtRec.ok = r.ok; stmtRec.error = r.error?.message; stmtRec.rows = r.rows?.length ?? r.affected; if (top && info) this.countUnit(info, [site], isWriteSql(sql)); cb(r) }
    c.execCbs.set(id, { cb: (r) => (top ? this.dimThen(c, r.changes, r, done) : done(r)), timer, site, sql })
    // an eager replica operation carries the primary copy's last change batch for this replica (its fence): the
    // coordinator learnt it with the primary copy's result, the replica applies up to it before it runs the operation
    const fence = opts?.fenceFrom ? { origin: opts.fenceFrom, seq: this.k.cluster.replication.fenceSeq(opts.fenceFrom, site) } : undefined
    this.k.send(s.code, site, 'txn.exec', gid, 48 + sql.length + params.length * 8 + (fence ? 8 : 0), () => this.onExec(this.k.rt(site), gid, c.origin, c.startAt, c.m.topology, sql, params, id, again, fence), () => this.readAhead(site, sql, params))
  }

  /**
   * As a statement leaves for a site whose store reads from a server (TxnStore.readAhead: a live site), the rows
   * it names by key are read there at once: the servers of one transaction's statements then read at the same
   * time instead of one after the other as each statement arrives. The participant still locks, then reads
   * (get() waits for the read sent ahead, or reads again if anything was written through that store since).
   * Statements without keys, and anything that does not compile, are left to the participant.
   */
  private readAhead(site: string, sql: string, params: Val[]): void {
    const store = this.k.rt(site).store
    if (!store.readAhead || !this.k.up(site)) return
    try {
      const t = template(sql)
      const table = store.resolveTable(t.table)
      const kc = store.keyColumn(table)
      const st = compile(t, table, kc, store.columns?.(table), sql)
      const keys = st.kind === 'insert' ? (kc ? [...new Set(st.rows!(params).map((r) => String(r[kc])))] : undefined) : st.keys(params)
      if (keys?.length) store.readAhead(table, keys)
    } catch { /* refused at the participant, with its reason */ }
  }

  /**
   * A global statement (global relation or fragment names) inside transaction `gid`: localized with the
   * DQP's catalog into fragment-level operations (see global.ts), run one after the other as operations
   * of the sub-transactions at their sites (strict 2PL: S locks for reads, X for writes). The result
   * unions the rows / sums the counts; the first failing operation fails the statement (and, as for any
   * failed operation, the transaction is aborted).
   */
  execGlobal(gid: string, sql: string, params: Val[] = [], cb: (r: ExecResult) => void = () => {}, pre?: PreParsed): void {
    const { c } = this.k.coordOf(gid)
    const fail = (e: unknown, site = c.origin) => cb({ ok: false, error: toErrorInfo(e), site, sql, at: this.k.now })
    if (c.m.phase !== 'INITIAL') return fail(new EngineError('CONFLICT', `transaction ${gid} is ${c.m.phase}`))
    const info = this.k.info.get(gid)
    const changes: RowChange[] = []
    const host = { origin: c.origin, isUp: (x: string) => this.k.up(x) && (x === c.origin || !!this.k.cluster.net.route(c.origin, x)), exec: (site: string, op: string, k: (r: ExecResult) => void, o?: OpOptions) => this.execOp(gid, site, op, [], (r) => { if (r.changes) changes.push(...r.changes); k(r) }, false, o) }
    runGlobal(this.catalog, host, sql, params, (r0) => this.dimThen(c, r0.ok ? changes : undefined, r0, (r) => {
      const loc = r.localized
      const sites = [...new Set((loc?.ops ?? []).map((o) => o.site))]
      // a site that cannot be reached fails the transaction like a statement that fails there; other refusals
      // (the statement is not accepted) abort nothing
      const unreachable = r.error?.code === 'UNREACHABLE' || r.error?.code === 'SITE_DOWN'
      if (!r.ok && !loc?.ops.length && !unreachable) { this.recordRefused(gid, c.origin, sql, r.error ?? new EngineError('INTERNAL', 'refused')); return cb({ ok: false, error: r.error, site: c.origin, sql, at: this.k.now, localized: loc }) }
      // the fragment-level operations are the transaction's statements; the global statement is what the class counts
      if (info) this.countUnit(info, sites, loc?.kind !== 'select')
      if (!r.ok) {
        // a statement is atomic: when it fails after some of its operations ran, the transaction is aborted
        // (as when one of its operations fails at a site)
        const o = this.k.sites.get(c.origin)
        if (o && o.coords.get(gid) === c && c.m.phase === 'INITIAL') this.tpc.globalAbort(o, c, `${sql.slice(0, 80)}: ${r.error?.message ?? 'failed'}`)
      }
      cb({ ok: r.ok, site: sites.join(',') || c.origin, sql, at: this.k.now, localized: loc, ...(r.error ? { error: r.error } : {}), ...(r.rows ? { rows: r.rows } : {}), ...(r.affected !== undefined ? { affected: r.affected } : {}) })
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
      reachable: (x: string) => this.k.up(x) && (x === c.origin || !!this.k.cluster.net.route(c.origin, x)),
      read: (site: string, sql: string, params: Val[], k: (x: ExecResult) => void) => this.execOp(c.gid, site, sql, params, k, false),
      gid: c.gid, locks: (x: string) => this.k.rt(x).locks,
      wrote: (x: string, table: string) => !!this.k.info.get(c.gid)?.statements.some((st) => { try { return st.site === x && template(st.sql).kind !== 'select' && template(st.sql).table.toUpperCase() === table.toUpperCase() } catch { return st.site === x } }),
      lockTimeoutMs: this.k.opts.lockTimeoutMs, answerTimeoutMs: this.k.opts.execTimeoutMs,
      // a lookup that waits for a lock is an edge of the wait-for graph: the global detector must run
      onWait: () => { if (this.k.opts.scheme === 'detect') this.dl.ensureDetector() },
    }
    checkInTxn(this.k.cluster, reader, changes, (e) => {
      // the transaction may have been aborted meanwhile (a deadlock victim, a timeout elsewhere)
      const err = e ?? (c.m.phase !== 'INITIAL' ? { code: 'ABORTED' as const, message: `transaction ${c.gid} was aborted during its integrity check` } : undefined)
      if (!err) return cb(r)
      const o = this.k.sites.get(c.origin)
      if (o && o.coords.get(c.gid) === c && c.m.phase === 'INITIAL') this.tpc.globalAbort(o, c, err.message)
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
    cb({ ok: false, error: toErrorInfo(e), site, sql, at: this.k.now })
  }

  /** Records a statement of an active transaction refused before the DTM saw it (e.g. by the security manager). */
  recordRefused(gid: string, site: string, sql: string, e: unknown): void {
    const c = this.k.sites.get(gid.split('-')[0])?.coords.get(gid)
    if (c?.state === 'INITIAL') this.k.info.get(gid)?.statements.push({ site, sql, at: this.k.now, ok: false, error: toErrorInfo(e).message })
  }

  private cat?: QueryCatalog
  private get catalog(): QueryCatalog { return (this.cat ??= new QueryCatalog(this.k.cluster.topology)) }

  // ---- participant: statements --------------------------------------------------------------
  private onExec(s: SiteRt, gid: string, coord: string, startAt: number, protocol: Protocol, sql: string, params: Val[], id: number, again = false, fence?: { origin: string; seq: number }): void {
    const reply = (r: { rows?: Row[]; affected?: number; error?: ErrorInfo; changes?: RowChange[] }) => {
      this.k.send(s.code, coord, 'txn.execResult', gid, 32 + (r.rows ? r.rows.length * 64 : 0) + (r.changes ? r.changes.length * 64 : 0), () => {
        const cs = this.k.rt(coord).coords.get(gid)
        if (!cs) return
        const res: ExecResult = { ok: !r.error, site: s.code, sql, at: this.k.now, ...(r.rows ? { rows: r.rows } : {}), ...(r.affected !== undefined ? { affected: r.affected } : {}), ...(r.error ? { error: r.error } : {}), ...(r.changes && !r.error ? { changes: r.changes } : {}) }
        this.k.finishExec(cs, id, res)
        if (r.error && cs.state === 'INITIAL') this.tpc.globalAbort(this.k.rt(coord), cs, `${s.code}: ${r.error.message}`)
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
    if (sub && (sub.m.phase !== 'INITIAL' || sub.busy)) return reply({ error: { code: 'CONFLICT', message: `${gid} is ${sub.state} at ${s.code}`, site: s.code } })
    if (!sub) {
      sub = { gid, site: s.code, coord, startAt, m: this.tpc.M.newPart(gid, s.code, coord, protocol, []), state: 'INITIAL', writes: new Map(), busy: false, stmts: [], lastActivity: this.k.now, termRound: 0 }
      s.subs.set(gid, sub)
      const i = this.k.info.get(gid)
      if (i) i.sites[s.code] = 'INITIAL'
      if (this.k.tlOn) this.k.note(gid, { kind: 'state', site: s.code, detail: 'participant INITIAL' })
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
    sub.lastActivity = this.k.now
    this.k.cluster.sim.cancel(sub.timer)
    const theSub = sub
    theSub.pendingReply = (r) => { theSub.busy = false; theSub.pendingReply = undefined; reply(r) }
    const go = () => this.lockSeq(s, theSub, reqs, 0, sql, () => {
      theSub.waitingSql = undefined
      let res: { rows?: Row[]; affected?: number; error?: ErrorInfo; changes?: RowChange[] }
      try { res = this.run(s, theSub, st, params, table, keys) } catch (e) { res = { error: { ...toErrorInfo(e), site: s.code } } }
      // an eager delete's part at a replica: its deletes are let through by replica control at the commit
      if (fence && !res.error) for (const w of theSub.writes.values()) if (w.table === table && w.row === null) w.replica = true
      theSub.lastActivity = this.k.now
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
    const deadline = this.k.now + this.k.opts.lockTimeoutMs
    const check = (): void => {
      if (s.subs.get(sub.gid) !== sub || !sub.pendingReply) return
      let applied: number
      try { applied = this.k.cluster.replication.appliedSeq(fence.origin, s.code) } catch { applied = -1 }
      if (applied >= fence.seq) return go()
      if (this.k.now >= deadline) {
        sub.pendingReply({ error: { code: 'TIMEOUT', message: `${table} at ${s.code} has applied ${fence.origin}'s changes up to ${applied}, not yet up to ${fence.seq} (the last before the delete) after ${this.k.opts.lockTimeoutMs} ms: the eager delete cannot run there yet; nothing was deleted`, site: s.code } })
        return
      }
      if (this.k.tlOn && !noted) this.k.note(sub.gid, { kind: 'note', site: s.code, detail: `waits for ${table} to apply ${fence.origin}'s changes up to ${fence.seq}` })
      noted = true
      this.k.at(s, 5, 'txn.fence', check)
    }
    let noted = false
    check()
  }

  private armInitialTimer(s: SiteRt, sub: Sub): void {
    this.k.cluster.sim.cancel(sub.timer)
    sub.timer = this.k.at(s, this.k.opts.initialTimeoutMs, 'txn.initialTimeout', () => {
      if (s.subs.get(sub.gid) !== sub || sub.m.phase !== 'INITIAL' || sub.busy) return
      if (this.k.tlOn) this.k.note(sub.gid, { kind: 'timeout', site: s.code, detail: 'participant INITIAL timed out → local abort' })
      this.tpc.abortFromSite(s, sub.gid, 'participant timed out in INITIAL')
    })
  }

  private lockSeq(s: SiteRt, sub: Sub, reqs: [string, LockMode][], i: number, sql: string, done: () => void): void {
    for (; i < reqs.length; i++) {
      const [res, mode] = reqs[i]
      const next = i + 1
      const granted = s.locks.acquire(sub.gid, res, mode, () => {
        this.k.cluster.sim.cancel(sub.lockTimer)
        if (s.subs.get(sub.gid) !== sub) return
        this.lockSeq(s, sub, reqs, next, sql, done)
      }, this.k.now)
      if (granted) continue
      sub.waitingSql = sql
      if (this.k.tlOn) this.k.note(sub.gid, { kind: 'note', site: s.code, detail: `waits for ${mode} lock on ${res}` })
      sub.lockTimer = this.k.at(s, this.k.opts.lockTimeoutMs, 'txn.lockTimeout', () => {
        if (s.subs.get(sub.gid) !== sub || !s.locks.isWaiting(sub.gid)) return
        if (this.k.tlOn) this.k.note(sub.gid, { kind: 'timeout', site: s.code, detail: `lock timeout on ${res}` })
        this.tpc.abortFromSite(s, sub.gid, `lock timeout on ${res} at ${s.code}`, 'TIMEOUT')
      })
      this.dl.onWait(s, sub)
      return
    }
    done()
  }

  /** Runs a compiled fragment-level statement over the committed rows overlaid with the sub-transaction's own writes. */
  /** Whether the DIM's row rules apply (engine/integrity; off while a cluster loads its data, or when switched off). */
  private get dimOn(): boolean { return this.k.cluster.ready && Dim.of(this.k.cluster).enabled }

  private run(s: SiteRt, sub: Sub, st: Compiled, params: readonly Val[], table: string, keys: string[] | undefined): { rows?: Row[]; affected?: number; changes?: RowChange[] } {
    const rec = this.k.opts.recordHistory
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
    const hist = (k: string, op: 'r' | 'w') => { if (rec) this.k.history.push({ gid: sub.gid, site: s.code, item: `${s.code}.${table}:${k}`, op }) }
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
          if (this.dimOn) checkRow(this.k.cluster.topology, table, s.code, nr as DimRow, { predicate: !st.returning })
          changed.push([k, nr])
        }
        const cols = st.sets!.map((a) => a.col)
        // the images the DIM's key and foreign-key checks need (before the new ones are buffered over the old)
        const changes = this.dimOn && changed.length && imagesNeeded(this.k.cluster.topology, table, 'update', cols) ? changed.map(([k, nr]): RowChange => ({ fragment: table, site: s.code, before: read(k) as DimRow, after: nr as DimRow })) : undefined
        for (const [k, nr] of changed) put(k, nr, cols)
        const res = st.returning ? { affected: changed.length, rows: changed.map(([, r]) => ({ ...r })) } : { affected: changed.length }
        return changes ? { ...res, changes } : res
      }
      case 'delete': {
        let n = 0
        const changes: RowChange[] | undefined = this.dimOn && imagesNeeded(this.k.cluster.topology, table, 'delete') ? [] : undefined
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
          if (this.dimOn) checkRow(this.k.cluster.topology, table, s.code, r as DimRow)
          if (seen.has(k) || read(k)) throw (this.dimOn && duplicateKey(this.k.cluster.topology, table, s.code, r as DimRow, kc)) || new EngineError('CONFLICT', `duplicate key ${k} in ${table}`, { site: s.code })
          seen.add(k)
        }
        for (const r of news) put(String(r[kc]), r)
        if (rec) hist('*', 'w')
        if (this.dimOn && imagesNeeded(this.k.cluster.topology, table, 'insert')) return { affected: news.length, changes: news.map((r): RowChange => ({ fragment: table, site: s.code, before: null, after: r as DimRow })) }
        return { affected: news.length }
      }
    }
  }

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
