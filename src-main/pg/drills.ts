/**
 * Failure drills over live servers (the Topology console in live mode; `liveDrill/*`): what real PostgreSQL
 * servers allow, done to the servers themselves, not to the network model.
 *   - stop a server at once, without a shutdown checkpoint (servers.ts crashServer: pg_ctl stop -m immediate) —
 *     a site's primary or its standby;
 *   - start it again (pg_ctl start: a stopped primary replays its WAL, a standby reconnects to its primary);
 *   - list a server's client backends (pg_stat_activity) and end one (pg_terminate_backend) — by default the
 *     console's own DQP connection to the site (application_name iddb:console:<SITE>);
 *   - each server's state: whether its postmaster runs (pg_ctl status) and whether it answers now.
 *
 * What the console does meanwhile is the engine's: the DQP takes a server it cannot reach for a site that is down
 * and reads another copy (sitestore.ts); a transaction at that site fails with the server's error; the bridge's
 * connections reconnect on their next call once the server is back (syncbridge.ts). Starting a server runs
 * pg_ctl asynchronously, so the engine keeps answering calls while the server recovers.
 */
import { execFile, spawnSync } from 'node:child_process'
import { existsSync, writeFileSync, chownSync } from 'node:fs'
import { join } from 'node:path'
import pg from 'pg'
import { EngineError } from '../../engine/errors'
import type { LiveBackend, LiveKillResult, LiveServerState } from '../ipc/contract/liveops'
import { allServers, findPgBin, pgUnavailableReason, readDeployment, loginOf, serverStates, crashServer, type PgDeployment, type PgServer, hostOf } from './servers'

const CONNECT_MS = 3_000
const RUNUSER = existsSync('/usr/sbin/runuser') ? '/usr/sbin/runuser' : 'runuser'
const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0

function bin(): string {
  const b = findPgBin()
  if (!b) throw new EngineError('UNSUPPORTED', pgUnavailableReason() ?? 'PostgreSQL not found')
  return b
}

function serverOf(d: PgDeployment, id: string): PgServer {
  const s = allServers(d).find((x) => x.id === id)
  if (!s) throw new EngineError('NOT_FOUND', `no server ${id} in this deployment (servers: ${allServers(d).map((x) => x.id).join(', ')})`)
  return s
}

async function client(dataDir: string, d: PgDeployment, server: PgServer): Promise<pg.Client> {
  const c = new pg.Client({ ...loginOf(dataDir, d, server), application_name: 'iddb:console:drill', connectionTimeoutMillis: CONNECT_MS, statement_timeout: 10_000 })
  c.on('error', () => { /* a server that goes away mid-call fails the call itself */ })
  try { await c.connect() } catch (e) { await c.end().catch(() => {}); throw e }
  return c
}

/**
 * Every server of the deployment as pg.json names it now, with its state. `consolePorts`: the ports the console's
 * connections were opened to (LiveSites' deployment), to mark them.
 */
export async function liveServers(dataDir: string, consolePorts: ReadonlySet<number>): Promise<LiveServerState[]> {
  const d = readDeployment(dataDir)
  const states = serverStates(dataDir)
  return Promise.all(states.map(async ({ server, running }) => {
    const base = { id: server.id, site: server.site, role: server.role, host: hostOf(d, server), port: server.port, running, console: consolePorts.has(server.port) }
    let c: pg.Client | undefined
    try {
      c = await client(dataDir, d, server)
      const r = await c.query(`SELECT pg_is_in_recovery() AS r, (SELECT count(*)::int FROM pg_stat_replication WHERE state = 'streaming') AS n`)
      const inRecovery = Boolean(r.rows[0].r)
      return { ...base, up: true, inRecovery, standbysStreaming: inRecovery ? null : Number(r.rows[0].n) }
    } catch (e) {
      return { ...base, up: false, inRecovery: null, standbysStreaming: null, error: (e as Error).message }
    } finally { await c?.end().catch(() => {}) }
  }))
}

/** Stops a server at once (pg_ctl stop -m immediate); false when it was not running. */
export function stopLiveServer(dataDir: string, id: string): boolean {
  serverOf(readDeployment(dataDir), id) // NOT_FOUND before anything runs
  return crashServer(dataDir, id)
}

/** Runs pg_ctl (as `postgres` when root) without blocking this thread; rejects with its stderr. */
function pgCtl(args: string[]): Promise<string> {
  const file = join(bin(), 'pg_ctl')
  const [cmd, argv] = isRoot() ? [RUNUSER, ['-u', 'postgres', '--', file, ...args]] : [file, args]
  return new Promise((ok, fail) => {
    execFile(cmd, argv, { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C.UTF-8' }, timeout: 120_000 }, (err, stdout, stderr) => {
      if (err) fail(new EngineError('INTERNAL', `pg_ctl ${args.at(-1)} failed: ${(stderr || stdout || err.message).trim().split('\n').slice(-3).join(' | ')}`))
      else ok(stdout)
    })
  })
}

