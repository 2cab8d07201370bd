/**
 * Base backups (pg_basebackup) of a real site's primary: taken, pg_verifybackup passes on the extracted archive,
 * a damaged archive is refused before anything runs (the backup directory unchanged), and verification by restore
 * reports the same per-table checksums as the source for rows committed before the backup. Skipped, with the
 * reason, where PostgreSQL is not installed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chmodSync, mkdtempSync, openSync, readdirSync, rmSync, writeSync, closeSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pgDown, pgUp } from './deploy'
import { pgUnavailableReason, readDeployment } from './servers'
import { atSite, freePorts } from './testserver'
import { pgBaseBackup, readBaseBackup, verifyBaseBackup } from './basebackup'

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
})
