/** compare/* and the design switch through the handlers (handler rig: contract parsing, authorization, jobs). */
import { describe, expect, it } from 'vitest'
import { Cluster } from '../../engine/cluster'
import { handlerRig } from '../testing/handler-rig'
import type { Actor } from '../../engine/security/roles'
import type { CompareReportView } from '../ipc/contract/compare'
import { ConsoleIdentities } from '../../engine/security/identities'

const SHORT = { fromHour: 13, toHour: 14, sales: 300, hqOutage: { fromHour: 13.25, toHour: 13.5 }, kdyLinkOutage: null }
const kandyAdmin: Actor = { user: 'kadmin', role: 'branch-admin', site: 'KDY', clearance: 'INTERNAL', level: 'INTERNAL' }

describe('compare/* handlers', () => {
  it('refuses out-of-bounds options at the boundary', async () => {
    const { run, jobs } = handlerRig(await Cluster.create({ seed: 2, sales: 0 }))
    type RunInput = Parameters<typeof run<'compare/run'>>[1]
    const refused = (i: RunInput) => expect(Promise.resolve().then(() => run('compare/run', i))).rejects
    await refused({ rateScale: -1 }).toThrow(/rateScale/)
    await refused({ rates: { pos_sale: 99 } }).toThrow(/pos_sale/)
    await refused({ fromHour: 8.5 }).toThrow(/fromHour/)
    await refused({ fromHour: 15, toHour: 12 }).toThrow(/ends after it starts/)
    await refused({ links: { legacy: [{ linkId: 'CMB-KDY', bandwidthBps: 10, delayMs: 1 }] } }).toThrow(/bandwidthBps/)
    await refused({ hqOutage: { fromHour: 14, toHour: 13 } }).toThrow(/ends after it starts/)
    expect(jobs.list()).toEqual([]) // nothing started
    expect(await run('compare/last', {})).toBeNull()
    await expect(run('compare/request', { design: 'legacy', id: 0 })).rejects.toMatchObject({ code: 'NOT_FOUND' })
  })

  it('runs a short day on both designs as a job; keeps the report (without traces) and pages both runs\' requests', async () => {
    const { run, jobs, emitted } = handlerRig(await Cluster.create({ seed: 2, sales: 0 }))
    const defaults = await run('compare/defaults', {})
    expect(defaults.links.legacy.find((l) => l.linkId === 'CMB-KDY')!.bandwidthBps).toBeLessThan(defaults.links.distributed.find((l) => l.linkId === 'CMB-KDY')!.bandwidthBps)
    const j = await run('compare/run', SHORT)
    expect(j).toMatchObject({ kind: 'compare', status: 'running' })
    await expect(run('compare/run', SHORT)).rejects.toMatchObject({ code: 'CONFLICT' })
    const end = await jobs.wait(j.id)
    expect(end.status).toBe('done')
    expect(emitted).toContain('job/progress')
    const r = end.result as CompareReportView
    expect(Object.keys(r.results).sort()).toEqual(['distributed', 'legacy'])
    expect(r.results.legacy).not.toHaveProperty('traces')
    expect(r.results.legacy.traceCount).toBeGreaterThan(0)
    expect(await run('compare/last', {})).toEqual(r)
    const page = await run('compare/requests', { design: 'legacy', limit: 5 })
    expect(page.total).toBe(r.results.legacy.traceCount)
    expect(page.requests.length).toBe(Math.min(5, page.total))
    const kdy = await run('compare/requests', { design: 'distributed', branch: 'KDY' })
    expect(kdy.requests.every((x) => x.branch === 'KDY' && x.design === 'distributed')).toBe(true)
    const one = await run('compare/request', { design: 'legacy', id: page.requests[0].id })
    expect(one).toEqual(page.requests[0])
    expect(one.sql).toBeTruthy()
  })

  it('cancelling the job stops the comparison and keeps the last report as it was', async () => {
    const { run, jobs } = handlerRig(await Cluster.create({ seed: 2, sales: 0 }))
    const j = await run('compare/run', { fromHour: 7, toHour: 24, rateScale: 5 })
    await new Promise((ok) => setTimeout(ok, 50))
    jobs.cancel(j.id)
    const end = await jobs.wait(j.id)
    expect(end.status).toBe('cancelled')
    expect(end.error?.code).toBe('CANCELLED')
    expect(await run('compare/last', {})).toBeNull()
  })
})

describe('system/design and system/setDesign', () => {
  it('switches the live cluster to the legacy design and back: confirmed, refused while a job runs, HQ DBA only, identities kept', async () => {
    const rig = handlerRig(await Cluster.create({ seed: 4, sales: 200 }))
    const { run, jobs, ctx } = rig
    rig.ctx.replaceCluster = (next) => { const old = ctx.cluster; ctx.cluster = next; if (old !== next) old.close() }
    ConsoleIdentities.of(ctx.cluster).setup('hqdba', 'a-long-password-1')
    expect(await run('system/design', {})).toMatchObject({ design: 'distributed', seed: 4, sales: 200 })
    await expect(run('system/setDesign', { design: 'legacy', confirm: 'legac' })).rejects.toMatchObject({ code: 'BAD_INPUT' })
    const busy = await run('jobs/busy', { ms: 2000 })
    await expect(run('system/setDesign', { design: 'legacy', confirm: 'legacy' })).rejects.toMatchObject({ code: 'CONFLICT' })
    jobs.cancel(busy.id)
    await jobs.wait(busy.id)
    const admin = ctx.actor
    ctx.actor = kandyAdmin
    await expect(run('system/setDesign', { design: 'legacy', confirm: 'legacy' })).rejects.toMatchObject({ code: 'ACCESS_DENIED' })
    ctx.actor = admin
    const before = ctx.cluster
    const j = await run('system/setDesign', { design: 'legacy', confirm: 'legacy' })
    expect((await jobs.wait(j.id)).status).toBe('done')
    expect(ctx.cluster).not.toBe(before)
    expect(await run('system/design', {})).toMatchObject({ design: 'legacy', seed: 4, sales: 200 })
    expect(rig.emitted).toContain('catalog/changed')
    // the same identity logs in to the new cluster with its password
    expect(ConsoleIdentities.of(ctx.cluster).login('hqdba', 'a-long-password-1').name).toBe('hqdba')
    const back = await run('system/setDesign', { design: 'distributed', confirm: 'distributed' })
    expect((await jobs.wait(back.id)).status).toBe('done')
    expect((await run('system/design', {})).design).toBe('distributed')
  })
})
