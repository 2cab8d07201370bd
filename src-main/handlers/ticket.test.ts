import { describe, expect, it } from 'vitest'
import { Cluster } from '../../engine/cluster'
import { calls } from '../ipc/contract'
import { handlerRig } from '../testing/handler-rig'

describe('ticket handlers', () => {
  it('submit, submitConcurrent, state, history and trace over the contract', async () => {
    const cluster = await Cluster.create({ seed: 6, sales: 50 })
    const { run, emitted } = handlerRig(cluster)
    const a = await run('tickets/submit', { site: 'CMB', ticket: '880001', sale: { itemNo: 1001, qty: 1, unitPrice: 10 } })
    expect(a.requests[0]).toMatchObject({ outcome: 'accepted', mode: 'conflict-free', answer: 'accepted at CMB' })
    expect(cluster.siteStore('CMB').query('SELECT COUNT(*) FROM Sales_CMB WHERE INVNO = 880001').rows[0][0]).toBe(1)
    const b = await run('tickets/submit', { site: 'MBI', ticket: '880001' })
    expect(b.requests[0].answer).toBe('rejected: already used at CMB')
    const c = await run('tickets/submitConcurrent', { sites: ['CMB', 'MBI', 'KDY'], ticket: '880002' })
    expect(c.requests.filter((r) => r.outcome === 'accepted').length).toBeLessThanOrEqual(1)
    const st = await run('tickets/state', {})
    expect(st.servers.map((s) => s.site)).toEqual(['CMB', 'MBI', 'KDY'])
    expect(st.servers[2].aTKT.find((x) => x.ticket === '880001')?.votedFor).toBe('CMB')
    const h = await run('tickets/history', {})
    expect(h.length).toBe(5)
    const tr = await run('tickets/trace', { ticket: '880001' })
    expect(tr.events.some((e) => e.msg === 'NEWTKT')).toBe(true)
    expect(tr.outcome.winner).toBe('CMB')
    expect(emitted).toContain('tickets/changed')
    await expect(run('tickets/submit', { site: 'XYZ', ticket: '1' })).rejects.toMatchObject({ code: 'UNKNOWN_SITE' })
    expect(() => calls['tickets/submit'].input.parse({ site: 'CMB', ticket: 'bad ticket!' })).toThrow()
  })
})
