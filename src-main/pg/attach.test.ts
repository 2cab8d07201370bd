/**
 * `iddb pg attach` (attach.ts): servers this machine does not run, named by a topology file with each site's own
 * login. The topology file's checks run everywhere; the live part stands three branch servers up with `pg up`
 * (as the branches' machines), gives each branch a user and a database of its own, and attaches those.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import pg from 'pg'
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Cluster } from '../../engine/cluster'
import { Dqp } from '../../engine/query/dqp'
import { fragments } from '../../engine/data/schema'
import { pgDown, pgStatus, pgUp, type PgUpResult } from './deploy'
import { attachedDeployment, pgAttach, readTopologyFile } from './attach'
import { failover, pgUnavailableReason, pgpassLookup, readDeployment, rebuildStandby } from './servers'
import { pgBackup } from './backup'
import { atSite, freePorts } from './testserver'
import { transferCmbToKdy } from './testtxn'
import { LiveSites } from './live'
import { EngineClient } from '../engine-host/client'
import { buildTestWorker } from '../testing/worker-bundle'
import type { JobView } from '../../engine/api/views'

const tmp = mkdtempSync(join(tmpdir(), 'iddb-attach-unit-'))
const file = (name: string, v: unknown) => { const f = join(tmp, name); writeFileSync(f, JSON.stringify(v)); return f }
const site = (port: number, extra: Record<string, unknown> = {}) => ({ host: '127.0.0.1', port, database: 'iddb', user: 'u', passwordEnv: 'PW', ...extra })

describe('the topology file of attached servers', () => {
  afterAll(() => rmSync(tmp, { recursive: true, force: true }))

  it('reads pgpass entries the way libpq does', () => {
    const text = '# comment\n127.0.0.1:5432:iddb:alice:first\n*:*:*:bob:b\\:c\\\\d\n10.0.0.1:5432:*:alice:second\n'
    expect(pgpassLookup(text, '127.0.0.1', 5432, 'iddb', 'alice')).toBe('first')
    expect(pgpassLookup(text, '10.0.0.1', 5432, 'other', 'alice')).toBe('second')
    expect(pgpassLookup(text, 'db.example', 6000, 'x', 'bob')).toBe('b:c\\d')
    expect(pgpassLookup(text, '127.0.0.1', 5433, 'iddb', 'alice')).toBeNull()
  })

  it('refuses a password in the file, a missing or unknown site, two sites on one server and bad fields', () => {
    const ok = { sites: { CMB: site(1), MBI: site(2), KDY: site(3) } }
    expect(readTopologyFile(file('ok.json', ok)).sites.KDY.port).toBe(3)
    const bad: [unknown, RegExp][] = [
      [{ sites: { ...ok.sites, KDY: site(3, { password: 'x' }) } }, /never kept in the topology file/],
      [{ sites: { CMB: site(1), MBI: site(2) } }, /names sites CMB, MBI; the design has CMB, KDY, MBI/],
      [{ sites: { ...ok.sites, GAL: site(4) } }, /names sites/],
      [{ sites: { ...ok.sites, KDY: site(1) } }, /CMB and KDY name the same server 127\.0\.0\.1:1/],
      [{ sites: { ...ok.sites, KDY: site(70000) } }, /sites\.KDY\.port/],
      [{ sites: { ...ok.sites, KDY: site(3, { passwordEnv: 'not a name' }) } }, /passwordEnv/],
      [{ sites: { ...ok.sites, KDY: site(3, { sslmode: 'x' }) } }, /sites\.KDY/],
    ]
    for (const [v, msg] of bad) expect(() => readTopologyFile(file('bad.json', v))).toThrow(msg)
    expect(() => readTopologyFile(join(tmp, 'none.json'))).toThrow(/no topology file/)
    writeFileSync(join(tmp, 'garbage.json'), '{"sites":')
    expect(() => readTopologyFile(join(tmp, 'garbage.json'))).toThrow(/not valid JSON/)
  })

  it('describes each site by its own server, user and database; a standby only where named', () => {
    const f = file('d.json', { sites: { CMB: site(1, { user: 'hq' }), MBI: site(2, { database: 'mumbai' }), KDY: site(3, { standby: { host: 'kdy-2', port: 5432 } }) } })
    const d = attachedDeployment(f, readTopologyFile(f))
    expect(d.attached?.topologyFile).toBe(f)
    expect(d.sites.map((s) => [s.code, s.primary.user, s.primary.database, s.primary.port, s.standby?.host ?? null])).toEqual([
      ['CMB', 'hq', 'iddb', 1, null], ['MBI', 'u', 'mumbai', 2, null], ['KDY', 'u', 'iddb', 3, 'kdy-2'],
    ])
    expect(d.repository).toEqual({ site: 'CMB', database: 'iddb_repository' })
  })
})

const why = pgUnavailableReason()

describe.skipIf(why !== null)(`iddb pg attach over three servers with a login each${why ? ` (skipped: ${why})` : ''}`, () => {
  let branches = ''
  let dir = ''
  let up: PgUpResult
  let topo = ''
  let cluster: Cluster | undefined
  let live: LiveSites | undefined
  const admin = (s: string, sql: string, database = 'postgres') => atSite(branches, up.deployment, s, sql, database)
  const envBefore = { ...process.env }

  beforeAll(async () => {
    branches = mkdtempSync(join(tmpdir(), 'iddb-branches-'))
    dir = mkdtempSync(join(tmpdir(), 'iddb-attached-'))
    chmodSync(branches, 0o755)
    rmSync(dir, { recursive: true })
    up = await pgUp({ dataDir: branches, seed: 5, sales: 0, basePort: await freePorts(6, 41000), durable: false })
    // each branch's DBA: a user of its own owning an empty database (and, at HQ, the repository's)
    for (const s of up.deployment.sites) {
      const u = `branch_${s.code.toLowerCase()}`
      await admin(s.code, `CREATE ROLE ${u} LOGIN CREATEROLE PASSWORD 'pw-${s.code}'`)
      await admin(s.code, `CREATE DATABASE ${u} OWNER ${u}`)
      if (s.hq) await admin(s.code, `CREATE DATABASE hq_repository OWNER ${u}`)
    }
    const pgpass = join(branches, 'attached.pgpass')
    const kdy = up.deployment.sites.find((s) => s.code === 'KDY')!
    writeFileSync(pgpass, `127.0.0.1:${kdy.primary.port}:*:branch_kdy:pw-KDY\n127.0.0.1:${kdy.standby!.port}:*:branch_kdy:pw-KDY\n`, { mode: 0o600 })
    process.env.PGPASSFILE = pgpass
    const sites: Record<string, unknown> = {}
    for (const s of up.deployment.sites) {
      const u = `branch_${s.code.toLowerCase()}`
      sites[s.code] = { host: '127.0.0.1', port: s.primary.port, database: u, user: u, ...(s.code === 'KDY' ? { standby: { host: '127.0.0.1', port: s.standby!.port } } : { passwordEnv: `IDDB_TEST_PW_${s.code}` }) }
    }
    topo = join(branches, 'servers.json')
    writeFileSync(topo, JSON.stringify({ sites, repository: { database: 'hq_repository' } }, null, 2))
  }, 300_000)

  afterAll(() => {
    live?.close()
    cluster?.close()
    process.env = envBefore
    if (branches) { try { pgDown(branches) } finally { rmSync(branches, { recursive: true, force: true }) } }
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  it('refuses before anything is written: a password not in the environment, a database that is not empty', async () => {
    await expect(pgAttach({ dataDir: dir, topologyFile: topo, sales: 300 })).rejects.toThrow(/set the environment variable IDDB_TEST_PW_CMB/)
    expect(existsSync(join(dir, 'pg.json'))).toBe(false)
    process.env.IDDB_TEST_PW_CMB = 'pw-CMB'
    process.env.IDDB_TEST_PW_MBI = 'wrong'
    await expect(pgAttach({ dataDir: dir, topologyFile: topo, sales: 300 })).rejects.toThrow(/MBI\.primary .*cannot be reached: password authentication failed for user "branch_mbi"/)
    process.env.IDDB_TEST_PW_MBI = 'pw-MBI'
    await admin('MBI', 'CREATE TABLE left_over (x int)', 'branch_mbi')
    await expect(pgAttach({ dataDir: dir, topologyFile: topo, sales: 300 })).rejects.toThrow(/branch_mbi at MBI\.primary already holds 1 table/)
    expect(existsSync(join(dir, 'pg.json'))).toBe(false)
  }, 60_000)

  it('attaches (--replace empties what was there), loads the design as each branch\'s user, and keeps no password', async () => {
    const r = await pgAttach({ dataDir: dir, topologyFile: topo, seed: 9, sales: 300, replace: true })
    expect(r.servers.map((s) => s.server)).toEqual(['CMB.primary', 'MBI.primary', 'KDY.primary'])
    const text = readFileSync(join(dir, 'pg.json'), 'utf8')
    expect(text).not.toMatch(/pw-/)
    expect(existsSync(join(dir, '.pgpass'))).toBe(false)
    const d = readDeployment(dir)
    expect(d.attached?.topologyFile).toBe(topo)
    expect(d.design).toEqual({ seed: 9, sales: 300 })
    expect(await admin('MBI', "SELECT tablename FROM pg_tables WHERE tablename = 'left_over'", 'branch_mbi')).toEqual([])
    expect(await admin('KDY', "SELECT tableowner AS o FROM pg_tables WHERE tablename = 'Stock_KDY'", 'branch_kdy')).toEqual([{ o: 'branch_kdy' }])
    expect(Number((await admin('CMB', 'SELECT count(*)::int AS n FROM "SALES"', 'hq_repository'))[0].n)).toBe(300)
  }, 120_000)

  it('the console over them: the DQP counts their rows, a two-site transaction commits at both, each connection as the branch\'s user', async () => {
    cluster = await Cluster.create({ seed: 9, sales: 300 })
    live = LiveSites.open(cluster, dir)
    live.useForTransactions(cluster)
    const d = readDeployment(dir)
    const at = (s: string, sql: string) => atSite(dir, d, s, sql)
    let expected = 0
    for (const f of fragments(cluster.topology).filter((x) => x.relation === 'SALES' && x.kind === 'horizontal')) expected += Number((await at(f.site, `SELECT count(*) AS n FROM "${f.name}"`))[0].n)
    expect(expected).toBe(300)
    expect((await (await Dqp.create(cluster)).run('MBI', 'SELECT COUNT(*) AS N FROM SALES')).rows).toEqual([[expected]])
    const users = await at('KDY', "SELECT DISTINCT usename AS u FROM pg_stat_activity WHERE application_name LIKE 'iddb:console:%'")
    expect(users.map((x) => x.u)).toEqual(['branch_kdy'])

    const { outcome, before, after } = await transferCmbToKdy(cluster, at, 2)
    expect(outcome).toBe('COMMIT')
    expect(after).toEqual([before[0] - 2, before[1] + 2])
    expect(await at('KDY', 'SELECT gid FROM pg_prepared_xacts')).toEqual([])
  }, 120_000)

  it('status probes each server with its login; a backup runs as the branch\'s user; what needs the servers\' own machine is refused', async () => {
    const st = await pgStatus(dir)
    expect(st.servers.map((s) => [s.id, s.error ?? null, s.inRecovery])).toEqual([
      ['CMB.primary', null, false], ['MBI.primary', null, false], ['KDY.primary', null, false], ['KDY.backup', null, true],
    ])
    const m = await pgBackup(dir, { site: 'MBI', outDir: join(dir, 'backups') })
    expect(m.database).toBe('branch_mbi')
    expect(m.tables.Stock_MBI_LCL.rows).toBeGreaterThan(0)
    expect(() => pgDown(dir)).toThrow(/pg down needs servers this machine runs; these are attached from/)
    await expect(rebuildStandby(dir, 'KDY')).rejects.toThrow(/rebuilding a standby needs servers this machine runs/)
    // a site whose topology file names no standby has nothing to promote
    await expect(failover(dir, 'MBI')).rejects.toMatchObject({ code: 'UNSUPPORTED', message: expect.stringMatching(/names no standby for MBI/) })
  }, 120_000)

  it('the console itself opens them (the start screen\'s live mode): logins checked by the home branch\'s server, queries there, a standby rebuild refused with its reason', async () => {
    live?.close(); live = undefined
    const engine = await EngineClient.start({ workerPath: await buildTestWorker(), seed: 7, host: 'cli' })
    try {
      engine.actor = (await engine.call('console/setup', { user: 'hqdba', password: 'test-pass-1' })).token
      const j = await engine.call('system/setMode', { mode: 'live', deployment: dir, confirm: 'live' })
      let end: JobView
      for (;;) {
        try { end = await engine.call('jobs/get', { id: j.id }) } catch (e) {
          if ((e as { code?: string }).code !== 'AUTH_FAILED') throw e
          engine.actor = (await engine.call('console/login', { user: 'hqdba', password: 'test-pass-1' })).token
          continue
        }
        if (end.status !== 'running') break
        await new Promise((ok) => setTimeout(ok, 50))
      }
      expect(end.status, end.error?.message).toBe('done')
      engine.actor = (await engine.call('console/login', { user: 'hqdba', password: 'test-pass-1' })).token
      const d = readDeployment(dir)
      // the HQ DBA is a role at Colombo's server, made there by Colombo's own user
      // (read by the branch machine's superuser: the branch's own login may not read pg_authid)
      expect(await admin('CMB', "SELECT left(rolpassword, 14) AS v FROM pg_authid WHERE rolname = 'iddb_u_hqdba'")).toEqual([{ v: 'SCRAM-SHA-256$' }])
      await expect(engine.call('console/login', { user: 'hqdba', password: 'wrong-pass-1' })).rejects.toMatchObject({ code: 'AUTH_FAILED' })
      const info = await engine.call('system/info', {})
      expect(info.live?.servers.map((s) => [s.site, s.up, s.database])).toEqual([['CMB', true, 'branch_cmb'], ['MBI', true, 'branch_mbi'], ['KDY', true, 'branch_kdy']])
      const n = Number((await atSite(dir, d, 'KDY', 'SELECT count(*)::int AS n FROM "Sales_KDY"'))[0].n)
      expect((await engine.call('query/run', { site: 'CMB', sql: "SELECT COUNT(*) FROM SALES WHERE BRCODE = 'KDY'" })).rows).toEqual([[n]])
      await expect(engine.call('liveFailover/rebuildStandby', { site: 'KDY', confirm: 'KDY' })).rejects.toMatchObject({ code: 'UNSUPPORTED', message: expect.stringMatching(/attached from/) })
    } finally { await engine.close() }
  }, 180_000)

  it('fails KDY over by SQL alone: refused and undone without the right to promote; granted, the old primary is fenced, nothing committed is lost, the console writes at the promoted server', async () => {
    const d0 = readDeployment(dir)
    const kdy0 = d0.sites.find((s) => s.code === 'KDY')!
    const allowed = async () => (await admin('KDY', "SELECT datallowconn AS a FROM pg_database WHERE datname = 'branch_kdy'"))[0].a
    // branch_kdy may not promote: refused, and the fence taken down again
    await expect(failover(dir, 'KDY')).rejects.toMatchObject({ code: 'ACCESS_DENIED', message: expect.stringMatching(/GRANT EXECUTE ON FUNCTION pg_promote/) })
    expect(await allowed()).toBe(true)
    expect(readDeployment(dir).sites.find((s) => s.code === 'KDY')!.primary.port).toBe(kdy0.primary.port)
    await admin('KDY', 'GRANT EXECUTE ON FUNCTION pg_promote(boolean, integer) TO branch_kdy')

    // a console over the servers commits a transfer just before the failover: it must survive it
    cluster = await Cluster.create({ seed: 9, sales: 300 })
    live = LiveSites.open(cluster, dir)
    live.useForTransactions(cluster)
    const at = (s: string, sql: string) => atSite(dir, readDeployment(dir), s, sql)
    const first = await transferCmbToKdy(cluster, at, 3)
    expect(first.outcome).toBe('COMMIT')

    const f = await failover(dir, 'KDY')
    expect(f).toMatchObject({ site: 'KDY', port: kdy0.standby!.port, oldPrimaryWasRunning: true })
    expect(f.notes?.join(' ')).toMatch(/KDY\.primary fenced .*had replayed everything up to/)
    const d = readDeployment(dir)
    const kdy = d.sites.find((s) => s.code === 'KDY')!
    expect([kdy.primary.port, kdy.standby!.port]).toEqual([kdy0.standby!.port, kdy0.primary.port])
    // the old primary takes no connection to the site's database any more
    const old = new pg.Client({ host: '127.0.0.1', port: kdy0.primary.port, user: 'branch_kdy', password: 'pw-KDY', database: 'branch_kdy' })
    old.on('error', () => {})
    await expect(old.connect()).rejects.toThrow(/not currently accepting connections|does not allow connections/)
    // the transfer committed before is at the promoted server, which accepts writes
    expect(Number((await at('KDY', `SELECT "QTY" AS q FROM "Stock_KDY" WHERE "ITEMNO" = ${first.item}`))[0].q)).toBe(first.after[1])
    expect(await at('KDY', 'SELECT pg_is_in_recovery() AS r')).toEqual([{ r: false }])
    live.repoint('KDY')
    const second = await transferCmbToKdy(cluster, at, 1)
    expect(second.outcome).toBe('COMMIT')
    expect(second.after).toEqual([second.before[0] - 1, second.before[1] + 1])
    // a second failover finds no standby to promote: the old primary is not one until it is rebuilt on its machine
    await expect(failover(dir, 'KDY')).rejects.toMatchObject({ code: 'CONFLICT', message: expect.stringMatching(/KDY\.backup is not in recovery/) })
  }, 180_000)
})
