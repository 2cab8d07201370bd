// @vitest-environment happy-dom
import { beforeEach, describe, expect, it, vi } from 'vitest'
import { setIpc } from '../ipc/client'
import { createFakeApi, type FakeApi } from '../testing/fakeApi'
import { fixtureClock, fixtureTopology } from '../testing/fixtures'
import { useLiveRefresh } from './useLiveRefresh'

let api: FakeApi
beforeEach(() => { api = createFakeApi({}); setIpc(api) })

describe('useLiveRefresh', () => {
  it('one load at a time; reloads on topology changes at once and on ticks at most every tickMs; stop unsubscribes', async () => {
    let loads = 0
    let release: () => void = () => {}
    const live = useLiveRefresh(() => { loads++; return new Promise<void>((r) => { release = r }) }, { tickMs: 1000 })
    const now = vi.spyOn(Date, 'now').mockReturnValue(10_000)
    const first = live.start()
    void live.start() // idempotent: one subscription each, the running load shared
    expect(loads).toBe(1)
    expect(api.listenerCount('topology/changed')).toBe(1)
    expect(api.listenerCount('engine/tick')).toBe(1)
    release(); await first
    api.emit('engine/tick', { clock: fixtureClock(), health: {} }) // 0 ms since the last load: throttled
    expect(loads).toBe(1)
    api.emit('topology/changed', fixtureTopology()) // a topology change reloads at once
    expect(loads).toBe(2)
    api.emit('topology/changed', fixtureTopology()) // ...but never two loads at once
    expect(loads).toBe(2)
    release(); await live.refresh()
    now.mockReturnValue(11_500)
    api.emit('engine/tick', { clock: fixtureClock(), health: {} })
    expect(loads).toBe(3)
    release()
    live.stop()
    expect(api.listenerCount('topology/changed')).toBe(0)
    expect(api.listenerCount('engine/tick')).toBe(0)
    now.mockRestore()
  })
})
