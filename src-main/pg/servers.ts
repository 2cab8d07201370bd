/**
 * PostgreSQL sites on this machine (`iddb pg up|down|status`): one PostgreSQL cluster per site on a loopback
 * port, a streaming-replication standby per site as its backup server, and the Colombo main repository as a
 * database of its own on the HQ server. Built with Debian's initdb / pg_ctl / pg_basebackup, run as the
 * unprivileged `postgres` user when this process is root (initdb refuses root).
 *
 * Layout of a deployment directory DIR:
 *   DIR/pg.json                 the deployment (ports, directories, databases, user) — never a password
 *   DIR/.pgpass                 the administrator's password, libpq pgpass format, mode 0600
 *   DIR/pg/<SITE>-primary/      the site's database server     (log: DIR/pg/<SITE>-primary.log)
 *   DIR/pg/<SITE>-standby/      its backup server (hot standby fed by WAL streaming)
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, appendFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { homedir } from 'node:os'
import { EngineError } from '../../engine/errors'
import type { SiteCode } from '../../engine/topology/types'
import { connect } from './load'
import { hostOf, inNetns, setUpWan, tearDownWan, wanPresent, wanUnavailableReason, type WanSetup } from './wan'
import { failoverAttached } from './attachedfailover'

export const PG_USER = 'iddb'
export const SITE_DATABASE = 'iddb'
export const REPOSITORY_DATABASE = 'iddb_repository'
const MANIFEST = 'pg.json'

export interface PgServer {
  id: string; site: SiteCode; role: 'primary' | 'standby'; port: number; dir: string; log: string
  /** --wan: the address the server listens on and the network namespace it runs in (else d.host, the root namespace). */
  host?: string; netns?: string
  /**
   * An attached server (`iddb pg attach --topology FILE`): its own login and site database (else the
   * deployment's), and the environment variable holding its password (else the pgpass file's entry for it).
   * `dir` and `log` are empty: the server is not this machine's to start or stop.
   */
  user?: string; database?: string; passwordEnv?: string
}
export interface PgDeployment {
  version: 1
  host: string
  user: string
  /** PostgreSQL's major version the servers were created with. */
  pgVersion: string
  /** A site's standby: always for `pg up`'s servers; an attached site has one only if its topology file names it. */
  sites: { code: SiteCode; hq: boolean; primary: PgServer; standby?: PgServer }[]
  repository: { site: SiteCode; database: string }
  database: string
  createdAt: string
  /**
   * The design `pg up` loaded (seed and sales of the generator, as LoadSummary says): the console's live mode
   * builds its embedded cluster — catalog and topology metadata — from the same. Absent in older deployments.
   */
  design?: { seed: number; sales: number }
  /** `pg up --wan t1`: the branches' namespaces, veths and shaped links (absent: every server on loopback). */
  wan?: WanSetup
  /**
   * Servers this machine does not run, named by a topology file (`iddb pg attach`, attach.ts): the console
   * connects to them; starting, stopping, building standbys and failing over are the servers' own machines' work.
   */
  attached?: { topologyFile: string; attachedAt: string }
}

/** `pg up`'s own servers: every site has its standby, every server a data directory here. */
export type LocalSite = Omit<PgDeployment['sites'][number], 'standby'> & { standby: PgServer }
export type LocalDeployment = Omit<PgDeployment, 'sites'> & { sites: LocalSite[] }

/** Refuses what only `pg up`'s own servers allow (pg_ctl, pg_basebackup into a local directory). */
export function requireLocalServers(d: PgDeployment, what: string): LocalDeployment {
  if (d.attached) throw new EngineError('UNSUPPORTED', `${what} needs servers this machine runs; these are attached from ${d.attached.topologyFile} — do it on the server's own machine`)
  const bad = d.sites.find((s) => !s.standby)
  if (bad) throw new EngineError('CORRUPT_DATA', `pg.json names no standby for ${bad.code}: not a deployment made by iddb pg up`)
  return d as LocalDeployment
}

/** The login of one server: its address, user, the database asked for (default: the site's) and its password. */
export interface PgLogin { host: string; port: number; user: string; password: string; database: string }

/** The database holding a server's site (an attached server may name its own). */
export const siteDatabaseOf = (d: PgDeployment, server: PgServer): string => server.database ?? d.database

