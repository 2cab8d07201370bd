import { describe, expect, it } from 'vitest'
import { STEPS, type Protocol } from './dtm'
import { advanceExactly, stockCluster, transfer, type TransferOutcome } from './testkit'
import { checkBank, healAndSettle, snapshot } from './invariants'

const PROTOCOLS: Protocol[] = ['centralized', 'linear', 'distributed']

describe('two-phase commit', () => {
  for (const protocol of PROTOCOLS) {
    it(`${protocol}: commits a two-site transfer on both sites and logs it`, () => {
      const { cluster, dtm } = stockCluster({ dtm: { protocol } })
      const out: TransferOutcome[] = []
      transfer(dtm, { origin: 'CMB', from: 'CMB', to: 'KDY', item: 'S001', qty: 7 }, (o) => out.push(o))
      cluster.sim.runUntilTrue(() => dtm.summary().coordinators === 0 && out.length > 0)
      expect(out[0].outcome).toBe('COMMIT')
      expect(dtm.store('CMB').get('Stock_CMB', 'S001')!.QTY).toBe(93)
      expect(dtm.store('KDY').get('Stock_KDY', 'S001')!.QTY).toBe(107)
      const kinds = dtm.log('KDY').records().map((r) => r.type)
      expect(kinds).toEqual(['READY', 'COMMIT'])
      const tl = dtm.timeline(out[0].gid!)
      expect(tl.some((e) => e.msg === 'txn.prepare')).toBe(true)
      expect(tl.some((e) => e.detail === 'participant READY')).toBe(true)
      expect(dtm.summary()).toMatchObject({ locks: 0, inDoubt: 0 })
    })

    it(`${protocol}: read-only participants skip phase two; a no vote aborts everywhere`, () => {
      const { cluster, dtm } = stockCluster({ dtm: { protocol } })
      const gid = dtm.begin('CMB')
      let committed = ''
      dtm.exec(gid, 'MBI', 'SELECT QTY FROM Stock_MBI_LCL WHERE STOCKCODE = ?', ['S001'])
      dtm.exec(gid, 'KDY', "UPDATE Stock_KDY SET QTY = QTY - 5 WHERE STOCKCODE = 'S002'")
      cluster.sim.runUntilTrue(() => dtm.list().find((t) => t.gid === gid)!.statements.every((s) => s.ok !== undefined))
      dtm.commit(gid, (r) => { committed = r.outcome })
      cluster.sim.runUntilTrue(() => dtm.summary().coordinators === 0)
      expect(committed).toBe('COMMIT')
      const mbi = dtm.log('MBI').records().map((r) => r.type)
      expect(mbi).toEqual(protocol === 'centralized' ? [] : ['RO'])
      expect(dtm.timeline(gid).filter((e) => e.kind === 'send' && e.to === 'MBI' && (e.msg === 'txn.commit' || e.msg === 'txn.abort'))).toHaveLength(0)
      expect(dtm.store('KDY').get('Stock_KDY', 'S002')!.QTY).toBe(95)

      // a participant that timed out in INITIAL votes no → global abort, no trace anywhere
      const g2 = dtm.begin('MBI')
      dtm.exec(g2, 'CMB', "UPDATE Stock_CMB SET QTY = QTY - 1 WHERE STOCKCODE = 'S003'")
      dtm.exec(g2, 'KDY', "UPDATE Stock_KDY SET QTY = QTY + 1 WHERE STOCKCODE = 'S003'")
      cluster.sim.runUntilTrue(() => dtm.summary().active === 2 && dtm.list().find((t) => t.gid === g2)!.statements.every((s) => s.ok))
      cluster.failLink('CMB-KDY'); cluster.failLink('MBI-KDY') // KDY cut off
      advanceExactly(cluster, dtm.opts.initialTimeoutMs / 2)
      let kept = false // keep CMB's sub-transaction busy so only KDY times out
      dtm.exec(g2, 'CMB', "SELECT QTY FROM Stock_CMB WHERE STOCKCODE = 'S003'", [], (r) => { kept = r.ok })
      cluster.sim.runUntilTrue(() => kept)
      advanceExactly(cluster, dtm.opts.initialTimeoutMs / 2 + 10)
      cluster.restoreLink('CMB-KDY'); cluster.restoreLink('MBI-KDY')
      let o2 = ''
      dtm.commit(g2, (r) => { o2 = r.outcome })
      cluster.sim.runUntilTrue(() => o2 !== '' && dtm.summary().coordinators === 0 && dtm.summary().inDoubt === 0)
      expect(o2).toBe('ABORT')
      expect(dtm.store('CMB').get('Stock_CMB', 'S003')!.QTY).toBe(100)
      expect(dtm.store('KDY').get('Stock_KDY', 'S003')!.QTY).toBe(100)
      expect(dtm.summary()).toMatchObject({ locks: 0, inDoubt: 0, active: 0 })
    })

    it(`${protocol}: crash of any site at every 2PC step (exhaustive), restart → atomic and resolved`, () => {
      let cases = 0
      let fired = 0
      for (const step of STEPS) for (const victim of ['CMB', 'MBI', 'KDY']) for (const restartAfterMs of [5, 3000]) {
        const { cluster, dtm } = stockCluster({ dtm: { protocol }, seed: cases + 1 })
        const initial = snapshot(dtm, cluster)
        const results: TransferOutcome[] = []
        dtm.crashAt(victim, step, { restartAfterMs })
        // coordinator at MBI; participants CMB and KDY (plus a concurrent MBI → KDY transfer)
        transfer(dtm, { origin: 'MBI', from: 'CMB', to: 'KDY', item: 'S001', qty: 3 }, (o) => results.push(o))
        transfer(dtm, { origin: 'KDY', from: 'MBI', to: 'KDY', item: 'S002', qty: 4 }, (o) => results.push(o))
        cluster.sim.runUntilTrue(() => results.length === 2, 200_000)
        if (!dtm.pendingCrashHooks().length) fired++
        const ok = healAndSettle(cluster, dtm)
        const errs = checkBank(dtm, cluster, initial, results)
        expect({ protocol, step, victim, restartAfterMs, settled: ok, errs }).toEqual({ protocol, step, victim, restartAfterMs, settled: true, errs: [] })
        cases++
      }
      expect(cases).toBe(STEPS.length * 3 * 2)
      // 'wait' and 'ack' only happen at the coordinator (MBI), 'decide' at the coordinator or a deciding participant
      expect(fired).toBeGreaterThanOrEqual(protocol === 'centralized' ? 2 * 13 : 2 * 13)
    })
  }

  for (const protocol of PROTOCOLS) {
    it(`${protocol}: a link failing at every 2PC step (exhaustive), restored later → atomic and resolved`, () => {
      let cases = 0
      for (const step of STEPS) for (const at of ['CMB', 'MBI', 'KDY']) for (const link of ['CMB-MBI', 'CMB-KDY', 'MBI-KDY']) {
        const { cluster, dtm } = stockCluster({ dtm: { protocol }, seed: 100 + cases })
        const initial = snapshot(dtm, cluster)
        const results: TransferOutcome[] = []
        dtm.failLinkAt(at, step, link, { restoreAfterMs: 2500 })
        transfer(dtm, { origin: 'MBI', from: 'CMB', to: 'KDY', item: 'S001', qty: 3 }, (o) => results.push(o))
        transfer(dtm, { origin: 'CMB', from: 'KDY', to: 'MBI', item: 'S002', qty: 4 }, (o) => results.push(o))
        cluster.sim.runUntilTrue(() => results.length === 2, 200_000)
        const ok = healAndSettle(cluster, dtm)
        expect({ step, at, link, settled: ok, errs: checkBank(dtm, cluster, initial, results) }).toEqual({ step, at, link, settled: true, errs: [] })
        cases++
      }
      expect(cases).toBe(STEPS.length * 9)
    })
  }

  it('coordinator keeps re-sending COMMIT until acknowledged; an in-doubt participant learns from the coordinator after restart', () => {
    const { cluster, dtm } = stockCluster({ dtm: { protocol: 'centralized' } })
    const out: TransferOutcome[] = []
    dtm.crashAt('KDY', 'ready', { restartAfterMs: 4000 })
    transfer(dtm, { origin: 'CMB', from: 'CMB', to: 'KDY', item: 'S001', qty: 2 }, (o) => out.push(o))
    cluster.sim.runUntilTrue(() => out.length === 1)
    // KDY forced READY then crashed before voting: the coordinator times out in WAIT → global abort
    expect(out[0].outcome).toBe('ABORT')
    cluster.sim.runUntilTrue(() => cluster.isSiteUp('KDY'))
    expect(dtm.inDoubt().map((d) => d.site)).toEqual(['KDY'])
    expect(dtm.inDoubt()[0].locks.length).toBeGreaterThan(0)
    cluster.sim.runUntilTrue(() => dtm.inDoubt().length === 0)
    expect(dtm.store('KDY').get('Stock_KDY', 'S001')!.QTY).toBe(100)
    expect(dtm.summary().locks).toBe(0)
  })

  it('an administrator can resolve an in-doubt transaction by hand (logged as HEURISTIC); the heuristic is never taught', () => {
    const { cluster, dtm } = stockCluster({ dtm: { protocol: 'centralized' } })
    const out: TransferOutcome[] = []
    dtm.crashAt('CMB', 'decide') // coordinator crashes after logging COMMIT, before sending it; stays down
    transfer(dtm, { origin: 'CMB', from: 'MBI', to: 'KDY', item: 'S001', qty: 2 }, (o) => out.push(o))
    cluster.sim.runUntilTrue(() => dtm.inDoubt().length === 2 && dtm.inDoubt()[0].inquiries > 2)
    const d = dtm.inDoubt()
    expect(d.map((x) => x.site).sort()).toEqual(['KDY', 'MBI'])
    dtm.resolve(d[0].gid, 'MBI', 'COMMIT')
    expect(dtm.log('MBI').records().at(-1)!.type).toBe('HEURISTIC')
    // KDY asks its peer MBI, which does not teach its hand resolution: KDY stays in doubt until CMB is back
    advanceExactly(cluster, 10_000)
    expect(dtm.inDoubt().map((x) => x.site)).toEqual(['KDY'])
    cluster.restoreSite('CMB')
    cluster.sim.runUntilTrue(() => dtm.summary().inDoubt === 0 && dtm.summary().coordinators === 0)
    expect(dtm.store('KDY').get('Stock_KDY', 'S001')!.QTY).toBe(102)
    expect(out[0].outcome).toBe('COMMIT')
    expect(dtm.heuristics).toMatchObject([{ gid: d[0].gid, site: 'MBI', heuristic: 'COMMIT', decision: 'COMMIT', damage: false }])
  })
})
