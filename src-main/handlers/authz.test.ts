import { describe, expect, it } from 'vitest'
import { Cluster } from '../../engine/cluster'
import { ACTIONS } from '../../engine/security/roles'
import { JobRunner } from '../engine-host/jobs'
import { ConnectionIdentity } from '../engine-host/binding'
import { CALL_NAMES, TEST_CALL_NAMES, calls, type CallName } from '../ipc/contract'
import type { RawResult } from '../engine-host/client'
import { toErrorInfo } from '../../engine/errors'
import { handlers } from './index'
import type { HandlerContext } from './context'

/** An in-process stand-in for EngineClient + worker: validates, passes the bound token as the worker does. */
async function engineFor(): Promise<{ request(name: unknown, input: unknown, actor?: string): Promise<RawResult>; cluster: Cluster }> {
  const cluster = await Cluster.create({ seed: 11, sales: 0 })
  const base: HandlerContext = { cluster, jobs: new JobRunner(() => {}), host: 'cli', dataDir: null, emit: () => {}, clock: { speed: 0, setSpeed: () => {} } }
  return {
    cluster,
    async request(name, input, actor) {
      const n = name as CallName
      try {
        const parsed = calls[n].input.parse(input ?? {})
        const h = handlers[n] as (c: HandlerContext, i: unknown) => Promise<unknown>
        return { ok: true, value: await h(actor ? { ...base, actorToken: actor } : base, parsed) }
      } catch (e) { return { ok: false, error: toErrorInfo(e) } }
    },
  }
}

const PW = 'hq-secret-pass'

