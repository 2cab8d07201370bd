/**
 * `npm start` opens the console without the access token on Chromium's command line (issue 13, break 6):
 * scripts/launch-browser.mjs writes a 0600 launcher page and Chromium is pointed at that file.
 * The second case starts a real headless Chromium with exactly those arguments and checks, in /proc, that no
 * process of the browser carries the token, while the token still reaches the local server.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { launcherHtml, prepareBrowserLaunch } from '../../scripts/launch-browser.mjs'
import { findSystemChromium } from '../../scripts/find-chromium.mjs'

const TOKEN = 'tok3n-' + 'Zq9'.repeat(10)

/** The process and all its descendants (Linux /proc). */
function processTree(root: number): number[] {
  const parent = new Map<number, number>()
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8')
      parent.set(Number(d), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]))
    } catch { /* gone */ }
  }
  const out = [root]
  for (let i = 0; i < out.length; i++) for (const [pid, pp] of parent) if (pp === out[i]) out.push(pid)
  return out
}
const cmdline = (pid: number) => { try { return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ') } catch { return '' } }

describe('the npm start browser launch', () => {
  const cleanups: (() => void | Promise<void>)[] = []
  afterEach(async () => { for (const f of cleanups.splice(0)) await f() })

  it('puts the URL in a 0600 launcher page inside a 0700 directory, and only the file path in argv', () => {
    const l = prepareBrowserLaunch(`http://127.0.0.1:4321/?token=${TOKEN}`, { asRoot: true })
    cleanups.push(l.cleanup)
    expect(l.args.join(' ')).not.toContain(TOKEN)
    expect(l.args[0]).toBe(`--app=file://${l.launcher}`)
    expect(statSync(l.dir).mode & 0o777).toBe(0o700)
    expect(statSync(l.launcher).mode & 0o777).toBe(0o600)
    expect(readFileSync(l.launcher, 'utf8')).toContain(`content="0;url=http://127.0.0.1:4321/?token=${TOKEN}"`)
    l.cleanup()
    expect(existsSync(l.dir)).toBe(false)
    expect(() => launcherHtml('https://evil.example/?token=x')).toThrow(/non-local/)
    expect(launcherHtml('http://127.0.0.1:1/?a="><script>')).not.toContain('"><script>')
  })

  const chromium = findSystemChromium()
  it.skipIf(!chromium)('a real Chromium reaches the tokened URL while no process of it has the token in its command line', async () => {
    let tokenSeen!: () => void
    const reached = new Promise<void>((r) => { tokenSeen = r })
    const server: Server = createServer((req, res) => {
      if (req.url === `/?token=${TOKEN}`) tokenSeen()
      res.writeHead(200, { 'Content-Type': 'text/html' }).end('<!doctype html><title>ok</title>')
    })
    cleanups.push(() => { server.close() })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const port = (server.address() as AddressInfo).port
    const l = prepareBrowserLaunch(`http://127.0.0.1:${port}/?token=${TOKEN}`, { asRoot: true })
    cleanups.push(l.cleanup)
    const browser: ChildProcess = spawn(chromium!, ['--headless=new', '--disable-gpu', ...l.args], { stdio: 'ignore' })
    const exited = new Promise<void>((r) => browser.once('exit', () => r()))
    cleanups.unshift(async () => { browser.kill('SIGTERM'); await exited })
    let done = false
    const early = exited.then(() => { if (!done) throw new Error('Chromium exited before it reached the URL') })
    early.catch(() => {}) // observed through the race below
    await Promise.race([reached, early])
    done = true
    const tree = processTree(browser.pid!)
    expect(tree.length).toBeGreaterThan(0)
    for (const pid of tree) expect(cmdline(pid), `pid ${pid}`).not.toContain(TOKEN)
    expect(cmdline(browser.pid!)).toContain(l.launcher)
  })
})
