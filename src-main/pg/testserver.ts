/**
 * Test helper: one real PostgreSQL server (the servers.ts way: initdb / pg_ctl, as `postgres` when root,
 * two-phase commit allowed) in a temporary directory on a free loopback port, for tests of the bridge and the
 * PostgreSQL TxnStore. Not a test itself; tests skip with pgUnavailableReason() when PostgreSQL is missing.
 */
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createServers, hostOf, loginOf, readPassword, serverStates, startDeployment, stopDeployment, type PgDeployment } from './servers'
import type { PgConnSpec } from './syncbridge'
import { freePorts } from './ports'

export { freePorts }

export interface TestServer {
  dir: string
  deployment: PgDeployment
  password: string
  port: number
  /** The administrator's connection to a database of the server (`postgres` unless given). */
  spec(database?: string): PgConnSpec
  /** SIGKILL to the postmaster and every backend at once (a machine that lost power); resolves when all are reaped. */
  kill9(): Promise<number[]>
  /** Starts the server again (crash recovery replays its WAL). */
  start(): void
  running(): boolean
  /** Stops the server and removes its directory. */
  remove(): void
}

/** Starts one durable server (fsync on: a SIGKILL test must not be helped by settings) and returns its handle. */
export async function startTestServer(prefix: string): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  chmodSync(dir, 0o755)
  const deployment = createServers({ dataDir: dir, sites: [{ code: 'CMB', hq: true }], basePort: await freePorts(2), durable: true })
  const password = readPassword(dir, deployment)
  const server = deployment.sites[0].primary
  const procs = (): number[] => {
    const pidFile = join(server.dir, 'postmaster.pid')
    if (!existsSync(pidFile)) return []
    const master = Number(readFileSync(pidFile, 'utf8').split('\n')[0])
    const kids = readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
      try { return Number(readFileSync(`/proc/${p}/stat`, 'utf8').replace(/^.*\) /, '').split(' ')[1]) === master } catch { return false }
    }).map(Number)
    return existsSync(`/proc/${master}`) ? [master, ...kids] : kids
  }
  return {
    dir, deployment, password, port: server.port,
    spec: (database = 'postgres') => ({ host: hostOf(deployment, server.port), port: server.port, database, user: deployment.user, password }),
    async kill9() {
      const pids = procs()
      for (const p of pids) { try { process.kill(p, 'SIGKILL') } catch { /* already gone */ } }
      // gone means reaped, not only dead: a zombie postmaster still holds its pid, and pg_ctl would take it for a running server
      for (let i = 0; i < 600 && pids.some((p) => existsSync(`/proc/${p}`)); i++) await new Promise((r) => setTimeout(r, 50))
      if (pids.some((p) => existsSync(`/proc/${p}`))) throw new Error(`server processes ${pids.join(', ')} were not reaped within 30 s of SIGKILL`)
      return pids
    },
    start: () => { startDeployment(dir) },
    running: () => serverStates(dir)[0].running,
    remove: () => { try { stopDeployment(dir, 'immediate') } catch { /* never started */ } rmSync(dir, { recursive: true, force: true }) },
  }
}

/**
 * Runs one statement at a site's primary of a deployment (its database unless given), on a connection of its own:
 * how tests look at what a server holds, beside the console.
 */
export async function atSite(dir: string, d: PgDeployment, site: string, sql: string, database?: string): Promise<Record<string, unknown>[]> {
  const s = d.sites.find((x) => x.code === site)
  if (!s) throw new Error(`no site ${site} in the deployment`)
  const { default: pg } = await import('pg')
  const c = new pg.Client(loginOf(dir, d, s.primary, database))
  await c.connect()
  try { return (await c.query(sql)).rows as Record<string, unknown>[] } finally { await c.end() }
}