export function loginOf(dataDir: string, d: PgDeployment, server: PgServer, database?: string): PgLogin {
  const host = server.host ?? d.host
  const user = server.user ?? d.user
  const db = database ?? siteDatabaseOf(d, server)
  return { host, port: server.port, user, database: db, password: passwordOf(dataDir, d, server, db) }
}

/**
 * A server's password: for an attached server from the environment variable its topology file names, else from
 * the pgpass file (PGPASSFILE, else ~/.pgpass; libpq's format and matching); for `pg up`'s servers readPassword.
 * Never from pg.json or the topology file.
 */
export function passwordOf(dataDir: string, d: PgDeployment, server: PgServer, database?: string): string {
  if (!d.attached) return readPassword(dataDir, d)
  const user = server.user ?? d.user
  if (server.passwordEnv) {
    const v = process.env[server.passwordEnv]
    if (v === undefined || v === '') throw new EngineError('ACCESS_DENIED', `no password for ${user} at ${server.id}: set the environment variable ${server.passwordEnv} (named for it in ${d.attached.topologyFile})`)
    return v
  }
  const file = process.env.PGPASSFILE || join(homedir(), '.pgpass')
  const host = server.host ?? d.host
  const found = existsSync(file) ? pgpassLookup(readFileSync(file, 'utf8'), host, server.port, database ?? siteDatabaseOf(d, server), user) : null
  if (found === null) throw new EngineError('ACCESS_DENIED', `no password for ${user} at ${server.id} (${host}:${server.port}): the topology file names no passwordEnv for it and ${file} has no matching entry`)
  return found
}

/** libpq's pgpass matching: `host:port:database:user:password`, `*` matches anything, `\:` and `\\` escape; the first match wins. */
export function pgpassLookup(text: string, host: string, port: number, database: string, user: string): string | null {
  for (const raw of text.split(/\r?\n/)) {
    if (!raw || raw.startsWith('#')) continue
    const f: string[] = []
    let cur = ''
    for (let i = 0; i < raw.length; i++) {
      const ch = raw[i]
      if (ch === '\\' && i + 1 < raw.length) { cur += raw[++i]; continue }
      if (ch === ':' && f.length < 4) { f.push(cur); cur = ''; continue }
      cur += ch
    }
    f.push(cur)
    if (f.length !== 5) continue
    const want = [host, String(port), database, user]
    if (want.every((w, i) => f[i] === '*' || f[i] === w)) return f[4]
  }
  return null
}

/** Where initdb and pg_ctl are: $IDDB_PG_BIN, else the newest /usr/lib/postgresql/<v>/bin; null when absent. */
export function findPgBin(): string | null {
  const env = process.env.IDDB_PG_BIN
  if (env) return existsSync(join(env, 'initdb')) ? env : null
  const root = '/usr/lib/postgresql'
  if (!existsSync(root)) return null
  const versions = readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a))
  return versions.length ? join(root, versions[0], 'bin') : null
}

/** Why live PostgreSQL sites cannot run here (null when they can): tests print it as their skip reason. */
export function pgUnavailableReason(): string | null {
  const bin = findPgBin()
  if (!bin) return 'PostgreSQL server binaries not found (install Debian\'s postgresql package, or set IDDB_PG_BIN)'
  if (isRoot() && !osUser('postgres')) return 'running as root and there is no unprivileged "postgres" user to run the servers as'
  return null
}

const RUNUSER = existsSync('/usr/sbin/runuser') ? '/usr/sbin/runuser' : 'runuser'
const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0

function osUser(name: string): { uid: number; gid: number } | null {
  const r = spawnSync('id', ['-u', name], { encoding: 'utf8' })
  const g = spawnSync('id', ['-g', name], { encoding: 'utf8' })
  if (r.status !== 0 || g.status !== 0) return null
  return { uid: Number(r.stdout.trim()), gid: Number(g.stdout.trim()) }
}

/** Runs a PostgreSQL program (as `postgres` when root); throws an EngineError carrying its stderr. */
function pgRun(bin: string, prog: string, args: string[], env: Record<string, string> = {}, netns?: string): string {
  const file = join(bin, prog)
  const [cmd0, argv0] = isRoot() ? [RUNUSER, ['-u', 'postgres', '--', file, ...args]] : [file, args]
  // --wan: inside the server's namespace (ip netns exec, then the same command)
  const [cmd, argv] = netns ? ['ip', [...inNetns(netns).slice(1), cmd0, ...argv0]] : [cmd0, argv0]
  const r = spawnSync(cmd, argv, { encoding: 'utf8', env: { ...process.env, ...env, LC_ALL: 'C.UTF-8' }, timeout: 120_000 })
  if (r.error) throw new EngineError('INTERNAL', `${prog} could not start: ${r.error.message}`)
  if (r.status !== 0) throw new EngineError('INTERNAL', `${prog} ${args[0] ?? ''} failed (exit ${r.status}): ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`)
  return r.stdout
}

