// How `npm start` opens the browser host in a Chromium --app window WITHOUT putting the access token on
// Chromium's command line (argv is readable by every user through `ps` / /proc/<pid>/cmdline).
//
// The URL with the token goes into a launcher page, `launch.html`, written with mode 0600 inside a fresh
// 0700 directory (mkdtemp); Chromium is started with `--app=file:///…/launch.html`, and the page moves on to
// the console's URL by a meta refresh (no script: the launcher needs none). The directory also holds the
// throw-away Chromium profile, so the URL never lands in a lasting history, and `cleanup()` deletes all of it
// when the window closes or `npm start` stops. The token never appears in argv, the environment, or a file
// another user can read; it is per launch and dies with the host anyway.
import { mkdtempSync, rmSync, writeFileSync, chmodSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

/** HTML-escapes an attribute value (the URL is ours, but never trust a string into markup). */
function attr(s) {
  return String(s).replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

/** The launcher page: only a meta refresh to `url`, and a CSP that allows nothing else. */
export function launcherHtml(url) {
  const u = new URL(url)
  if (u.protocol !== 'http:' || (u.hostname !== '127.0.0.1' && u.hostname !== 'localhost')) throw new Error(`refusing to launch a non-local URL: ${u.origin}`)
  return `<!doctype html><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="default-src 'none'"><meta name="referrer" content="no-referrer"><meta http-equiv="refresh" content="0;url=${attr(u.href)}"><title>Infinity DDB Console</title>`
}

/**
 * Prepares a launch: a 0700 directory with the 0600 launcher page and an empty profile.
 * @param {string} url the console URL with its token
 * @param {{ asRoot?: boolean, baseDir?: string }} [opts]
 * @returns {{ dir: string, launcher: string, args: string[], cleanup: () => void }}
 */
export function prepareBrowserLaunch(url, opts = {}) {
  const dir = mkdtempSync(join(opts.baseDir ?? tmpdir(), 'iddb-launch-'))
  chmodSync(dir, 0o700)
  const launcher = join(dir, 'launch.html')
  writeFileSync(launcher, launcherHtml(url), { mode: 0o600, flag: 'wx' })
  if ((statSync(launcher).mode & 0o077) !== 0) chmodSync(launcher, 0o600)
  const profile = join(dir, 'profile')
  const args = [
    `--app=${pathToFileURL(launcher).href}`, `--user-data-dir=${profile}`, '--window-size=1400,900',
    '--no-first-run', '--no-default-browser-check', '--disable-sync',
    ...(opts.asRoot ? ['--no-sandbox'] : []), // Chromium refuses to run as root with its sandbox
  ]
  let cleaned = false
  return {
    dir, launcher, args,
    cleanup() {
      if (cleaned) return
      cleaned = true
      try { rmSync(dir, { recursive: true, force: true }) } catch { /* best effort: it is a temp dir */ }
    },
  }
}
