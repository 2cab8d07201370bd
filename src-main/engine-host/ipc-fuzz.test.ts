/**
 * Fuzzing every IPC call (issue 13): each name in the contract gets damaged inputs (wrong types, missing
 * fields, prototype-pollution keys, huge strings, deep nesting); the read-only calls also get schema-valid
 * hostile values (odd names, SQL garbage). Deterministic (fixed fast-check seed) and bounded (numRuns).
 * After the run: the engine worker is the same one (its virtual clock did not start over, it never exited),
 * it answers a ping, and every fragment's rows hash to what they were before.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import fc from 'fast-check'
import { EngineClient, validateCall } from './client'
import { buildTestWorker } from '../testing/worker-bundle'
import { ALL_CALLS, READ_ONLY_CALLS, TEST_CALL_SAMPLES, VALID_SAMPLES, dataChecksum, garbageInput, hostileShapedInput } from '../testing/fuzz'
import { CALL_NAMES, TEST_CALL_NAMES, type CallName } from '../ipc/contract'

const SEED = 1313
const DAY = 86_400_000

describe('IPC fuzzing: every call, garbage in, the engine and its data untouched', () => {
  let engine: EngineClient
  let before: Awaited<ReturnType<typeof dataChecksum>>
  let clockBefore = 0
  const errors = vi.spyOn(console, 'error')
  const call = (name: string, input: unknown) => engine.request(name, input)

  beforeAll(async () => {
    engine = await EngineClient.start({ workerPath: await buildTestWorker(), seed: 11, host: 'cli' })
    engine.actor = (await engine.call('console/setup', { password: 'fuzz-pass-1' })).token // calls act as the HQ DBA
    // A marker a restarted worker would not have: the virtual clock moved a day ahead.
    const c = await engine.request('clock/advance', { ms: DAY })
    expect(c.ok).toBe(true)
    clockBefore = (await engine.call('system/ping', { sentAt: 0 })).engineNow
    before = await dataChecksum(call)
    expect(before.rows).toBeGreaterThan(0)
  })
  afterAll(async () => { await engine?.close() })

  it('has a valid sample for every call in the contract', () => {
    expect(Object.keys(VALID_SAMPLES).sort()).toEqual([...ALL_CALLS].sort())
    for (const name of ALL_CALLS) expect(validateCall(name, VALID_SAMPLES[name]), name).toMatchObject({ ok: true })
  })

  it('has a valid sample for every test-only call, and a host without IDDB_TEST_CALLS does not serve them', () => {
    expect(Object.keys(TEST_CALL_SAMPLES).sort()).toEqual([...TEST_CALL_NAMES].sort())
    const saved = process.env.IDDB_TEST_CALLS
    try {
      delete process.env.IDDB_TEST_CALLS
      for (const name of TEST_CALL_NAMES) {
        expect(CALL_NAMES as string[]).not.toContain(name)
        expect(validateCall(name, TEST_CALL_SAMPLES[name]), name).toMatchObject({ ok: false, error: { code: 'UNKNOWN_CALL' } })
      }
      process.env.IDDB_TEST_CALLS = '1'
      for (const name of TEST_CALL_NAMES) expect(validateCall(name, TEST_CALL_SAMPLES[name]), name).toMatchObject({ ok: true })
    } finally {
      if (saved === undefined) delete process.env.IDDB_TEST_CALLS
      else process.env.IDDB_TEST_CALLS = saved
    }
  })

  it('rejects damaged inputs to every call with the boundary error, nothing run', async () => {
    let sent = 0
    for (const name of ALL_CALLS) {
      await fc.assert(fc.asyncProperty(garbageInput(name), async (input) => {
        const local = validateCall(name, input)
        fc.pre(!local.ok)
        const r = await engine.request(name, input)
        sent++
        expect(r.ok, `${name} ${JSON.stringify(input)?.slice(0, 200)}`).toBe(false)
        if (!r.ok && !local.ok) expect(r.error.code).toBe(local.error.code)
      }), { seed: SEED, numRuns: 25 })
    }
    expect(sent).toBeGreaterThan(ALL_CALLS.length * 15)
  })

  it('answers unknown and hostile call names with UNKNOWN_CALL', async () => {
    await fc.assert(fc.asyncProperty(fc.oneof(fc.string({ unit: 'binary', maxLength: 100 }), fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty', 'system/ping/', 'SYSTEM/PING', 'system/ping\u0000'), fc.jsonValue()), async (name) => {
      fc.pre(!(typeof name === 'string' && (ALL_CALLS as string[]).includes(name)))
      const r = await engine.request(name, {})
      expect(r).toMatchObject({ ok: false, error: { code: 'UNKNOWN_CALL' } })
    }), { seed: SEED, numRuns: 200 })
  })

  it('answers hostile but well-shaped inputs to the read-only calls with a value or a clear error', async () => {
    for (const name of READ_ONLY_CALLS) {
      await fc.assert(fc.asyncProperty(hostileShapedInput(name as CallName), async (input) => {
        const r = await engine.request(name, input)
        if (!r.ok) {
          expect(typeof r.error.code, name).toBe('string')
          expect(typeof r.error.message, name).toBe('string')
          expect(r.error.code, `${name} ${JSON.stringify(input).slice(0, 200)}: ${r.error.message}`).not.toBe('INTERNAL')
        }
      }), { seed: SEED, numRuns: 20 })
    }
  })

  it('leaves the same engine alive with its data unchanged', async () => {
    const pong = await engine.call('system/ping', { sentAt: 42 })
    expect(pong.sentAt).toBe(42)
    expect(pong.engineNow).toBeGreaterThanOrEqual(clockBefore)
    expect(errors.mock.calls.filter((c) => String(c[0]).includes('worker exited'))).toEqual([])
    expect(await dataChecksum(call)).toEqual(before)
  })
})
