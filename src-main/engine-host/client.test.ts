import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { EngineClient, validateCall } from './client'
import { MAX_PAYLOAD_BYTES } from '../ipc/contract/define'
import { CALL_NAMES } from '../ipc/contract'
import { EngineError } from '../../engine/errors'
import { buildTestWorker } from '../testing/worker-bundle'

process.env.IDDB_TEST_CALLS = '1' // this file's host and workers serve the test-only calls (jobs/busy: contract/testing.ts)

describe('validateCall (the boundary check every transport uses)', () => {
  it('rejects an unknown call with UNKNOWN_CALL', () => {
    const r = validateCall('system/rm-rf', {})
    expect(r).toEqual({ ok: false, error: { code: 'UNKNOWN_CALL', message: 'unknown call "system/rm-rf"' } })
    expect(validateCall(42, {}).ok).toBe(false)
    expect(validateCall('__proto__', {})).toMatchObject({ ok: false, error: { code: 'UNKNOWN_CALL' } })
    expect(validateCall('toString', {})).toMatchObject({ ok: false, error: { code: 'UNKNOWN_CALL' } })
  })

  it('rejects a wrong shape with BAD_INPUT naming the field', () => {
    const r = validateCall('topology/failSite', { site: 'colombo' })
    expect(r.ok).toBe(false)
    if (r.ok) return
    expect(r.error.code).toBe('BAD_INPUT')
    expect(r.error.message).toContain('site:')
    expect(r.error.message).toContain('topology/failSite')
    const extra = validateCall('system/ping', { sentAt: 1, evil: true })
    expect(!extra.ok && extra.error.message).toContain('"evil"')
    const wrongType = validateCall('clock/setSpeed', { speed: 7 })
    expect(!wrongType.ok && wrongType.error).toMatchObject({ code: 'BAD_INPUT' })
    expect(!wrongType.ok && wrongType.error.message).toContain('speed')
    const nested = validateCall('topology/degradeLink', { link: 'CMB-MBI', lossRate: 2 })
    expect(!nested.ok && nested.error.message).toContain('lossRate')
  })

  it('rejects an oversized payload with PAYLOAD_TOO_LARGE before parsing it', () => {
    const r = validateCall('system/ping', { sentAt: 1, pad: 'x'.repeat(MAX_PAYLOAD_BYTES) })
    expect(r).toMatchObject({ ok: false, error: { code: 'PAYLOAD_TOO_LARGE' } })
    expect(!r.ok && r.error.message).toContain(String(MAX_PAYLOAD_BYTES))
  })

  it('accepts valid input, treats a missing input as {} and applies defaults', () => {
    expect(validateCall('topology/get', undefined)).toEqual({ ok: true, name: 'topology/get', input: {} })
    expect(validateCall('events/list', {})).toEqual({ ok: true, name: 'events/list', input: { afterSeq: 0, limit: 500 } })
  })
})

