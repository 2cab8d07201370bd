/**
 * The live-mode E2E fixture: one PostgreSQL deployment (`iddb pg up`, three sites and their standbys, small data)
 * and one browser host over it (`iddb serve --pg DIR`), shared by every live spec of the Playwright worker (a
 * worker-scoped fixture: the servers are made once, not once per spec). A spec that stops a server, promotes a
 * standby or breaks a link must give the deployment back healthy when it ends (later specs use the same one).
 *
 * Use: `import { liveTest as test, expect, skipWithoutPg } from './liveHost'`, then `test('…', async ({ page, live }) => …)`.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import type { Page } from '@playwright/test'
import { test, expect, CLI, ROOT } from './fixtures'
import { LoginPage, adminCredentials } from './pages/LoginPage'
import { AdminConsole } from './pages/AdminConsole'
import { pgDown, pgUp } from '../src-main/pg/deploy'
import { pgUnavailableReason, readDeployment, readPassword, type PgDeployment, hostOf } from '../src-main/pg/servers'
import { freePorts } from '../src-main/pg/testserver'

/** Why live specs cannot run here (null: PostgreSQL is available). */
export const pgMissing = pgUnavailableReason()

export interface LiveHost {
  /** The deployment's directory (pg.json, .pgpass, the servers' data, DIR/2pc). */
  dir: string
  /** The deployment as pg.json says now (read again: a failover changes it). */
  deployment(): PgDeployment
  password: string
  /** The console's URL (with its token). */
  url: string
  /** Runs one statement at a site's primary (its database unless given), directly over `pg`. */
  atServer<T = Record<string, unknown>>(site: string, sql: string, database?: string): Promise<T[]>
  /** Logs in as the HQ DBA and opens the console. */
  open(page: Page): Promise<AdminConsole>
}

async function startLiveHost(dir: string): Promise<{ url: string; child: ChildProcess }> {
  const pwFile = join(dir, 'hq-dba-password')
  writeFileSync(pwFile, `${adminCredentials().password}\n`, { mode: 0o600 })
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--pg', dir, '--admin-password-file', pwFile, '--admin-user', adminCredentials().user], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  const url = await new Promise<string>((ok, fail) => {
    let out = ''
    let err = ''
    const timer = setTimeout(() => fail(new Error(`iddb serve --pg printed no URL within 120 s\n${err}`)), 120_000)
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString()
      const m = /https?:\/\/127\.0\.0\.1:\d+\/\?token=\S+/.exec(out)
      if (m) { clearTimeout(timer); ok(m[0]) }
    })
    child.stderr!.on('data', (d: Buffer) => { err += d.toString(); process.stderr.write(`[live host] ${d.toString()}`) })
    child.once('exit', (code) => { clearTimeout(timer); fail(new Error(`iddb serve --pg exited ${code}\n${err}`)) })
  })
  return { url, child }
}

export const liveTest = test.extend<object, { live: LiveHost }>({
  live: [async ({}, use) => {
    const dir = mkdtempSync(join(tmpdir(), 'iddb-e2e-live-'))
    chmodSync(dir, 0o755)
    let child: ChildProcess | undefined
    try {
      const up = await pgUp({ dataDir: dir, seed: 23, sales: 500, basePort: await freePorts(6, 37000), durable: false })
      const password = readPassword(dir, up.deployment)
      const host = await startLiveHost(dir)
      child = host.child
      const deployment = () => readDeployment(dir)
      const atServer = async <T = Record<string, unknown>>(site: string, sql: string, database?: string): Promise<T[]> => {
        const d = deployment()
        const s = d.sites.find((x) => x.code === site)!
        const c = new pg.Client({ host: hostOf(d, s.primary.port), port: s.primary.port, user: d.user, password, database: database ?? d.database })
        await c.connect()
        try { return (await c.query(sql)).rows as T[] } finally { await c.end() }
      }
      const open = async (page: Page) => {
        await new LoginPage(page).login(host.url, adminCredentials())
        const admin = new AdminConsole(page, host.url)
        await admin.open()
        return admin
      }
      await use({ dir, deployment, password, url: host.url, atServer, open })
    } finally {
      if (child && child.exitCode === null) {
        child.kill('SIGTERM')
        await new Promise((r) => { child!.once('exit', r); setTimeout(r, 5000) })
      }
      try { pgDown(dir) } finally { rmSync(dir, { recursive: true, force: true }) }
    }
  }, { scope: 'worker', timeout: 300_000 }],
})

export { expect }
