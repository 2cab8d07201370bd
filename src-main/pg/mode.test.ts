/**
 * The console's mode switch (system/setMode, the start screen's choice) through the real engine worker: a console
 * started as the simulation opens the live servers of a deployment — its queries and transactions then run there,
 * the identities carried over — and returns to the simulation; a directory that is not a deployment, or a wrong confirmation, is refused and leaves
 * the mode as it was.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chmodSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { EngineClient } from '../engine-host/client'
import { buildTestWorker } from '../testing/worker-bundle'
import { pgDown, pgUp, type PgUpResult } from './deploy'
import { pgUnavailableReason } from './servers'
import { atSite, freePorts } from './testserver'
import type { JobView } from '../../engine/api/views'

const why = pgUnavailableReason()

describe.skipIf(why !== null)(`the console's mode: simulation ⇄ live servers${why ? ` (skipped: ${why})` : ''}`, () => {
  let dir = ''
  let up: PgUpResult
  let engine: EngineClient
  const at = (site: string, sql: string, database?: string): Promise<any[]> => atSite(dir, up.deployment, site, sql, database)
  /** Waits for the switch's job; the session ends with the switch, so the identity logs in again (as the console does). */
  const waitJob = async (j: JobView): Promise<JobView> => {
    for (;;) {
      let v: JobView
      try { v = await engine.call('jobs/get', { id: j.id }) } catch (e) {
        if ((e as { code?: string }).code !== 'AUTH_FAILED') throw e
        await login()
        continue
      }
      if (v.status !== 'running') return v
      await new Promise((ok) => setTimeout(ok, 50))
    }
  }
  const login = async () => { engine.actor = (await engine.call('console/login', { user: 'hqdba', password: 'test-pass-1' })).token }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'iddb-pgmode-'))
    chmodSync(dir, 0o755)
    up = await pgUp({ dataDir: dir, seed: 23, sales: 300, basePort: await freePorts(6, 39000), durable: false })
    engine = await EngineClient.start({ workerPath: await buildTestWorker(), seed: 7, host: 'cli' })
    engine.actor = (await engine.call('console/setup', { user: 'hqdba', password: 'test-pass-1' })).token
  }, 300_000)

  afterAll(async () => {
    await engine?.close()
    if (dir) { try { pgDown(dir) } finally { rmSync(dir, { recursive: true, force: true }) } }
  })

  it('refuses a directory that is not a deployment, and a wrong confirmation, changing nothing', async () => {
    await expect(engine.call('system/setMode', { mode: 'live', deployment: tmpdir(), confirm: 'live' })).rejects.toMatchObject({ code: expect.stringMatching(/NOT_FOUND|CORRUPT_DATA|BAD_INPUT/) })
    await expect(engine.call('system/setMode', { mode: 'live', deployment: dir, confirm: 'simulation' })).rejects.toMatchObject({ code: 'BAD_INPUT' })
    await expect(engine.call('system/setMode', { mode: 'simulation', confirm: 'simulation' })).rejects.toMatchObject({ code: 'CONFLICT' })
    expect((await engine.call('system/info', {})).live).toBeNull()
  })

  it('opens the live servers: queries count the servers\' rows, identities carried over; then back to the simulation', async () => {
    const j = await engine.call('system/setMode', { mode: 'live', deployment: dir, confirm: 'live' })
    const end = await waitJob(j)
    expect(end.status, end.error?.message).toBe('done')
    // the sessions ended with the old cluster; the same identity logged in again (waitJob)
    // the HQ DBA existed before live mode: its role at Colombo got its SCRAM verifier at that first login, and the
    // server decides from now on (a wrong password is refused there)
    expect(await at('CMB', "SELECT left(rolpassword, 14) AS v FROM pg_authid WHERE rolname = 'iddb_u_hqdba'")).toEqual([{ v: 'SCRAM-SHA-256$' }])
    await expect(engine.call('console/login', { user: 'hqdba', password: 'wrong-pass-1' })).rejects.toMatchObject({ code: 'AUTH_FAILED' })
    const info = await engine.call('system/info', {})
    expect(info.live?.servers.map((s) => [s.site, s.up])).toEqual(up.deployment.sites.map((s) => [s.code, true]))
    // a sale changed at the server beside the console is what the console's query sees: it reads the servers
    const [row] = await at('KDY', 'SELECT "INVNO" AS i FROM "Sales_KDY" ORDER BY "INVNO" LIMIT 1')
    await at('KDY', `UPDATE "Sales_KDY" SET "EMPNO" = 424242 WHERE "INVNO" = ${row.i}`)
    const r = await engine.call('query/run', { site: 'KDY', sql: `SELECT EMPNO FROM SALES WHERE INVNO = ${row.i} AND BRCODE = 'KDY'` })
    expect(r.rows).toEqual([[424242]])
    // simulation-only calls are refused now
    await expect(engine.call('clock/setSpeed', { speed: 60 })).rejects.toMatchObject({ code: 'UNSUPPORTED' })

    const back = await waitJob(await engine.call('system/setMode', { mode: 'simulation', confirm: 'simulation' }))
    expect(back.status, back.error?.message).toBe('done')
    await login()
    expect((await engine.call('system/info', {})).live).toBeNull()
    const sim = await engine.call('query/run', { site: 'KDY', sql: `SELECT EMPNO FROM SALES WHERE INVNO = ${row.i} AND BRCODE = 'KDY'` })
    expect(sim.rows).not.toEqual([[424242]])
    await engine.call('clock/setSpeed', { speed: 0 })
  })
})
