/**
 * Live mode in Chromium: `iddb pg up` three PostgreSQL sites into a temporary directory (small data), start the
 * browser host over them (`iddb serve --pg DIR`), and use the console: the live badge names the three servers and
 * the simulation-only controls are replaced by a note; the Query console runs a global count and draws its plan,
 * and the count equals what the servers themselves hold; the Transactions console runs a two-site transaction
 * that commits at the servers (the rows changed there, no prepared transaction left in pg_prepared_xacts), and the
 * Replication console shows the applier carrying the change to the other copies.
 * Skipped, with its reason, where PostgreSQL is not available.
 */
import { liveTest as test, expect, pgMissing } from './liveHost'
import { QueryPage } from './pages/QueryPage'
import { TransactionsPage } from './pages/TransactionsPage'
import { LiveReplicationPage } from './pages/LiveReplPage'
import { fragments } from '../engine/data/schema'
import { defaultTopology } from '../engine/topology/default'

test.describe('live mode over PostgreSQL servers', () => {
  test.skip(pgMissing !== null, `PostgreSQL unavailable: ${pgMissing}`)
  test.describe.configure({ mode: 'serial' })

  test('the live badge names the three servers; the simulation-only controls are replaced by a note', async ({ page, live }) => {
    const deployment = live.deployment()
    await live.open(page)
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

  test('the Query console counts a global relation at the servers and shows the plan', async ({ page, live }) => {
    const atServer = live.atServer
    const admin = await live.open(page)
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
    // the bytes on the links are those the servers' connections carried
    await expect(page.getByTestId('query-bytes-live')).toBeVisible()
    await q.openTab('plan')
    await expect(q.planDiagram()).toBeVisible()
    await expect(page.getByTestId('plan-step-subquery').first()).toBeVisible()
  })

  test('the Transactions console commits a two-site transaction at the servers with PREPARE TRANSACTION', async ({ page, live }) => {
    const deployment = live.deployment()
    const atServer = live.atServer
    const admin = await live.open(page)
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

    // the Replication console shows the applier carrying both sites' changes to their copies: nothing left waiting,
    // and Stock_CMB's new quantity at Mumbai's vertical fragment, as the servers themselves say
    await admin.openConsole('replication')
    const repl = new LiveReplicationPage(page)
    for (const site of ['CMB', 'KDY']) {
      await expect(repl.propagation(site)).toHaveAttribute('data-pending', '0', { timeout: 20_000 })
      await expect(repl.propagation(site)).toHaveAttribute('data-error', 'false')
    }
    await expect(repl.propagation('CMB')).toContainText('MBI')
    await expect.poll(async () => Number((await atServer<{ q: string }>('MBI', `SELECT "QTY" AS q FROM "Stocks_CMB_FRG" WHERE "ITEMNO" = ${item}`))[0].q)).toBe(cmbBefore - 1)
    await expect(page.getByTestId('live-repl-panel')).toContainText(/[1-9]\d* changes? applied since the console started/)
  })
})
