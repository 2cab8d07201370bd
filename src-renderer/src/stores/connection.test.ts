// @vitest-environment happy-dom
import { beforeEach, describe, expect, it, vi } from 'vitest'
import { createTestingPinia } from '@pinia/testing'
import { setIpc } from '../ipc/client'
import { createFakeApi, type FakeApi } from '../testing/fakeApi'
import { useConnectionStore } from './connection'

let api: FakeApi
beforeEach(() => {
  api = createFakeApi({ 'system/info': () => ({ version: '0', host: 'browser', seed: 1, dataDir: null, sites: ['CMB'], live: null }) })
  setIpc(api)
  createTestingPinia({ createSpy: vi.fn, stubActions: false })
})

describe('connection store: engine restarts', () => {
  it('keeps the watchdog\'s engine/restarted message for the banner and reloads the stores', async () => {
    const s = useConnectionStore()
    let reloads = 0
    s.onReconnect(() => { reloads++ })
    await s.start()
    expect(s.restarted).toBeNull()
    const view = { at: 1, reason: 'the engine sent nothing for 20 s', dataKept: false, failedCalls: 2, message: 'The engine was restarted: … the changes made since it started are lost.' }
    api.emit('engine/restarted', view)
    expect(s.restarted).toEqual(view)
    expect(reloads).toBe(1)
  })
})
