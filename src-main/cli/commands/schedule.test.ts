import { describe, it, expect, vi } from 'vitest'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { init } from './data'
import { schedule } from './schedule'
import { Cluster } from '../../../engine/cluster'
import { backupSchedules } from '../../../engine/backup/schedule'

async function capture(fn: () => Promise<number | void>): Promise<{ code: number | void; out: string }> {
  let out = ''
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => { out += String(s); return true })
  const spyErr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true)
  try { return { code: await fn(), out } } finally { spy.mockRestore(); spyErr.mockRestore() }
}

describe('iddb schedule', () => {
  it('creates, pauses and lists a backup schedule and sets the refresh and feed schedules, kept in the data directory', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'iddb-cli-sched-'))
    try {
      const d = join(dir, 'c')
      await capture(() => init.run(['--data', d, '--seed', '2', '--sales', '50']))
      const c1 = await capture(() => schedule.run(['create', '--data', d, '--site', 'KDY', '--every', '6', '--keep', '3', '--json']))
      expect(JSON.parse(c1.out)).toMatchObject({ id: 'bs-1', site: 'KDY', describe: 'every 6 h', retain: 3 })
      await capture(() => schedule.run(['pause', '--data', d, '--id', 'bs-1']))
      await capture(() => schedule.run(['refresh', '--data', d, '--copy', 'Stock_MBI', '--times', '10:00,eod']))
      await capture(() => schedule.run(['feed', '--data', d, '--every-minutes', '20']))
      const l = await capture(() => schedule.run(['list', '--data', d, '--json']))
      const v = JSON.parse(l.out)
      expect(v.backups[0]).toMatchObject({ id: 'bs-1', paused: true, nextRunAt: null })
      expect(v.replication.copies[0]).toMatchObject({ times: ['10:00', 'eod'], resolved: ['10:00', '18:00'] })
      expect(v.replication.feed.describe).toBe('every 20 min')
      await expect(schedule.run(['create', '--data', d, '--site', 'KDY', '--daily', '25:00'])).rejects.toMatchObject({ code: 'BAD_INPUT' })
      await expect(schedule.run(['resume', '--data', d, '--id', 'bs-9'])).rejects.toMatchObject({ code: 'NOT_FOUND' })
      const c = await Cluster.open(d, { readOnly: true })
      try {
        expect(backupSchedules(c).views()).toHaveLength(1)
        expect(c.refreshScheduleView('Stock_MBI').times).toEqual(['10:00', 'eod'])
      } finally { c.close({ checkpoint: false }) }
    } finally { rmSync(dir, { recursive: true, force: true }) }
  })
})