/** Runs a PostgreSQL program of this machine's installation as the servers' OS user (`postgres` when root). */
export function pgProgram(prog: string, args: string[], env: Record<string, string> = {}): string {
  const bin = findPgBin()
  if (!bin) throw new EngineError('UNSUPPORTED', 'PostgreSQL programs not found')
  return pgRun(bin, prog, args, env)
}

/** Hands a directory tree to the servers' OS user (root only), e.g. a data directory extracted from a backup. */
export function giveTreeToServers(path: string): void {
  if (!isRoot()) return
  const r = spawnSync('chown', ['-R', 'postgres:postgres', path], { encoding: 'utf8' })
  if (r.status !== 0) throw new EngineError('INTERNAL', `chown ${path} failed: ${r.stderr.trim()}`)
}

/** Hands a path to the servers' OS user (root only; otherwise this process already is that user). */
function giveToServers(path: string): void {
  if (!isRoot()) return
  const u = osUser('postgres')!
  chownSync(path, u.uid, u.gid)
}

export function readDeployment(dataDir: string): PgDeployment {
  const file = join(dataDir, MANIFEST)
  if (!existsSync(file)) throw new EngineError('NOT_FOUND', `${resolve(dataDir)} holds no PostgreSQL deployment (no ${MANIFEST}; run iddb pg up --data DIR first)`)
  let d: PgDeployment
  try { d = JSON.parse(readFileSync(file, 'utf8')) as PgDeployment } catch (e) { throw new EngineError('CORRUPT_DATA', `${file} is not valid JSON: ${(e as Error).message}`) }
  if (d.version !== 1 || !Array.isArray(d.sites)) throw new EngineError('CORRUPT_DATA', `${file} is not an iddb PostgreSQL deployment (version ${String(d.version)})`)
  return d
}

/** The administrator's password, from $IDDB_PG_PASSWORD or the deployment's pgpass file (never from pg.json). */
export function readPassword(dataDir: string, d: PgDeployment): string {
  if (process.env.IDDB_PG_PASSWORD) return process.env.IDDB_PG_PASSWORD
  const file = join(dataDir, '.pgpass')
  if (!existsSync(file)) throw new EngineError('ACCESS_DENIED', `no password for ${d.user}: set IDDB_PG_PASSWORD or restore ${file}`)
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const f = line.split(':')
    if (f.length >= 5 && f[3] === d.user) return f.slice(4).join(':')
  }
  throw new EngineError('ACCESS_DENIED', `${file} has no entry for ${d.user}`)
}

export interface PgUpOptions {
  dataDir: string
  sites: { code: SiteCode; hq: boolean }[]
  /** First port; each site takes two (primary, standby). */
  basePort: number
  /** false: fsync off and no initdb sync, for tests and throw-away clusters (a crash may lose the servers' data). */
  durable?: boolean
  onProgress?: (msg: string) => void
  /** --wan (planWan): the branches' servers in namespaces behind shaped links; made here, removed on failure. */
  wan?: WanSetup
}