describe('EngineClient against the real worker thread', () => {
  let engine: EngineClient
  beforeAll(async () => {
    engine = await EngineClient.start({ workerPath: await buildTestWorker(), seed: 7, host: 'cli' })
    engine.actor = (await engine.call('console/setup', { password: 'test-pass-1' })).token // calls act as the HQ DBA
  })
  afterAll(async () => { await engine?.close() })

  it('answers ping and info from the worker', async () => {
    const pong = await engine.call('system/ping', { sentAt: 123 })
    expect(pong.sentAt).toBe(123)
    expect(typeof pong.engineNow).toBe('number')
    const info = await engine.call('system/info', {})
    expect(info).toMatchObject({ host: 'cli', seed: 7, sites: ['CMB', 'MBI', 'KDY'] })
  })

  it('returns ErrorInfo for bad calls and keeps serving', async () => {
    expect(await engine.request('nope/nope', {})).toMatchObject({ ok: false, error: { code: 'UNKNOWN_CALL' } })
    expect(await engine.request('topology/failSite', { site: 1 })).toMatchObject({ ok: false, error: { code: 'BAD_INPUT' } })
    expect(await engine.request('system/ping', { sentAt: 1, pad: 'y'.repeat(MAX_PAYLOAD_BYTES + 1) })).toMatchObject({ ok: false, error: { code: 'PAYLOAD_TOO_LARGE' } })
    const engineSide = await engine.request('topology/failSite', { site: 'XYZ' })
    expect(engineSide).toMatchObject({ ok: false, error: { code: 'UNKNOWN_SITE' } })
    await expect(engine.call('jobs/get', { id: 'job-999' })).rejects.toBeInstanceOf(EngineError)
    await expect(engine.call('jobs/get', { id: 'job-999' })).rejects.toMatchObject({ code: 'NOT_FOUND' })
    expect((await engine.call('system/ping', { sentAt: 9 })).sentAt).toBe(9)
  })

  it('relays events; on() returns an unsubscribe', async () => {
    const seen: string[] = []
    const off = engine.on('topology/changed', (t) => seen.push(t.sites.find((s) => s.code === 'KDY')!.health))
    await engine.call('topology/failSite', { site: 'KDY' })
    await engine.call('topology/restoreSite', { site: 'KDY' })
    await engine.call('system/ping', { sentAt: 0 }) // events are posted before results; flush
    expect(seen).toEqual(['down', 'ok'])
    off()
    await engine.call('topology/failLink', { link: 'CMB-KDY' })
    await engine.call('system/ping', { sentAt: 0 })
    expect(seen).toHaveLength(2)
    await engine.call('topology/restoreLink', { link: 'CMB-KDY' })
    expect(() => engine.on('no/such' as never, () => {})).toThrow(/unknown event/)
  })

  it('keeps answering pings while a busy job runs, and the job finishes', async () => {
    // functional: pings are answered while the job is still running (the round-trip times are a bench matter, bench/guard.ts)
    const job = await engine.call('jobs/busy', { ms: 1500 })
    expect(job.status).toBe('running')
    let answered = 0
    for (let i = 0; i < 10; i++) {
      expect((await engine.call('system/ping', { sentAt: i })).sentAt).toBe(i)
      answered++
    }
    let view = await engine.call('jobs/get', { id: job.id })
    expect(answered).toBe(10)
    expect(view.status).toBe('running')
    expect(view.progress).toBeGreaterThan(0)
    while (view.status === 'running') {
      await new Promise((r) => setTimeout(r, 50))
      view = await engine.call('jobs/get', { id: job.id })
    }
    expect(view.status).toBe('done')
    expect(view.progress).toBe(1)
  })

  it('cancels a job', async () => {
    const job = await engine.call('jobs/busy', { ms: 10_000 })
    // once it is really working (it has reported progress), cancel it
    let view = await engine.call('jobs/get', { id: job.id })
    while (view.status === 'running' && view.progress === 0) view = await engine.call('jobs/get', { id: job.id })
    expect(view.status).toBe('running')
    await engine.call('jobs/cancel', { id: job.id })
    view = await engine.call('jobs/get', { id: job.id })
    while (view.status === 'running') {
      await new Promise((r) => setTimeout(r, 20))
      view = await engine.call('jobs/get', { id: job.id })
    }
    expect(view.status).toBe('cancelled')
    expect(view.error?.code).toBe('CANCELLED')
  })

  it('every contract call reaches a handler (no UNKNOWN_CALL from the worker)', async () => {
    for (const name of CALL_NAMES) {
      const r = await engine.request(name, {})
      if (!r.ok) expect(r.error.code, name).not.toBe('UNKNOWN_CALL')
    }
    engine.actor = (await engine.call('console/login', { user: 'hqdba', password: 'test-pass-1' })).token // console/logout was among them
    await engine.call('clock/setSpeed', { speed: 0 })
  })
})
