/**
 * A participant that crashes in INITIAL loses the transaction's work there (nothing of INITIAL is logged). A later
 * statement of the same transaction at that site must not start a fresh sub-transaction: it would commit the
 * later statements without the earlier ones (half a transaction). Found by the DIM's bank-and-inventory run.
 */
import { describe, expect, it } from 'vitest'
import type { ExecResult, CommitResult } from './dtm'
import { stockCluster, totalQty } from './testkit'

describe('a participant that lost its work in a crash', () => {
  it('refuses the transaction\'s later statements, so the transaction aborts and nothing of it commits', () => {
    const { cluster, dtm } = stockCluster({ seed: 3, items: 2, qty: 100 })
    const gid = dtm.begin('CMB')
    let r1: ExecResult | undefined, r2: ExecResult | undefined
    dtm.exec(gid, 'KDY', "UPDATE Stock_KDY SET QTY = QTY - 5 WHERE STOCKCODE = 'S001'", [], (r) => { r1 = r })
    cluster.sim.runUntilTrue(() => r1 !== undefined)
    expect(r1!.ok).toBe(true)
    cluster.failSite('KDY')
    cluster.restoreSite('KDY')
    dtm.exec(gid, 'KDY', "UPDATE Stock_KDY SET QTY = QTY + 5 WHERE STOCKCODE = 'S002'", [], (r) => { r2 = r })
    cluster.sim.runUntilTrue(() => r2 !== undefined)
    expect(r2!.ok).toBe(false)
    expect(r2!.error?.message).toMatch(/lost .* earlier work in a crash/)
    let c: CommitResult | undefined
    try { dtm.commit(gid, (x) => { c = x }) } catch { c = { gid, outcome: 'ABORT', latencyMs: 0 } }
    cluster.sim.runUntilTrue(() => c !== undefined)
    expect(c!.outcome).toBe('ABORT')
    cluster.sim.runUntilTrue(() => dtm.summary().active === 0 && dtm.summary().coordinators === 0, 1_000_000)
    expect(dtm.store('KDY').get('Stock_KDY', 'S002')?.QTY).toBe(100)
    expect(totalQty(dtm, ['KDY'])).toBe(200)
  })
})
