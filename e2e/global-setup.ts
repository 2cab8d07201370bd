/**
 * Starts the browser host once for the whole e2e run, through the built CLI exactly as a user would
 * (`node out/cli/iddb.cjs serve --seed 1 --data <tmp>`), and hands it to the specs via process.env:
 * IDDB_URL (page URL with token), IDDB_ORIGIN, IDDB_TOKEN, IDDB_WS_URL, IDDB_DATA (its data directory),
 * IDDB_ADMIN_USER / IDDB_ADMIN_PASSWORD (the HQ DBA it creates with --admin-password-file).
 * Returns the teardown (stops the host, removes the data directory).
 */
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export default async function globalSetup(): Promise<() => Promise<void>> {
  const root = join(import.meta.dirname, '..')
  const cli = join(root, 'out/cli/iddb.cjs')
  if (!existsSync(cli) || !existsSync(join(root, 'out/renderer/index.html'))) throw new Error('build first: npm run build (out/cli/iddb.cjs and out/renderer are needed)')
  const dataDir = mkdtempSync(join(tmpdir(), 'iddb-e2e-'))
  // the HQ DBA exists from the start (as `iddb serve --admin-password-file` documents); fixtures log in as it
  const secrets = mkdtempSync(join(tmpdir(), 'iddb-e2e-admin-'))
  const passwordFile = join(secrets, 'hq-dba-password')
  process.env.IDDB_ADMIN_USER ??= 'hqdba'
  process.env.IDDB_TEST_CALLS = '1' // the host serves the test-only calls (jobs/busy, for e2e/ipc.spec.ts): contract/testing.ts
  process.env.IDDB_ADMIN_PASSWORD ??= 'e2e-hq-dba-pass'
  writeFileSync(passwordFile, `${process.env.IDDB_ADMIN_PASSWORD}\n`, { mode: 0o600 })
  const child = spawn(process.execPath, [cli, 'serve', '--seed', '1', '--data', dataDir, '--admin-password-file', passwordFile, '--admin-user', process.env.IDDB_ADMIN_USER], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] })
  const url = await new Promise<string>((resolve, reject) => {
    let buf = ''
    const timer = setTimeout(() => reject(new Error('iddb serve printed no URL within 60 s')), 60_000)
    child.stdout!.on('data', (d) => {
      buf += d
      const nl = buf.indexOf('\n')
      if (nl >= 0) { clearTimeout(timer); resolve(buf.slice(0, nl).trim()) }
    })
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`iddb serve exited with code ${code}`)) })
  })
  const u = new URL(url)
  process.env.IDDB_URL = url
  process.env.IDDB_ORIGIN = u.origin
  process.env.IDDB_TOKEN = u.searchParams.get('token') ?? ''
  process.env.IDDB_WS_URL = `ws://${u.host}/ipc`
  process.env.IDDB_DATA = dataDir
  return async () => {
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r))
      child.kill('SIGTERM')
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))])
      if (child.exitCode === null) child.kill('SIGKILL')
    }
    rmSync(dataDir, { recursive: true, force: true })
    rmSync(secrets, { recursive: true, force: true })
  }
}