function running(s: PgServer): boolean {
  if (!existsSync(s.dir)) return false
  const file = join(bin(), 'pg_ctl')
  const [cmd, argv] = isRoot() ? [RUNUSER, ['-u', 'postgres', '--', file, 'status', '-D', s.dir]] : [file, ['status', '-D', s.dir]]
  return spawnSync(cmd, argv, { encoding: 'utf8' }).status === 0
}

/**
 * Starts a stopped server (pg_ctl start, waiting until it accepts connections: a crashed primary replays its WAL
 * first); returns how long it took, ms. A server already running is CONFLICT, one whose directory is gone NOT_FOUND.
 */
export async function startLiveServer(dataDir: string, id: string): Promise<{ id: string; ms: number }> {
  const s = serverOf(readDeployment(dataDir), id)
  if (!existsSync(s.dir)) throw new EngineError('NOT_FOUND', `${id}'s data directory ${s.dir} is gone (rebuild the standby: iddb pg rebuild-standby)`, { site: s.site })
  if (running(s)) throw new EngineError('CONFLICT', `${id} is already running`, { site: s.site })
  if (!existsSync(s.log)) {
    writeFileSync(s.log, '')
    if (isRoot()) {
      const u = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim()
      const g = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim()
      chownSync(s.log, Number(u), Number(g))
    }
  }
  const t0 = performance.now()
  await pgCtl(['-D', s.dir, '-l', s.log, '-w', '-t', '60', 'start'])
  return { id, ms: Math.round(performance.now() - t0) }
}

/** The site's primary (as pg.json names it now) and the password. */
function primaryOf(dataDir: string, site: string): { d: PgDeployment; server: PgServer } {
  const d = readDeployment(dataDir)
  const s = d.sites.find((x) => x.code === site)
  if (!s) throw new EngineError('UNKNOWN_SITE', `no site ${site} in this deployment (sites: ${d.sites.map((x) => x.code).join(', ')})`)
  return { d, server: s.primary }
}

async function atPrimary<T>(dataDir: string, site: string, fn: (c: pg.Client, server: PgServer) => Promise<T>): Promise<T> {
  const { d, server } = primaryOf(dataDir, site)
  let c: pg.Client
  try {
    c = await client(dataDir, d, server)
  } catch (e) {
    throw new EngineError('SITE_DOWN', `live server ${server.id} (${hostOf(d, server)}:${server.port}) cannot be reached: ${(e as Error).message}`, { site })
  }
  try { return await fn(c, server) } finally { await c.end().catch(() => {}) }
}

const BACKENDS_SQL = `SELECT pid, datname, application_name AS app, state, backend_start, xact_start, left(query, 200) AS query
  FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() ORDER BY application_name, pid`

const purposeOf = (app: string): string | null => (app.startsWith('iddb:console:') ? app.slice('iddb:console:'.length) : null)

/** The client backends of a site's primary (this call's own connection left out). */
export async function liveBackends(dataDir: string, site: string): Promise<{ site: string; server: string; backends: LiveBackend[] }> {
  return atPrimary(dataDir, site, async (c, server) => {
    const r = await c.query(BACKENDS_SQL)
    const iso = (v: unknown) => (v ? new Date(v as string).toISOString() : null)
    return {
      site, server: server.id,
      backends: r.rows.map((x) => ({
        pid: Number(x.pid), database: String(x.datname ?? ''), application: String(x.app ?? ''), state: x.state === null ? null : String(x.state),
        backendStart: iso(x.backend_start), xactStart: iso(x.xact_start), query: String(x.query ?? ''), consolePurpose: purposeOf(String(x.app ?? '')),
      })),
    }
  })
}

/**
 * Ends one client backend of a site's primary with pg_terminate_backend, waiting (up to 5 s) until it has exited.
 * Without `pid`: the console's own DQP connection to the site (application_name iddb:console:<SITE>). A pid that
 * is not a client backend of that server is NOT_FOUND; the console's DQP connection not open at the moment too.
 */
export async function killLiveBackend(dataDir: string, site: string, pid?: number): Promise<LiveKillResult> {
  return atPrimary(dataDir, site, async (c, server) => {
    const r = pid === undefined
      ? await c.query(`${BACKENDS_SQL.replace('ORDER BY', 'AND application_name = $1 ORDER BY')}`, [`iddb:console:${site}`])
      : await c.query(`${BACKENDS_SQL.replace('ORDER BY', 'AND pid = $1 ORDER BY')}`, [pid])
    if (!r.rows.length) {
      throw new EngineError('NOT_FOUND', pid === undefined
        ? `${server.id} has no connection of the console's query processor now (iddb:console:${site}): it opens on the next query`
        : `${server.id} has no client backend with pid ${pid} (liveDrill/backends lists them)`, { site })
    }
    const target = r.rows[0]
    const k = await c.query('SELECT pg_terminate_backend($1, 5000) AS ok', [Number(target.pid)])
    return { site, server: server.id, pid: Number(target.pid), application: String(target.app ?? ''), terminated: Boolean(k.rows[0].ok) }
  })
}