describe('every IPC call is authorized by the engine for the identity bound to its connection', () => {
  it('the roles table covers exactly the contract calls (shipped, and the test-only ones test hosts serve)', () => {
    expect(Object.keys(ACTIONS).sort()).toEqual([...CALL_NAMES, ...TEST_CALL_NAMES].sort())
  })

  it('before login only ping, info, status, setup, login and resume answer', async () => {
    const engine = await engineFor()
    const conn = new ConnectionIdentity()
    expect(await conn.request(engine, 'system/ping', { sentAt: 1 })).toMatchObject({ ok: true })
    expect(await conn.request(engine, 'console/status', {})).toMatchObject({ ok: true, value: { setupNeeded: true, hq: 'CMB' } })
    expect(await conn.request(engine, 'topology/get', {})).toMatchObject({ ok: false, error: { code: 'AUTH_FAILED' } })
    expect(await conn.request(engine, 'topology/failSite', { site: 'CMB' })).toMatchObject({ ok: false, error: { code: 'AUTH_FAILED' } })
    expect(engine.cluster.isSiteUp('CMB')).toBe(true)
    // a token that was never issued is refused, not taken as anyone
    expect(await engine.request('topology/get', {}, 'f'.repeat(32))).toMatchObject({ ok: false, error: { code: 'AUTH_FAILED' } })
  })

  it('first run creates the HQ DBA (once); it creates a Kandy administrator and an auditor; each acts within its role', async () => {
    const engine = await engineFor()
    const hq = new ConnectionIdentity()
    const setup = await hq.request(engine, 'console/setup', { password: PW })
    expect(setup).toMatchObject({ ok: true, value: { name: 'hqdba', role: 'hq-dba', home: 'CMB', clearance: 'SECRET' } })
    expect(hq.bound).toBe(true)
    expect(await new ConnectionIdentity().request(engine, 'console/setup', { password: 'another-pass' })).toMatchObject({ ok: false, error: { code: 'CONFLICT' } })
    expect(await hq.request(engine, 'console/addIdentity', { user: 'kandy', password: 'kandy-pass-1', role: 'branch-admin', site: 'KDY' })).toMatchObject({ ok: true, value: { home: 'KDY', site: 'KDY' } })
    expect(await hq.request(engine, 'console/addIdentity', { user: 'audrey', password: 'audit-pass-1', role: 'auditor', clearance: 'SECRET' })).toMatchObject({ ok: true, value: { home: 'CMB' } })
    expect(await hq.request(engine, 'console/addIdentity', { user: 'x1', password: 'whatever-1', role: 'branch-admin' })).toMatchObject({ ok: false, error: { code: 'BAD_INPUT' } })

    const kandy = new ConnectionIdentity()
    expect(await kandy.request(engine, 'console/login', { user: 'kandy', password: 'wrong-pass-1' })).toMatchObject({ ok: false, error: { code: 'AUTH_FAILED' } })
    expect(kandy.bound).toBe(false)
    expect(await kandy.request(engine, 'console/login', { user: 'kandy', password: 'kandy-pass-1' })).toMatchObject({ ok: true, value: { role: 'branch-admin', site: 'KDY', level: 'INTERNAL' } })
    const refused = await kandy.request(engine, 'topology/failSite', { site: 'CMB' })
    expect(refused).toMatchObject({ ok: false, error: { code: 'ACCESS_DENIED', site: 'CMB' } })
    expect(!refused.ok && refused.error.message).toMatch(/kandy \(branch administrator of KDY\) may not fail a site at CMB/)
    expect(engine.cluster.isSiteUp('CMB')).toBe(true)
    expect(await kandy.request(engine, 'replication/recover', { site: 'MBI', from: 'repository', confirm: 'MBI' })).toMatchObject({ ok: false, error: { code: 'ACCESS_DENIED' } })
    expect(await kandy.request(engine, 'topology/failSite', { site: 'KDY' })).toMatchObject({ ok: true })
    expect(engine.cluster.isSiteUp('KDY')).toBe(false)
    expect(await kandy.request(engine, 'topology/restoreSite', { site: 'KDY' })).toMatchObject({ ok: true })
    expect(await kandy.request(engine, 'console/addIdentity', { user: 'mine', password: 'mine-pass-1', role: 'hq-dba' })).toMatchObject({ ok: false, error: { code: 'ACCESS_DENIED' } })
    // the console identity cannot be reset behind the HQ DBA's back through the plain user calls
    expect(await kandy.request(engine, 'security/setPassword', { site: 'KDY', user: 'kandy', password: 'new-pass-12' })).toMatchObject({ ok: false, error: { code: 'ACCESS_DENIED' } })

    const audrey = new ConnectionIdentity()
    expect(await audrey.request(engine, 'console/login', { user: 'audrey', password: 'audit-pass-1' })).toMatchObject({ ok: true })
    expect(await audrey.request(engine, 'topology/get', {})).toMatchObject({ ok: true })
    for (const [name, input] of [['topology/failSite', { site: 'MBI' }], ['clock/setSpeed', { speed: 60 }], ['security/addUser', { site: 'CMB', user: 'eve', password: 'eve-pass-12', clearance: 'PUBLIC' }], ['query/run', { site: 'CMB', sql: 'DELETE FROM SALES' }]] as const) {
      const r = await audrey.request(engine, name, input)
      expect(r, name).toMatchObject({ ok: false, error: { code: 'ACCESS_DENIED' } })
      expect(!r.ok && r.error.message).toContain('audrey (auditor)')
    }

    // every refusal and change is in the audit log, which the auditor can search; the chain verifies
    const search = await audrey.request(engine, 'audit/search', { user: 'kandy', text: 'refused' })
    const entries = (search.ok ? (search.value as { entries: { action: string; site: string; detail: string }[] }).entries : [])
    expect(entries.map((e) => e.action)).toEqual(expect.arrayContaining(['topology/failSite', 'replication/recover', 'console/addIdentity', 'security/setPassword']))
    expect(entries.find((e) => e.action === 'topology/failSite')).toMatchObject({ site: 'CMB' })
    const done = await audrey.request(engine, 'audit/search', { user: 'kandy', action: 'topology/', ok: true })
    expect(done.ok && (done.value as { entries: { action: string }[] }).entries.map((e) => e.action)).toEqual(['topology/restoreSite', 'topology/failSite'])
    expect(await audrey.request(engine, 'audit/verify', {})).toMatchObject({ ok: true, value: { ok: true } })
    const all = JSON.stringify((await audrey.request(engine, 'audit/search', { limit: 2000 })))
    for (const secret of [PW, 'kandy-pass-1', 'audit-pass-1', 'eve-pass-12']) expect(all).not.toContain(secret)

    // logout unbinds: the connection is anonymous again
    expect(await kandy.request(engine, 'console/logout', {})).toMatchObject({ ok: true })
    expect(kandy.bound).toBe(false)
    expect(await kandy.request(engine, 'topology/get', {})).toMatchObject({ ok: false, error: { code: 'AUTH_FAILED' } })
  })

  it('a session resumes on a new connection with its token; a removed identity loses its sessions', async () => {
    const engine = await engineFor()
    const hq = new ConnectionIdentity()
    await hq.request(engine, 'console/setup', { password: PW })
    await hq.request(engine, 'console/addIdentity', { user: 'kandy', password: 'kandy-pass-1', role: 'branch-admin', site: 'KDY' })
    const first = new ConnectionIdentity()
    const login = await first.request(engine, 'console/login', { user: 'kandy', password: 'kandy-pass-1' })
    const token = login.ok ? (login.value as { token: string }).token : ''
    const second = new ConnectionIdentity()
    expect(await second.request(engine, 'console/resume', { token })).toMatchObject({ ok: true, value: { name: 'kandy' } })
    expect(await second.request(engine, 'topology/get', {})).toMatchObject({ ok: true })
    expect(await hq.request(engine, 'console/removeIdentity', { user: 'kandy' })).toMatchObject({ ok: true })
    expect(await second.request(engine, 'topology/get', {})).toMatchObject({ ok: false, error: { code: 'AUTH_FAILED' } })
    expect(second.bound).toBe(false)
    expect(await hq.request(engine, 'console/removeIdentity', { user: 'hqdba' })).toMatchObject({ ok: false, error: { code: 'CONFLICT' } })
  })
})

