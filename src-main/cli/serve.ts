import { parseArgs } from 'node:util'
import { resolve } from 'node:path'
import { startBrowserHost } from '../browser-host/server'
import { readFileSync } from 'node:fs'
import { intOption } from './registry'
import type { TopologyView } from '../../engine/api/views'
import type { EngineClient } from '../engine-host/client'

/** First start with --admin-password-file: create the HQ DBA unless one exists (the first-run screen's job otherwise). */
async function bootstrapAdmin(engine: EngineClient, user: string, password: string): Promise<void> {
  const status = await engine.call('console/status', {})
  if (!status.setupNeeded) return
  const r = await engine.request('console/setup', { user, password }, null)
  if (!r.ok && r.error.code !== 'CONFLICT') throw new Error(`cannot create the HQ DBA ${user}: ${r.error.message}`)
  if (r.ok) await engine.request('console/logout', {}, (r.value as { token: string }).token)
}

export const name = 'serve'
export const summary = 'serve the console to a local browser (prints the URL with its access token)'
export const usage = `iddb serve [--port N] [--data DIR | --pg DIR] [--seed N] [--admin-password-file FILE [--admin-user NAME]]

Starts the engine and the browser host on 127.0.0.1 and prints exactly one line: the URL to open,
including the per-launch access token. Runs until interrupted (Ctrl+C).
  --port N    listen on port N (default: a random free port)
  --data DIR  keep the sites' databases in DIR (default: in memory)
  --seed N    simulation seed (default: 1)
  --pg DIR    live mode: the sites are the PostgreSQL servers \`iddb pg up --data DIR\` started (their
              design's seed is used; the console's own metadata cluster is kept in memory)
  --admin-password-file FILE   on a first start (no HQ DBA yet) create the HQ DBA with the password in
              FILE (first line) instead of asking on the console's first-run screen; ignored once one exists
  --admin-user NAME            the HQ DBA's user name for that (default: hqdba)`

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { port: { type: 'string' }, data: { type: 'string' }, seed: { type: 'string' }, 'admin-password-file': { type: 'string' }, 'admin-user': { type: 'string' }, pg: { type: 'string' } }, strict: true })
  if (values.pg !== undefined && values.data !== undefined) {
    process.stderr.write('iddb serve: --pg and --data do not go together: in live mode the sites\' data is at the PostgreSQL servers\n')
    return 2
  }
  const adminPassword = values['admin-password-file'] !== undefined ? readFileSync(values['admin-password-file'], 'utf8').split(/\r?\n/)[0] : undefined
  const host = await startBrowserHost({
    port: intOption('port', values.port, 0, 65535),
    seed: intOption('seed', values.seed, 0, 0xffffffff),
    dataDir: values.data ? resolve(values.data) : null,
    pg: values.pg ? resolve(values.pg) : null,
  })
  // with an admin password file the URL is printed once the HQ DBA exists (whoever opens it finds a login screen)
  if (adminPassword === undefined) process.stdout.write(`${host.url}\n`)
  try {
    await host.ready
    if (adminPassword !== undefined) {
      await bootstrapAdmin(host.engine, values['admin-user'] ?? 'hqdba', adminPassword)
      process.stdout.write(`${host.url}\n`)
    }
  } catch (e) {
    process.stderr.write(`iddb serve: the engine failed to start: ${e instanceof Error ? e.message : String(e)}\n`)
    await host.close()
    return 1
  }
  // a server that refuses service (a damaged commit log) is said at once, with the restore to run
  const topo = await host.engine.request('topology/get', {})
  if (topo.ok) {
    for (const s of (topo.value as TopologyView).sites) for (const v of s.servers) if (v.needsRestore) process.stderr.write(`iddb serve: CORRUPT_DATA: ${v.id} refuses service until restored: ${v.needsRestore} (Replication console: recover ${s.code} from backup)\n`)
  }
  await new Promise<void>((done) => {
    const stop = () => { host.close().finally(done) }
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
    process.once('SIGHUP', stop)
  })
  return 0
}
