// @vitest-environment happy-dom
import { beforeEach, describe, expect, it, vi } from 'vitest'
import { createTestingPinia } from '@pinia/testing'
import { setIpc } from '../ipc/client'
import { createFakeApi, type FakeApi } from '../testing/fakeApi'
import { useLiveReplStore } from './liveRepl'
import type { JobView } from '../../../engine/api/views'
import type { LiveBackupEntry } from '../../../src-main/ipc/contract/liveRepl'

const entry: LiveBackupEntry = {
  name: 'MBI-2026-12-03T08-00-00-000Z.dump.json', ok: true, rows: 839,
  manifest: { format: 'iddb-pg-backup', version: 1, site: 'MBI', database: 'iddb', server: 'MBI.primary', pgVersion: '17', takenAt: '2026-12-03T08:00:00.000Z', file: 'MBI-2026-12-03T08-00-00-000Z.dump', bytes: 29672, sha256: 'ab'.repeat(32), tables: { Sales_MBI: { rows: 839, md5: 'f'.repeat(32) } } },
}
const job = (id: string, kind: string, result?: unknown, status: JobView['status'] = 'done'): JobView => ({ id, kind, label: kind, status, progress: status === 'done' ? 1 : 0, startedAt: 1, ...(result ? { result } : {}), ...(status === 'failed' ? { error: { code: 'CONFLICT', message: 'MBI.primary holds 1 prepared transaction(s)', site: 'MBI' } } : {}) })

let api: FakeApi
let finished: Record<string, JobView>
beforeEach(() => {
  finished = {}
  api = createFakeApi({
    'liveBackup/take': ({ site }) => { finished['job-1'] = job('job-1', 'backup', { backup: entry, rows: 839, bytes: 29672, durationMs: 408 }); return { ...job('job-1', 'backup', undefined, 'running'), label: `backup of ${site}` } },
    'liveBackup/restore': () => { finished['job-2'] = job('job-2', 'restore', undefined, 'failed'); return job('job-2', 'restore', undefined, 'running') },
    'liveBackup/list': () => [entry],
    'liveRepl/status': () => ({ deployment: '/tmp/d', at: 'now', repository: { site: 'CMB', database: 'iddb_repository' }, sites: [], propagation: null }),
    'liveFailover/promote': ({ site }) => ({ site, promoted: `${site}.primary`, port: 41005, rtoMs: 469, oldPrimaryWasRunning: true }),
    'jobs/get': ({ id }) => finished[id],
    'system/info': () => ({ version: 't', host: 'browser', seed: 1, dataDir: null, sites: ['KDY'], live: { deployment: '/tmp/d', servers: [] } }),
  })
  setIpc(api)
  createTestingPinia({ createSpy: vi.fn, stubActions: false })
})

describe('liveRepl store', () => {
  it('takes a backup as a job, reloads the list and says what it took', async () => {
    const s = useLiveReplStore()
    const r = await s.take('MBI')
    expect(api.calls.find((c) => c.name === 'liveBackup/take')).toEqual({ name: 'liveBackup/take', input: { site: 'MBI', repository: false } })
    expect(r?.rows).toBe(839)
    expect(s.backups).toEqual([entry])
    expect(s.last).toBe(`backup ${entry.name}: iddb at MBI.primary, 29,672 bytes, 839 rows in 408 ms`)
    expect(s.running).toBeNull()
    expect(s.busy).toBe(false)
  })

  it('a restore job that failed keeps its error, and passes the typed code on', async () => {
    const s = useLiveReplStore()
    expect(await s.restore(entry.name, 'MBI', 'MBI')).toBeNull()
    expect(api.calls.find((c) => c.name === 'liveBackup/restore')?.input).toEqual({ manifest: entry.name, site: 'MBI', confirm: 'MBI' })
    expect(s.error).toMatchObject({ code: 'CONFLICT', site: 'MBI' })
    expect(s.last).toBeNull()
  })

  it('a failover reports the promoted server and reloads the status and the host info (the live badge)', async () => {
    const s = useLiveReplStore()
    await s.promote('KDY', 'KDY')
    expect(s.lastFailover).toMatchObject({ promoted: 'KDY.primary', port: 41005 })
    expect(s.last).toContain('KDY failed over: KDY.primary on port 41005')
    expect(api.calls.map((c) => c.name)).toEqual(expect.arrayContaining(['liveFailover/promote', 'liveRepl/status', 'system/info']))
  })
})
