/**
 * The console runs under a CSP without 'unsafe-inline' styles (issue 13): every console, the SQL editor
 * (CodeMirror creates a <style> element: it carries the page's nonce) and the charts (ECharts styles through
 * the CSSOM) work, and the browser reports no CSP violation at all.
 */
import { test, expect } from './fixtures'
import { AdminConsole, CONSOLES } from './pages/AdminConsole'
import { LoginPage, adminCredentials } from './pages/LoginPage'

test('every console renders with no CSP violation and no inline-style allowance', async ({ page, iddb }) => {
  const violations: string[] = []
  page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) violations.push(m.text()) })
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      const w = window as unknown as { __csp?: string[] }
      ;(w.__csp ??= []).push(`${e.violatedDirective} ${e.blockedURI} ${e.sample}`)
    })
  })
  const response = await page.goto(iddb.url)
  const csp = response!.headers()['content-security-policy']
  expect(csp).toMatch(/style-src 'self' 'nonce-[A-Za-z0-9+/=]+'/)
  expect(csp).not.toContain('unsafe-inline')
  await new LoginPage(page).submit(adminCredentials()) // the consoles open after the console identity logs in
  const admin = new AdminConsole(page, iddb.url)
  await expect(page.getByTestId('topology-chart')).toHaveAttribute('data-ready', 'true', { timeout: 30_000 })
  for (const c of CONSOLES) {
    await admin.openConsole(c.id)
    await expect(page).toHaveURL(new RegExp(`#/${c.id}$`))
  }
  // the SQL editor is styled (its stylesheet was not blocked): CodeMirror's own rule gives .cm-editor display:flex
  await admin.openConsole('query')
  const editor = page.locator('.cm-editor').first()
  await expect(editor).toBeVisible()
  expect(await editor.evaluate((el) => getComputedStyle(el).display)).toBe('flex')
  const reported = await page.evaluate(() => (window as unknown as { __csp?: string[] }).__csp ?? [])
  expect([...violations, ...reported]).toEqual([])
})
