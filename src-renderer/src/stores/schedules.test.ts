// @vitest-environment happy-dom
import { beforeEach, describe, expect, it, vi } from 'vitest'
import { createTestingPinia } from '@pinia/testing'
import { setIpc } from '../ipc/client'
import { createFakeApi, type FakeApi } from '../testing/fakeApi'
import { useSchedulesStore } from './schedules'
import type { BackupScheduleView, EngineJobView } from '../../../engine/api/schedules'

let api: FakeApi
const job = (n: number, over: Partial<EngineJobView> = {}): EngineJobView => ({
  id: `ej-${n}`, kind: 'backup', site: 'KDY', label: `job ${n}`, trigger: 'manual', schedule: null, status: 'done', startAt: n, endAt: n + 1, durationMs: 1,
  wallMs: null, rows: 10, bytes: 100, error: null, attempts: 1, nextRetryAt: null, detail: null, hostJob: null, ...over,
})
const sched: BackupScheduleView = { id: 'bs-1', site: 'KDY', recurrence: { kind: 'daily', at: '02:00' }, describe: 'daily at 02:00', retain: 3, paused: false, createdAt: 0, nextRunAt: 5, lastRunAt: null, lastStatus: null, lastError: null, lastJob: null, held: 0 }

beforeEach(() => {
  let list: BackupScheduleView[] = []
  api = createFakeApi({
    'jobs/history': () => [job(1), job(2, { kind: 'refresh', site: 'CMB', status: 'missed' })],
    'schedule/list': () => list,
    'schedule/create': (i) => { list = [{ ...sched, site: i.site, retain: i.retain }]; return list[0] },
    'schedule/pause': ({ paused }) => { list = [{ ...list[0], paused }]; return list[0] },
    'schedule/delete': ({ id }) => { list = []; return { id } },
  })
  setIpc(api)
  createTestingPinia({ createSpy: vi.fn, stubActions: false })
})

describe('schedules store', () => {
  it('lists the engine job history newest first, filters it, and follows jobs/changed pushes', async () => {
    const s = useSchedulesStore()
    await s.start()
    expect(s.jobs.map((j) => j.id)).toEqual(['ej-2', 'ej-1'])
    s.filter = { kind: 'refresh' }
    expect(s.jobs.map((j) => j.id)).toEqual(['ej-2'])
    s.filter = { status: 'done', site: 'KDY' }
    expect(s.jobs.map((j) => j.id)).toEqual(['ej-1'])
    s.filter = {}
    api.emit('jobs/changed', job(2, { kind: 'refresh', site: 'CMB', status: 'done', attempts: 3 }))
    expect(s.jobs[0]).toMatchObject({ status: 'done', attempts: 3 })
    api.emit('jobs/changed', job(3, { schedule: 'bs-1', trigger: 'scheduled' }))
    expect(s.jobs.map((j) => j.id)).toEqual(['ej-3', 'ej-2', 'ej-1'])
    s.stop()
  })

  it('creates, pauses and deletes a schedule through its calls (naming the schedule\'s site)', async () => {
    const s = useSchedulesStore()
    expect(await s.create('KDY', { kind: 'daily', at: '02:00' }, 3)).toBe(true)
    expect(s.schedules).toHaveLength(1)
    await s.pause(s.schedules[0], true)
    expect(api.calls.find((c) => c.name === 'schedule/pause')?.input).toEqual({ id: 'bs-1', site: 'KDY', paused: true })
    expect(s.schedules[0].paused).toBe(true)
    await s.remove(s.schedules[0])
    expect(s.schedules).toEqual([])
  })

  it('keeps a refused call\'s error for the form', async () => {
    api = createFakeApi({ 'schedule/create': () => { throw Object.assign(new Error('a daily schedule runs at HH:MM'), { code: 'BAD_INPUT' }) }, 'schedule/list': () => [] })
    setIpc(api)
    const s = useSchedulesStore()
    expect(await s.create('KDY', { kind: 'daily', at: '02:00' }, 3)).toBe(false)
    expect(s.errors.schedule?.message).toMatch(/HH:MM/)
  })
})
