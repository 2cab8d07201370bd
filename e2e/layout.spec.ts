/**
 * Layout: every console at 1280×720 and at 1920×1080 with real content in it (a query result with dates,
 * a three-site transaction, a ticket, the deadlock demo, the audit log) shows no text or control whose
 * content overflows its box. And the diagrams the issue named: the 2PC diagram keeps every lane in view,
 * the ticket diagram has its time axis, deadlock edges say which lock at which site, and a link to a down
 * site is drawn down.
 */
import { test, expect } from './fixtures'
import type { Page } from '@playwright/test'
import { CONSOLES, type AdminConsole } from './pages/AdminConsole'
import { QueryPage } from './pages/QueryPage'
import { TransactionsPage } from './pages/TransactionsPage'
import { overflowing } from './pages/layout'
import { SecurityPage } from './pages/SecurityPage'

/** A read-only transaction over CMB, MBI and KDY, committed (its 2PC diagram has three lanes). */
async function threeSiteTxn(admin: AdminConsole, page: Page, item: number): Promise<TransactionsPage> {
  await admin.openConsole('transactions')
  const t = new TransactionsPage(page)
  await t.begin('CMB')
  await t.statement('MBI', `SELECT QTY FROM Stock_MBI_LCL WHERE ITEMNO = ${item}`)
  await t.statement('KDY', `SELECT QTY FROM Stock_KDY WHERE ITEMNO = ${item}`)
  await t.commit()
  await expect(t.outcome()).toContainText('COMMIT')
  return t
}

/** Puts content into the consoles that show nothing until asked. */
async function fill(admin: AdminConsole, page: Page): Promise<void> {
  await admin.openConsole('query')
  const q = new QueryPage(page)
  await q.write('SELECT * FROM SALES ORDER BY INVNO LIMIT 50')
  await q.runAndWait('CMB')
  await expect(q.rows().first()).toBeVisible()
  await threeSiteTxn(admin, page, 1)
  await admin.openConsole('tickets')
  await page.getByTestId('ticket-new').click()
  await page.getByTestId('ticket-submit').click()
  await expect(page.getByTestId('ticket-answer').first()).toBeVisible()
  // a refused login puts a long line into the security audit
  await admin.openConsole('security')
  const sec = new SecurityPage(page)
  await sec.login('KDY', 'no.such.user.for.layout', 'wrong-password-here')
  await expect(sec.loginError()).toBeVisible()
  await expect(sec.auditRows('no.such.user.for.layout', true).first()).toBeVisible()
}

test.describe('layout', () => {
  test('no console has text or a control that overflows its box, at 1280×720 and 1920×1080', async ({ admin, page }) => {
    await fill(admin, page)
    const findings: string[] = []
    for (const size of [{ width: 1280, height: 720 }, { width: 1920, height: 1080 }]) {
      await page.setViewportSize(size)
      for (const c of CONSOLES) {
        await admin.openConsole(c.id)
        await expect(page.getByTestId('console-title')).toHaveText(c.label)
        // let the console's first data arrive (each one shows its panels once it has it)
        await expect(page.locator('.console-body').locator('[data-testid]').first()).toBeVisible()
        for (const f of await overflowing(page)) findings.push(`${size.width}×${size.height} ${c.id}: ${f}`)
      }
    }
    expect(findings).toEqual([])
  })

  test('the 2PC diagram keeps all three lanes in view inside its panel', async ({ admin, page }) => {
    await page.setViewportSize({ width: 1280, height: 720 })
    const t = await threeSiteTxn(admin, page, 2)
    const panel = (await t.timeline().boundingBox())!
    for (const s of ['CMB', 'MBI', 'KDY']) {
      const lane = (await t.sequence().getByTestId(`seq-lane-${s}`).boundingBox())!
      expect(lane.x, `lane ${s}`).toBeGreaterThanOrEqual(panel.x)
      expect(lane.x + lane.width, `lane ${s}`).toBeLessThanOrEqual(panel.x + panel.width)
    }
  })

  test('the ticket diagram has a time axis and no two labels overlap', async ({ admin, page }) => {
    await admin.openConsole('tickets')
    await page.getByTestId('ticket-new').click()
    await page.getByTestId('ticket-concurrent-KDY').check()
    await page.getByTestId('ticket-submit-concurrent').click()
    const seq = page.getByTestId('ticket-sequence')
    await expect(seq.getByTestId('seq-msg-NEWTKT').first()).toBeAttached()
    await expect(seq.getByTestId('seq-axis')).toContainText('virtual ms')
    const boxes = await seq.locator('text').evaluateAll((ts) => ts.map((t) => t.getBoundingClientRect()).filter((r) => r.width > 0).map((r) => ({ x: r.x, y: r.y, w: r.width, h: r.height })))
    const overlaps: string[] = []
    for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
      const a = boxes[i], b = boxes[j]
      const ox = Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x), oy = Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y)
      if (ox > 2 && oy > 2) overlaps.push(`${i}/${j}`)
    }
    expect(overlaps).toEqual([])
  })

  test('deadlock edges say which lock at which site; a link to a down site is drawn down', async ({ admin, page }) => {
    await admin.openConsole('deadlocks')
    await page.getByTestId('dl-demo').click()
    await expect(page.getByTestId('dl-demo-result')).toContainText('victim', { timeout: 30_000 })
    await expect(page.getByTestId('dl-graph')).toHaveAttribute('aria-label', /→[A-Z]{3}-\d+ \([SX] \S+ @(CMB|MBI|KDY)\)/)
    await admin.failSite('KDY')
    try {
      await admin.openConsole('topology')
      await expect(admin.topology.linkRow('CMB-KDY')).toHaveAttribute('data-drawn', 'down')
      await expect(admin.topology.linkRow('CMB-MBI')).toHaveAttribute('data-drawn', 'up')
    } finally {
      await admin.restoreSite('KDY')
    }
  })
})
