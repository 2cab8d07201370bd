/**
 * Console roles end to end, on a host of its own that starts with no console identity: the first-run screen creates
 * the HQ DBA; the HQ DBA creates a Kandy branch administrator and an auditor; the Kandy administrator is refused
 * failing Colombo (the error is shown) but fails and restores Kandy; the auditor's destructive controls are refused;
 * the audit search shows the refusals, and `iddb audit verify` accepts the chain.
 */
import { test, expect } from '@playwright/test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ChildProcess } from 'node:child_process'
import { runCli, startHost, stopHost } from './fixtures'
import { AdminConsole } from './pages/AdminConsole'
import { LoginPage } from './pages/LoginPage'

const HQ = { user: 'hqdba', password: 'first-run-pass-1' }
const KANDY = { user: 'kandy.admin', password: 'kandy-admin-pass' }
const AUDITOR = { user: 'audrey', password: 'auditor-pass-1' }

test.describe.configure({ mode: 'serial' })

let url = ''
let dataDir = ''
let parent = ''
let child: ChildProcess | undefined

test.beforeAll(async () => {
  parent = mkdtempSync(join(tmpdir(), 'iddb-e2e-roles-'))
  dataDir = join(parent, 'data')
  runCli(['init', '--data', dataDir, '--seed', '3', '--sales', '2000'])
  ;({ url, child } = await startHost(dataDir, { firstRun: true }))
})

test.afterAll(async () => {
  if (child) await stopHost(child, dataDir)
  rmSync(parent, { recursive: true, force: true })
})

test('first run creates the HQ DBA, who creates a Kandy administrator and an auditor', async ({ page }) => {
  const login = new LoginPage(page)
  await login.createHqDba(url, HQ.password, HQ.user)
  const admin = new AdminConsole(page, url)
  await admin.openConsole('security')
  const panel = page.getByTestId('identities-panel')
  await expect(panel.getByTestId(`identity-${HQ.user}`)).toHaveAttribute('data-role', 'hq-dba')

  await panel.getByTestId('identity-user').fill(KANDY.user)
  await panel.getByTestId('identity-password').fill(KANDY.password)
  await panel.getByTestId('identity-role').selectOption('branch-admin')
  await panel.getByTestId('identity-site').selectOption('KDY')
  await panel.getByTestId('identity-submit').click()
  await expect(panel.getByTestId(`identity-${KANDY.user}`)).toHaveAttribute('data-role', 'branch-admin')

  await panel.getByTestId('identity-user').fill(AUDITOR.user)
  await panel.getByTestId('identity-password').fill(AUDITOR.password)
  await panel.getByTestId('identity-role').selectOption('auditor')
  await panel.getByTestId('identity-clearance').selectOption('SECRET')
  await panel.getByTestId('identity-submit').click()
  await expect(panel.getByTestId(`identity-${AUDITOR.user}`)).toHaveAttribute('data-role', 'auditor')

  // a reload keeps this tab's identity; logging out returns to the login screen (no second first run)
  await page.reload()
  await expect(login.badge()).toHaveAttribute('data-user', HQ.user)
  await login.logout()
  await expect(login.firstRun()).toHaveCount(0)
})

test('the Kandy administrator is refused failing Colombo but fails and restores Kandy', async ({ page }) => {
  const login = new LoginPage(page)
  await page.goto(url)
  await login.submit({ user: KANDY.user, password: 'not-the-password' })
  await expect(login.error()).toContainText('AUTH_FAILED')
  await login.submit(KANDY)
  await expect(login.badge()).toHaveAttribute('data-role', 'branch-admin')
  await expect(page.getByTestId('identity-role')).toHaveText('branch administrator of KDY')

  const admin = new AdminConsole(page, url)
  await admin.openConsole('topology')
  await admin.topology.openSite('CMB')
  await admin.requestFailSite('CMB')
  await expect(page.getByTestId('topology-error')).toContainText('ACCESS_DENIED')
  await expect(page.getByTestId('topology-error')).toContainText('kandy.admin (branch administrator of KDY) may not fail a site at CMB')
  await expect(admin.healthLight('CMB')).toHaveAttribute('data-health', 'ok')

  await admin.recoverSite('MBI', 'repository')
  await expect(page.getByTestId('recovery-error')).toContainText('may not recover a site at MBI')

  await admin.failSite('KDY')
  await admin.restoreSite('KDY')
})

test('the auditor reads everything and its destructive controls are refused; the audit search shows the refusals', async ({ page }) => {
  const login = new LoginPage(page)
  await login.login(url, AUDITOR)
  const admin = new AdminConsole(page, url)
  await admin.openConsole('topology')
  await expect(admin.topology.siteRows()).toHaveCount(3)
  await admin.topology.openSite('MBI')
  await admin.requestFailSite('MBI')
  await expect(page.getByTestId('topology-error')).toContainText('audrey (auditor) may not fail a site at MBI')
  await expect(admin.healthLight('MBI')).toHaveAttribute('data-health', 'ok')
  await admin.recoverSite('KDY', 'backup')
  await expect(page.getByTestId('recovery-error')).toContainText('audrey (auditor) may not recover a site at KDY')

  await admin.openConsole('security')
  const search = page.getByTestId('audit-search')
  await search.getByTestId('audit-user').fill(KANDY.user)
  await search.getByTestId('audit-outcome').selectOption('refused')
  await search.getByTestId('audit-search-submit').click()
  const refusal = search.locator('[data-testid="audit-entry"][data-action="topology/failSite"]')
  await expect(refusal).toHaveCount(1)
  await expect(refusal).toHaveAttribute('data-site', 'CMB')
  await expect(refusal).toContainText('refused: kandy.admin (branch administrator of KDY) may not fail a site at CMB')
  // the Kandy administrator's own failure and restore are there too, as done
  await search.getByTestId('audit-outcome').selectOption('ok')
  await search.getByTestId('audit-action').fill('topology/')
  await search.getByTestId('audit-search-submit').click()
  await expect(search.getByTestId('audit-entry')).toHaveCount(2)
  await expect(search.getByTestId('audit-entry').first()).toHaveAttribute('data-action', 'topology/restoreSite')
  // the auditor's own refusals, by text
  await search.getByTestId('audit-clear').click()
  await search.getByTestId('audit-text').fill('audrey (auditor) may not')
  await search.getByTestId('audit-search-submit').click()
  await expect(search.getByTestId('audit-entry')).toHaveCount(2)
  await search.getByTestId('audit-verify').click()
  await expect(search.getByTestId('audit-verify-result')).toHaveAttribute('data-ok', 'true')

  // the same chain verifies from the CLI beside the running console
  expect(runCli(['audit', 'verify', '--data', dataDir])).toMatch(/^audit log ok: \d+ entries/)
})