/** Creates and starts the servers (fresh DIR only) and returns the deployment; on failure stops what it started. */
export function createServers(o: PgUpOptions): LocalDeployment {
  const bin = findPgBin()
  const why = pgUnavailableReason()
  if (!bin || why) throw new EngineError('UNSUPPORTED', why ?? 'PostgreSQL not found')
  const wanWhy = o.wan ? wanUnavailableReason() : null
  if (wanWhy) throw new EngineError('UNSUPPORTED', `--wan ${o.wan!.kind}: ${wanWhy}`)
  const dir = resolve(o.dataDir)
  mkdirSync(dir, { recursive: true })
  if (existsSync(join(dir, MANIFEST))) throw new EngineError('CONFLICT', `${dir} already holds a PostgreSQL deployment (iddb pg status --data ${o.dataDir})`)
  const pgDir = join(dir, 'pg')
  if (existsSync(pgDir) && readdirSync(pgDir).length) throw new EngineError('CONFLICT', `${pgDir} is not empty`)
  mkdirSync(pgDir, { recursive: true })
  if (isRoot()) {
    // the servers' user must reach DIR/pg: every ancestor needs search permission for others
    for (let p = dir; ; p = resolve(p, '..')) {
      if ((statSync(p).mode & 0o001) === 0) throw new EngineError('BAD_INPUT', `${p} is not searchable by the postgres user (chmod o+x ${p}, or choose a data directory under /tmp or /srv)`)
      if (p === '/') break
    }
  }
  giveToServers(pgDir)
  chmodSync(pgDir, 0o700)
  const pgVersion = bin.split('/').slice(-2, -1)[0]
  const password = randomBytes(18).toString('base64url')
  const pwfile = join(pgDir, '.initdb-pw')
  writeFileSync(pwfile, `${password}\n`, { mode: 0o600 })
  giveToServers(pwfile)
  const server = (code: SiteCode, role: 'primary' | 'standby', port: number): PgServer => {
    const w = o.wan?.sites.find((x) => x.site === code)
    return {
      id: `${code}.${role === 'primary' ? 'primary' : 'backup'}`, site: code, role, port, dir: join(pgDir, `${code}-${role}`), log: join(pgDir, `${code}-${role}.log`),
      ...(w ? { host: w.nsAddr, netns: w.netns } : {}),
    }
  }
  const hq = o.sites.find((s) => s.hq) ?? o.sites[0]
  const d: LocalDeployment = {
    version: 1, host: '127.0.0.1', user: PG_USER, pgVersion, database: SITE_DATABASE,
    sites: o.sites.map((s, i) => ({ code: s.code, hq: s.hq, primary: server(s.code, 'primary', o.basePort + 2 * i), standby: server(s.code, 'standby', o.basePort + 2 * i + 1) })),
    repository: { site: hq.code, database: REPOSITORY_DATABASE }, createdAt: new Date().toISOString(),
    ...(o.wan ? { wan: o.wan } : {}),
  }
  const started: PgServer[] = []
  try {
    if (o.wan) { o.onProgress?.(`--wan ${o.wan.kind}: ${o.wan.sites.map((w) => `${w.site} in ${w.netns} (${w.link}: ${w.delayMs} ms, ${w.bandwidthBps} bit/s)`).join('; ')}`); setUpWan(o.wan) }
    for (const s of d.sites) {
      o.onProgress?.(`initdb ${s.primary.id} (port ${s.primary.port})`)
      pgRun(bin, 'initdb', ['-D', s.primary.dir, '-U', PG_USER, `--pwfile=${pwfile}`, '--auth-host=scram-sha-256', '--auth-local=scram-sha-256', '-E', 'UTF8', '--locale=C.UTF-8', ...(o.durable === false ? ['--no-sync'] : [])])
      appendFileSync(join(s.primary.dir, 'postgresql.conf'), serverConf(s.primary.port, o.durable !== false, s.primary.host))
      const w = o.wan?.sites.find((x) => x.site === s.code)
      // --wan: the console reaches the branch from the root end of its /30; the standby streams from the same address
      if (w) appendFileSync(join(s.primary.dir, 'pg_hba.conf'), `\n# iddb --wan: the ${w.link} link\nhost all all ${w.net} scram-sha-256\nhost replication all ${w.net} scram-sha-256\n`)
      startServer(bin, s.primary); started.push(s.primary)
    }
    rmSync(pwfile, { force: true })
    writeFileSync(join(dir, '.pgpass'), d.sites.flatMap((s) => [s.primary, s.standby]).map((x) => `${x.host ?? '127.0.0.1'}:${x.port}:*:${PG_USER}:${password}`).join('\n') + '\n', { mode: 0o600 })
    writeManifest(dir, d)
    return d
  } catch (e) {
    for (const s of started.reverse()) stopServer(bin, s, 'immediate')
    if (o.wan) tearDownWan(o.wan)
    rmSync(pwfile, { force: true })
    throw e
  }
}

