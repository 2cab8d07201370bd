/**
 * Live mode's Catalog console and failure drills in Chromium (the shared live deployment of e2e/liveHost.ts):
 * the Local catalogs tab shows a site's catalog read from its server — after ANALYZE every table's row count
 * equals count(*) at the server — and the Topology console shows the drills at the servers instead of the
 * simulated ones: a primary is stopped (typed confirmation; the server is down for a direct connection too),
 * the Query console still answers a global count over that site from another copy, and the server is started
 * again and serves. The deployment is left healthy. Skipped, with its reason, where PostgreSQL is not available.
 */
import { liveTest as test, expect, pgMissing } from './liveHost'
import { LiveOpsPage } from './pages/LiveOpsPage'
import { QueryPage } from './pages/QueryPage'

test.describe('live Catalog console and failure drills', () => {
  test.skip(pgMissing !== null, `PostgreSQL unavailable: ${pgMissing}`)
  test.describe.configure({ mode: 'serial' })

  test('the Local catalogs tab reads a site\'s catalog from its server: after ANALYZE the rows equal count(*) there', async ({ page, live }) => {
    const admin = await live.open(page)
    await admin.openConsole('catalog')
    await admin.catalog.openTab('local')
    const ops = new LiveOpsPage(page)
    await expect(ops.liveCatalog()).toBeVisible()
    await expect(page.getByTestId('local-catalog')).toHaveCount(0) // the embedded sites' LCAT_* are not shown
    await ops.pickSite('KDY')
    const kdy = live.deployment().sites.find((s) => s.code === 'KDY')!
    await expect(ops.source()).toContainText(`KDY.primary (127.0.0.1:${kdy.primary.port}`)
    await expect(ops.readAt()).not.toHaveText('')
    await ops.analyze()
    const tables = await live.atServer<{ t: string }>('KDY', `SELECT relname AS t FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r' ORDER BY 1`)
    expect(tables.map((x) => x.t)).toContain('Sales_KDY')
    await expect(ops.tableRows()).toHaveCount(tables.length)
    for (const { t } of tables) {
      const n = Number((await live.atServer<{ n: string }>('KDY', `SELECT count(*) AS n FROM "${t}"`))[0].n)
      await expect(ops.tableRow(t)).toHaveAttribute('data-count', String(n))
      await expect(ops.tableRow(t)).toHaveAttribute('data-num-rows', String(n))
    }
    await expect(page.getByTestId('live-catalog-stale')).toHaveCount(0)
    // the global catalog and the allocation are the engine's design, and say so
    await admin.catalog.openTab('allocation')
    await expect(page.getByTestId('live-design-note')).toContainText("the engine's design")
  })

  test('the Topology console stops a primary and starts it again; the Query console answers meanwhile', async ({ page, live }) => {
    const admin = await live.open(page)
    await admin.openConsole('topology')
    const ops = new LiveOpsPage(page)
    await expect(ops.drills()).toBeVisible()
    await expect(page.getByTestId('drills-panel')).toHaveCount(0) // the simulated drills are replaced
    await admin.topology.openSite('KDY')
    await expect(page.getByTestId('action-fail-site')).toHaveCount(0)
    await expect(page.getByTestId('details-panel').getByTestId('sim-only-note')).toBeVisible()
    for (const s of live.deployment().sites) {
      await expect(ops.server(s.primary.id)).toHaveAttribute('data-up', 'true')
      await expect(ops.server(s.standby!.id)).toHaveAttribute('data-up', 'true')
    }
    const expected = (await live.atServer<{ n: string }>('CMB', 'SELECT count(*) AS n FROM "SALES"', 'iddb_repository'))[0].n

    await ops.stopServer('KDY.primary')
    try {
      await expect(ops.server('KDY.primary')).toHaveAttribute('data-up', 'false')
      await expect(live.atServer('KDY', 'SELECT 1')).rejects.toThrow(/ECONNREFUSED/)
      // the console stays responsive: a global count over KDY is answered from another copy
      await admin.openConsole('query')
      const q = new QueryPage(page)
      await q.write('SELECT COUNT(*) AS N FROM SALES')
      await q.runAndWait('CMB')
      await expect(q.error()).toHaveCount(0)
      const shown = Number(((await q.rows().first().locator('.cell').last().textContent()) ?? '').replace(/[^\d]/g, ''))
      expect(shown).toBe(Number(expected))
      await admin.openConsole('topology')
    } finally {
      await ops.startServer('KDY.primary')
    }
    await expect(ops.error()).toHaveCount(0)
    await expect(page.getByTestId('live-last-start')).toContainText('KDY.primary started')
    expect((await live.atServer<{ r: boolean }>('KDY', 'SELECT pg_is_in_recovery() AS r'))[0].r).toBe(false)
    // its standby streams from it again (the deployment is left as it was found), and the panel shows it
    await expect(page.getByTestId('live-streaming-KDY.primary')).toHaveAttribute('data-streaming', '1', { timeout: 30_000 })
    await expect.poll(async () => (await live.atServer<{ n: string }>('KDY', "SELECT count(*) AS n FROM pg_stat_replication WHERE state = 'streaming'"))[0].n, { timeout: 30_000 }).toBe('1')
  })

  test('the Topology console cuts the console\'s link to Kandy: queries read another copy, a Kandy-only fragment is refused naming the site, the server runs on; restored, Kandy answers again', async ({ page, live }) => {
    const admin = await live.open(page)
    await admin.openConsole('topology')
    const ops = new LiveOpsPage(page)
    await expect(ops.link('KDY')).toHaveAttribute('data-cut', 'false')
    const expected = (await live.atServer<{ n: string }>('CMB', 'SELECT count(*) AS n FROM "SALES"', 'iddb_repository'))[0].n
    const q = new QueryPage(page)
    const count = async (sql: string) => {
      await q.write(sql)
      await q.runAndWait('CMB')
    }
    await ops.cutLink('KDY')
    try {
      // the server itself still answers (the test's own connection does not go through the console's link)
      expect((await live.atServer<{ one: number }>('KDY', 'SELECT 1 AS one'))[0].one).toBe(1)
      await expect(ops.server('KDY.primary')).toHaveAttribute('data-up', 'true')
      await admin.openConsole('query')
      await count('SELECT COUNT(*) AS N FROM SALES')
      await expect(q.error()).toHaveCount(0)
      expect(Number(((await q.rows().first().locator('.cell').last().textContent()) ?? '').replace(/[^\d]/g, ''))).toBe(Number(expected))
      await count('SELECT COUNT(*) AS N FROM Stock_KDY')
      await expect(q.error()).toContainText('KDY')
      await admin.openConsole('topology')
    } finally {
      await ops.restoreLink('KDY')
    }
    await admin.openConsole('query')
    await count('SELECT COUNT(*) AS N FROM Stock_KDY')
    await expect(q.error()).toHaveCount(0)
    const stock = (await live.atServer<{ n: string }>('KDY', 'SELECT count(*) AS n FROM "Stock_KDY"'))[0].n
    expect(Number(((await q.rows().first().locator('.cell').last().textContent()) ?? '').replace(/[^\d]/g, ''))).toBe(Number(stock))
  })
})
