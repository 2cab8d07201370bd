/** Backups through the console only: take one, save (download) it, restore it confirmed by typing the site's code, upload it back. */
import { readFileSync } from 'node:fs'
import { test, expect } from './fixtures'
import { BackupPage } from './pages/BackupPage'
import { QueryPage } from './pages/QueryPage'

test.describe('backups', () => {
  test('take a backup of KDY, download it, restore it after a later sale (typed KDY), upload it back', async ({ admin, page }, info) => {
    const bk = new BackupPage(page)
    const query = new QueryPage(page)
    await admin.openConsole('backups')
    await bk.take('KDY')
    await expect(bk.result()).toContainText('backup KDY-')
    await expect(bk.rows()).toHaveCount(1)
    const [db, manifest] = await bk.save(0, 2)
    expect(db.suggestedFilename()).toMatch(/KDY\.sqlite$/)
    expect(manifest.suggestedFilename()).toMatch(/manifest\.json$/)
    const dbPath = info.outputPath(db.suggestedFilename()), mPath = info.outputPath(manifest.suggestedFilename())
    await db.saveAs(dbPath)
    await manifest.saveAs(mPath)
    expect(readFileSync(dbPath).subarray(0, 15).toString('latin1')).toBe('SQLite format 3')
    expect(JSON.parse(readFileSync(mPath, 'utf8')).files[0]).toMatchObject({ site: 'KDY', file: 'KDY.sqlite', bytes: readFileSync(dbPath).length })

    // a sale after the backup
    await admin.openConsole('query')
    await query.write("INSERT INTO Sales_KDY VALUES (7777777, 'KDY', 1001, 1, 2.5, 2.5, '2026-11-23 10:00:00', 100)")
    await query.runAndWait('KDY')
    await query.write('SELECT INVNO FROM Sales_KDY WHERE INVNO = 7777777')
    await query.runAndWait('KDY')
    await expect(query.rows()).toHaveCount(1)

    // restore: the plan says what is lost; the button waits for the site's code
    await admin.openConsole('backups')
    await bk.planRestore(0)
    await expect(bk.plan()).toContainText('1 commit(s) made at KDY after the backup')
    await expect(bk.plan()).toContainText('1 deleted')
    await expect(bk.confirmButton()).toBeDisabled()
    await bk.confirmInput().fill('kdy')
    await expect(bk.confirmButton()).toBeDisabled()
    await bk.confirmInput().fill('KDY')
    await expect(bk.confirmButton()).toBeEnabled()
    await bk.confirmButton().click()
    await expect(bk.result()).toContainText('KDY restored from backup', { timeout: 60_000 })
    await expect(bk.jobRows('backup').first()).toHaveAttribute('data-status', 'done')
    await expect(bk.jobRows('restore').first()).toHaveAttribute('data-status', 'done')

    await admin.openConsole('query')
    await query.write('SELECT INVNO FROM Sales_KDY WHERE INVNO = 7777777')
    await query.runAndWait('KDY')
    await expect(query.rowCount()).toContainText('0')

    // the saved files come back by upload and can be planned again (nothing left to change)
    await admin.openConsole('backups')
    await bk.upload([dbPath, mPath])
    await expect(bk.result()).toContainText('uploaded backup KDY-')
    await expect(bk.rows()).toHaveCount(2)
    await expect(bk.row(0)).toContainText('uploaded')
    await bk.planRestore(0)
    await expect(bk.plan()).toContainText("Nothing is lost: KDY's own data already equals the backup")
  })
})
