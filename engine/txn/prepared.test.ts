/**
 * The DTM over sites whose store keeps its own prepared transactions (TxnStore.prepare / commitPrepared /
 * rollbackPrepared / prepared: what PostgreSQL's PREPARE TRANSACTION gives a live site), with a store in memory
 * that behaves like such a server: prepared after-images are held aside, invisible to reads, until
 * COMMIT PREPARED; a ROLLBACK PREPARED drops them; they survive a crash of the site. Every call is recorded
 * beside the 2PC log records, so the tests check the order the runtime promises: PREPARE TRANSACTION before
 * READY is forced, the decision finished at the server exactly once, nothing applied by apply() behind the
 * server's back, and recovery's presumed abort for work the server holds prepared without a READY record.
 * All three topologies.
 */
import { describe, expect, it } from 'vitest'
import { Cluster } from '../cluster'
import { EngineError } from '../errors'
import { Dtm, type Protocol } from './dtm'
import type { TxnLogRecord, TxnWrite } from './log'
import { MemoryStore, type PreparedOutcome } from './store'
import { STOCK_TABLE, advanceExactly, transfer, type TransferOutcome } from './testkit'

const PROTOCOLS: Protocol[] = ['centralized', 'linear', 'distributed']

/** A store in memory with two-phase commit of its own, recording every call into a shared event list. */
class PreparedStore extends MemoryStore {
  /** Prepared and not yet finished: gid → its after-images (kept aside, as the server's state files are). */
  readonly held = new Map<string, TxnWrite[]>()
  /** Gids committed here (the server's commit markers). */
  readonly committed = new Set<string>()
  /** Set: prepare refuses with this message (the vote is then no). */
  refuse?: string
  /** Called once a prepare has made its work durable (a test crashes the site here). */
  afterPrepare?: (gid: string) => void
  /** Set: the server cannot be reached for COMMIT / ROLLBACK PREPARED or the prepared list (its connection is down). */
  unreachable = false

  constructor(readonly site: string, private readonly events: string[]) { super() }

  prepare(gid: string, writes: readonly TxnWrite[]): void {
    this.events.push(`prepare ${this.site} ${gid}`)
    if (this.held.has(gid) || this.committed.has(gid)) throw new EngineError('CONFLICT', `${gid} is already prepared or committed at ${this.site}`)
    if (this.refuse) throw new EngineError('CONSTRAINT_VIOLATION', this.refuse)
    for (const w of writes) this.resolveTable(w.table)
    this.held.set(gid, writes.map((w) => ({ ...w, row: w.row ? { ...w.row } : null })))
    this.afterPrepare?.(gid)
  }

  private reach(op: string): void { if (this.unreachable) { this.events.push(`${op} ${this.site} unreachable`); throw new EngineError('UNREACHABLE', `${this.site}'s server cannot be reached`) } }

  commitPrepared(gid: string): PreparedOutcome {
    this.reach('commitPrepared')
    const w = this.held.get(gid)
    let r: PreparedOutcome
    if (w) {
      this.held.delete(gid)
      super.apply(w)
      this.committed.add(gid)
      r = 'committed'
    } else r = this.committed.has(gid) ? 'already-committed' : 'absent'
    this.events.push(`commitPrepared ${this.site} ${gid} ${r}`)
    return r
  }

  rollbackPrepared(gid: string): PreparedOutcome {
    this.reach('rollbackPrepared')
    const r: PreparedOutcome = this.held.delete(gid) ? 'rolled-back' : this.committed.has(gid) ? 'already-committed' : 'absent'
    this.events.push(`rollbackPrepared ${this.site} ${gid} ${r}`)
    return r
  }

  prepared(): string[] { this.reach('prepared'); return [...this.held.keys()] }

  /** After-images given directly (a store without 2PC, or the redo of work the server lost). */
  apply(writes: readonly TxnWrite[]): void {
    this.events.push(`apply ${this.site} ${writes.map((w) => w.key).join(',')}`)
    super.apply(writes)
  }
}

