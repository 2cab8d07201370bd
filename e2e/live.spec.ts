/**
 * Live mode in Chromium: `iddb pg up` three PostgreSQL sites into a temporary directory (small data), start the
 * browser host over them (`iddb serve --pg DIR`), and use the console: the live badge names the three servers and
 * the simulation-only controls are replaced by a note; the Query console runs a global count and draws its plan,
 * and the count equals what the servers themselves hold; the Transactions console runs a two-site transaction
 * that commits at the servers (the rows changed there, no prepared transaction left in pg_prepared_xacts).
 * Skipped, with its reason, where PostgreSQL is not available.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { test, expect, CLI, ROOT } from './fixtures'
import { LoginPage, adminCredentials } from './pages/LoginPage'
import { AdminConsole } from './pages/AdminConsole'
import { QueryPage } from './pages/QueryPage'
import { TransactionsPage } from './pages/TransactionsPage'
import { pgDown, pgUp } from '../src-main/pg/deploy'
import { pgUnavailableReason, readPassword, type PgDeployment } from '../src-main/pg/servers'
import { freePorts } from '../src-main/pg/testserver'
import { fragments } from '../engine/data/schema'
import { defaultTopology } from '../engine/topology/default'

const why = pgUnavailableReason()

test.describe('live mode over PostgreSQL servers', () => {
  test.skip(why !== null, `PostgreSQL unavailable: ${why}`)
  test.describe.configure({ mode: 'serial' })

  let dir = ''
  let deployment: PgDeployment
  let password = ''
  let host: ChildProcess | undefined
  let url = ''

  /** Runs one statement at a site's server (its database), directly over `pg`. */
  async function atServer<T = Record<string, unknown>>(site: string, sql: string, database?: string): Promise<T[]> {
    const s = deployment.sites.find((x) => x.code === site)!
    const c = new pg.Client({ host: deployment.host, port: s.primary.port, user: deployment.user, password, database: database ?? deployment.database })
    await c.connect()
    try { return (await c.query(sql)).rows as T[] } finally { await c.end() }
  }

  test.beforeAll(async ({}, info) => {
    info.setTimeout(300_000)
    dir = mkdtempSync(join(tmpdir(), 'iddb-e2e-live-'))
    chmodSync(dir, 0o755)
    const up = await pgUp({ dataDir: dir, seed: 23, sales: 500, basePort: await freePorts(6, 37000), durable: false })
    deployment = up.deployment
    password = readPassword(dir, deployment)
    const pwFile = join(dir, 'hq-dba-password')
    writeFileSync(pwFile, `${adminCredentials().password}\n`, { mode: 0o600 })
    const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--pg', dir, '--admin-password-file', pwFile, '--admin-user', adminCredentials().user], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    host = child
    url = await new Promise<string>((ok, fail) => {
      let out = ''
      let err = ''
      const timer = setTimeout(() => fail(new Error(`iddb serve --pg printed no URL within 120 s\n${err}`)), 120_000)
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString()
        const m = /https?:\/\/127\.0\.0\.1:\d+\/\?token=\S+/.exec(out)
        if (m) { clearTimeout(timer); ok(m[0]) }
      })
      child.stderr!.on('data', (d: Buffer) => { err += d.toString() })
      child.once('exit', (code) => { clearTimeout(timer); fail(new Error(`iddb serve --pg exited ${code}\n${err}`)) })
    })
  })

  test.afterAll(async () => {
    if (host && host.exitCode === null) {
      host.kill('SIGTERM')
      await new Promise((r) => { host!.once('exit', r); setTimeout(r, 5000) })
    }
    if (dir) { try { pgDown(dir) } finally { rmSync(dir, { recursive: true, force: true }) } }
  })

  async function openLive(page: import('@playwright/test').Page): Promise<AdminConsole> {
    await new LoginPage(page).login(url, adminCredentials())
    const admin = new AdminConsole(page, url)
    await admin.open()
    return admin
  }

  test('the live badge names the three servers; the simulation-only controls are replaced by a note', async ({ page }) => {
    await openLive(page)
    const badge = page.getByTestId('live-badge')
    await expect(badge).toBeVisible()
    const servers = badge.getByTestId('live-server')
    await expect(servers).toHaveCount(3)
    for (const s of deployment.sites) {
      await expect(servers.filter({ hasText: s.code })).toHaveAttribute('data-up', 'true')
      await expect(servers.filter({ hasText: s.code })).toContainText(`127.0.0.1:${s.primary.port}`)
    }
    const bar = page.getByTestId('status-bar')
    await expect(bar.getByTestId('sim-only-note')).toContainText('applies only to the simulation')
    await expect(page.getByTestId('speed-60')).toHaveCount(0)
    await expect(page.getByTestId('clock-start')).toHaveCount(0)
  })

  test('the Query console counts a global relation at the servers and shows the plan', async ({ page }) => {
    const admin = await openLive(page)
    // what the servers hold: SALES is the union of its horizontal fragments, one per site
    const parts = fragments(defaultTopology()).filter((f) => f.relation === 'SALES' && f.kind === 'horizontal')
    expect(parts.length).toBe(3)
    let expected = 0
    for (const f of parts) expected += Number((await atServer<{ n: string }>(f.site, `SELECT count(*) AS n FROM "${f.name}"`))[0].n)
    expect(expected).toBeGreaterThan(0)

    await admin.openConsole('query')
    const q = new QueryPage(page)
    await q.write('SELECT COUNT(*) AS N FROM SALES')
    await q.runAndWait('KDY')
    await expect(q.error()).toHaveCount(0)
    await expect(q.rows()).toHaveCount(1)
    // the row's last cell (its first is the row number)
    const shown = Number(((await q.rows().first().locator('.cell').last().textContent()) ?? '').replace(/[^\d]/g, ''))
    expect(shown).toBe(expected)
    await q.openTab('plan')
    await expect(q.planDiagram()).toBeVisible()
    await expect(page.getByTestId('plan-step-subquery').first()).toBeVisible()
  })

  test('the Transactions console commits a two-site transaction at the servers with PREPARE TRANSACTION', async ({ page }) => {
    const admin = await openLive(page)
    // an item both branches stock
    const items = async (site: string, table: string) => (await atServer<{ i: string }>(site, `SELECT "ITEMNO" AS i FROM "${table}" ORDER BY 1`)).map((r) => Number(r.i))
    const kdyItems = new Set(await items('KDY', 'Stock_KDY'))
    const item = (await items('CMB', 'Stock_CMB')).find((i) => kdyItems.has(i))
    expect(item).toBeDefined()
    const qty = async (site: string, table: string) => Number((await atServer<{ q: string }>(site, `SELECT "QTY" AS q FROM "${table}" WHERE "ITEMNO" = ${item}`))[0].q)
    const cmbBefore = await qty('CMB', 'Stock_CMB')
    const kdyBefore = await qty('KDY', 'Stock_KDY')

    await admin.openConsole('transactions')
    const t = new TransactionsPage(page)
    await expect(t.console()).toBeVisible()
    const gid = await t.begin('CMB')
    await t.statement('CMB', `UPDATE Stock_CMB SET QTY = QTY - 1 WHERE ITEMNO = ${item}`)
    await t.statement('KDY', `UPDATE Stock_KDY SET QTY = QTY + 1 WHERE ITEMNO = ${item}`)
    await expect(t.results().nth(0)).not.toHaveClass(/bad/)
    await expect(t.results().nth(1)).not.toHaveClass(/bad/)
    await t.commit()
    await expect(t.outcome()).toContainText('COMMIT')
    await expect(t.sequence().getByTestId('seq-msg-PREPARE').first()).toBeAttached()

    // the servers hold the change, and no prepared transaction is left behind at any of them
    await expect.poll(() => qty('CMB', 'Stock_CMB')).toBe(cmbBefore - 1)
    await expect.poll(() => qty('KDY', 'Stock_KDY')).toBe(kdyBefore + 1)
    for (const s of deployment.sites) {
      await expect.poll(async () => (await atServer(s.code, 'SELECT gid FROM pg_prepared_xacts')).length).toBe(0)
    }
    // and the commit went through PREPARE TRANSACTION: each participant recorded its gid as committed (txnstore.ts)
    for (const site of ['CMB', 'KDY']) {
      const marks = await atServer<{ gid: string }>(site, 'SELECT gid FROM iddb_2pc.committed')
      expect(marks.map((m) => m.gid).join(' ')).toContain(gid)
    }
  })
})
