/**
 * `pg up --wan t1` (src-main/pg/wan.ts): the plan read from the topology's links, and — where this machine
 * allows network namespaces and netem (root) — a deployment whose branches sit behind their modelled T1: a round
 * trip to Kandy costs the CMB–KDY link's delay twice, a bulk read its bytes at T1 rate, the console's live mode
 * works over it, and `pg down` leaves no namespace or veth behind. Skipped with the reason elsewhere.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { spawnSync } from 'node:child_process'
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { Cluster } from '../../engine/cluster'
import { Dqp } from '../../engine/query/dqp'
import { defaultTopology } from '../../engine/topology/default'
import { pgDown, pgStatus, pgUp, type PgUpResult } from './deploy'
import { hostOf, pgUnavailableReason, readDeployment, readPassword, startDeployment, stopDeployment } from './servers'
import { freePorts } from './testserver'
import { LiveSites } from './live'
import { planWan, wanUnavailableReason } from './wan'

const pgWhy = pgUnavailableReason()
const wanWhy = wanUnavailableReason()
const why = pgWhy ?? wanWhy

describe('the --wan plan from the topology', () => {
  it('shapes each branch to its link from the console\'s site, with the topology\'s own figures', () => {
    const topo = defaultTopology()
    const w = planWan('/tmp/some-deployment', 't1', topo, 'CMB')
    expect(w.sites.map((s) => s.site).sort()).toEqual(topo.sites.filter((s) => s.code !== 'CMB').map((s) => s.code).sort())
    for (const s of w.sites) {
      const l = topo.links.find((x) => x.id === s.link)!
      expect([l.a, l.b].sort()).toEqual(['CMB', s.site].sort())
      expect([s.delayMs, s.bandwidthBps]).toEqual([l.delayMs, l.bandwidthBps])
      expect(s.rootIf.length).toBeLessThanOrEqual(15)
    }
    // another directory: other namespaces, other interfaces, so two deployments do not clash
    const other = planWan('/tmp/another-deployment', 't1', topo, 'CMB')
    expect(other.sites[0].netns).not.toBe(w.sites[0].netns)
    expect(other.sites[0].rootIf).not.toBe(w.sites[0].rootIf)
  })

  it('refuses an unknown WAN and a branch with no link to the console', () => {
    expect(() => planWan('/tmp/x', 'e1' as 't1', defaultTopology(), 'CMB')).toThrow(/unknown --wan/)
    const topo = defaultTopology()
    topo.links = topo.links.filter((l) => l.id !== 'CMB-KDY')
    expect(() => planWan('/tmp/x', 't1', topo, 'CMB')).toThrow(/no link between the console's site CMB and KDY/)
  })

  it.skipIf(pgWhy !== null || wanWhy === null)(`without the capability, pg up --wan is refused before anything is made (${wanWhy ?? 'capable here'})`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'iddb-nowan-'))
    try {
      await expect(pgUp({ dataDir: dir, sales: 50, basePort: await freePorts(6, 41000), durable: false, wan: 't1' })).rejects.toThrow(/--wan t1: /)
      expect(existsSync(join(dir, 'pg.json'))).toBe(false)
      expect(existsSync(join(dir, 'pg'))).toBe(false)
    } finally { rmSync(dir, { recursive: true, force: true }) }
  })
})

describe.skipIf(why !== null)(`servers behind the modelled T1${why ? ` (skipped: ${why})` : ''}`, () => {
  let dir = ''
  let up: PgUpResult
  let password = ''
  const topo = defaultTopology()
  const link = (site: string) => topo.links.find((l) => [l.a, l.b].sort().join() === ['CMB', site].sort().join())!
  const client = async (site: string) => {
    const s = up.deployment.sites.find((x) => x.code === site)!.primary
    const c = new pg.Client({ host: hostOf(up.deployment, s.port), port: s.port, user: up.deployment.user, password, database: up.deployment.database })
    await c.connect()
    return c
  }
  const rttMs = async (site: string): Promise<number> => {
    const c = await client(site)
    try {
      const t: number[] = []
      for (let i = 0; i < 7; i++) { const t0 = performance.now(); await c.query('SELECT 1'); t.push(performance.now() - t0) }
      return t.sort((a, b) => a - b)[3]
    } finally { await c.end() }
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'iddb-pgwan-'))
    chmodSync(dir, 0o755)
    up = await pgUp({ dataDir: dir, seed: 5, sales: 200, basePort: await freePorts(6, 42000), durable: false, wan: 't1' })
    password = readPassword(dir, up.deployment)
  }, 600_000)

  afterAll(() => {
    if (dir) { try { pgDown(dir) } finally { rmSync(dir, { recursive: true, force: true }) } }
  })

  it('pg.json records each branch server\'s own address and the wan; the console\'s site stays on loopback', async () => {
    const d = readDeployment(dir)
    expect(d.wan?.kind).toBe('t1')
    expect(d.wan?.consoleSite).toBe('CMB')
    for (const s of d.sites) {
      const w = d.wan!.sites.find((x) => x.site === s.code)
      expect(hostOf(d, s.primary.port)).toBe(w ? w.nsAddr : '127.0.0.1')
      expect(hostOf(d, s.standby!.port)).toBe(w ? w.nsAddr : '127.0.0.1')
    }
    const st = await pgStatus(dir)
    expect(st.servers.every((s) => s.running && !s.error)).toBe(true)
    expect(st.servers.filter((s) => s.role === 'primary').every((s) => s.replication?.length === 1)).toBe(true)
  })

  it('a round trip to KDY costs the CMB–KDY delay twice; one to CMB does not', async () => {
    const kdy = await rttMs('KDY')
    const cmb = await rttMs('CMB')
    const delay = link('KDY').delayMs
    console.log(`SELECT 1 round trip: KDY ${kdy.toFixed(2)} ms (link delay ${delay} ms each way), CMB ${cmb.toFixed(2)} ms`)
    expect(kdy).toBeGreaterThanOrEqual(2 * delay)
    expect(kdy).toBeLessThan(2 * delay + 20)
    expect(cmb).toBeLessThan(delay)
  })

  it('a bulk read from KDY takes at least its bytes at the link\'s bandwidth', async () => {
    const N = 100_000
    const c = await client('KDY')
    try {
      await c.query('SELECT 1')
      const t0 = performance.now()
      const r = await c.query(`SELECT repeat('x', ${N}) AS s`)
      const ms = performance.now() - t0
      expect((r.rows[0].s as string).length).toBe(N)
      const floor = (N * 8 / link('KDY').bandwidthBps) * 1000
      console.log(`${N} bytes from KDY in ${ms.toFixed(0)} ms (at ${link('KDY').bandwidthBps} bit/s: ≥ ${floor.toFixed(0)} ms)`)
      expect(ms).toBeGreaterThanOrEqual(floor)
    } finally { await c.end() }
  })

  it('the console\'s live mode opens over it and a distributed query runs', async () => {
    const cluster = await Cluster.create({ seed: 5, sales: 200 })
    const live = LiveSites.open(cluster, dir)
    try {
      expect(live.servers().every((s) => s.up)).toBe(true)
      const r = await (await Dqp.create(cluster)).run('CMB', 'SELECT COUNT(*) AS N FROM SALES')
      expect(r.rows).toEqual([[200]])
    } finally { live.close(); cluster.close() }
  }, 120_000)

  it('pg down leaves no namespace or veth; a start makes them again from pg.json', () => {
    const w = readDeployment(dir).wan!
    const netns = () => spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout
    const links = () => spawnSync('ip', ['-o', 'link'], { encoding: 'utf8' }).stdout
    expect(w.sites.every((s) => netns().includes(s.netns))).toBe(true)
    pgDown(dir)
    for (const s of w.sites) {
      expect(netns()).not.toContain(s.netns)
      expect(links()).not.toContain(s.rootIf)
    }
    startDeployment(dir)
    expect(w.sites.every((s) => netns().includes(s.netns) && links().includes(s.rootIf))).toBe(true)
    stopDeployment(dir, 'fast')
    pgDown(dir)
    expect(w.sites.some((s) => netns().includes(s.netns))).toBe(false)
  }, 120_000)
})
