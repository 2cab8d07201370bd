/**
 * Electron mode: the same smoke flow in the real desktop window (contextIsolation + sandbox + preload bridge).
 * Skipped, with the reason, where the Electron binary is absent (e.g. no access to Electron's downloads).
 */
import { _electron as electron, expect, test } from '@playwright/test'
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { LoginPage } from './pages/LoginPage'

const root = join(import.meta.dirname, '..')

function electronBinary(): { path?: string; why?: string } {
  try {
    const p = createRequire(join(root, 'package.json'))('electron') as unknown
    if (typeof p === 'string' && existsSync(p)) return { path: p }
    return { why: 'the Electron binary is not installed (node_modules/electron has no dist/)' }
  } catch (e) {
    return { why: `the Electron binary is not installed: ${(e as Error).message.split('\n')[0]}` }
  }
}

const bin = electronBinary()
// The list reporter does not print skip reasons; say it once so the run log carries it.
if (!bin.path) console.log(`electron.spec: Electron mode skipped — ${bin.why}`)

test.describe('Electron window', () => {
  test.skip(!bin.path, bin.why ?? '')

  test('opens the hardened console and draws the topology through window.iddb', async () => {
    // --memory: a fresh cluster, so the console opens on its first-run screen (never the user's own data)
    const app = await electron.launch({ executablePath: bin.path, args: [root, '--no-sandbox', '--memory'], cwd: root })
    try {
      const win = await app.firstWindow()
      // served from the privileged app:// scheme (not file://), under a CSP without inline styles
      expect(await win.evaluate(() => location.origin)).toBe('app://console')
      const csp = await win.evaluate(() => document.querySelector('meta[http-equiv="Content-Security-Policy"]')?.getAttribute('content') ?? '')
      expect(csp).not.toContain('unsafe-inline')
      expect(csp).not.toContain('__CSP_NONCE__')
      // contextIsolation + sandbox + no nodeIntegration: the page sees no Node at all, only window.iddb.
      expect(await win.evaluate(() => typeof (globalThis as { process?: unknown }).process)).toBe('undefined')
      expect(await win.evaluate(() => typeof (globalThis as { require?: unknown }).require)).toBe('undefined')
      expect(await win.evaluate(() => Object.keys((window as unknown as { iddb: object }).iddb).sort())).toEqual(['call', 'on'])
      const pong = await win.evaluate(() => (window as unknown as { iddb: { call(n: string, i: unknown): Promise<{ sentAt: number }> } }).iddb.call('system/ping', { sentAt: 5 }))
      expect(pong.sentAt).toBe(5)
      const err = await win.evaluate(() => (window as unknown as { iddb: { call(n: string, i: unknown): Promise<unknown> } }).iddb.call('no/such', {}).then(() => null, (e: { code?: string }) => e.code ?? String(e)))
      expect(err).toBe('UNKNOWN_CALL')
      await new LoginPage(win).firstRunHere('electron-hq-pass') // the console acts as an identity
      await expect(win.locator('[data-testid="topology-chart"][data-ready="true"]')).toBeVisible({ timeout: 30_000 })
      await expect(win.locator('nav')).toContainText('Topology')
      const opened = await win.evaluate(() => window.open('https://example.com') === null)
      expect(opened).toBe(true)
      // navigation away from the app origin is refused (will-navigate / will-frame-navigate)
      await win.evaluate(() => { location.href = 'https://example.com/' })
      await expect.poll(() => win.evaluate(() => location.origin)).toBe('app://console')
    } finally {
      await app.close()
    }
  })
})
