/**
 * The live Replication & Backup and Backups consoles through their handlers (contract/liveRepl.ts), against three
 * real PostgreSQL sites with their standbys this test starts in a temporary directory: the replication state;
 * backup → rows deleted and changed → restore → the manifest's checksums again; a damaged backup refused with
 * nothing changed; a standby promoted and the console's own connections (its DQP reads and DTM transactions)
 * reaching the promoted server; the standby rebuilt; the Stock_MBI refresh between the servers. In the
 * simulation every call is refused. Skipped, with the reason, where PostgreSQL is not installed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { Cluster } from '../../engine/cluster'
import { Dqp } from '../../engine/query/dqp'
import { localAdmin } from '../../engine/security/identities'
import { JobRunner } from '../engine-host/jobs'
import { calls, type CallInput, type CallName, type CallOutput } from '../ipc/contract'
import type { LiveBackupJobResult, LiveRebuildJobResult, LiveRestoreJobResult } from '../ipc/contract/liveRepl'
import { handlers } from './index'
import { followLiveRefreshSchedule } from './liveRepl'
import { jobLog } from '../../engine/cluster/joblog'
import type { HandlerContext } from './context'
import { pgDown, pgUp, type PgUpResult } from '../pg/deploy'
import { pgUnavailableReason, readDeployment, readPassword, hostOf } from '../pg/servers'
import { freePorts } from '../pg/testserver'
import { transferCmbToKdy } from '../pg/testtxn'
import { LiveSites } from '../pg/live'
import { tableChecksums } from '../pg/backup'
import { backupDir } from '../pg/liveops'

const why = pgUnavailableReason()

function contextOf(cluster: Cluster, live: LiveSites | null) {
  const jobs = new JobRunner(() => {})
  const events: string[] = []
  const ctx: HandlerContext = { cluster, jobs, host: 'cli', dataDir: null, live, actor: localAdmin('test'), emit: (e) => { events.push(e) }, clock: { speed: 0, setSpeed: () => {} } }
  const run = <N extends CallName>(name: N, input: CallInput<N>): Promise<CallOutput<N>> =>
    (handlers[name] as (c: HandlerContext, i: unknown) => Promise<CallOutput<N>>)(ctx, calls[name].input.parse(input))
  return { jobs, run, events, ctx }
}

describe('liveRepl/*, liveBackup/*, liveFailover/* in the simulation', () => {
  it('are refused, naming the live mode, and start no job', async () => {
    const cluster = await Cluster.create({ seed: 3, sales: 0 })
    try {
      const { jobs, run } = contextOf(cluster, null)
      await expect(run('liveRepl/status', {})).rejects.toMatchObject({ code: 'UNSUPPORTED', message: expect.stringMatching(/needs the live mode/) })
      await expect(run('liveBackup/take', { site: 'CMB' })).rejects.toMatchObject({ code: 'UNSUPPORTED' })
      await expect(run('liveFailover/promote', { site: 'KDY', confirm: 'KDY' })).rejects.toMatchObject({ code: 'UNSUPPORTED' })
      expect(jobs.list()).toEqual([])
    } finally { cluster.close() }
  })
})

describe.skipIf(why !== null)(`the live Replication & Backup consoles over three PostgreSQL sites${why ? ` (skipped: ${why})` : ''}`, () => {
  let dir = ''
  let up: PgUpResult
  let cluster: Cluster
  let live: LiveSites
  let h: ReturnType<typeof contextOf>
  const at = async <T = Record<string, unknown>>(site: string, sql: string, database?: string): Promise<T[]> => {
    const d = readDeployment(dir)
    const s = d.sites.find((x) => x.code === site)!
    const c = new pg.Client({ host: hostOf(d, s.primary.port), port: s.primary.port, user: d.user, password: readPassword(dir, d), database: database ?? d.database })
    await c.connect()
    try { return (await c.query(sql)).rows as T[] } finally { await c.end() }
  }
  const sums = async (site: string) => {
    const d = readDeployment(dir)
    const s = d.sites.find((x) => x.code === site)!
    const c = new pg.Client({ host: hostOf(d, s.primary.port), port: s.primary.port, user: d.user, password: readPassword(dir, d), database: d.database })
    await c.connect()
    try { return await tableChecksums(c) } finally { await c.end() }
  }
  const finished = async (job: { id: string }) => {
    const end = await h.jobs.wait(job.id)
    expect(end.status, end.error?.message).toBe('done')
    return end.result
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'iddb-pglive-ops-'))
    chmodSync(dir, 0o755)
    up = await pgUp({ dataDir: dir, seed: 29, sales: 400, basePort: await freePorts(6, 41000), durable: false })
    cluster = await Cluster.create({ seed: 29, sales: 400 })
    live = LiveSites.open(cluster, dir)
    live.useForTransactions(cluster)
    h = contextOf(cluster, live)
  }, 300_000)

  afterAll(() => {
    live?.close()
    cluster?.close()
    if (dir) { try { pgDown(dir) } finally { rmSync(dir, { recursive: true, force: true }) } }
  }, 120_000)

  it('reports every site\'s primary writable, its standby in recovery and streaming synchronously', async () => {
    const st = await h.run('liveRepl/status', {})
    expect(st.sites.map((s) => s.site)).toEqual(['CMB', 'MBI', 'KDY'])
    for (const s of st.sites) {
      const d = up.deployment.sites.find((x) => x.code === s.site)!
      expect(s, s.problem ?? '').toMatchObject({ healthy: true, problem: null, consolePort: d.primary.port })
      expect(s.primary).toMatchObject({ id: `${s.site}.primary`, port: d.primary.port, running: true, inRecovery: false })
      expect(s.standby).toMatchObject({ port: d.standby.port, running: true, inRecovery: true })
      expect(s.links.map((l) => `${l.state}/${l.sync}`)).toEqual(['streaming/sync'])
      expect(s.links[0].lagBytes).toBeGreaterThanOrEqual(0)
    }
  })

  it('backs MBI up into DIR/backups, and a restore after rows were deleted and changed gives back the manifest\'s checksums', async () => {
    const job = await h.run('liveBackup/take', { site: 'MBI' })
    expect(job).toMatchObject({ kind: 'backup', status: 'running' })
    const res = await finished(job) as LiveBackupJobResult
    const m = res.backup.manifest!
    expect(res.backup.ok).toBe(true)
    expect(m).toMatchObject({ site: 'MBI', database: up.deployment.database })
    expect(res.rows).toBe(Object.values(m.tables).reduce((n, t) => n + t.rows, 0))
    expect(m.tables['Sales_MBI'].rows).toBeGreaterThan(0)
    const before = await sums('MBI')
    expect(before).toEqual(m.tables)
    expect((await h.run('liveBackup/list', {})).map((b) => [b.name, b.ok])).toEqual([[res.backup.name, true]])

    // the damage: a table's rows gone, another's changed
    await at('MBI', 'DELETE FROM "Sales_MBI"')
    await at('MBI', 'UPDATE "Stock_MBI_LCL" SET "QTY" = "QTY" + 7')
    const damaged = await sums('MBI')
    expect(damaged['Sales_MBI'].rows).toBe(0)
    expect(damaged['Stock_MBI_LCL'].md5).not.toBe(m.tables['Stock_MBI_LCL'].md5)

    // refusals before any job: the wrong code typed, another site
    const jobsBefore = h.jobs.list().length
    await expect(h.run('liveBackup/restore', { manifest: res.backup.name, site: 'MBI', confirm: 'mbi' })).rejects.toMatchObject({ code: 'BAD_INPUT', message: expect.stringMatching(/type the site's code MBI/) })
    await expect(h.run('liveBackup/restore', { manifest: res.backup.name, site: 'KDY', confirm: 'KDY' })).rejects.toThrow(/a backup of MBI, not KDY/)
    await expect(h.run('liveBackup/restore', { manifest: 'MBI-nothing.dump.json', site: 'MBI', confirm: 'MBI' })).rejects.toMatchObject({ code: 'NOT_FOUND' })
    expect(h.jobs.list().length).toBe(jobsBefore)
    expect(await sums('MBI')).toEqual(damaged)

    const restored = await finished(await h.run('liveBackup/restore', { manifest: res.backup.name, site: 'MBI', confirm: 'MBI' })) as LiveRestoreJobResult
    expect(restored).toMatchObject({ site: 'MBI', tables: Object.keys(m.tables).length, rows: res.rows })
    expect(await sums('MBI')).toEqual(m.tables)
    // the console's own reads reach the restored database (the bridge reconnected after the database was replaced)
    const q = await (await Dqp.create(cluster)).run('MBI', 'SELECT COUNT(*) AS N FROM Sales_MBI')
    expect(q.rows).toEqual([[m.tables['Sales_MBI'].rows]])
  }, 120_000)

  it('lists a damaged backup as damaged and refuses to restore it, changing nothing', async () => {
    const res = await finished(await h.run('liveBackup/take', { site: 'KDY' })) as LiveBackupJobResult
    const file = join(backupDir(dir), res.backup.manifest!.file)
    await at('KDY', 'UPDATE "Stock_KDY" SET "QTY" = "QTY" + 1')
    const now = await sums('KDY')
    const bytes = readFileSync(file)
    const flipped = Buffer.from(bytes); flipped[Math.floor(flipped.length / 2)] ^= 0xff
    writeFileSync(file, flipped)
    try {
      const entry = (await h.run('liveBackup/list', {})).find((b) => b.name === res.backup.name)!
      expect(entry).toMatchObject({ ok: false, error: { code: 'CORRUPT_DATA', message: expect.stringMatching(/does not match its SHA-256/) } })
      const jobsBefore = h.jobs.list().length
      await expect(h.run('liveBackup/restore', { manifest: res.backup.name, site: 'KDY', confirm: 'KDY' })).rejects.toMatchObject({ code: 'CORRUPT_DATA', message: expect.stringMatching(/nothing was restored/) })
      expect(h.jobs.list().length).toBe(jobsBefore)
      expect(await sums('KDY')).toEqual(now)
      expect(await at('KDY', "SELECT datname FROM pg_database WHERE datname LIKE '%restoring'", 'postgres')).toEqual([])
    } finally { writeFileSync(file, bytes) }
  }, 60_000)

  it('refreshes Stock_MBI at Colombo from Mumbai\'s server in one transaction, with equal checksums', async () => {
    await at('MBI', 'UPDATE "Stock_MBI_LCL" SET "QTY" = "QTY" + 3')
    const src = (await sums('MBI'))['Stock_MBI_LCL']
    expect((await sums('CMB'))['Stock_MBI'].md5).not.toBe(src.md5)
    const r = await h.run('liveRepl/refresh', {})
    expect(r).toMatchObject({ copy: 'Stock_MBI', site: 'CMB', source: 'Stock_MBI_LCL', sourceSite: 'MBI', rows: src.rows, md5: src.md5 })
    expect((await sums('CMB'))['Stock_MBI']).toEqual(src)
  }, 60_000)

  it('runs the same refresh between the servers when the console\'s clock runs Stock_MBI\'s scheduled refresh, recorded as a job', async () => {
    const stop = followLiveRefreshSchedule(h.ctx)
    try {
      await at('MBI', 'UPDATE "Stock_MBI_LCL" SET "QTY" = "QTY" + 2')
      const src = (await sums('MBI'))['Stock_MBI_LCL']
      expect((await sums('CMB'))['Stock_MBI'].md5).not.toBe(src.md5)
      const liveJobs = () => jobLog(cluster).list({ kind: 'refresh' }).filter((j) => j.schedule === 'live:refresh:Stock_MBI')
      expect(liveJobs()).toEqual([])
      const due = cluster.nextRefreshAt('Stock_MBI')!
      cluster.sim.runUntil(due + 60_000, 2_000_000)
      expect(jobLog(cluster).list({ kind: 'refresh' }).some((j) => j.schedule === 'refresh:Stock_MBI' && j.trigger === 'scheduled')).toBe(true)
      await expect.poll(() => liveJobs().map((j) => j.status), { timeout: 20_000 }).toEqual(['done'])
      expect(liveJobs()[0]).toMatchObject({ trigger: 'scheduled', site: 'CMB', rows: src.rows, detail: `full, md5 ${src.md5}` })
      expect((await sums('CMB'))['Stock_MBI']).toEqual(src)
    } finally { stop() }
  }, 60_000)

  it('promotes KDY\'s standby; the console\'s reads and a two-site transaction reach the promoted server; the standby is rebuilt', async () => {
    const old = readDeployment(dir).sites.find((s) => s.code === 'KDY')!
    await expect(h.run('liveFailover/promote', { site: 'KDY', confirm: 'CMB' })).rejects.toMatchObject({ code: 'BAD_INPUT' })
    expect(readDeployment(dir).sites.find((s) => s.code === 'KDY')!.primary.port).toBe(old.primary.port)

    const f = await h.run('liveFailover/promote', { site: 'KDY', confirm: 'KDY' })
    expect(f).toMatchObject({ site: 'KDY', port: old.standby!.port, oldPrimaryWasRunning: true })
    expect(f.rtoMs).toBeGreaterThan(0)
    expect(live.connectedPort('KDY')).toBe(old.standby!.port)
    expect(live.deployment.sites.find((s) => s.code === 'KDY')!.primary.port).toBe(old.standby!.port)
    const st = (await h.run('liveRepl/status', {})).sites.find((s) => s.site === 'KDY')!
    expect(st).toMatchObject({ healthy: false, consolePort: old.standby!.port, primary: { port: old.standby!.port, inRecovery: false }, standby: { port: old.primary.port, running: false } })
    expect(st.problem).toMatch(/no standby/)

    // the DQP reads KDY at the promoted server
    const [{ n }] = await at<{ n: number }>('KDY', 'SELECT COUNT(*)::int AS n FROM "Stock_KDY"')
    const q = await (await Dqp.create(cluster)).run('KDY', 'SELECT COUNT(*) AS N FROM Stock_KDY')
    expect(q.rows).toEqual([[n]])
    // a two-site transaction commits there through the DTM's store
    const { gid, outcome, before, after } = await transferCmbToKdy(cluster, at, 1)
    expect(outcome).toBe('COMMIT')
    expect(after).toEqual([before[0] - 1, before[1] + 1])
    expect((await at<{ gid: string }>('KDY', 'SELECT gid FROM iddb_2pc.committed')).map((x) => x.gid)).toContain(gid)

    // nothing left to promote until the standby is rebuilt from the promoted server
    await expect(h.run('liveFailover/promote', { site: 'KDY', confirm: 'KDY' })).rejects.toThrow(/nothing to promote/)
    const rb = await finished(await h.run('liveFailover/rebuildStandby', { site: 'KDY', confirm: 'KDY' })) as LiveRebuildJobResult
    expect(rb).toMatchObject({ site: 'KDY', port: old.primary.port })
    const again = (await h.run('liveRepl/status', {})).sites.find((s) => s.site === 'KDY')!
    expect(again, again.problem ?? '').toMatchObject({ healthy: true, standby: { port: old.primary.port, running: true, inRecovery: true } })
    expect(again.links.map((l) => `${l.state}/${l.sync}`)).toEqual(['streaming/sync'])
  }, 180_000)

  it('one operation at a time per site: a second is refused while the first runs', async () => {
    const job = await h.run('liveBackup/take', { site: 'CMB' })
    await expect(h.run('liveFailover/rebuildStandby', { site: 'CMB', confirm: 'CMB' })).rejects.toMatchObject({ code: 'CONFLICT', message: expect.stringMatching(/CMB is busy with backup of CMB/) })
    await finished(job)
  }, 60_000)
})
