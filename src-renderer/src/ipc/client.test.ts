// @vitest-environment happy-dom
import { afterEach, describe, expect, it, vi } from 'vitest'
import { IpcError, WsTransport, toIpcError, wrapApi, wsUrlFor, type WsLike } from './client'
import { createFakeApi } from '../testing/fakeApi'

class FakeSocket implements WsLike {
  static all: FakeSocket[] = []
  readyState = 0
  sent: unknown[] = []
  onopen: ((ev: unknown) => void) | null = null
  onclose: ((ev: unknown) => void) | null = null
  onerror: ((ev: unknown) => void) | null = null
  onmessage: ((ev: { data: unknown }) => void) | null = null
  constructor(public url: string) { FakeSocket.all.push(this) }
  send(d: string) { this.sent.push(JSON.parse(d)) }
  close() { this.readyState = 3; this.onclose?.({}) }
  open() { this.readyState = 1; this.onopen?.({}) }
  reply(m: unknown) { this.onmessage?.({ data: JSON.stringify(m) }) }
}

afterEach(() => { FakeSocket.all = []; vi.useRealTimers() })

const make = (o: Partial<ConstructorParameters<typeof WsTransport>[0]> = {}) =>
  new WsTransport({ url: 'ws://127.0.0.1:1/ipc?token=t', createSocket: (u) => new FakeSocket(u), reconnectMs: 10, ...o })

describe('wsUrlFor', () => {
  it('derives the WebSocket URL and token from the page location', () => {
    expect(wsUrlFor({ protocol: 'http:', host: '127.0.0.1:5173', search: '?token=ab%2Bc' })).toBe('ws://127.0.0.1:5173/ipc?token=ab%2Bc')
  })
})

describe('WsTransport', () => {
  it('queues calls until open, matches results by id', async () => {
    const t = make()
    const p1 = t.call('system/ping', { sentAt: 1 })
    const p2 = t.call('clock/get', {})
    const s = FakeSocket.all[0]
    expect(s.sent).toEqual([])
    s.open()
    expect(s.sent).toEqual([{ t: 'call', id: 1, name: 'system/ping', input: { sentAt: 1 } }, { t: 'call', id: 2, name: 'clock/get', input: {} }])
    s.reply({ t: 'result', id: 2, ok: true, value: { now: 5 } })
    s.reply({ t: 'result', id: 1, ok: true, value: { sentAt: 1, engineNow: 9 } })
    await expect(p2).resolves.toEqual({ now: 5 })
    await expect(p1).resolves.toEqual({ sentAt: 1, engineNow: 9 })
    t.close()
  })

  it('rejects with IpcError carrying ErrorInfo', async () => {
    const t = make()
    const s = FakeSocket.all[0]; s.open()
    const p = t.call('topology/failSite', { site: 'XXX' })
    s.reply({ t: 'result', id: 1, ok: false, error: { code: 'UNKNOWN_SITE', message: 'unknown site XXX', site: 'XXX' } })
    const e = await p.catch((x) => x)
    expect(e).toBeInstanceOf(IpcError)
    expect(e.info).toEqual({ code: 'UNKNOWN_SITE', message: 'unknown site XXX', site: 'XXX' })
    t.close()
  })

  it('times out a call with no answer', async () => {
    vi.useFakeTimers()
    const t = make({ timeoutMs: 100 })
    FakeSocket.all[0].open()
    const p = t.call('clock/get', {}).catch((e) => e)
    vi.advanceTimersByTime(150)
    expect((await p).code).toBe('TIMEOUT')
    t.close()
  })

  it('dispatches pushed events to listeners and unsubscribes', () => {
    const t = make()
    const s = FakeSocket.all[0]; s.open()
    const got: unknown[] = []
    const off = t.on('engine/event', (e) => got.push(e.seq))
    s.reply({ t: 'event', name: 'engine/event', payload: { seq: 7, at: 0, kind: 'x', message: 'm' } })
    off()
    s.reply({ t: 'event', name: 'engine/event', payload: { seq: 8, at: 0, kind: 'x', message: 'm' } })
    expect(got).toEqual([7])
    t.close()
  })

  it('fails in-flight calls on disconnect and reconnects with the same listeners', async () => {
    vi.useFakeTimers()
    const t = make()
    const states: string[] = []
    t.onState((x) => states.push(x))
    const s = FakeSocket.all[0]; s.open()
    const got: number[] = []
    t.on('engine/event', (e) => got.push(e.seq))
    const p = t.call('clock/get', {}).catch((e) => e)
    s.close()
    expect((await p).code).toBe('UNREACHABLE')
    vi.advanceTimersByTime(20)
    const s2 = FakeSocket.all[1]
    expect(s2).toBeDefined()
    s2.open()
    s2.reply({ t: 'event', name: 'engine/event', payload: { seq: 1, at: 0, kind: 'x', message: 'm' } })
    expect(got).toEqual([1])
    expect(states).toEqual(['open', 'closed', 'connecting', 'open'])
    t.close()
  })

  it('after a loss, a call made while reconnecting fails at once instead of waiting for the host', async () => {
    vi.useFakeTimers()
    const t = make()
    const s = FakeSocket.all[0]; s.open()
    s.close()
    const e = await t.call('clock/get', {}).catch((x) => x)
    expect(e).toBeInstanceOf(IpcError)
    expect(e.code).toBe('UNREACHABLE')
    expect(e.message).toContain('not reachable')
    vi.advanceTimersByTime(20)
    FakeSocket.all[1].open()
    const p = t.call('clock/get', {})
    const sent = FakeSocket.all[1].sent as { id: number }[]
    FakeSocket.all[1].reply({ t: 'result', id: sent[sent.length - 1].id, ok: true, value: 7 })
    expect(await p).toBe(7)
    t.close()
  })

  it('ignores malformed frames', () => {
    const t = make()
    const s = FakeSocket.all[0]; s.open()
    expect(() => s.onmessage?.({ data: 'not json' })).not.toThrow()
    t.close()
  })
})

describe('wrapApi / toIpcError', () => {
  it('wraps a bridged API so rejections are IpcError', async () => {
    const fake = createFakeApi({ 'clock/get': () => { throw { code: 'SITE_DOWN', message: 'down', site: 'KDY' } } })
    const c = wrapApi(fake)
    const e = await c.call('clock/get', {}).catch((x) => x)
    expect(e).toBeInstanceOf(IpcError)
    expect(e.code).toBe('SITE_DOWN')
    expect(e.site).toBe('KDY')
  })

  it('recovers codes from Electron-style error messages', () => {
    expect(toIpcError(new Error("Error invoking remote method 'topology/failSite': Error: UNKNOWN_SITE: unknown site XXX")).info).toEqual({ code: 'UNKNOWN_SITE', message: 'unknown site XXX' })
    expect(toIpcError(new Error('boom')).info).toEqual({ code: 'INTERNAL', message: 'boom' })
    expect(toIpcError('x').code).toBe('INTERNAL')
  })
})