interface Rig {
  cluster: Cluster
  dtm: Dtm
  stores: Record<string, PreparedStore>
  /** Store calls and stable 2PC log records, in order: `prepare KDY CMB-1`, `log KDY part READY CMB-1`, … */
  events: string[]
  qty(site: string, item?: string): number
}

function rig(protocol: Protocol, seed = 7): Rig {
  const events: string[] = []
  const cluster = new Cluster({ seed })
  const onLog = (site: string, r: TxnLogRecord, forced: boolean) => { if (forced || r.type !== 'END') events.push(`log ${site} ${r.role} ${r.type} ${r.gid}`) }
  const dtm = new Dtm(cluster, { protocol, onLog })
  const stores: Record<string, PreparedStore> = {}
  for (const site of cluster.siteCodes) {
    const st = new PreparedStore(site, events)
    st.createTable(STOCK_TABLE[site] ?? `Stock_${site}`, 'STOCKCODE', ['S001', 'S002'].map((code, i) => ({ STOCKCODE: code, ITEMNO: i + 1, QTY: 100 })))
    dtm.setStore(site, st)
    stores[site] = st
  }
  return { cluster, dtm, stores, events, qty: (site, item = 'S001') => Number(stores[site].get(STOCK_TABLE[site], item)?.QTY) }
}

function run(r: Rig, from = 'CMB', to = 'KDY', origin = 'CMB', qty = 5): TransferOutcome {
  const out: TransferOutcome[] = []
  transfer(r.dtm, { origin, from, to, item: 'S001', qty }, (o) => out.push(o))
  r.cluster.sim.runUntilTrue(() => out.length === 1, 200_000)
  expect(out).toHaveLength(1)
  return out[0]
}

/** Heals every site and runs until nothing is left open anywhere (no sub-transaction, coordinator record or lock). */
function settle(r: Rig): void {
  for (const s of r.cluster.siteCodes) if (!r.cluster.isSiteUp(s)) r.cluster.restoreSite(s)
  r.cluster.sim.runUntilTrue(() => { const s = r.dtm.summary(); return s.active + s.inDoubt + s.coordinators + s.locks === 0 }, 200_000)
  expect(r.dtm.summary()).toMatchObject({ active: 0, inDoubt: 0, coordinators: 0, locks: 0 })
}

const calls = (r: Rig, op: string, site?: string) => r.events.filter((e) => e.startsWith(`${op} `) && (!site || e.split(' ')[1] === site))
const logIdx = (r: Rig, site: string, type: string, gid: string) => r.events.indexOf(`log ${site} part ${type} ${gid}`)

