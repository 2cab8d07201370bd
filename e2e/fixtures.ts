/**
 * E2E fixtures: a running browser host (`iddb serve`) per worker and the page objects.
 *
 * If IDDB_URL is set (e.g. by playwright.config.ts / a global setup), tests use that host and
 * IDDB_DATA as its data directory. Otherwise each worker starts its own host from the built CLI
 * (`node out/cli/iddb.cjs serve --port 0 --data <tmp>`) so specs that fail sites do not disturb others.
 */
import { type Page } from '@playwright/test'
import { test as base, expect } from './console-errors'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, existsSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { AdminConsole } from './pages/AdminConsole'
import { LoginPage, adminCredentials } from './pages/LoginPage'
import { connectIpc } from '../src-main/browser-host/ws-client'

export const ROOT = resolve(import.meta.dirname, '..')
export const CLI = join(ROOT, 'out/cli/iddb.cjs')

export interface IddbHost {
  url: string
  /** The host's data directory (null: in memory). */
  dataDir: string | null
  /** Runs the CLI (`node out/cli/iddb.cjs ...args`) and returns stdout; throws on a non-zero exit. */
  cli(args: string[]): string
}

export function runCli(args: string[]): string {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 })
  if (r.status !== 0) throw new Error(`iddb ${args.join(' ')} exited ${r.status}: ${r.stderr || r.stdout}`)
  return r.stdout
}

/** The HQ DBA's password as a file for `iddb serve --admin-password-file` (next to the data directory). */
function adminPasswordFile(dataDir: string): string {
  const f = `${dataDir}.hq-dba-password`
  writeFileSync(f, `${adminCredentials().password}\n`, { mode: 0o600 })
  return f
}

