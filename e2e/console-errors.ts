/**
 * Fails a test when the page logged a console error or threw an uncaught exception while it ran (an
 * ECharts `TypeError` on a hidden resize, a Vue warning turned error, a rejected promise nobody caught).
 * `test` here is Playwright's, extended with one automatic fixture; e2e/fixtures.ts builds on it, so every
 * spec gets the check. A test that provokes an error on purpose (a lost connection) names what it expects
 * with `consoleErrors.allow(/…/)`.
 */
import { test as base, expect } from '@playwright/test'

export interface ConsoleErrors {
  /** The errors collected so far in this test (text, with the source location when known). */
  readonly list: string[]
  /** Errors matching `re` are expected in this test and not reported. */
  allow(re: RegExp): void
}

export const test = base.extend<{ consoleErrors: ConsoleErrors }>({
  consoleErrors: [async ({ page }, use, info) => {
    const list: string[] = []
    const allowed: RegExp[] = []
    page.on('console', (m) => {
      if (m.type() !== 'error') return
      const loc = m.location()
      list.push(`console.error: ${m.text()}${loc.url ? ` (${loc.url}:${loc.lineNumber})` : ''}`)
    })
    page.on('pageerror', (e) => { list.push(`uncaught: ${e.stack ?? e.message}`) })
    await use({ list, allow: (re) => { allowed.push(re) } })
    const found = list.filter((t) => !allowed.some((re) => re.test(t)))
    if (found.length && info.status === info.expectedStatus) {
      expect(found, `the browser logged ${found.length} error(s) during "${info.title}"`).toEqual([])
    }
  }, { auto: true }],
})

export { expect }
