/** Test helper: bundles the engine worker with esbuild (inside the repo, so node_modules resolve) once per test file. */
import { build } from 'esbuild'
import { mkdirSync } from 'node:fs'
import { join, resolve } from 'node:path'

export async function buildTestWorker(): Promise<string> {
  const root = resolve(__dirname, '../..')
  const dir = join(root, 'out', 'test-worker', String(process.pid))
  mkdirSync(dir, { recursive: true })
  const outfile = join(dir, 'engine-worker.cjs')
  await build({
    entryPoints: [join(root, 'src-main/engine-host/worker.ts')], outfile, bundle: true, platform: 'node', format: 'cjs',
    target: 'node20', logLevel: 'error', external: ['sql.js', 'ws', 'electron'], logOverride: { 'empty-import-meta': 'silent' },
  })
  return outfile
}
