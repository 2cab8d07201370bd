/**
 * Base backups (pg_basebackup) of a real site's primary: taken, pg_verifybackup passes on the extracted archive,
 * a damaged archive is refused before anything runs (the backup directory unchanged), and verification by restore
 * reports the same per-table checksums as the source for rows committed before the backup. Skipped, with the
 * reason, where PostgreSQL is not installed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chmodSync, cpSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeSync, closeSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pgDown, pgUp } from './deploy'
import { failover, pgUnavailableReason, readDeployment, rebuildStandby } from './servers'
import { atSite, freePorts } from './testserver'
import { pgBaseBackup, readBaseBackup, restoreBaseBackup, verifyBaseBackup } from './basebackup'

const why = pgUnavailableReason()

describe.skipIf(why !== null)(`base backups of a live site${why ? ` (skipped: ${why})` : ''}`, () => {
  let dir = ''
  const out = () => join(dir, 'backups')

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'iddb-pgbase-'))
    chmodSync(dir, 0o755)
    await pgUp({ dataDir: dir, seed: 31, sales: 200, basePort: await freePorts(6, 43000), durable: false })
  }, 300_000)

  afterAll(() => { if (dir) { try { pgDown(dir) } finally { rmSync(dir, { recursive: true, force: true }) } } })

  it('takes a base backup, verifies it by restore with equal checksums, and refuses a damaged archive', async () => {
    const d = readDeployment(dir)
    // committed before the backup: must be in it
    await atSite(dir, d, 'MBI', 'UPDATE "Stock_MBI_LCL" SET "QTY" = "QTY" + 3')
    const progress: number[] = []
    const t0 = Date.now()
    const m = await pgBaseBackup(dir, { site: 'MBI', outDir: out(), onProgress: (p) => progress.push(p) })
    const backupMs = Date.now() - t0
    expect(m.kind).toBe('base')
    expect(m.files.map((f) => f.name)).toEqual(['backup_manifest', 'base.tar', 'pg_wal.tar'])
    expect(m.timeline).toBe(1)
    expect(m.endLsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/)
    expect(m.tables['Stock_MBI_LCL'].rows).toBeGreaterThan(0)
    expect(progress.length).toBeGreaterThan(1)
    const bdir = join(out(), m.dir)
    expect(readBaseBackup(bdir)).toEqual(m)

    const v = await verifyBaseBackup(dir, bdir)
    console.log(`base backup of MBI: ${m.bytes} bytes in ${backupMs} ms; verify by restore ${v.ms} ms`)
    expect(v.verifybackup).toMatch(/successfully verified/)
    expect(v.equal).toBe(true)
    expect(v.tables.length).toBe(Object.keys(m.tables).length)

    // a changed byte in base.tar: refused by our manifest's SHA-256, with a clear error, and nothing extracted or changed
    const base = join(bdir, 'base.tar')
    const size = statSync(base).size
    const fd = openSync(base, 'r+')
    writeSync(fd, Buffer.from('X'), 0, 1, Math.floor(size / 2))
    closeSync(fd)
    const before = readdirSync(bdir).sort()
    await expect(verifyBaseBackup(dir, bdir)).rejects.toMatchObject({ code: 'CORRUPT_DATA', message: expect.stringMatching(/base\.tar does not match its SHA-256/) })
    expect(readdirSync(bdir).sort()).toEqual(before)
    expect(statSync(base).size).toBe(size)
    expect(readdirSync(tmpdir()).filter((f) => f.startsWith('iddb-verify-'))).toEqual([])
  }, 300_000)

  it('restores a site in place from a base backup: what was committed after it is gone from the site, the old data directory is kept, the standby streams again and the site takes writes; a damaged backup leaves the site untouched', async () => {
    const d = readDeployment(dir)
    const qty = async () => Number((await atSite(dir, d, 'KDY', 'SELECT sum("QTY") AS q FROM "Stock_KDY"'))[0].q)
    const m = await pgBaseBackup(dir, { site: 'KDY', outDir: out() })
    const atBackup = await qty()
    await atSite(dir, d, 'KDY', 'UPDATE "Stock_KDY" SET "QTY" = "QTY" + 5') // after the backup
    // ... and a new row, which the copies would get: the restore deletes it from them through the outbox
    await atSite(dir, d, 'KDY', `INSERT INTO "Stock_KDY" SELECT (jsonb_populate_record(NULL::"Stock_KDY", to_jsonb(s) || '{"STOCKCODE": "KDY-AFTER"}')).* FROM "Stock_KDY" s LIMIT 1`)
    const outboxed = async () => (await atSite(dir, d, 'KDY', `SELECT count(*)::int AS n FROM iddb_repl.outbox, jsonb_array_elements(writes) w WHERE w ->> 'key' = 'KDY-AFTER' AND w -> 'row' = 'null'::jsonb`))[0].n
    expect(await qty()).not.toBe(atBackup)
    const bdir = join(out(), m.dir)

    // a damaged copy of the backup is refused before the site is touched
    const bad = join(out(), `${m.dir.slice(0, 3)}-base-2000-01-01T00-00-00-000Z`)
    cpSync(bdir, bad, { recursive: true })
    const fd = openSync(join(bad, 'pg_wal.tar'), 'r+')
    writeSync(fd, Buffer.from('X'), 0, 1, 4096)
    closeSync(fd)
    await expect(restoreBaseBackup(dir, bad)).rejects.toMatchObject({ code: 'CORRUPT_DATA' })
    expect(await qty()).toBe(atBackup + 5 * (Number((await atSite(dir, d, 'KDY', 'SELECT count(*) AS n FROM "Stock_KDY"'))[0].n) - 1) + Number((await atSite(dir, d, 'KDY', `SELECT "QTY" AS q FROM "Stock_KDY" WHERE "STOCKCODE" = 'KDY-AFTER'`))[0].q))
    expect(readdirSync(join(dir, 'pg')).filter((f) => f.includes('before-restore'))).toEqual([])
    rmSync(bad, { recursive: true, force: true })

    const r = await restoreBaseBackup(dir, bdir)
    expect(r.equal).toBe(true)
    expect(r.deletedAtCopies).toBe(1)
    expect(await outboxed()).toBe(1)
    expect(r.verifiedFirst).toBe(true)
    expect(await qty()).toBe(atBackup)
    expect(existsSync(r.kept)).toBe(true)
    // the standby streams from the restored primary again (synchronous), and a commit goes through
    await expect.poll(async () => (await atSite(dir, d, 'KDY', 'SELECT count(*)::int AS n FROM pg_stat_replication WHERE state = \'streaming\'', 'postgres'))[0].n, { timeout: 30_000 }).toBe(1)
    await atSite(dir, d, 'KDY', 'UPDATE "Stock_KDY" SET "QTY" = "QTY" + 1')
    expect(await qty()).toBeGreaterThan(atBackup)
    // the restored site fails over to its rebuilt standby as any other does
    try {
      const f = await failover(dir, 'KDY')
      expect(f.oldPrimaryWasRunning).toBe(true)
    } catch (e) {
      console.log(readFileSync(readDeployment(dir).sites.find((x) => x.code === 'KDY')!.primary.log, 'utf8').split('\n').slice(-40).join('\n'))
      throw e
    }
    await rebuildStandby(dir, 'KDY')
  }, 300_000)
})
