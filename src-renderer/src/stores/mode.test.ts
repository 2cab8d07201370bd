// @vitest-environment happy-dom
import { beforeEach, describe, expect, it, vi } from 'vitest'
import { createTestingPinia } from '@pinia/testing'
import { setIpc } from '../ipc/client'
import { createFakeApi, type FakeApi } from '../testing/fakeApi'
import { useModeStore } from './mode'
import { useConnectionStore } from './connection'
import type { JobView } from '../../../engine/api/views'

const job = (id: string, over: Partial<JobView> = {}): JobView => ({ id, kind: 'mode', label: 'mode', status: 'running', progress: 0, startedAt: 1, ...over })

let api: FakeApi
let finals: Record<string, JobView>
let sent: unknown[]
beforeEach(() => {
  finals = {}
  sent = []
  api = createFakeApi({
    'jobs/get': ({ id }) => finals[id] ?? job(id),
    'system/setMode': (input) => {
      sent.push(input)
      if (input.confirm !== input.mode) throw { code: 'BAD_INPUT', message: `type the mode's name "${input.mode}"` }
      if (input.deployment === '/nowhere') throw { code: 'NOT_FOUND', message: '/nowhere has no pg.json' }
      finals.m1 = job('m1', { status: 'done', progress: 1 })
      return job('m1')
    },
  })
  setIpc(api)
  createTestingPinia({ createSpy: vi.fn, stubActions: false })
})

describe('mode store', () => {
  it('switches to live with the typed deployment, then starts the page again; a refusal changes nothing and is shown', async () => {
    const m = useModeStore()
    const restart = vi.fn()
    m.setRestart(restart)
    expect(m.mode).toBe('simulation')
    m.deployment = '  /nowhere '
    expect(await m.setMode('live', 'live')).toBe(false)
    expect(m.errors.switch).toMatchObject({ code: 'NOT_FOUND' })
    expect(restart).not.toHaveBeenCalled()
    expect(await m.setMode('live', 'liv')).toBe(false)
    expect(m.errors.switch).toMatchObject({ code: 'BAD_INPUT' })
    m.deployment = '/srv/iddb-pg'
    expect(await m.setMode('live', 'live')).toBe(true)
    expect(sent.at(-1)).toEqual({ mode: 'live', confirm: 'live', deployment: '/srv/iddb-pg' })
    expect(m.errors.switch).toBeNull()
    expect(restart).toHaveBeenCalledTimes(1)
  })

  it('knows live mode from the host info and sends no deployment to return to the simulation', async () => {
    const c = useConnectionStore()
    c.info = { version: '1', host: 'browser', seed: 1, dataDir: null, sites: ['CMB'], live: { deployment: '/srv/x', servers: [] } }
    const m = useModeStore()
    m.setRestart(() => {})
    expect(m.mode).toBe('live')
    expect(await m.setMode('simulation', 'simulation')).toBe(true)
    expect(sent.at(-1)).toEqual({ mode: 'simulation', confirm: 'simulation' })
  })
})
