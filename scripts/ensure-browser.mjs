// Makes sure a Chromium exists for the Playwright e2e suite (npm run test:e2e).
// Found → prints nothing and exits 0. Missing → as root: `apt-get install -y chromium` (Debian/Ubuntu);
// otherwise Playwright's own Chromium (`npx playwright install chromium`); if both fail, a clear message and exit 1.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { findChromium } from './find-chromium.mjs'

if (findChromium()) process.exit(0)

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0
if (isRoot && existsSync('/usr/bin/apt-get')) {
  console.error('ensure-browser: no Chromium found; installing Debian chromium with apt-get …')
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  spawnSync('apt-get', ['update'], { stdio: 'inherit', env })
  spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'chromium'], { stdio: 'inherit', env })
  if (findChromium()) process.exit(0)
}
console.error("ensure-browser: no Chromium found; trying Playwright's own Chromium download …")
spawnSync(process.platform === 'win32' ? 'npx.cmd' : 'npx', ['playwright', 'install', 'chromium'], { stdio: 'inherit' })
if (findChromium()) process.exit(0)

console.error(`ensure-browser: no Chromium browser is available, so the end-to-end suite cannot run.
Get one of:
  - Debian/Ubuntu:  sudo apt-get install chromium
  - Playwright's:   npx playwright install chromium   (needs access to Playwright's download host)
  - any Chromium/Chrome already installed: export IDDB_CHROMIUM=/path/to/chromium`)
process.exit(1)
