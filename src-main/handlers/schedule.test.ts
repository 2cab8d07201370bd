import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { Cluster } from '../../engine/cluster'
import { nextLocalTime } from '../../engine/sim/kernel'
import { backupSchedules } from '../../engine/backup/schedule'
import type { Actor } from '../../engine/security/roles'
import { handlerRig } from '../testing/handler-rig'

const kandy: Actor = { user: 'kandy', role: 'branch-admin', site: 'KDY', clearance: 'INTERNAL', level: 'INTERNAL' }

describe('schedule and job-history handlers (issue 12)', () => {
  let c: Cluster
  beforeAll(async () => { c = await Cluster.create({ seed: 12, sales: 150 }) })
  afterAll(() => c.close())

  it('creates, lists, edits, pauses and deletes a backup schedule; its runs are listed in jobs/history', async () => {
    const { run } = handlerRig(c)
    const s = await run('schedule/create', { site: 'KDY', recurrence: { kind: 'daily', at: '01:00' }, retain: 2 })
    expect(s).toMatchObject({ site: 'KDY', describe: 'daily at 01:00', paused: false, nextRunAt: nextLocalTime(c.sim.now, 1, 0) })
    expect(await run('schedule/list', {})).toHaveLength(1)
    const e = await run('schedule/update', { id: s.id, site: 'KDY', recurrence: { kind: 'every', hours: 3 } })
    expect(e.describe).toBe('every 3 h')
    await run('clock/advance', { ms: 3 * 3_600_000 })
    await backupSchedules(c).settled()
    const jobs = await run('jobs/history', { kind: 'backup', site: 'KDY' })
    expect(jobs[0]).toMatchObject({ status: 'done', trigger: 'scheduled', schedule: s.id })
    expect((await run('backup/list', {})).some((b) => b.origin === 'scheduled' && b.schedule === s.id)).toBe(true)
    expect(await run('schedule/pause', { id: s.id, site: 'KDY', paused: true })).toMatchObject({ paused: true, nextRunAt: null })
    expect(await run('jobs/history', { status: 'failed' })).toEqual([])
    await expect(run('schedule/delete', { id: s.id, site: 'MBI' })).rejects.toMatchObject({ code: 'BAD_INPUT', message: expect.stringMatching(/backs up KDY, not MBI/) })
    await run('schedule/delete', { id: s.id, site: 'KDY' })
    expect(await run('schedule/list', {})).toEqual([])
  })

  it('refuses bad input at the boundary and in the engine, changing nothing', async () => {
    const { run } = handlerRig(c)
    expect(() => run('schedule/create', { site: 'KDY', recurrence: { kind: 'daily', at: '7:00' }, retain: 2 })).toThrow(/HH:MM/)
    expect(() => run('schedule/create', { site: 'KDY', recurrence: { kind: 'every', hours: 0 }, retain: 2 })).toThrow()
    await expect(run('schedule/create', { site: 'ZZZ', recurrence: { kind: 'every', hours: 2 }, retain: 2 })).rejects.toMatchObject({ code: 'UNKNOWN_SITE' })
    await expect(run('schedule/pause', { id: 'bs-999', site: 'KDY', paused: true })).rejects.toMatchObject({ code: 'NOT_FOUND' })
    await expect(run('replication/setRefreshSchedule', { copy: 'Nope', times: ['12:00'] })).rejects.toMatchObject({ code: 'UNKNOWN_TABLE' })
    expect(await run('schedule/list', {})).toEqual([])
  })

  it('a branch administrator schedules its own site only; the feed schedule is cluster-wide', async () => {
    const { run } = handlerRig(c, { actor: kandy })
    await expect(run('schedule/create', { site: 'CMB', recurrence: { kind: 'every', hours: 2 }, retain: 1 })).rejects.toMatchObject({ code: 'ACCESS_DENIED' })
    await expect(run('schedule/create', { site: 'all', recurrence: { kind: 'every', hours: 2 }, retain: 1 })).rejects.toMatchObject({ code: 'ACCESS_DENIED' })
    await expect(run('replication/setFeedSchedule', { schedule: { mode: 'every', minutes: 10 } })).rejects.toMatchObject({ code: 'ACCESS_DENIED' })
    await expect(run('replication/setRefreshSchedule', { copy: 'Stock_MBI', times: ['12:00'] })).rejects.toMatchObject({ code: 'ACCESS_DENIED' })
    const s = await run('schedule/create', { site: 'KDY', recurrence: { kind: 'every', hours: 2 }, retain: 1 })
    await run('schedule/delete', { id: s.id, site: 'KDY' })
  })

  it('reads and sets the refresh and feed schedules; a refresh by hand is a job with its mode, rows and bytes', async () => {
    const { run } = handlerRig(c)
    const v = await run('replication/schedules', {})
    expect(v.copies[0]).toMatchObject({ copy: 'Stock_MBI', times: ['12:00', 'eod'], resolved: ['12:00', '18:00'] })
    expect(v.feed.describe).toMatch(/continuous/)
    expect(await run('replication/setRefreshSchedule', { copy: 'Stock_MBI', times: ['11:00', 'eod'] })).toMatchObject({ resolved: ['11:00', '18:00'] })
    expect(await run('replication/setFeedSchedule', { schedule: { mode: 'every', minutes: 15 } })).toMatchObject({ describe: 'every 15 min' })
    await run('replication/setFeedSchedule', { schedule: { mode: 'continuous' } })
    await run('replication/refreshCopy', { copy: 'Stock_MBI' })
    c.siteStore('MBI').exec("UPDATE Stock_MBI_LCL SET QTY = QTY + 1 WHERE STOCKCODE = (SELECT MIN(STOCKCODE) FROM Stock_MBI_LCL)")
    c.settle()
    const r = await run('replication/refreshCopy', { copy: 'Stock_MBI' })
    expect(r).toMatchObject({ mode: 'incremental', changed: 1 })
    const [j] = await run('jobs/history', { kind: 'refresh' })
    expect(j).toMatchObject({ status: 'done', rows: 1, bytes: r.bytes, trigger: 'manual' })
  })

  it('a recovery and a missed refresh are in the job history with their error', async () => {
    const { run } = handlerRig(c)
    await run('replication/recover', { site: 'KDY', from: 'backup', confirm: 'KDY' })
    expect((await run('jobs/history', { kind: 'recovery' }))[0]).toMatchObject({ status: 'done', site: 'KDY' })
    c.failSite('MBI')
    await expect(run('replication/refreshCopy', { copy: 'Stock_MBI' })).rejects.toMatchObject({ code: 'UNREACHABLE', message: expect.stringMatching(/missed.*pending, retried at/) })
    expect((await run('jobs/history', { kind: 'refresh', status: 'missed' }))[0]).toMatchObject({ error: { code: 'SITE_DOWN' }, attempts: 1 })
    c.restoreSite('MBI')
  })
})
