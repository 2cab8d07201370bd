// @vitest-environment happy-dom
import { beforeEach, describe, expect, it, vi } from 'vitest'
import { createTestingPinia } from '@pinia/testing'
import { setIpc } from '../ipc/client'
import { createFakeApi, flush, type FakeApi } from '../testing/fakeApi'
import { useEventsStore, EVENT_CAP } from './events'
import type { EngineEventView } from '../../../engine/api/views'

let api: FakeApi
let log: EngineEventView[]
const ev = (seq: number, kind = 'failure', site?: string): EngineEventView => ({ seq, at: seq * 1000, kind, message: `event ${seq}`, ...(site ? { site } : {}) })

beforeEach(() => {
  log = [ev(1, 'failure', 'KDY'), ev(2, 'recovery', 'KDY'), ev(3, 'net')]
  api = createFakeApi({ 'events/list': ({ afterSeq = 0, limit = 500 }) => log.filter((e) => e.seq > afterSeq).slice(0, limit) })
  setIpc(api)
  createTestingPinia({ createSpy: vi.fn, stubActions: false })
})

describe('events store', () => {
  it('loads the backlog and appends live events, newest first', async () => {
    const s = useEventsStore()
    await s.start()
    expect(s.events.map((e) => e.seq)).toEqual([1, 2, 3])
    log.push(ev(4))
    api.emit('engine/event', ev(4))
    api.emit('engine/event', ev(4)) // duplicate ignored
    expect(s.visible.map((e) => e.seq)).toEqual([4, 3, 2, 1])
  })

  it('fills a gap in pushed events from events/list', async () => {
    const s = useEventsStore()
    await s.start()
    log.push(ev(4), ev(5))
    api.emit('engine/event', ev(5))
    await flush()
    expect(s.events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5])
  })

  it('filters by kind, site and text', async () => {
    const s = useEventsStore()
    await s.start()
    s.filterSite = 'KDY'
    expect(s.visible.map((e) => e.seq)).toEqual([2, 1])
    s.filterKind = 'failure'
    expect(s.visible.map((e) => e.seq)).toEqual([1])
    s.clearFilters()
    s.filterText = 'EVENT 3'
    expect(s.visible.map((e) => e.seq)).toEqual([3])
    expect(s.kinds).toEqual(['failure', 'net', 'recovery'])
    expect(s.sites).toEqual(['KDY'])
  })

  it('keeps at most EVENT_CAP events', async () => {
    log = Array.from({ length: EVENT_CAP + 10 }, (_, i) => ev(i + 1))
    const s = useEventsStore()
    await s.start()
    expect(s.events.length).toBe(EVENT_CAP)
    expect(s.events[0].seq).toBe(11)
  })
})