/** Builds each site's standby from its primary (pg_basebackup -R: WAL streaming, hot standby) and starts it. */
export function createStandbys(dataDir: string, d: LocalDeployment, password: string, onProgress?: (m: string) => void): void {
  const bin = findPgBin()!
  for (const s of d.sites) {
    onProgress?.(`pg_basebackup ${s.primary.id} → ${s.standby.id} (port ${s.standby.port})`)
    // --wan: run at the branch (inside its namespace): the copy is the branch's own, not shipped over its T1
    pgRun(bin, 'pg_basebackup', ['-h', hostOf(d, s.primary), '-p', String(s.primary.port), '-U', d.user, '-D', s.standby.dir, '-R', '-X', 'stream', '-c', 'fast', '--no-sync'], { PGPASSWORD: password }, s.standby.netns)
    // the copy carries the primary's settings: later lines win, so only the port changes
    appendFileSync(join(s.standby.dir, 'postgresql.conf'), `\n# iddb: this server is ${s.standby.id}\nport = ${s.standby.port}\n`)
    // ... and the primary's ALTER SYSTEM settings: not its synchronous_standby_names, which would make the standby,
    // once promoted, wait at every commit for a standby of its own it does not have yet (makeStandbysSynchronous
    // sets it when it has one)
    const auto = join(s.standby.dir, 'postgresql.auto.conf')
    if (existsSync(auto)) writeFileSync(auto, readFileSync(auto, 'utf8').split('\n').filter((l) => !/^\s*synchronous_standby_names\s*=/.test(l)).join('\n'))
    startServer(bin, s.standby)
  }
}

/**
 * Makes each primary's commits wait until its standby has the WAL (synchronous_standby_names = '*'): a
 * failover then loses no acknowledged commit (RPO 0). The price: while a site's standby is down, commits at its
 * primary wait for it (or for a failover).
 */
export async function makeStandbysSynchronous(d: LocalDeployment, password: string, sync = true): Promise<void> {
  for (const s of d.sites) {
    const c = connect(d, s.primary.port, 'postgres', password)
    await c.connect()
    try {
      await c.query(sync ? "ALTER SYSTEM SET synchronous_standby_names = '*'" : 'ALTER SYSTEM RESET synchronous_standby_names')
      await c.query('SELECT pg_reload_conf()')
    } finally { await c.end() }
  }
}

function serverConf(port: number, durable: boolean, listen = '127.0.0.1'): string {
  return [
    '', '# iddb pg up',
    `listen_addresses = '${listen}'`, `port = ${port}`, "unix_socket_directories = ''",
    // PREPARE TRANSACTION for the DTM's two-phase commit
    'max_prepared_transactions = 64', 'max_connections = 60',
    'wal_level = replica', 'max_wal_senders = 4', 'hot_standby = on', 'wal_keep_size = 64MB',
    "password_encryption = 'scram-sha-256'",
    ...(durable ? [] : ['fsync = off', 'full_page_writes = off']),
    '',
  ].join('\n')
}

function startServer(bin: string, s: PgServer): void {
  if (!existsSync(s.log)) { writeFileSync(s.log, ''); giveToServers(s.log) }
  pgRun(bin, 'pg_ctl', ['-D', s.dir, '-l', s.log, '-w', '-t', '60', 'start'], {}, s.netns)
}

function stopServer(bin: string, s: PgServer, mode: 'fast' | 'immediate' = 'fast'): boolean {
  if (!isRunning(bin, s)) return false
  pgRun(bin, 'pg_ctl', ['-D', s.dir, '-m', mode, '-w', '-t', '60', 'stop'])
  return true
}

function isRunning(bin: string, s: PgServer): boolean {
  if (!existsSync(s.dir)) return false
  const file = join(bin, 'pg_ctl')
  const [cmd, argv] = isRoot() ? [RUNUSER, ['-u', 'postgres', '--', file, 'status', '-D', s.dir]] : [file, ['status', '-D', s.dir]]
  return spawnSync(cmd, argv, { encoding: 'utf8' }).status === 0
}

/** Rewrites DIR/pg.json (atomically) with the deployment as given. */
export function writeDeployment(dataDir: string, d: PgDeployment): void { writeManifest(resolve(dataDir), d) }

function writeManifest(dir: string, d: PgDeployment): void {
  const tmp = join(dir, `${MANIFEST}.tmp`)
  writeFileSync(tmp, `${JSON.stringify(d, null, 2)}\n`)
  renameSync(tmp, join(dir, MANIFEST))
}

export { hostOf }

