/**
 * The Deadlocks console over live PostgreSQL servers, in Chromium (the shared live deployment of e2e/liveHost.ts):
 * the live panel replaces the embedded detector's parts and shows the detector watching the three servers (its
 * own monitoring connection at each, seen at the servers); the cross-server demo (T1 and T2, a session of each at
 * CMB and at KDY) ends with the victim cancelled by the detector and rolled back at both servers and the survivor
 * committed at both. Checked at the servers: the demo's rows were rewritten by a committed transaction with the
 * stock unchanged, nothing waits, nothing is prepared, no session of the demo is left.
 * Skipped, with its reason, where PostgreSQL is not available.
 */
import { liveTest as test, expect, pgMissing } from './liveHost'
import { LiveDeadlocksPage } from './pages/LiveDeadlocksPage'

test.describe('the Deadlocks console over live servers', () => {
  test.skip(pgMissing !== null, `PostgreSQL unavailable: ${pgMissing}`)

  test('runs the cross-server deadlock demo: the detector cancels the victim, the survivor commits at both servers', async ({ page, live }) => {
    const atServer = live.atServer
    // the demo's rows: the first stock row of each site's fragment, as the servers hold them before
    const row = async (site: string) => (await atServer<{ k: string; q: string; x: string; s: string }>(site, `SELECT "STOCKCODE" AS k, "QTY"::text AS q, xmin::text AS x, txid_status(xmin::text::bigint) AS s FROM "Stock_${site}" ORDER BY 1 LIMIT 1`))[0]
    const before = { CMB: await row('CMB'), KDY: await row('KDY') }
    // the detector runs in the console's engine worker, with a monitoring connection of its own at every server
    for (const s of live.deployment().sites) {
      await expect.poll(async () => (await atServer(s.code, "SELECT pid FROM pg_stat_activity WHERE application_name = 'iddb-deadlock-monitor'")).length).toBe(1)
    }

    const admin = await live.open(page)
    await admin.openConsole('deadlocks')
    const d = new LiveDeadlocksPage(page)
    await expect(d.panel()).toBeVisible()
    // the embedded detector's controls are not shown over live servers
    await expect(page.getByTestId('dl-demo')).toBeHidden()
    await expect(page.getByTestId('dl-scheme')).toBeHidden()
    await expect(d.detector()).toHaveAttribute('data-running', 'true')
    await expect(d.detector()).toContainText('every 500 ms')
    await expect(d.servers()).toHaveCount(3)
    for (const s of live.deployment().sites) await expect(d.servers().filter({ hasText: s.code })).toHaveAttribute('data-up', 'true')

    await d.runDemo('CMB', 'KDY')
    await expect(page.getByRole('alert')).toHaveCount(0)
    await expect(d.victim()).toHaveText('T2') // the younger
    await expect(d.survivor()).toHaveAttribute('data-survivor', 'T1')
    await expect(d.survivor()).toHaveAttribute('data-committed', 'CMB,KDY')
    const ms = Number(((await d.detection().textContent()) ?? '').replace(/[^\d]/g, ''))
    expect(ms).toBeGreaterThan(0)
    expect(ms).toBeLessThan(5_000)
    // the graph as the cycle stood: one cycle, its waits at both servers
    await expect(d.graph()).toHaveAttribute('data-cycles', '1')
    await expect(d.edges().and(page.locator('[data-from="T1"][data-to="T2"][data-site="KDY"]'))).toHaveCount(1)
    await expect(d.edges().and(page.locator('[data-from="T2"][data-to="T1"][data-site="CMB"]'))).toHaveCount(1)
    await expect(d.historyRows().first()).toHaveAttribute('data-victim', 'T2')

    // at the servers: each row rewritten by a committed transaction (T1's), its stock unchanged (the updates add zero)
    for (const site of ['CMB', 'KDY'] as const) {
      const now = await row(site)
      expect(now.k).toBe(before[site].k)
      expect(now.q).toBe(before[site].q)
      expect(now.x).not.toBe(before[site].x)
      expect(now.s).toBe('committed')
    }
    for (const s of live.deployment().sites) {
      expect(await atServer(s.code, "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock'")).toEqual([])
      expect(await atServer(s.code, 'SELECT gid FROM pg_prepared_xacts')).toEqual([])
      expect(await atServer(s.code, "SELECT pid FROM pg_stat_activity WHERE application_name IN ('iddb:T1', 'iddb:T2')")).toEqual([])
    }
  })
})
