/**
 * Security over live servers (src-main/pg/roles.ts) against three real PostgreSQL sites: users become roles at
 * their home server holding SCRAM-SHA-256 verifiers made here, the home server decides every login, roles follow
 * user changes, grants follow the labels, and the engine's MLS still decides what a session reads through the DQP
 * (compared with the embedded mode).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chmodSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { Cluster } from '../../engine/cluster'
import { SecurityManager } from '../../engine/security/dsm'
import { AuditLog } from '../../engine/security/audit'
import { handlerRig } from '../testing/handler-rig'
import { pgDown, pgUp, type PgUpResult } from './deploy'
import { crashServer, pgUnavailableReason, readPassword, startDeployment, hostOf } from './servers'
import { freePorts } from './testserver'
import { LiveSites, liveDesign } from './live'
import { LiveRoles, grantFor, parseVerifier, roleName, scramSha256Verifier } from './roles'

const why = pgUnavailableReason()

describe('role names and verifiers (no server)', () => {
  it('derives role names only from valid user names', () => {
    expect(roleName('clerk.kdy')).toBe('iddb_u_clerk.kdy')
    for (const bad of ['Clerk', 'x', 'a"; DROP ROLE iddb; --', 'a b', '']) expect(() => roleName(bad)).toThrow(/not a user name/)
  })
  it('makes a verifier in PostgreSQL\'s form, a new salt each time', () => {
    const a = scramSha256Verifier('clerk-pass-1')
    const b = scramSha256Verifier('clerk-pass-1')
    expect(a).toMatch(/^SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]{24}\$[A-Za-z0-9+/=]{44}:[A-Za-z0-9+/=]{44}$/)
    expect(a).not.toBe(b)
    expect(a).not.toContain('clerk-pass-1')
    const p = parseVerifier(a)!
    expect(scramSha256Verifier('clerk-pass-1', { salt: p.salt, iterations: p.iterations })).toBe(a)
    expect(scramSha256Verifier('clerk-pass-2', { salt: p.salt, iterations: p.iterations })).not.toBe(a)
  })
})

describe.skipIf(why !== null)(`security over three live PostgreSQL sites${why ? ` (skipped: ${why})` : ''}`, () => {
  let dir = ''
  let up: PgUpResult
  let cluster: Cluster
  let live: LiveSites
  let roles: LiveRoles
  const conn = (site: string, user: string, password: string) => {
    const d = up.deployment
    return new pg.Client({ host: hostOf(d, d.sites.find((x) => x.code === site)!.primary.port), port: d.sites.find((x) => x.code === site)!.primary.port, user, password, database: d.database })
  }
  const admin = async (site: string, sql: string, params: unknown[] = []) => {
    const c = conn(site, up.deployment.user, readPassword(dir, up.deployment))
    await c.connect()
    try { return (await c.query(sql, params)).rows } finally { await c.end() }
  }
  const rolpassword = async (site: string, role: string) => (await admin(site, 'SELECT rolpassword AS p, rolcanlogin AS l FROM pg_authid WHERE rolname = $1', [role]))[0] as { p: string | null; l: boolean } | undefined
  const canConnect = async (site: string, user: string, password: string) => {
    const c = conn(site, roleName(user), password)
    try { await c.connect(); await c.end(); return true } catch (e) { if ((e as { code?: string }).code === '28P01') return false; throw e }
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'iddb-pgroles-'))
    chmodSync(dir, 0o755)
    up = await pgUp({ dataDir: dir, seed: 23, sales: 300, basePort: await freePorts(6, 39000), durable: false })
    // a role an earlier run left at Kandy, whose user this console does not know
    await admin('KDY', `CREATE ROLE "iddb_u_ghost" LOGIN PASSWORD '${scramSha256Verifier('ghost-pass-1')}'`)
    const design = liveDesign(dir)
    cluster = await Cluster.create({ seed: design.seed, sales: design.sales })
    live = LiveSites.open(cluster, dir)
    live.useForTransactions(cluster)
    roles = LiveRoles.attach(cluster, live)
  }, 300_000)

  afterAll(() => {
    roles?.close()
    live?.close()
    cluster?.close()
    if (dir) { try { pgDown(dir) } finally { rmSync(dir, { recursive: true, force: true }) } }
  })

  it('computes the verifier the server computes itself (ASCII and SASLprep\'d passwords)', async () => {
    for (const [i, pw] of ['plain-pass-1', 'p\u00E4ssw\u00F6rd\u00A0\uFB01x'].entries()) {
      await admin('CMB', `SET password_encryption = 'scram-sha-256'; CREATE ROLE "vtest${i}" PASSWORD '${pw}'`)
      const server = (await rolpassword('CMB', `vtest${i}`))!.p!
      const p = parseVerifier(server)!
      expect(scramSha256Verifier(pw, { salt: p.salt, iterations: p.iterations })).toBe(server)
      await admin('CMB', `DROP ROLE "vtest${i}"`)
    }
  })

  it('live mode opening drops the roles of users the engine does not know', async () => {
    expect(await rolpassword('KDY', 'iddb_u_ghost')).toBeUndefined()
  })

  it('a user added is a LOGIN role at their home server only, holding a SCRAM verifier (never the password)', async () => {
    SecurityManager.of(cluster).addUser('KDY', 'clerk', 'clerk-pass-1', 'INTERNAL')
    const r = (await rolpassword('KDY', 'iddb_u_clerk'))!
    expect(r.l).toBe(true)
    expect(r.p).toMatch(/^SCRAM-SHA-256\$4096:/)
    expect(r.p).not.toContain('clerk-pass-1')
    expect(await rolpassword('CMB', 'iddb_u_clerk')).toBeUndefined()
    expect(await rolpassword('MBI', 'iddb_u_clerk')).toBeUndefined()
    expect(await canConnect('KDY', 'clerk', 'clerk-pass-1')).toBe(true)
    expect(await canConnect('KDY', 'clerk', 'clerk-pass-2')).toBe(false)
  })

  it('grants follow the labels: an INTERNAL role reads no SALARY and no UNITPRICE at its server', async () => {
    const c = conn('KDY', 'iddb_u_clerk', 'clerk-pass-1')
    await c.connect()
    try {
      expect((await c.query('SELECT count("NAME") AS n FROM "Employees_KDY"')).rows[0].n).not.toBeUndefined()
      await expect(c.query('SELECT "SALARY" FROM "Employees_KDY"')).rejects.toMatchObject({ code: '42501' })
      await expect(c.query('SELECT * FROM "Employees_KDY"')).rejects.toMatchObject({ code: '42501' })
      await expect(c.query('SELECT "UNITPRICE" FROM "Stock_KDY"')).rejects.toMatchObject({ code: '42501' })
      await expect(c.query('SELECT "QTY" FROM "Stock_KDY" LIMIT 1')).resolves.toBeDefined()
      await expect(c.query('UPDATE "Stock_KDY" SET "QTY" = 0')).rejects.toMatchObject({ code: '42501' })
    } finally { await c.end() }
    expect(grantFor(cluster, 'Employees_KDY', ['EMPNO', 'NAME', 'SALARY'], 'SECRET')).toEqual({ all: true, columns: ['EMPNO', 'NAME', 'SALARY'] })
    expect(grantFor(cluster, 'Employees_KDY', ['EMPNO', 'NAME', 'SALARY'], 'CONFIDENTIAL')).toEqual({ all: false, columns: ['EMPNO', 'NAME'] })
    expect(grantFor(cluster, 'Employees_KDY', ['EMPNO'], 'PUBLIC')).toBeNull()
    expect(grantFor(cluster, 'LCAT_COLUMNS', ['TNAME'], 'SECRET')).toBeNull()
  })

  it('the users added in live mode are kept at their home servers: a console opened afresh over the same servers knows them, keeps their roles, and logs them in; a removed one stays removed', async () => {
    const dsm = SecurityManager.of(cluster)
    dsm.addUser('MBI', 'keeper', 'keeper-pass-1', 'CONFIDENTIAL')
    dsm.addUser('CMB', 'leaver', 'leaver-pass-1', 'PUBLIC')
    dsm.removeUser('CMB', 'leaver')
    // the console starts again: a new engine (its cluster in memory, with the design's users only) over the same servers
    const design = liveDesign(dir)
    const again = await Cluster.create({ seed: design.seed, sales: design.sales })
    const live2 = LiveSites.open(again, dir)
    const roles2 = LiveRoles.attach(again, live2)
    try {
      const dsm2 = SecurityManager.of(again)
      expect(dsm2.users()).toEqual(expect.arrayContaining([
        expect.objectContaining({ name: 'keeper', home: 'MBI', clearance: 'CONFIDENTIAL' }),
        expect.objectContaining({ name: 'clerk', home: 'KDY', clearance: 'INTERNAL' }),
      ]))
      expect(dsm2.users().some((u) => u.name === 'leaver')).toBe(false)
      expect((await rolpassword('MBI', 'iddb_u_keeper'))?.l).toBe(true)
      expect(await rolpassword('CMB', 'iddb_u_leaver')).toBeUndefined()
      // the server still holds the password set before the restart, and decides the login
      const s = dsm2.login('MBI', 'keeper', 'keeper-pass-1')
      expect(s).toMatchObject({ user: 'keeper', clearance: 'CONFIDENTIAL' })
      dsm2.logout(s.token)
      expect(() => dsm2.login('MBI', 'keeper', 'keeper-pass-2')).toThrow(expect.objectContaining({ code: 'AUTH_FAILED' }))
    } finally {
      roles2.close()
      live2.close()
      again.close()
    }
  }, 120_000)

  it('the home server decides a login: right password in, wrong one AUTH_FAILED and audited', async () => {
    const dsm = SecurityManager.of(cluster)
    const s = dsm.login('KDY', 'clerk', 'clerk-pass-1')
    expect(s.via).toMatch(/KDY\.primary .* SCRAM-SHA-256 as role iddb_u_clerk/)
    dsm.logout(s.token)
    expect(() => dsm.login('KDY', 'clerk', 'clerk-pass-2')).toThrow(expect.objectContaining({ code: 'AUTH_FAILED' }))
    const last = AuditLog.of(cluster).recent(1)[0]
    expect(last).toMatchObject({ user: 'clerk', action: 'login', ok: false })
    // the server's verifier, not the engine's: changed at the server, the engine's old password no longer logs in
    await admin('KDY', `ALTER ROLE "iddb_u_clerk" PASSWORD '${scramSha256Verifier('server-side-9')}'`)
    expect(() => dsm.login('KDY', 'clerk', 'clerk-pass-1')).toThrow(expect.objectContaining({ code: 'AUTH_FAILED' }))
    dsm.setPassword('KDY', 'clerk', 'clerk-pass-1') // the operator's reset sets the server's verifier again
    expect(await canConnect('KDY', 'clerk', 'server-side-9')).toBe(false)
    dsm.logout(dsm.login('KDY', 'clerk', 'clerk-pass-1').token)
    // a login at another site is checked by the home server too
    const away = dsm.login('CMB', 'clerk', 'clerk-pass-1', { home: 'KDY' })
    expect(away).toMatchObject({ site: 'CMB', home: 'KDY' })
    expect(away.via).toMatch(/KDY\.primary/)
    dsm.logout(away.token)
  })

  it('failed logins at the server count towards the lockout as in the embedded mode', () => {
    const dsm = SecurityManager.of(cluster)
    dsm.addUser('MBI', 'lockme', 'lockme-pass-1', 'PUBLIC')
    for (let i = 0; i < 5; i++) expect(() => dsm.login('MBI', 'lockme', `wrong-pass-${i}0`)).toThrow(expect.objectContaining({ code: 'AUTH_FAILED', message: 'wrong user name or password' }))
    expect(() => dsm.login('MBI', 'lockme', 'lockme-pass-1')).toThrow(expect.objectContaining({ code: 'AUTH_FAILED', message: expect.stringMatching(/locked out/) }))
    dsm.setPassword('MBI', 'lockme', 'lockme-pass-2') // the operator's reset lifts the lock
    dsm.logout(dsm.login('MBI', 'lockme', 'lockme-pass-2').token)
    dsm.removeUser('MBI', 'lockme')
  })

  it('a console identity created in live mode logs in through its home server; removed, its role is gone', async () => {
    const { run } = handlerRig(cluster)
    await run('console/addIdentity', { user: 'kdyadmin', password: 'kdy-admin-pass', role: 'branch-admin', site: 'KDY', clearance: 'CONFIDENTIAL' })
    expect((await rolpassword('KDY', 'iddb_u_kdyadmin'))!.p).toMatch(/^SCRAM-SHA-256\$/)
    const anon = handlerRig(cluster, { actor: null })
    const v = await anon.run('console/login', { user: 'kdyadmin', password: 'kdy-admin-pass' })
    expect(v).toMatchObject({ name: 'kdyadmin', role: 'branch-admin', home: 'KDY', level: 'CONFIDENTIAL' })
    await expect(anon.run('console/login', { user: 'kdyadmin', password: 'wrong-pass-11' })).rejects.toMatchObject({ code: 'AUTH_FAILED' })
    expect(AuditLog.of(cluster).recent(1)[0]).toMatchObject({ user: 'kdyadmin', action: 'console/login', ok: false })
    await run('console/removeIdentity', { user: 'kdyadmin' })
    expect(await rolpassword('KDY', 'iddb_u_kdyadmin')).toBeUndefined()
  })

  it('the live panel lists each site\'s roles with their verifier kind, never the verifier', async () => {
    const { run, ctx } = handlerRig(cluster)
    await expect(run('security/liveRoles', {})).rejects.toMatchObject({ code: 'UNSUPPORTED' }) // ctx.live not set: the simulation
    ctx.live = live
    const v = await run('security/liveRoles', {})
    const kdy = v.sites.find((s) => s.site === 'KDY')!
    expect(kdy).toMatchObject({ up: true, server: 'KDY.primary', passwordEncryption: 'scram-sha-256', hostAuth: ['scram-sha-256'] })
    expect(kdy.roles).toEqual([expect.objectContaining({ role: 'iddb_u_clerk', user: 'clerk', known: true, clearance: 'INTERNAL', canLogin: true, verifier: 'SCRAM-SHA-256' })])
    expect(kdy.roles[0].tablesPartly).toEqual(expect.arrayContaining(['Employees_KDY', 'Stock_KDY']))
    expect(JSON.stringify(v)).not.toMatch(/SCRAM-SHA-256\$/)
  })

  it('a low-level session\'s live query of salaries is refused or left out exactly as in the embedded mode', async () => {
    const embedded = await Cluster.create({ seed: 23, sales: 300 })
    try {
      const runAs = async (c: Cluster, sql: string) => {
        const dsm = SecurityManager.of(c)
        if (c === embedded && !dsm.users().some((u) => u.name === 'clerk')) dsm.addUser('KDY', 'clerk', 'clerk-pass-1', 'INTERNAL')
        const token = dsm.login('KDY', 'clerk', 'clerk-pass-1').token
        try {
          return await handlerRig(c).run('query/run', { site: 'KDY', sql, session: token, maxRows: 1000 }).then((r) => ({ ok: true as const, r }), (e: { code: string; message: string }) => ({ ok: false as const, code: e.code, message: e.message }))
        } finally { dsm.logout(token) }
      }
      for (const sql of ['SELECT SALARY FROM EMPLOYEES', 'SELECT NAME FROM EMPLOYEES WHERE SALARY > 100000', 'SELECT MAX(SALARY) FROM EMPLOYEES', 'SELECT E.NAME FROM EMPLOYEES E ORDER BY E.SALARY']) {
        const [a, b] = [await runAs(cluster, sql), await runAs(embedded, sql)]
        expect(a, sql).toMatchObject({ ok: false, code: 'ACCESS_DENIED' })
        expect(a, sql).toEqual(b)
      }
      const [a, b] = [await runAs(cluster, 'SELECT * FROM EMPLOYEES ORDER BY EMPNO'), await runAs(embedded, 'SELECT * FROM EMPLOYEES ORDER BY EMPNO')]
      expect(a.ok && b.ok).toBe(true)
      if (!a.ok || !b.ok) return
      expect(a.r.hiddenColumns).toEqual(['SALARY'])
      expect(a.r.columns).toEqual(b.r.columns)
      expect(a.r.columns).not.toContain('SALARY')
      expect(a.r.rows).toEqual(b.r.rows)
      expect(a.r.totalRows).toBeGreaterThan(0)
    } finally { embedded.close() }
  })

  it('a login while the home server is down fails naming it; nothing else changes', async () => {
    const dsm = SecurityManager.of(cluster)
    expect(crashServer(dir, 'KDY.primary')).toBe(true)
    try {
      expect(() => dsm.login('KDY', 'clerk', 'clerk-pass-1')).toThrow(expect.objectContaining({ code: 'SITE_DOWN', message: expect.stringMatching(/KDY\.primary/) }))
      expect(() => dsm.addUser('KDY', 'late', 'late-pass-11', 'PUBLIC')).toThrow(expect.objectContaining({ code: 'SITE_DOWN' }))
      expect(dsm.users().some((u) => u.name === 'late')).toBe(false)
    } finally { startDeployment(dir) }
    dsm.logout(dsm.login('KDY', 'clerk', 'clerk-pass-1').token)
  }, 60_000)
})
