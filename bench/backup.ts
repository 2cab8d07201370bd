/**
 * Backup benchmark (group 'backup'):
 *   backup.snapshot_1m_ms  wall ms to back up a site holding 1,000,000 sales rows to files (cut, SHA-256, write
 *                          under temporary names, fsync, rename). Goal ≤ 2,000.
 *   backup.restore_1m_ms   wall ms to restore that site from those files after 1% of its sales were deleted
 *                          (read, validate format/size/checksum/site/schema, diff 1M rows, one commit).
 *   backup.file_bytes      size of the site's backup file (context for the two timings).
 * The site is filled by a bulk load into KDY's primary (capture off), then backed up and restored through the
 * same engine functions the console and `iddb backup` / `iddb restore` use.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Cluster } from '../engine/cluster'
import { readBackup, takeBackup, writeBackupDir } from '../engine/backup/snapshot'
import { restoreFromFile } from '../engine/backup/restore'
import type { BenchContext } from './run'

const ROWS = 1_000_000

export async function fillKandy(c: Cluster, rows: number): Promise<void> {
  const s = c.siteInternals('KDY')
  const db = s.primary
  db.dropTriggers()
  db.begin()
  const st = db.db.prepare('INSERT INTO Sales_KDY VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
  try {
    for (let i = 1; i <= rows; i++) {
      st.run([i, 'KDY', 1001 + (i % 50), 1 + (i % 5), 2.5, 2.5 * (1 + (i % 5)), `2026-11-${String(1 + (i % 28)).padStart(2, '0')} 10:00:00`, 100 + (i % 23)])
    }
  } finally { st.free() }
  db.commit()
  db.installAllTriggers()
  s.catalog.rebuild()
}

export const group = {
  name: 'backup',
  async run(ctx: BenchContext): Promise<Record<string, number>> {
    const c = await Cluster.create({ seed: 21, sales: 0 })
    await fillKandy(c, ROWS)
    const dir = mkdtempSync(join(tmpdir(), 'iddb-bench-backup-'))
    try {
      const t0 = performance.now()
      const set = await takeBackup(c, ['KDY'])
      await writeBackupDir(set, join(dir, 'b'))
      const snapshot = performance.now() - t0
      ctx.log(`snapshot of ${ROWS.toLocaleString('en')} rows: ${snapshot.toFixed(0)} ms, ${set.manifest.files[0].bytes.toLocaleString('en')} bytes`)
      c.siteStore('KDY').exec('DELETE FROM Sales_KDY WHERE INVNO % 100 = 0')
      const t1 = performance.now()
      const done = await restoreFromFile(c, readBackup(join(dir, 'b')), 'KDY', 'KDY')
      const restore = performance.now() - t1
      if (done.changes !== ROWS / 100 || c.siteStore('KDY').count('Sales_KDY') !== ROWS) throw new Error(`restore wrote ${done.changes} rows; KDY holds ${c.siteStore('KDY').count('Sales_KDY')}`)
      ctx.log(`restore (${done.changes.toLocaleString('en')} rows re-inserted): ${restore.toFixed(0)} ms`)
      return { 'backup.snapshot_1m_ms': Math.round(snapshot), 'backup.restore_1m_ms': Math.round(restore), 'backup.file_bytes': set.manifest.files[0].bytes }
    } finally {
      rmSync(dir, { recursive: true, force: true })
      c.close({ checkpoint: false })
    }
  },
}
