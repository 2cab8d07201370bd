// Builds the headless CLI and the engine worker to plain Node CommonJS with esbuild:
//   out/cli/iddb.cjs           (bin "iddb"; also bundles the browser host and the bench harness)
//   out/cli/engine-worker.cjs  (the worker_threads entry; Electron main uses it too)
// sql.js, ws, playwright and electron stay external (resolved from node_modules at run time).
// With --postinstall a failure only warns (npm install must not fail); `npm start` rebuilds.
import { mkdirSync, chmodSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const postinstall = process.argv.includes('--postinstall')

try {
  const { build } = await import('esbuild')
  mkdirSync(join(root, 'out/cli'), { recursive: true })
  const common = {
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    sourcemap: 'linked',
    logLevel: 'warning',
    absWorkingDir: root,
    external: ['sql.js', 'ws', 'pg', 'pg-native', 'bufferutil', 'utf-8-validate', 'electron', '@playwright/test', 'playwright', 'playwright-core'],
    logOverride: { 'empty-import-meta': 'silent' },
  }
  await Promise.all([
    build({ ...common, entryPoints: ['src-main/cli/iddb.ts'], outfile: 'out/cli/iddb.cjs', banner: { js: '#!/usr/bin/env node' } }),
    build({ ...common, entryPoints: ['src-main/engine-host/worker.ts'], outfile: 'out/cli/engine-worker.cjs' }),
  ])
  chmodSync(join(root, 'out/cli/iddb.cjs'), 0o755)
  if (!postinstall) console.log('built out/cli/iddb.cjs and out/cli/engine-worker.cjs')
} catch (e) {
  if (!postinstall) throw e
  console.warn(`iddb: could not build the CLI during install (${e instanceof Error ? e.message.split('\n')[0] : e}); \`npm start\` and \`npm run build\` will build it.`)
}