export const allServers = (d: PgDeployment): PgServer[] => d.sites.flatMap((s) => (s.standby ? [s.primary, s.standby] : [s.primary]))

/** Stops every server of the deployment (standbys first); returns the ids it stopped. */
export function stopDeployment(dataDir: string, mode: 'fast' | 'immediate' = 'fast'): string[] {
  const d = requireLocalServers(readDeployment(dataDir), 'pg down')
  const bin = findPgBin()
  if (!bin) throw new EngineError('UNSUPPORTED', pgUnavailableReason() ?? 'PostgreSQL not found')
  const stopped: string[] = []
  for (const s of [...d.sites.map((x) => x.standby), ...d.sites.map((x) => x.primary)]) if (stopServer(bin, s, mode)) stopped.push(s.id)
  return stopped
}

/** Starts every stopped server of the deployment (primaries first); returns the ids it started. */
export function startDeployment(dataDir: string): string[] {
  const d = requireLocalServers(readDeployment(dataDir), 'pg start')
  const bin = findPgBin()
  if (!bin) throw new EngineError('UNSUPPORTED', pgUnavailableReason() ?? 'PostgreSQL not found')
  const started: string[] = []
  if (d.wan && !wanPresent(d.wan)) { tearDownWan(d.wan); setUpWan(d.wan) } // removed by pg down: made again from pg.json
  for (const s of [...d.sites.map((x) => x.primary), ...d.sites.map((x) => x.standby)]) {
    if (!isRunning(bin, s) && existsSync(s.dir)) { startServer(bin, s); started.push(s.id) }
  }
  return started
}

/** Whether each server's postmaster runs (pg_ctl status). */
export function serverStates(dataDir: string): { server: PgServer; running: boolean }[] {
  const d = readDeployment(dataDir)
  if (d.attached) return allServers(d).map((server) => ({ server, running: true })) // not this machine's: whether it answers is for a probe to say
  const bin = findPgBin()
  return allServers(d).map((server) => ({ server, running: bin ? isRunning(bin, server) : false }))
}

/** For the CLI's messages: pg_ctl's own version line. */
export function pgVersionLine(): string | null {
  const bin = findPgBin()
  if (!bin) return null
  try { return execFileSync(join(bin, 'pg_ctl'), ['--version'], { encoding: 'utf8' }).trim() } catch { return null }
}

export interface FailoverResult {
  site: SiteCode; promoted: string; port: number; rtoMs: number; oldPrimaryWasRunning: boolean
  /** What was done beyond the promotion, and what is left to the servers' own machines (an attached site's failover). */
  notes?: string[]
}

/**
 * Failover by hand: the site's standby becomes its primary (pg_promote); the old primary is stopped first if it
 * still runs (a switchover: `-m fast` hands its last WAL to the standby before it stops) and is kept as the
 * site's standby-to-be, to be rebuilt from the new primary (rebuildStandby) — fail back is the same two steps
 * again. RTO is the wall time from the command to the promoted server accepting writes. An attached site's
 * (servers this machine does not run) is attachedfailover.ts's.
 */
export async function failover(dataDir: string, site: SiteCode): Promise<FailoverResult> {
  const t0 = performance.now()
  const found = readDeployment(dataDir)
  // servers this machine does not run: promoted over SQL, the old primary fenced instead of stopped
  if (found.attached) return failoverAttached(dataDir, found, site)
  const d = requireLocalServers(found, 'a failover')
  const bin = findPgBin()
  if (!bin) throw new EngineError('UNSUPPORTED', pgUnavailableReason() ?? 'PostgreSQL not found')
  const s = d.sites.find((x) => x.code === site)
  if (!s) throw new EngineError('UNKNOWN_SITE', `no site ${site} in this deployment`)
  if (!isRunning(bin, s.standby)) throw new EngineError('SITE_DOWN', `${s.standby.id} is not running: there is nothing to promote (rebuild the standby first)`, { site })
  const password = readPassword(dataDir, d)
  const wasRunning = stopServer(bin, s.primary, 'fast')
  const c = connect(d, s.standby.port, 'postgres', password)
  await c.connect()
  try {
    const r = await c.query('SELECT pg_promote(true, 60) AS ok')
    if (!r.rows[0].ok) throw new EngineError('TIMEOUT', `${s.standby.id} did not finish promotion within 60 s`, { site })
    await c.query('CREATE TEMP TABLE iddb_failover_probe (x int)') // accepts writes
  } finally { await c.end().catch(() => {}) }
  const rtoMs = performance.now() - t0
  const { promoted } = swapRoles(dataDir, d, s)
  return { site, promoted: promoted.dir, port: promoted.port, rtoMs, oldPrimaryWasRunning: wasRunning }
}