/** Starts `iddb serve` on dataDir; with `firstRun` no HQ DBA is created (the console opens on its first-run screen). */
export async function startHost(dataDir: string | null, opts: { firstRun?: boolean } = {}): Promise<{ url: string; child: ChildProcess }> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first`)
  const admin = dataDir && !opts.firstRun ? ['--admin-password-file', adminPasswordFile(dataDir), '--admin-user', adminCredentials().user] : []
  const args = [CLI, 'serve', '--port', '0', ...(dataDir ? ['--data', dataDir] : []), ...admin]
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  const url = await new Promise<string>((ok, fail) => {
    let out = ''
    let err = ''
    const timer = setTimeout(() => fail(new Error(`iddb serve printed no URL within 60 s\n${err}`)), 60_000)
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString()
      const m = /https?:\/\/127\.0\.0\.1:\d+\/\?token=\S+/.exec(out)
      if (m) { clearTimeout(timer); ok(m[0]) }
    })
    child.stderr!.on('data', (d: Buffer) => { err += d.toString() })
    child.once('exit', (code) => { clearTimeout(timer); fail(new Error(`iddb serve exited ${code}\n${err}`)) })
  })
  return { url, child }
}

/** Stops a host started by startHost (waiting up to 5 s for it to exit) and removes its data directory. */
export async function stopHost(child: ChildProcess, dataDir: string): Promise<void> {
  child.kill('SIGTERM')
  await new Promise((r) => { child.once('exit', r); setTimeout(r, 5000) })
  rmSync(dataDir, { recursive: true, force: true })
  rmSync(`${dataDir}.hq-dba-password`, { force: true })
}

/** The console logged in as the HQ DBA (the fixtures' `admin`). */
async function openAsAdmin(page: Page, url: string): Promise<AdminConsole> {
  await new LoginPage(page).login(url, adminCredentials())
  const admin = new AdminConsole(page, url)
  await admin.open() // a reload: the tab resumes its console session
  return admin
}

/** Starts a host on a fresh data directory made by `iddb init` (so `iddb sql --data` sees the same data). */
async function withDataHost(use: (h: IddbHost) => Promise<void>, initArgs: string[] = []): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'iddb-e2e-data-'))
  rmSync(dataDir, { recursive: true, force: true })
  runCli(['init', '--data', dataDir, '--seed', '1', ...initArgs])
  const { url, child } = await startHost(dataDir)
  try {
    await use({ url, dataDir, cli: runCli })
  } finally {
    await stopHost(child, dataDir)
  }
}

/** Runs fn with an IPC socket to the shared host logged in as the HQ DBA (undefined: no shared host). */
async function asHostAdmin<T>(fn: (call: (name: string, input?: unknown) => Promise<unknown>) => Promise<T>): Promise<T | undefined> {
  const { IDDB_WS_URL: ws, IDDB_TOKEN: token, IDDB_ORIGIN: origin } = process.env
  if (!ws || !token || !origin) return undefined
  const sock = await connectIpc(ws, token, origin)
  try {
    const call = async (name: string, input: unknown = {}) => {
      const r = await sock.call(name, input)
      if (!r.ok) throw new Error(`${name} ${JSON.stringify(input)}: ${r.error.code} ${r.error.message}`)
      return r.value
    }
    await call('console/login', adminCredentials())
    return await fn(call)
  } finally { sock.close() }
}

/**
 * After each test on the shared host (the one global-setup starts for every spec), gives the host back healthy:
 * faults healed, every site, server and link that a test left down (or a link degraded) restored, the clock at the
 * speed the test found it. A spec that fails half-way cannot leave Kandy cut off for every spec after it. Done over
 * the host's IPC as the HQ DBA (not through the UI: this is the suite's housekeeping, not what a test proves).
 * Returns what it had to repair.
 */
export async function healSharedHost(speed?: number): Promise<string[]> {
  const repaired: string[] = []
  await asHostAdmin(async (call) => {
    await call('nemesis/heal')
    type View = { sites: { code: string; servers: { id: string; status: string; needsRestore?: string }[] }[]; links: { id: string; state: string }[] }
    const v = (await call('topology/get')) as View
    for (const l of v.links) if (l.state !== 'up') { await call('topology/restoreLink', { link: l.id }); repaired.push(`link ${l.id} was ${l.state}`) }
    for (const s of v.sites) {
      if (s.servers.every((x) => x.status === 'down')) { await call('topology/restoreSite', { site: s.code }); repaired.push(`site ${s.code} was down`); continue }
      for (const x of s.servers) if (x.status === 'down' && !x.needsRestore) { await call('topology/restoreServer', { server: x.id }); repaired.push(`server ${x.id} was down`) }
    }
    // a 2PC left idle for 30 virtual seconds in INITIAL aborts: at 60× a user's pause is that long
    const clock = (await call('clock/get')) as { speed: number }
    if (speed !== undefined && clock.speed !== speed) { await call('clock/setSpeed', { speed }); repaired.push(`clock speed was ${clock.speed}×, back to ${speed}×`) }
  })
  return repaired
}

const clockSpeed = () => asHostAdmin(async (call) => ((await call('clock/get')) as { speed: number }).speed)

export const test = base.extend<{ admin: AdminConsole; healed: void }, { iddb: IddbHost }>({
  healed: [async ({}, use, info) => {
    const speed = process.env.IDDB_URL ? await clockSpeed() : undefined
    await use()
    if (!process.env.IDDB_URL) return
    const repaired = await healSharedHost(speed)
    // a test that passed but left the shared host broken is a test to fix: say so in its report
    if (repaired.length) info.annotations.push({ type: 'left the shared host changed', description: repaired.join('; ') })
  }, { auto: true }],

  iddb: [async ({}, use) => {
    if (process.env.IDDB_URL) {
      await use({ url: process.env.IDDB_URL, dataDir: process.env.IDDB_DATA ?? null, cli: runCli })
      return
    }
    const dataDir = mkdtempSync(join(tmpdir(), 'iddb-e2e-'))
    const { url, child } = await startHost(dataDir)
    try {
      await use({ url, dataDir, cli: runCli })
    } finally {
      await stopHost(child, dataDir)
    }
  }, { scope: 'worker', timeout: 90_000 }],

  admin: async ({ page, iddb }, use) => {
    await use(await openAsAdmin(page, iddb.url))
  },
})

/**
 * Like `test`, but against a host of its own on a persisted data directory (`iddb init` then
 * `iddb serve --data DIR`), for specs that compare what the console shows with `iddb sql --data DIR`.
 */
export const testWithData = base.extend<{ admin: AdminConsole }, { iddb: IddbHost }>({
  iddb: [async ({}, use) => { await withDataHost(use) }, { scope: 'worker', timeout: 180_000 }],
  admin: async ({ page, iddb }, use) => {
    await use(await openAsAdmin(page, iddb.url))
  },
})

/** Like `testWithData`, on a data directory made by `iddb init --profile legacy` (plain links, no firewalls). */
export const testWithLegacyData = base.extend<{ admin: AdminConsole }, { iddb: IddbHost }>({
  iddb: [async ({}, use) => { await withDataHost(use, ['--profile', 'legacy', '--sales', '200']) }, { scope: 'worker', timeout: 180_000 }],
  admin: async ({ page, iddb }, use) => {
    await use(await openAsAdmin(page, iddb.url))
  },
})

export { expect }
