// @vitest-environment happy-dom
import { beforeEach, describe, expect, it, vi } from 'vitest'
import { createTestingPinia } from '@pinia/testing'
import { setIpc } from '../ipc/client'
import { createFakeApi, type FakeApi } from '../testing/fakeApi'
import { useJobsStore } from './jobs'
import type { JobView } from '../../../engine/api/views'

let api: FakeApi
const job = (id: string, over: Partial<JobView> = {}): JobView => ({ id, kind: 'busy', label: `job ${id}`, status: 'running', progress: 0, startedAt: Number(id.slice(1)), ...over })

beforeEach(() => {
  api = createFakeApi({
    'jobs/list': () => [job('j1', { progress: 0.5 })],
    'jobs/cancel': ({ id }) => job(id, { status: 'cancelled', finishedAt: 10 }),
    'jobs/get': ({ id }) => job(id, { status: 'done', progress: 1, finishedAt: 5 }),
  })
  setIpc(api)
  createTestingPinia({ createSpy: vi.fn, stubActions: false })
})

describe('jobs store', () => {
  it('lists jobs and tracks progress pushes', async () => {
    const s = useJobsStore()
    await s.start()
    expect(s.running.map((j) => j.id)).toEqual(['j1'])
    expect(s.progress).toBe(0.5)
    api.emit('job/progress', job('j2', { progress: 0.1 }))
    expect(s.running).toHaveLength(2)
    expect(s.progress).toBeCloseTo(0.3)
    api.emit('job/progress', job('j1', { status: 'done', progress: 1, finishedAt: 3 }))
    expect(s.running.map((j) => j.id)).toEqual(['j2'])
  })

  it('cancels through jobs/cancel', async () => {
    const s = useJobsStore()
    await s.start()
    await s.cancel('j1')
    expect(api.calls.at(-1)).toEqual({ name: 'jobs/cancel', input: { id: 'j1' } })
    expect(s.byId.j1.status).toBe('cancelled')
    expect(s.progress).toBeNull()
  })

  it('waitFor resolves when the job finishes', async () => {
    const s = useJobsStore()
    const j = await s.waitFor('j7', 10)
    expect(j.status).toBe('done')
  })
})