/** After a promotion: pg.json names the promoted standby as the site's primary and the old primary as its standby (to be rebuilt). */
export function swapRoles(dataDir: string, d: PgDeployment, s: PgDeployment['sites'][number] & { standby: PgServer }): { promoted: PgServer; demoted: PgServer } {
  const promoted: PgServer = { ...s.standby, role: 'primary', id: `${s.code}.primary` }
  const demoted: PgServer = { ...s.primary, role: 'standby', id: `${s.code}.backup` }
  s.primary = promoted
  s.standby = demoted
  writeManifest(resolve(dataDir), d)
  return { promoted, demoted }
}

/** Rebuilds a site's standby from its current primary (its old contents discarded) and starts it streaming. */
export async function rebuildStandby(dataDir: string, site: SiteCode): Promise<void> {
  const d = requireLocalServers(readDeployment(dataDir), 'rebuilding a standby')
  const bin = findPgBin()
  if (!bin) throw new EngineError('UNSUPPORTED', pgUnavailableReason() ?? 'PostgreSQL not found')
  const s = d.sites.find((x) => x.code === site)
  if (!s) throw new EngineError('UNKNOWN_SITE', `no site ${site} in this deployment`)
  if (!isRunning(bin, s.primary)) throw new EngineError('SITE_DOWN', `${s.primary.id} is not running: a standby is built from a running primary`, { site })
  stopServer(bin, s.standby, 'immediate')
  rmSync(s.standby.dir, { recursive: true, force: true })
  const password = readPassword(dataDir, d)
  createStandbys(dataDir, { ...d, sites: [s] }, password)
  await makeStandbysSynchronous({ ...d, sites: [s] }, password)
}

/**
 * Replaces a site's primary's data directory (a physical restore): the primary is stopped (`-m fast`), its directory
 * kept aside as `<dir>.before-restore-<time>` (nothing of it is deleted), `fill(dir)` writes the new one into an
 * empty directory, and the primary is started on it. Returns the path kept aside. When fill or the start fails, the
 * new directory is removed, the old one put back and started again, and the error rethrown: the site is as it was.
 */
export function replacePrimaryData(dataDir: string, site: SiteCode, fill: (dir: string) => void): string {
  const d = requireLocalServers(readDeployment(dataDir), 'a physical restore')
  const bin = findPgBin()
  if (!bin) throw new EngineError('UNSUPPORTED', pgUnavailableReason() ?? 'PostgreSQL not found')
  const s = d.sites.find((x) => x.code === site)
  if (!s) throw new EngineError('UNKNOWN_SITE', `no site ${site} in this deployment`)
  const dir = s.primary.dir
  const kept = `${dir}.before-restore-${new Date().toISOString().replace(/[:.]/g, '-')}`
  const wasRunning = stopServer(bin, s.primary, 'fast')
  renameSync(dir, kept)
  try {
    mkdirSync(dir, { mode: 0o700 })
    fill(dir)
    chmodSync(dir, 0o700)
    giveTreeToServers(dir)
    startServer(bin, s.primary)
  } catch (e) {
    try { stopServer(bin, s.primary, 'immediate') } catch { /* it did not start */ }
    rmSync(dir, { recursive: true, force: true })
    renameSync(kept, dir)
    if (wasRunning) { try { startServer(bin, s.primary) } catch { /* said by the error below */ } }
    throw e
  }
  return kept
}

/** The failure drill real servers allow: a server stops at once, without a shutdown checkpoint (pg_ctl -m immediate). */
export function crashServer(dataDir: string, serverId: string): boolean {
  const d = requireLocalServers(readDeployment(dataDir), 'stopping a server')
  const bin = findPgBin()
  if (!bin) throw new EngineError('UNSUPPORTED', pgUnavailableReason() ?? 'PostgreSQL not found')
  const s = allServers(d).find((x) => x.id === serverId)
  if (!s) throw new EngineError('NOT_FOUND', `no server ${serverId} (servers: ${allServers(d).map((x) => x.id).join(', ')})`)
  return stopServer(bin, s, 'immediate')
}
