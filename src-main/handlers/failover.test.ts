import { describe, expect, it } from 'vitest'
import { Cluster } from '../../engine/cluster'
import { handlerRig } from '../testing/handler-rig'

describe('failover IPC handlers', () => {
  it('shows the feed, promotes KDY by the typed code with RPO and RTO, refuses a wrong code or bad input, and fails back', async () => {
    const cluster = await Cluster.create({ seed: 31, sales: 300 })
    cluster.settle()
    const { run, emitted } = handlerRig(cluster)
    const v = await run('failover/get', {})
    expect(v.sites.map((s) => s.site)).toEqual(cluster.siteCodes)
    expect(v.sites.find((s) => s.site === 'KDY')).toMatchObject({ mode: 'async', primaryHost: 'KDY-db1', lagBatches: 0 })
    expect(v.auto.enabled).toBe(false)
    expect((await run('failover/setFeed', { site: 'KDY', mode: 'sync' })).sites.find((s) => s.site === 'KDY')!.mode).toBe('sync')
    cluster.siteStore('KDY').exec("INSERT INTO Sales_KDY (INVNO, BRCODE, ITEMNO, QTY, UNITPRICE, AMOUNT) VALUES (970001, 'KDY', 1, 1, 1, 1)")
    cluster.failServer('KDY.primary')
    // the code must be typed: nothing changes otherwise
    await expect(run('failover/promote', { site: 'KDY', confirm: 'kdy' })).rejects.toMatchObject({ code: 'BAD_INPUT' })
    await expect(run('failover/promote', { site: 'QQQ', confirm: 'QQQ' })).rejects.toMatchObject({ code: 'UNKNOWN_SITE' })
    expect(() => run('failover/setFeed', { site: 'KDY', mode: 'later' as 'sync' })).toThrow()
    expect((await run('failover/get', {})).sites.find((s) => s.site === 'KDY')!.primaryHost).toBe('KDY-db1')
    const r = await run('failover/promote', { site: 'KDY', confirm: 'KDY' })
    expect(r).toMatchObject({ site: 'KDY', kind: 'failover', mode: 'sync', rpoTxns: 0, promotedHost: 'KDY-db2' })
    expect(r.rtoMs).toBe(r.acceptingAt - r.commandAt)
    expect(emitted).toContain('topology/changed')
    expect(cluster.siteStore('KDY').query('SELECT COUNT(*) FROM Sales_KDY WHERE INVNO = 970001').rows[0][0]).toBe(1)
    await expect(run('failover/failback', { site: 'KDY', confirm: 'KDY' })).rejects.toMatchObject({ code: 'CONFLICT' })
    cluster.restoreServer('KDY.backup')
    cluster.settle()
    const back = await run('failover/failback', { site: 'KDY', confirm: 'KDY' })
    expect(back).toMatchObject({ kind: 'failback', rpoTxns: 0, promotedHost: 'KDY-db1' })
    expect((await run('failover/get', {})).history.map((h) => h.kind)).toEqual(['failover', 'failback'])
  })

  it('a branch administrator may promote only at its own site; the auditor may only read', async () => {
    const cluster = await Cluster.create({ seed: 32, sales: 0 })
    const kdy = handlerRig(cluster, { actor: { user: 'kandy', role: 'branch-admin', site: 'KDY', clearance: 'SECRET', level: 'SECRET' } })
    await expect(kdy.run('failover/promote', { site: 'CMB', confirm: 'CMB' })).rejects.toMatchObject({ code: 'ACCESS_DENIED' })
    const aud = handlerRig(cluster, { actor: { user: 'audrey', role: 'auditor', site: null, clearance: 'SECRET', level: 'SECRET' } })
    await expect(aud.run('failover/setAuto', { enabled: true })).rejects.toMatchObject({ code: 'ACCESS_DENIED' })
    expect((await aud.run('failover/get', {})).auto.enabled).toBe(false)
  })
})