describe('a role row written behind the identities manager does not make an identity', () => {
  it('an HQ DBA row kept at a branch is ignored', async () => {
    const engine = await engineFor()
    const hq = new ConnectionIdentity()
    await hq.request(engine, 'console/setup', { password: PW })
    await hq.request(engine, 'security/addUser', { site: 'KDY', user: 'mallory', password: 'mallory-pass-1', clearance: 'SECRET' })
    engine.cluster.siteStore('KDY').exec("INSERT INTO SEC_ROLES (USERNAME, ROLE, SITE) VALUES ('mallory', 'hq-dba', NULL)")
    const m = new ConnectionIdentity()
    expect(await m.request(engine, 'console/login', { user: 'mallory', password: 'mallory-pass-1' })).toMatchObject({ ok: false, error: { code: 'AUTH_FAILED' } })
    const ids = await hq.request(engine, 'console/identities', {})
    expect(ids.ok && (ids.value as { name: string }[]).map((i) => i.name)).toEqual(['hqdba'])
  })
})

describe('console/status while a new cluster still loads', () => {
  it('asks for the first run without touching the (not yet loaded) databases', async () => {
    const cluster = new Cluster({ seed: 4 }) // sql.js not loaded yet, as in the worker while it generates the data
    const ctx: HandlerContext = { cluster, jobs: new JobRunner(() => {}), host: 'cli', dataDir: null, emit: () => {}, clock: { speed: 0, setSpeed: () => {} } }
    const status = await (handlers['console/status'] as (c: HandlerContext, i: unknown) => Promise<unknown>)(ctx, {})
    expect(status).toMatchObject({ setupNeeded: true, hq: 'CMB', note: expect.stringContaining('still loading') })
  })
})
