// `npm start`: build what is missing or stale, then open the console.
//  1. Electron, when its binary is present (or Electron's own installer can fetch it, tried once per start).
//  2. Otherwise, ONE line saying so, then the browser host (`iddb serve`): the URL is printed and opened in a
//     local Chromium `--app` window when one exists and a display is available. The window opens a 0600
//     launcher page that forwards to the URL, so the access token is never on Chromium's command line.
// Options: --browser (skip Electron), --no-open (do not launch Chromium), --port N, --seed N, --data DIR,
// --memory (an in-memory cluster, nothing kept), --pg DIR (live mode over the servers of `iddb pg up --data DIR`;
// the console's own cluster then kept in memory). By default the cluster lives in the same per-user data
// directory in both modes (Electron's userData folder): ~/.config/infinity-ddb-console/cluster.
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { findSystemChromium, findPlaywrightChromium } from './find-chromium.mjs'
import { prepareBrowserLaunch } from './launch-browser.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const require = createRequire(join(root, 'package.json'))
const args = process.argv.slice(2)
const flag = (f) => args.includes(f)
const passThrough = []
for (const f of ['--port', '--seed', '--data', '--pg']) {
  const i = args.indexOf(f)
  if (i >= 0 && args[i + 1]) passThrough.push(f, args[i + 1])
}
// Committed data survives restarts: a persistent cluster unless --data or --memory says otherwise. In live
// mode (--pg DIR, a deployment `iddb pg up --data DIR` started) the data is at the PostgreSQL servers.
if (!passThrough.includes('--data') && !passThrough.includes('--pg') && !flag('--memory')) {
  const configHome = process.env.XDG_CONFIG_HOME || join(homedir(), '.config')
  passThrough.push('--data', join(configHome, 'infinity-ddb-console', 'cluster'))
}

function newestMtime(dir) {
  let t = 0
  if (!existsSync(dir)) return t
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === 'node_modules' || e.name.startsWith('.')) continue
    const p = join(dir, e.name)
    t = Math.max(t, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs)
  }
  return t
}
const mtime = (p) => (existsSync(p) ? statSync(p).mtimeMs : 0)

function run(cmd, cmdArgs, what) {
  const r = spawnSync(cmd, cmdArgs, { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] })
  if (r.status !== 0) {
    console.error(`npm start: ${what} failed (exit ${r.status ?? r.signal}); run \`npm run build\` to see why.`)
    process.exit(1)
  }
}

// ---- 1. build if needed ------------------------------------------------------------------------
const sources = Math.max(...['engine', 'src-main', 'src-renderer', 'bench'].map((d) => newestMtime(join(root, d))), mtime(join(root, 'electron.vite.config.ts')), mtime(join(root, 'package.json')))
const appOutputs = ['out/main/index.js', 'out/preload/index.cjs', 'out/renderer/index.html'].map((p) => mtime(join(root, p)))
const cliOutputs = ['out/cli/iddb.cjs', 'out/cli/engine-worker.cjs'].map((p) => mtime(join(root, p)))
if (Math.min(...appOutputs) < sources) {
  console.error('npm start: building the console …')
  run(process.execPath, [join(root, 'node_modules/electron-vite/bin/electron-vite.js'), 'build', '--logLevel', 'error'], 'building the console')
}
if (Math.min(...cliOutputs) < sources) run(process.execPath, [join(root, 'scripts/build-cli.mjs')], 'building the CLI')

// ---- 2. Electron, if its binary is (or can be made) available ------------------------------------
function electronBinary() {
  try {
    const p = require('electron') // the path of the binary; throws when it was never downloaded
    return typeof p === 'string' && existsSync(p) ? { path: p } : { why: 'the Electron binary is missing' }
  } catch (e) {
    return { why: String(e?.message ?? e).split('\n')[0] }
  }
}

let electron = flag('--browser') ? { why: '--browser given' } : electronBinary()
if (!electron.path && !flag('--browser') && existsSync(join(root, 'node_modules/electron/install.js'))) {
  // Electron's own installer (skipped by `allowScripts` during npm install). One short try.
  const r = spawnSync(process.execPath, [join(root, 'node_modules/electron/install.js')], { cwd: join(root, 'node_modules/electron'), stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8', timeout: 30_000, env: { ...process.env, ELECTRON_SKIP_BINARY_DOWNLOAD: '' } })
  const again = electronBinary()
  const reason = String(r.stderr ?? '').split('\n').find((l) => /error/i.test(l))?.trim().slice(0, 120)
  electron = again.path ? again : { why: r.error?.code === 'ETIMEDOUT' ? "Electron's download timed out" : `Electron's download failed${reason ? `: ${reason}` : ''}` }
}

if (electron.path) {
  const child = spawn(electron.path, [root, ...passThrough], { cwd: root, stdio: 'inherit' })
  child.on('exit', (code) => process.exit(code ?? 0))
  for (const s of ['SIGINT', 'SIGTERM']) process.on(s, () => child.kill(s))
} else {
  // ---- 3. Browser host fallback --------------------------------------------------------------------
  console.log(`Electron is not available here (${electron.why}); serving the console from the browser host instead.`)
  const dataAt = passThrough.indexOf('--data')
  if (dataAt >= 0) console.log(`Cluster data: ${passThrough[dataAt + 1]}`)
  const host = spawn(process.execPath, [join(root, 'out/cli/iddb.cjs'), 'serve', ...passThrough], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] })
  let browser
  let launch
  let buf = ''
  host.stdout.on('data', (d) => {
    buf += d
    const nl = buf.indexOf('\n')
    if (nl < 0 || host.url) return
    host.url = buf.slice(0, nl).trim()
    console.log(host.url)
    const chromium = flag('--no-open') ? undefined : findSystemChromium() ?? findPlaywrightChromium()
    if (chromium && (process.env.DISPLAY || process.env.WAYLAND_DISPLAY)) {
      // The token stays off Chromium's command line: it opens a 0600 launcher page (scripts/launch-browser.mjs).
      launch = prepareBrowserLaunch(host.url, { asRoot: typeof process.getuid === 'function' && process.getuid() === 0 })
      browser = spawn(chromium, launch.args, { stdio: 'ignore' })
      browser.on('error', () => {})
      browser.on('exit', () => { launch.cleanup(); host.kill('SIGTERM') })
    } else {
      console.log('Open that URL in a browser (Ctrl+C to stop).')
    }
  })
  host.on('exit', (code) => { browser?.kill(); launch?.cleanup(); process.exit(code ?? 0) })
  for (const s of ['SIGINT', 'SIGTERM']) process.on(s, () => { browser?.kill(); host.kill('SIGTERM') })
}
