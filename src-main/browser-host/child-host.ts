/**
 * Test helper: the browser host as a separate process, exactly as `iddb serve` runs it. The CLI and its
 * engine worker are bundled with esbuild once per test process (out/test-cli/<pid>/), then
 * `node iddb.cjs serve --seed N` is spawned (with a two-file stand-in renderer); its one stdout line is the URL with the token.
 * `exited` settles when the process ends, so a test can assert that nothing it sent ended it.
 */
import { build } from 'esbuild'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'

export interface ChildHost {
  proc: ChildProcess
  url: string
  origin: string
  token: string
  wsUrl: string
  port: number
  /** null while the process runs; its exit code/signal once it has ended. */
  exit(): { code: number | null; signal: NodeJS.Signals | null } | null
  stderr(): string
  stop(): Promise<void>
}

let bundled: Promise<string> | undefined

/** Bundles src-main/cli/iddb.ts and the engine worker side by side (the CLI finds the worker next to itself). */
export function buildTestCli(): Promise<string> {
  return (bundled ??= (async () => {
    const root = resolve(__dirname, '../..')
    const dir = join(root, 'out', 'test-cli', String(process.pid), 'cli')
    mkdirSync(dir, { recursive: true })
    // The host serves ../renderer next to its bundle: a minimal page with one asset.
    const renderer = join(dir, '..', 'renderer')
    mkdirSync(renderer, { recursive: true })
    writeFileSync(join(renderer, 'index.html'), '<!doctype html><title>t</title><script src="./app.js"></script>')
    writeFileSync(join(renderer, 'app.js'), 'void 0')
    const common = {
      bundle: true, platform: 'node' as const, format: 'cjs' as const, target: 'node20', logLevel: 'error' as const, absWorkingDir: root,
      external: ['sql.js', 'ws', 'bufferutil', 'utf-8-validate', 'electron', '@playwright/test', 'playwright', 'playwright-core'],
      logOverride: { 'empty-import-meta': 'silent' as const },
    }
    await Promise.all([
      build({ ...common, entryPoints: [join(root, 'src-main/cli/iddb.ts')], outfile: join(dir, 'iddb.cjs') }),
      build({ ...common, entryPoints: [join(root, 'src-main/engine-host/worker.ts')], outfile: join(dir, 'engine-worker.cjs') }),
    ])
    return join(dir, 'iddb.cjs')
  })())
}

export async function startChildHost(seed = 5, extraArgs: string[] = []): Promise<ChildHost> {
  const cli = await buildTestCli()
  const proc = spawn(process.execPath, [cli, 'serve', '--seed', String(seed), ...extraArgs], { stdio: ['ignore', 'pipe', 'pipe'] })
  let err = ''
  let ended: { code: number | null; signal: NodeJS.Signals | null } | null = null
  const exited = new Promise<void>((r) => proc.once('exit', (code, signal) => { ended = { code, signal }; r() }))
  proc.stderr!.on('data', (d) => { err += d })
  const url = await new Promise<string>((res, rej) => {
    let out = ''
    proc.stdout!.on('data', (d) => {
      out += d
      const nl = out.indexOf('\n')
      if (nl >= 0) res(out.slice(0, nl).trim())
    })
    void exited.then(() => rej(new Error(`iddb serve exited before printing its URL: ${err}`)))
  })
  const u = new URL(url)
  return {
    proc, url, origin: u.origin, token: u.searchParams.get('token') ?? '', wsUrl: `ws://${u.host}/ipc`, port: Number(u.port),
    exit: () => ended,
    stderr: () => err,
    stop: async () => {
      if (!ended) { proc.kill('SIGTERM'); await exited }
    },
  }
}
