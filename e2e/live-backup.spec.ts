/**
 * The Backups and Replication & Backup consoles in live mode, in Chromium against the browser host over three
 * PostgreSQL sites (the shared live deployment, e2e/liveHost.ts): a backup of MBI taken in the console is listed
 * with its manifest's SHA-256; after MBI's sales are deleted at the server, a restore confirmed by the typed site
 * code brings them back (the server's own checksums equal the manifest's). The replication panel shows every
 * standby streaming synchronously; KDY is failed over to its standby in the console, a query through the console
 * reaches the promoted server, and the standby is rebuilt, leaving the deployment healthy for later specs.
 * Skipped, with its reason, where PostgreSQL is not available.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { liveTest as test, expect, pgMissing } from './liveHost'
import { LiveBackupPage, LiveReplicationPage } from './pages/LiveReplPage'
import { QueryPage } from './pages/QueryPage'

/** Row count and md5 over the rows of a table, as the backup's manifest computes them (src-main/pg/backup.ts). */
const SUM = (t: string) => `SELECT COUNT(*)::int AS rows, md5(COALESCE(string_agg(t::text, E'\\n' ORDER BY t::text), '')) AS md5 FROM "${t}" t`

test.describe('live Backups and Replication & Backup consoles', () => {
  test.skip(pgMissing !== null, `PostgreSQL unavailable: ${pgMissing}`)
  test.describe.configure({ mode: 'serial' })

  test('a backup taken in the console is listed with its checksum, and a restore confirmed by the site code brings the data back', async ({ page, live }) => {
    const admin = await live.open(page)
    await admin.openConsole('backups')
    const b = new LiveBackupPage(page)
    await expect(b.panel()).toBeVisible()
    // the simulation's SQLite backups are hidden in live mode
    await expect(page.getByTestId('backup-take-panel')).toHaveCount(0)
    await expect(page.getByTestId('backup-upload-panel')).toHaveCount(0)

    const kept = () => (existsSync(join(live.dir, 'backups')) ? readdirSync(join(live.dir, 'backups')) : [])
    const before = new Set(kept())
    await b.take('MBI')
    const name = kept().find((n) => n.startsWith('MBI-') && n.endsWith('.dump.json') && !before.has(n))!
    expect(name).toBeDefined()
    const manifest = JSON.parse(readFileSync(join(live.dir, 'backups', name), 'utf8')) as { sha256: string; tables: Record<string, { rows: number; md5: string }> }
    await expect(b.row(name)).toHaveAttribute('data-ok', 'true')
    await expect(b.sha(name)).toHaveAttribute('data-sha256', manifest.sha256)
    await expect(b.sha(name)).toContainText(manifest.sha256.slice(0, 16))
    const sales = manifest.tables['Sales_MBI']
    expect(sales.rows).toBeGreaterThan(0)
    expect((await live.atServer<{ rows: number; md5: string }>('MBI', SUM('Sales_MBI')))[0]).toEqual(sales)

    // the loss, at the server itself
    await live.atServer('MBI', 'DELETE FROM "Sales_MBI"')
    expect((await live.atServer<{ rows: number }>('MBI', SUM('Sales_MBI')))[0].rows).toBe(0)

    await b.restore(name, 'MBI')
    await expect(b.result()).toContainText('MBI restored from', { timeout: 60_000 })
    await expect(b.error()).toHaveCount(0)
    for (const [t, want] of Object.entries(manifest.tables)) expect((await live.atServer<{ rows: number; md5: string }>('MBI', SUM(t)))[0], t).toEqual(want)
    // the loss reached the main repository (a write at the server, captured); the restored rows reach it too
    const atRepo = () => live.atServer<{ n: string }>('CMB', `SELECT count(*) AS n FROM "SALES" WHERE "BRCODE" = 'MBI'`, 'iddb_repository')
    await expect.poll(async () => Number((await atRepo())[0].n), { timeout: 20_000 }).toBe(sales.rows)
  })

  test('a physical backup (pg_basebackup) taken in the console is listed, verified by restoring it into a scratch server (every table equal), and KDY restored in place from it', async ({ page, live }) => {
    const admin = await live.open(page)
    await admin.openConsole('backups')
    const b = new LiveBackupPage(page)
    const kept = () => (existsSync(join(live.dir, 'backups')) ? readdirSync(join(live.dir, 'backups')) : [])
    const before = new Set(kept())
    await b.takePhysical('KDY')
    const name = kept().find((n) => n.startsWith('KDY-base-') && !n.endsWith('.partial') && !before.has(n))!
    expect(name).toBeDefined()
    const manifest = JSON.parse(readFileSync(join(live.dir, 'backups', name, 'iddb-base.json'), 'utf8')) as { endLsn: string; tables: Record<string, { rows: number; md5: string }> }
    await expect(b.baseRow(name)).toHaveAttribute('data-ok', 'true')
    await expect(b.baseRow(name)).toContainText(manifest.endLsn)
    await b.verifyPhysical(name)
    await expect(b.verified(name)).toHaveAttribute('data-equal', 'true')
    await expect(b.verified(name)).toContainText(`equal: ${Object.keys(manifest.tables).length} tables`)
    await expect(b.result()).toContainText('successfully verified')

    // committed at KDY after the backup, then KDY restored in place from it: the server holds the backup's rows again
    const stock = manifest.tables['Stock_KDY']
    await live.atServer('KDY', 'UPDATE "Stock_KDY" SET "QTY" = "QTY" + 1')
    expect((await live.atServer<{ rows: number; md5: string }>('KDY', SUM('Stock_KDY')))[0]).not.toEqual(stock)
    await b.restorePhysical(name, 'KDY')
    await expect(b.error()).toHaveCount(0)
    await expect(b.result()).toContainText(`all ${Object.keys(manifest.tables).length} tables equal to the manifest`)
    expect((await live.atServer<{ rows: number; md5: string }>('KDY', SUM('Stock_KDY')))[0]).toEqual(stock)
  })

  test('the replication panel shows the standbys streaming; KDY fails over in the console, a query reaches the promoted server, and the standby is rebuilt', async ({ page, live }) => {
    const old = live.deployment().sites.find((s) => s.code === 'KDY')!
    const admin = await live.open(page)
    await admin.openConsole('replication')
    const r = new LiveReplicationPage(page)
    await expect(r.panel()).toBeVisible()
    await expect(page.getByTestId('replication-streams')).toHaveCount(0) // the simulation's streams are hidden
    for (const s of live.deployment().sites) {
      await expect(r.site(s.code)).toHaveAttribute('data-healthy', 'true')
      await expect(r.server(s.code, 'primary')).toHaveAttribute('data-role', 'primary')
      await expect(r.server(s.code, 'standby')).toHaveAttribute('data-role', 'standby')
      await expect(r.link(s.code)).toContainText('streaming/sync')
    }

    await r.act('failover', 'KDY')
    await expect(r.result()).toContainText('KDY failed over', { timeout: 60_000 })
    expect(live.deployment().sites.find((s) => s.code === 'KDY')!.primary.port).toBe(old.standby!.port)
    await expect(r.server('KDY', 'primary')).toHaveAttribute('data-port', String(old.standby!.port))
    await expect(r.server('KDY', 'primary')).toHaveAttribute('data-role', 'primary')
    await expect(r.site('KDY')).toHaveAttribute('data-healthy', 'false') // no standby until it is rebuilt

    // the console's own connection to KDY follows the promotion: a query counts what the promoted server holds
    const [{ n }] = await live.atServer<{ n: number }>('KDY', 'SELECT COUNT(*)::int AS n FROM "Stock_KDY"')
    await admin.openConsole('query')
    const q = new QueryPage(page)
    await q.write('SELECT COUNT(*) AS N FROM Stock_KDY')
    await q.runAndWait('KDY')
    await expect(q.error()).toHaveCount(0)
    expect(Number(((await q.rows().first().locator('.cell').last().textContent()) ?? '').replace(/[^\d]/g, ''))).toBe(n)

    await admin.openConsole('replication')
    await r.act('rebuild', 'KDY')
    await expect(r.result()).toContainText('rebuilt', { timeout: 120_000 })
    await expect(r.site('KDY')).toHaveAttribute('data-healthy', 'true', { timeout: 15_000 })
    await expect(r.server('KDY', 'standby')).toHaveAttribute('data-port', String(old.primary.port))
    await expect(r.link('KDY')).toContainText('streaming/sync')
  })
})
