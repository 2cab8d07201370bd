// Finds a Chromium/Chrome executable for Playwright, the bench and `npm start`'s --app window.
// Order: $IDDB_CHROMIUM, Debian/Ubuntu system paths, PATH, then Playwright's own download (if any).
import { existsSync, accessSync, constants } from 'node:fs'
import { delimiter, join } from 'node:path'
import { createRequire } from 'node:module'

const SYSTEM = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable', '/snap/bin/chromium']
const NAMES = ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable']

function executable(p) {
  try { accessSync(p, constants.X_OK); return true } catch { return false }
}

/** @returns {string | undefined} */
export function findSystemChromium() {
  const env = process.env.IDDB_CHROMIUM
  if (env && executable(env)) return env
  for (const p of SYSTEM) if (executable(p)) return p
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue
    for (const n of NAMES) if (executable(join(dir, n))) return join(dir, n)
  }
  return undefined
}

/** @returns {string | undefined} */
export function findPlaywrightChromium() {
  try {
    const req = typeof require === 'function' ? require : createRequire(import.meta.url)
    const p = req('playwright-core').chromium.executablePath()
    return p && existsSync(p) ? p : undefined
  } catch {
    return undefined
  }
}

/** @returns {string | undefined} */
export function findChromium() {
  return findSystemChromium() ?? findPlaywrightChromium()
}

/** Flags for running Chromium headless in CI containers and as root. */
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-dev-shm-usage']
