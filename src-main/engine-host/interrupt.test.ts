/**
 * Issue 13, break 4: a session's runaway statement must not stall the engine. The five-way cross join of
 * ITEMS through query/start keeps the worker answering pings, and query/cancel stops it (CANCELLED).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { build } from 'esbuild'
import { EngineClient } from './client'
import { buildTestWorker } from '../testing/worker-bundle'
import type { EngineRestartedView } from '../ipc/contract/system'

process.env.IDDB_TEST_CALLS = '1' // this file's host and workers serve the test-only calls (jobs/busy: contract/testing.ts)

const CROSS5 = 'SELECT COUNT(*) FROM ITEMS a, ITEMS b, ITEMS c, ITEMS d, ITEMS e'

/** Waits until `cond()` holds (polling), or fails after `ms`. */
async function until(cond: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const t0 = performance.now()
  while (!(await cond())) {
    if (performance.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

/** Resolves with the call's result, or 'no answer' once `ms` have passed (the worker is blocked). */
function within<T>(p: Promise<T>, ms: number): Promise<T | 'no answer'> {
  return Promise.race([p, new Promise<'no answer'>((r) => setTimeout(() => r('no answer'), ms))])
}

describe('a runaway query does not stall the engine', () => {
  let engine: EngineClient
  beforeAll(async () => {
    engine = await EngineClient.start({ workerPath: await buildTestWorker(), seed: 5, host: 'cli' })
    engine.actor = (await engine.call('console/setup', { password: 'test-pass-1' })).token // calls act as the HQ DBA
    await engine.call('query/run', { site: 'CMB', sql: 'SELECT COUNT(*) FROM ITEMS' }) // the data is loaded
  }, 60_000)
  afterAll(async () => { await engine?.close() })

  it('the five-way cross join via query/start: pings are answered while it runs, and query/cancel ends it CANCELLED', async () => {
    const job = await engine.call('query/start', { site: 'CMB', sql: CROSS5 })
    const result = engine.call('query/result', { jobId: job.id }).then(() => 'finished', (e: { code?: string }) => e.code)
    // the query is really running: its job reports it has reached the sub-query at the site
    let view = await engine.call('jobs/get', { id: job.id })
    expect(view.status).toBe('running')
    // other clients' pings are answered meanwhile (several, spread over the run)
    for (let i = 0; i < 5; i++) {
      const pong = await within(engine.call('system/ping', { sentAt: i }), 5000)
      expect(pong).toMatchObject({ sentAt: i })
      await new Promise((r) => setTimeout(r, 50))
    }
    view = await engine.call('jobs/get', { id: job.id })
    expect(view.status).toBe('running')
    // cancel: the call is answered and the job ends CANCELLED
    const cancelled = await within(engine.call('query/cancel', { jobId: job.id }), 5000)
    expect(cancelled).toMatchObject({ id: job.id })
    expect(await within(result, 10_000)).toBe('CANCELLED')
    // the engine still answers queries
    const r = await engine.call('query/run', { site: 'CMB', sql: 'SELECT COUNT(*) FROM ITEMS' })
    expect(Number(r.rows[0][0])).toBeGreaterThan(0)
  }, 60_000)
})

/** Bundles testing/hang-worker.ts (the real worker whose 'jobs/busy' blocks inside sql.js, outside the guard). */
async function buildHangWorker(): Promise<string> {
  const root = join(__dirname, '../..')
  const outfile = join(root, 'out', 'test-worker', String(process.pid), 'hang-worker.cjs')
  await build({
    entryPoints: [join(__dirname, 'testing/hang-worker.ts')], outfile, bundle: true, platform: 'node', format: 'cjs',
    target: 'node20', logLevel: 'error', external: ['sql.js', 'ws', 'electron'], logOverride: { 'empty-import-meta': 'silent' },
  })
  return outfile
}

describe('the watchdog restarts a hung worker', () => {
  let engine: EngineClient
  let dir: string
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'iddb-watchdog-'))
    engine = await EngineClient.start({ workerPath: await buildHangWorker(), seed: 3, host: 'cli', dataDir: join(dir, 'data'), watchdog: { hangMs: 2500, cancelMs: 500 } })
    engine.actor = (await engine.call('console/setup', { password: 'test-pass-1' })).token // calls act as the HQ DBA
    await engine.call('query/run', { site: 'CMB', sql: 'SELECT COUNT(*) FROM SALES' }) // the data is generated and persisted
  }, 120_000)
  afterAll(async () => { await engine?.close(); rmSync(dir, { recursive: true, force: true }) })

  it('a statement outside the guard hangs the worker: it is restarted from disk, waiting calls get ENGINE_RESTARTED, committed rows are kept', async () => {
    const upd = await engine.call('query/run', { site: 'CMB', sql: 'UPDATE SALES SET QTY = QTY + 1000, AMOUNT = (QTY + 1000) * UNITPRICE WHERE INVNO <= 40' })
    expect(upd.changes).toBe(40)
    const restarted: EngineRestartedView[] = []
    engine.on('engine/restarted', (v) => restarted.push(v))
    // the test worker's 'jobs/busy' runs the cross join on CMB's primary outside the guard: the worker blocks in wasm
    const hung = engine.request('jobs/busy', { ms: 1 })
    const ping = engine.request('system/ping', { sentAt: 1 })
    expect(await hung).toMatchObject({ ok: false, error: { code: 'ENGINE_RESTARTED' } })
    expect(await ping).toMatchObject({ ok: false, error: { code: 'ENGINE_RESTARTED' } })
    await until(() => restarted.length > 0, 10_000, 'the engine/restarted event')
    expect(restarted[0]).toMatchObject({ dataKept: true, failedCalls: 2 })
    expect(restarted[0].reason).toMatch(/sent nothing for 3 s/)
    expect(restarted[0].message).toMatch(/reopened from .*committed change is kept/)
    expect(engine.restarts).toBe(1)
    // the new worker answers and holds the committed update
    expect((await engine.call('system/ping', { sentAt: 2 })).sentAt).toBe(2)
    engine.actor = (await engine.call('console/login', { user: 'hqdba', password: 'test-pass-1' })).token // sessions end with the worker
    const r = await engine.call('query/run', { site: 'CMB', sql: 'SELECT COUNT(*) FROM SALES WHERE QTY >= 1000' })
    expect(r.rows[0][0]).toBe(40)
    const all = await engine.call('query/run', { site: 'CMB', sql: 'SELECT COUNT(*) FROM SALES' })
    expect(Number(all.rows[0][0])).toBeGreaterThan(1000)
  }, 120_000)

  it('a cancellation the worker does not answer restarts it at the cancel deadline, before the silence deadline', async () => {
    const restarted: EngineRestartedView[] = []
    engine.on('engine/restarted', (v) => restarted.push(v))
    const before = engine.restarts
    const hung = engine.request('jobs/busy', { ms: 1 })
    await new Promise((r) => setTimeout(r, 100)) // the worker is inside the statement
    const cancel = engine.request('jobs/cancel', { id: 'job-1' })
    expect(await cancel).toMatchObject({ ok: false, error: { code: 'ENGINE_RESTARTED' } })
    expect(await hung).toMatchObject({ ok: false, error: { code: 'ENGINE_RESTARTED' } })
    expect(engine.restarts).toBe(before + 1)
    expect(restarted[0].reason).toMatch(/cancellation \(jobs\/cancel\) was not answered within 1 s/)
    expect((await engine.call('system/ping', { sentAt: 3 })).sentAt).toBe(3)
    engine.actor = (await engine.call('console/login', { user: 'hqdba', password: 'test-pass-1' })).token // sessions end with the worker
    expect((await engine.call('query/run', { site: 'CMB', sql: 'SELECT COUNT(*) FROM SALES WHERE QTY >= 1000' })).rows[0][0]).toBe(40)
  }, 120_000)
})
