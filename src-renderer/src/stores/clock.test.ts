// @vitest-environment happy-dom
import { beforeEach, describe, expect, it, vi } from 'vitest'
import { createTestingPinia } from '@pinia/testing'
import { setIpc } from '../ipc/client'
import { createFakeApi, flush, type FakeApi } from '../testing/fakeApi'
import { fixtureClock } from '../testing/fixtures'
import { useClockStore } from './clock'

let api: FakeApi
beforeEach(() => {
  api = createFakeApi({
    'clock/get': () => fixtureClock(),
    'clock/setSpeed': ({ speed }) => fixtureClock({ speed, running: speed > 0 }),
    'clock/advance': ({ ms }) => fixtureClock({ now: ms }),
  })
  setIpc(api)
  createTestingPinia({ createSpy: vi.fn, stubActions: false })
})

describe('clock store', () => {
  it('loads the clock and follows engine ticks', async () => {
    const s = useClockStore()
    await s.start()
    expect(s.clock?.local).toBe('2026-11-23 08:30:00')
    api.emit('engine/tick', { clock: fixtureClock({ local: '2026-11-23 08:31:00', speed: 60, running: true }), health: {} })
    expect(s.clock?.local).toBe('2026-11-23 08:31:00')
    expect(s.running).toBe(true)
    s.stop()
    expect(api.listenerCount('engine/tick')).toBe(0)
  })

  it('start is idempotent (one subscription)', async () => {
    const s = useClockStore()
    await s.start(); await s.start()
    expect(api.listenerCount('engine/tick')).toBe(1)
  })

  it('sets the speed through clock/setSpeed', async () => {
    const s = useClockStore()
    await s.setSpeed(3600)
    expect(api.calls.at(-1)).toEqual({ name: 'clock/setSpeed', input: { speed: 3600 } })
    expect(s.speed).toBe(3600)
    await s.setSpeed(0)
    expect(s.running).toBe(false)
  })

  it('keeps the error as ErrorInfo when a call fails', async () => {
    api.handlers['clock/setSpeed'] = () => { throw { code: 'BAD_INPUT', message: 'no such speed' } }
    const s = useClockStore()
    await s.setSpeed(60)
    expect(s.error).toEqual({ code: 'BAD_INPUT', message: 'no such speed' })
    expect(s.busy).toBe(false)
    await flush()
  })
})