describe.each(PROTOCOLS)('a DTM whose sites keep their own prepared transactions (%s 2PC)', (protocol) => {
  it('a two-site transfer: PREPARE at both participants before their READY record, invisible until COMMIT PREPARED at both, then visible; apply() never used', () => {
    const r = rig(protocol)
    // the moment the coordinator's COMMIT record is stable, the work is prepared at both servers and not visible
    let atDecision: { held: string[][]; qty: number[] } | undefined
    const onLog = r.dtm.opts.onLog!
    r.dtm.opts.onLog = (site, rec, forced) => {
      onLog(site, rec, forced)
      if (rec.role === 'coord' && rec.type === 'COMMIT') atDecision = { held: [r.stores.CMB.prepared(), r.stores.KDY.prepared()], qty: [r.qty('CMB'), r.qty('KDY')] }
    }
    const o = run(r)
    expect(o.outcome).toBe('COMMIT')
    const gid = o.gid!
    for (const site of ['CMB', 'KDY']) {
      expect(calls(r, 'prepare', site)).toEqual([`prepare ${site} ${gid}`])
      expect(logIdx(r, site, 'READY', gid)).toBeGreaterThan(r.events.indexOf(`prepare ${site} ${gid}`))
    }
    expect(atDecision).toEqual({ held: [[gid], [gid]], qty: [100, 100] })
    settle(r)
    for (const site of ['CMB', 'KDY']) {
      expect(calls(r, 'commitPrepared', site)).toEqual([`commitPrepared ${site} ${gid} committed`])
      // COMMIT PREPARED follows the participant's COMMIT record (write-ahead)
      expect(r.events.indexOf(`commitPrepared ${site} ${gid} committed`)).toBeGreaterThan(logIdx(r, site, 'COMMIT', gid))
      expect(r.stores[site].prepared()).toEqual([])
    }
    expect(calls(r, 'apply')).toEqual([])
    expect(calls(r, 'rollbackPrepared')).toEqual([])
    expect(calls(r, 'prepare', 'MBI')).toEqual([])
    expect([r.qty('CMB'), r.qty('KDY'), r.qty('MBI')]).toEqual([95, 105, 100])
    expect(r.qty('CMB', 'S002') + r.qty('KDY', 'S002')).toBe(200)
  })

  for (const refusing of ['KDY', 'CMB']) {
    it(`a server that refuses PREPARE (${refusing}) votes no: ABORT, nothing applied anywhere, the other participant's prepared work rolled back`, () => {
      const r = rig(protocol)
      r.stores[refusing].refuse = 'check constraint "qty_not_negative" is violated'
      const o = run(r)
      expect(o.outcome).toBe('ABORT')
      const gid = o.gid!
      settle(r)
      const other = refusing === 'KDY' ? 'CMB' : 'KDY'
      // the refusing site voted no: it never forced READY and holds nothing to roll back
      expect(logIdx(r, refusing, 'READY', gid)).toBe(-1)
      expect(calls(r, 'rollbackPrepared', refusing)).toEqual([])
      expect(o.reason).toMatch(new RegExp(`${refusing} voted no`))
      // the other one rolled back exactly what it had prepared (in a linear chain it may never have been asked)
      const prepared = calls(r, 'prepare', other).length
      expect(prepared).toBeLessThanOrEqual(1)
      expect(calls(r, 'rollbackPrepared', other)).toEqual(prepared ? [`rollbackPrepared ${other} ${gid} rolled-back`] : [])
      expect(calls(r, 'commitPrepared')).toEqual([])
      expect(calls(r, 'apply')).toEqual([])
      for (const s of ['CMB', 'KDY', 'MBI']) { expect(r.qty(s)).toBe(100); expect(r.stores[s].prepared()).toEqual([]) }
      // the refusal used nothing up: the next transfer commits
      r.stores[refusing].refuse = undefined
      expect(run(r).outcome).toBe('COMMIT')
      settle(r)
      expect([r.qty('CMB'), r.qty('KDY')]).toEqual([95, 105])
    })
  }

  it('a participant crashed at READY (its vote lost): recovered in doubt, still prepared at the server, ABORT finished with ROLLBACK PREPARED exactly once', () => {
    const r = rig(protocol)
    r.dtm.crashAt('KDY', 'ready', { restartAfterMs: 4000 })
    const o = run(r)
    expect(o.outcome).toBe('ABORT')
    const gid = o.gid!
    expect(r.cluster.isSiteUp('KDY')).toBe(false)
    expect(r.stores.KDY.prepared()).toEqual([gid]) // the server keeps it through the site's crash
    r.cluster.sim.runUntilTrue(() => r.cluster.isSiteUp('KDY'), 200_000)
    expect(r.dtm.inDoubt().map((d) => [d.gid, d.site])).toEqual([[gid, 'KDY']])
    settle(r)
    expect(calls(r, 'rollbackPrepared', 'KDY')).toEqual([`rollbackPrepared KDY ${gid} rolled-back`])
    expect(calls(r, 'commitPrepared')).toEqual([])
    expect(calls(r, 'apply')).toEqual([])
    for (const s of ['CMB', 'KDY']) { expect(r.qty(s)).toBe(100); expect(r.stores[s].prepared()).toEqual([]) }
  })

  it('a participant crashed after its vote went out: the coordinator decides COMMIT; the site recovers in doubt and finishes with COMMIT PREPARED exactly once', () => {
    const r = rig(protocol)
    r.dtm.crashAt('KDY', 'vote')
    const o = run(r)
    const gid = o.gid!
    expect(o.outcome).toBe('COMMIT')
    expect(r.cluster.isSiteUp('KDY')).toBe(false)
    // the coordinator keeps re-sending COMMIT; KDY's server still holds the work prepared, invisible
    advanceExactly(r.cluster, 5000)
    expect(r.stores.KDY.prepared()).toEqual([gid])
    expect(r.qty('KDY')).toBe(100)
    r.cluster.restoreSite('KDY')
    expect(r.dtm.inDoubt().map((d) => [d.gid, d.site])).toEqual([[gid, 'KDY']])
    settle(r)
    expect(calls(r, 'commitPrepared', 'KDY')).toEqual([`commitPrepared KDY ${gid} committed`])
    expect(calls(r, 'commitPrepared', 'CMB')).toEqual([`commitPrepared CMB ${gid} committed`])
    expect(calls(r, 'rollbackPrepared')).toEqual([])
    expect(calls(r, 'apply')).toEqual([])
    expect([r.qty('CMB'), r.qty('KDY')]).toEqual([95, 105])
  })

  it('the coordinator crashed after deciding COMMIT: both participants in doubt, prepared at their servers; its restart finishes both with COMMIT PREPARED exactly once', () => {
    const r = rig(protocol)
    r.dtm.crashAt('MBI', 'decide')
    const out: TransferOutcome[] = []
    transfer(r.dtm, { origin: 'MBI', from: 'CMB', to: 'KDY', item: 'S001', qty: 5 }, (x) => out.push(x))
    r.cluster.sim.runUntilTrue(() => !r.cluster.isSiteUp('MBI'), 200_000)
    advanceExactly(r.cluster, 5000)
    const gid = r.dtm.inDoubt()[0]?.gid
    expect(r.dtm.inDoubt().map((d) => [d.gid, d.site])).toEqual([[gid, 'CMB'], [gid, 'KDY']].sort((a, b) => a[1] < b[1] ? -1 : 1))
    expect([r.stores.CMB.prepared(), r.stores.KDY.prepared()]).toEqual([[gid], [gid]])
    settle(r)
    for (const site of ['CMB', 'KDY']) expect(calls(r, 'commitPrepared', site)).toEqual([`commitPrepared ${site} ${gid} committed`])
    expect(calls(r, 'rollbackPrepared')).toEqual([])
    expect([r.qty('CMB'), r.qty('KDY')]).toEqual([95, 105])
  })

  it('a server that lost the prepared transaction while the site was down: COMMIT redoes the after-images from the READY record', () => {
    const r = rig(protocol)
    r.dtm.crashAt('KDY', 'vote')
    const o = run(r)
    const gid = o.gid!
    expect(o.outcome).toBe('COMMIT')
    // e.g. the server was restored from a backup taken before the PREPARE
    r.stores.KDY.held.delete(gid)
    settle(r)
    expect(calls(r, 'commitPrepared', 'KDY')).toEqual([`commitPrepared KDY ${gid} absent`])
    expect(calls(r, 'apply', 'KDY')).toEqual(['apply KDY S001'])
    expect(r.cluster.events.some((l) => l.message.includes(`${gid}: KDY's server no longer held it prepared`))).toBe(true)
    expect([r.qty('CMB'), r.qty('KDY')]).toEqual([95, 105])
  })

  it('a site crashed between PREPARE TRANSACTION and its READY record: the orphan is rolled back by recovery (presumed abort), nothing applied', () => {
    const r = rig(protocol)
    let orphan: string | undefined
    r.stores.KDY.afterPrepare = (gid) => {
      r.stores.KDY.afterPrepare = undefined
      orphan = gid
      r.cluster.failSite('KDY')
    }
    const o = run(r)
    expect(o.outcome).toBe('ABORT')
    expect(orphan).toBe(o.gid)
    expect(r.stores.KDY.prepared()).toEqual([orphan])
    expect(logIdx(r, 'KDY', 'READY', orphan!)).toBe(-1)
    r.cluster.restoreSite('KDY')
    // recovery at once: the server's prepared gid has no READY record here, so it was never voted for
    expect(calls(r, 'rollbackPrepared', 'KDY')).toEqual([`rollbackPrepared KDY ${orphan} rolled-back`])
    expect(r.cluster.events.some((l) => l.message.includes(`KDY: ${orphan} was prepared at the server but never voted for here; rolled back`))).toBe(true)
    expect(r.dtm.inDoubt().filter((d) => d.site === 'KDY')).toEqual([])
    settle(r)
    expect(calls(r, 'rollbackPrepared', 'KDY')).toHaveLength(1)
    expect(calls(r, 'commitPrepared')).toEqual([])
    expect(calls(r, 'apply')).toEqual([])
    for (const s of ['CMB', 'KDY']) { expect(r.qty(s)).toBe(100); expect(r.stores[s].prepared()).toEqual([]) }
  })

  it('recovery rolls back only what has no READY record: a leftover prepared gid goes, an in-doubt one stays prepared for its decision', () => {
    const r = rig(protocol)
    r.dtm.crashAt('KDY', 'vote')
    const o = run(r)
    const gid = o.gid!
    // while KDY is down its server also holds work from before a lost 2PC log record (no READY here)
    r.stores.KDY.prepare('CMB-900', [{ table: 'Stock_KDY', key: 'S002', row: { STOCKCODE: 'S002', ITEMNO: 2, QTY: 1 }, cols: ['QTY'] }])
    r.cluster.restoreSite('KDY')
    expect(calls(r, 'rollbackPrepared', 'KDY')).toEqual(['rollbackPrepared KDY CMB-900 rolled-back'])
    expect(r.stores.KDY.prepared()).toEqual([gid])
    settle(r)
    expect(calls(r, 'commitPrepared', 'KDY')).toEqual([`commitPrepared KDY ${gid} committed`])
    expect([r.qty('KDY'), r.qty('KDY', 'S002')]).toEqual([105, 100])
  })

  it('a server unreachable for COMMIT PREPARED: the participant keeps its locks and its acknowledgement until a retry gets through, then commits once', () => {
    const r = rig(protocol)
    r.stores.KDY.unreachable = true
    const o = run(r)
    expect(o.outcome).toBe('COMMIT')
    r.cluster.sim.advance(3000)
    // decided and logged at KDY, not yet committed at its server: still holding its locks, nothing visible
    expect(r.dtm.unfinishedAt(o.gid!)).toContain('KDY')
    expect(r.dtm.locks('KDY').lockCount).toBeGreaterThan(0)
    expect(r.qty('KDY')).toBe(100)
    r.stores.KDY.unreachable = false
    settle(r)
    expect(calls(r, 'commitPrepared', 'KDY').filter((e) => !e.endsWith('unreachable'))).toEqual([`commitPrepared KDY ${o.gid} committed`])
    expect([r.qty('CMB'), r.qty('KDY')]).toEqual([95, 105])
  })

  it('a site that crashed after logging its COMMIT but before its server took COMMIT PREPARED: recovery commits it (never rolls back a logged COMMIT)', () => {
    const r = rig(protocol)
    r.stores.KDY.unreachable = true
    const o = run(r)
    expect(o.outcome).toBe('COMMIT')
    r.cluster.sim.advance(100)
    expect(r.events).toContain(`log KDY part COMMIT ${o.gid}`)
    r.cluster.failSite('KDY')
    r.stores.KDY.unreachable = false
    r.cluster.restoreSite('KDY')
    settle(r)
    expect(calls(r, 'rollbackPrepared', 'KDY')).toEqual([])
    expect(calls(r, 'commitPrepared', 'KDY').filter((e) => !e.endsWith('unreachable'))).toEqual([`commitPrepared KDY ${o.gid} committed`])
    expect([r.qty('CMB'), r.qty('KDY')]).toEqual([95, 105])
  })
})
