import { describe, it, expect, beforeEach, afterEach } from 'vitest'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Cluster } from '../cluster'
import { nextLocalTime } from '../sim/kernel'
import { backupSchedules } from './schedule'
import { backupStore } from './store'
import { jobLog } from '../cluster/joblog'

const HOUR = 3_600_000

describe('backup schedules (issue 12)', () => {
  let c: Cluster
  beforeEach(async () => { c = await Cluster.create({ seed: 9, sales: 200 }) })
  afterEach(() => c.close())

  it('a daily schedule fires at its site-local time on the virtual clock, each run a backup job kept in the engine', async () => {
    const s = backupSchedules(c).create({ site: 'KDY', recurrence: { kind: 'daily', at: '02:00' }, retain: 3 })
    const due = nextLocalTime(c.sim.now, 2, 0)
    expect(s.nextRunAt).toBe(due)
    c.sim.runUntil(due - 1)
    await backupSchedules(c).settled()
    expect(jobLog(c).list({ kind: 'backup' })).toHaveLength(0)
    c.sim.runUntil(due)
    await backupSchedules(c).settled()
    const jobs = jobLog(c).list({ kind: 'backup' })
    expect(jobs).toHaveLength(1)
    expect(jobs[0]).toMatchObject({ status: 'done', trigger: 'scheduled', schedule: s.id, site: 'KDY', startAt: due })
    expect(jobs[0].rows).toBeGreaterThan(0)
    expect(jobs[0].bytes).toBeGreaterThan(0)
    const held = backupStore(c).heldBy(s.id)
    expect(held).toHaveLength(1)
    expect(held[0].set.manifest.virtualAt).toBe(due)
    const v = backupSchedules(c).views()[0]
    expect(v).toMatchObject({ lastRunAt: due, lastStatus: 'done', held: 1, nextRunAt: due + 24 * HOUR })
  })

  it('retention keeps the newest N of a schedule; every N hours fires from its creation', async () => {
    const t0 = c.sim.now
    const s = backupSchedules(c).create({ site: 'all', recurrence: { kind: 'every', hours: 2 }, retain: 2 })
    expect(s.nextRunAt).toBe(t0 + 2 * HOUR)
    c.sim.runUntil(t0 + 8 * HOUR)
    await backupSchedules(c).settled()
    expect(jobLog(c).list({ kind: 'backup', status: 'done' }).map((j) => j.startAt)).toEqual([8, 6, 4, 2].map((h) => t0 + h * HOUR))
    const held = backupStore(c).heldBy(s.id)
    expect(held.map((h) => h.set.manifest.virtualAt)).toEqual([t0 + 6 * HOUR, t0 + 8 * HOUR])
    expect(held[0].set.manifest.scope).toBe('cluster')
  })

  it('a paused schedule does not fire; resumed, it does; deleted, it never fires again', async () => {
    const t0 = c.sim.now
    const s = backupSchedules(c).create({ site: 'MBI', recurrence: { kind: 'every', hours: 1 }, retain: 5, paused: true })
    expect(s.nextRunAt).toBeNull()
    c.sim.runUntil(t0 + 5 * HOUR)
    await backupSchedules(c).settled()
    expect(jobLog(c).list({ kind: 'backup' })).toHaveLength(0)
    backupSchedules(c).pause(s.id, false)
    c.sim.runUntil(t0 + 6 * HOUR)
    await backupSchedules(c).settled()
    expect(jobLog(c).list({ kind: 'backup' })).toHaveLength(1)
    backupSchedules(c).delete(s.id)
    c.sim.runUntil(t0 + 12 * HOUR)
    await backupSchedules(c).settled()
    expect(jobLog(c).list({ kind: 'backup' })).toHaveLength(1)
  })

  it('a run that meets a down site is a failed job with its error; bad specs are refused and change nothing', async () => {
    const s = backupSchedules(c).create({ site: 'KDY', recurrence: { kind: 'every', hours: 1 }, retain: 1 })
    c.failSite('KDY')
    c.sim.runUntil(c.sim.now + HOUR)
    await backupSchedules(c).settled()
    const [j] = jobLog(c).list({ kind: 'backup' })
    expect(j.status).toBe('failed')
    expect(j.error?.message).toMatch(/KDY/)
    expect(backupSchedules(c).views()[0]).toMatchObject({ lastStatus: 'failed' })
    const before = backupSchedules(c).views()
    expect(() => backupSchedules(c).create({ site: 'ZZZ', recurrence: { kind: 'daily', at: '02:00' }, retain: 1 })).toThrow(/unknown site/)
    expect(() => backupSchedules(c).create({ site: 'KDY', recurrence: { kind: 'daily', at: '25:00' }, retain: 1 })).toThrow(/HH:MM/)
    expect(() => backupSchedules(c).create({ site: 'KDY', recurrence: { kind: 'every', hours: 0 }, retain: 1 })).toThrow(/from 1/)
    expect(() => backupSchedules(c).update(s.id, { retain: 0 })).toThrow(/retention/)
    expect(backupSchedules(c).views()).toEqual(before)
  })

  it('schedules are kept beside a persisted cluster and armed again when it is reopened', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'iddb-sched-'))
    try {
      const p = await Cluster.create({ seed: 3, sales: 50, dataDir: dir, fsync: false })
      const s = backupSchedules(p).create({ site: 'CMB', recurrence: { kind: 'daily', at: '03:30' }, retain: 4 })
      p.close()
      const q = await Cluster.open(dir, { fsync: false })
      try {
        const v = backupSchedules(q).views()
        expect(v).toHaveLength(1)
        expect(v[0]).toMatchObject({ id: s.id, site: 'CMB', retain: 4, nextRunAt: s.nextRunAt })
        q.sim.runUntil(s.nextRunAt!)
        await backupSchedules(q).settled()
        expect(backupStore(q).heldBy(s.id)).toHaveLength(1)
      } finally { q.close() }
    } finally { rmSync(dir, { recursive: true, force: true }) }
  })
})
