import { describe, it, expect, beforeAll } from 'vitest'
import { mkdtempSync, readFileSync, readdirSync, writeFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import initSqlJs from 'sql.js'
import { Cluster } from '../cluster'
import { EngineError } from '../errors'
import { createHash } from 'node:crypto'
import { backupTables, sha256, MANIFEST_FILE, type BackupSet } from './format'
import { readBackup, takeBackup, writeBackupDir, backupBytes, type Work } from './snapshot'
import { planRestore, restoreFromFile } from './restore'

const SALE = "INSERT INTO Sales_KDY VALUES (?, 'KDY', 1001, 2, 10.5, 21, '2026-11-23 09:00:00', 100)"
const tmp = () => mkdtempSync(join(tmpdir(), 'iddb-backup-'))

async function refusal(p: Promise<unknown> | (() => unknown)): Promise<EngineError> {
  try { await (typeof p === 'function' ? p() : p) } catch (e) { if (e instanceof EngineError) return e; throw e }
  throw new Error('expected a refusal')
}

/**
 * Everything a refused restore must leave as it was: every site's commit sequence, and every row of every table
 * of KDY's primary and backup server (hashed in key order), and the event log's length.
 */
function state(c: Cluster) {
  const k = c.siteStore('KDY')
  const tables: Record<string, string> = {}
  for (const t of backupTables(c.topology, 'KDY')) {
    const order = t.rel.key.map((x) => `"${x}"`).join(', ')
    const sql = `SELECT * FROM "${t.name}" ORDER BY ${order}`
    tables[t.name] = createHash('sha256').update(JSON.stringify(k.query(sql).rows)).digest('hex')
    tables[`${t.name}@backup`] = createHash('sha256').update(JSON.stringify((k.backup as unknown as { query(s: string): { rows: unknown[] } }).query(sql).rows)).digest('hex')
  }
  return { seqs: c.siteCodes.map((s) => c.siteStore(s).seq), sales: k.query('SELECT COUNT(*), SUM(INVNO) FROM Sales_KDY').rows, tables }
}

describe('backups by hand (issue 12)', () => {
  let c: Cluster
  beforeAll(async () => { c = await Cluster.create({ seed: 5, sales: 600 }) })

  it('a site backup is a standard SQLite file with a manifest: site, times, schema, row counts, SHA-256', async () => {
    const set = await takeBackup(c, ['KDY'])
    const dir = tmp()
    try {
      await writeBackupDir(set, dir)
      expect(readdirSync(dir).sort()).toEqual(['KDY.sqlite', MANIFEST_FILE])
      const m = JSON.parse(readFileSync(join(dir, MANIFEST_FILE), 'utf8'))
      expect(m).toMatchObject({ format: 'iddb-backup', version: 1, scope: 'site', sites: ['KDY'], virtualAt: c.sim.now })
      expect(Date.parse(m.wallAt)).toBeGreaterThan(0)
      const f = m.files[0]
      const bytes = readFileSync(join(dir, 'KDY.sqlite'))
      expect(f).toMatchObject({ site: 'KDY', file: 'KDY.sqlite', bytes: bytes.length, sha256: sha256(bytes), seq: c.siteStore('KDY').seq })
      expect(f.schemaVersion).toMatch(/^s1-[0-9a-f]{16}$/)
      expect(f.rows.Sales_KDY).toBe(c.siteStore('KDY').count('Sales_KDY'))
      // any SQLite reader opens it and finds the rows
      const SQL = await initSqlJs()
      const db = new SQL.Database(bytes)
      expect(db.exec('SELECT COUNT(*) FROM Sales_KDY')[0].values[0][0]).toBe(f.rows.Sales_KDY)
      db.close()
      // the primary still captures after export() reopened it: a commit ships to the backup server
      const before = c.siteStore('KDY').backup.count('Sales_KDY')
      c.siteStore('KDY').exec(SALE, [900001])
      c.settle()
      expect(c.siteStore('KDY').backup.count('Sales_KDY')).toBe(before + 1)
      c.siteStore('KDY').exec('DELETE FROM Sales_KDY WHERE INVNO = 900001')
      c.settle()
      // reading it back gives the same set
      const back = readBackup(dir)
      expect(back.manifest).toEqual(set.manifest)
      expect(sha256(back.files.get('KDY.sqlite')!)).toBe(f.sha256)
    } finally { rmSync(dir, { recursive: true, force: true }) }
  })

  it('every site at once is one cut: each file holds its site at the same instant', async () => {
    const set = await takeBackup(c, 'all')
    expect(set.manifest.scope).toBe('cluster')
    expect(set.manifest.files.map((f) => f.site)).toEqual(c.siteCodes)
    for (const f of set.manifest.files) expect(f.seq).toBe(c.siteStore(f.site).seq)
    expect(backupBytes(set)).toBeGreaterThan(0)
  })

  it('a cancelled backup leaves no partial file', async () => {
    const set = await takeBackup(c, 'all')
    const dir = tmp()
    let calls = 0
    const work: Work = { progress: () => {}, checkpoint: async () => { if (++calls === 2) throw new EngineError('CANCELLED', 'cancelled') } }
    try {
      const e = await refusal(writeBackupDir(set, dir, work))
      expect(e.code).toBe('CANCELLED')
      expect(readdirSync(dir)).toEqual([])
      // cancelled during the cut/hash step: nothing at all
      const e2 = await refusal(takeBackup(c, ['KDY'], { progress: () => {}, checkpoint: async () => { throw new EngineError('CANCELLED', 'cancelled') } }))
      expect(e2.code).toBe('CANCELLED')
    } finally { rmSync(dir, { recursive: true, force: true }) }
  })

  it('restore states what it loses, needs the site typed, and undoes the later commits everywhere', async () => {
    const set = await takeBackup(c, ['KDY'])
    const kdy = c.siteStore('KDY')
    kdy.exec(SALE, [910001])
    kdy.exec(SALE, [910002])
    kdy.exec("UPDATE Employees_KDY SET NAME = 'Renamed' WHERE EMPNO = (SELECT MIN(EMPNO) FROM Employees_KDY)")
    const plan = planRestore(c, set, 'KDY')
    // the same plan when the commit log no longer holds those records (every row compared instead)
    const site = c.siteInternals('KDY')
    const retained = site.retained
    expect(retained.filter((r) => r.seq > set.manifest.files[0].seq)).toHaveLength(3) // the first plan came from the log
    site.retained = []
    expect(planRestore(c, set, 'KDY')).toEqual(plan)
    site.retained = retained
    expect(plan.lostCommits).toBe(3)
    expect(plan.message).toContain('3 commit(s) made at KDY after the backup')
    expect(plan.tables.find((t) => t.table === 'Sales_KDY')).toMatchObject({ restored: true, delete: 2, insert: 0, revert: 0 })
    expect(plan.tables.find((t) => t.table === 'Employees_KDY')).toMatchObject({ restored: true, revert: 1 })
    expect(plan.tables.find((t) => t.table === 'ITEMS')).toMatchObject({ restored: false })
    expect(kdy.count('Sales_KDY')).toBe(set.manifest.files[0].rows.Sales_KDY + 2) // planning changed nothing
    const before = state(c)
    expect((await refusal(restoreFromFile(c, set, 'KDY', 'kdy'))).message).toContain('type the site\'s code KDY')
    expect(state(c)).toEqual(before)
    const done = await restoreFromFile(c, set, 'KDY', 'KDY')
    expect(done.changes).toBe(3)
    expect(kdy.seq).toBe(before.seqs[c.siteCodes.indexOf('KDY')] + 1) // one commit, the log moves forward
    expect(kdy.query('SELECT COUNT(*) FROM Sales_KDY WHERE INVNO IN (910001, 910002)').rows).toEqual([[0]])
    expect(kdy.count('Sales_KDY')).toBe(set.manifest.files[0].rows.Sales_KDY)
    c.settle()
    // the backup server and the main repository follow the restore
    expect(kdy.backup.count('Sales_KDY')).toBe(kdy.count('Sales_KDY'))
    expect(c.siteStore('CMB').repository!.query('SELECT COUNT(*) FROM SALES WHERE INVNO IN (910001, 910002)').rows).toEqual([[0]])
    expect(c.checkFragmentation().ok).toBe(true)
    // nothing left to change: a second restore writes nothing
    expect(planRestore(c, set, 'KDY')).toMatchObject({ changes: 0, message: expect.stringContaining('Nothing is lost: KDY\'s own data already equals the backup') })
  })

  describe('refuses a bad file with a clear error, changing nothing', () => {
    let good: BackupSet
    beforeAll(async () => { good = await takeBackup(c, ['KDY']); c.siteStore('KDY').exec(SALE, [920001]) })
    const clone = (s: BackupSet, bytes?: Uint8Array, entry: Partial<BackupSet['manifest']['files'][number]> = {}): BackupSet => ({
      manifest: { ...s.manifest, files: s.manifest.files.map((f) => ({ ...f, ...entry })) },
      files: new Map([['KDY.sqlite', bytes ?? s.files.get('KDY.sqlite')!]]),
    })
    async function refused(set: BackupSet, site = 'KDY'): Promise<EngineError> {
      const before = state(c)
      const e = await refusal(() => planRestore(c, set, site))
      const e2 = await refusal(restoreFromFile(c, set, site, site))
      expect(e2.message).toBe(e.message)
      expect(state(c)).toEqual(before)
      return e
    }

    it('a truncated file', async () => {
      const b = good.files.get('KDY.sqlite')!
      const e = await refused(clone(good, b.slice(0, b.length - 4096)))
      expect(e).toMatchObject({ code: 'CORRUPT_DATA', site: 'KDY' })
      expect(e.message).toMatch(/KDY\.sqlite is truncated \(\d+ of \d+ bytes\)/)
      // truncated with a manifest rewritten to match: the SQLite header still gives it away
      const cut = b.slice(0, b.length - 4096)
      const e2 = await refused(clone(good, cut, { bytes: cut.length, sha256: sha256(cut) }))
      expect(e2.message).toMatch(/truncated \(its header declares \d+ bytes/)
    })

    it('a wrong checksum', async () => {
      const b = good.files.get('KDY.sqlite')!.slice()
      b[b.length - 10] ^= 0xff
      const e = await refused(clone(good, b))
      expect(e).toMatchObject({ code: 'CORRUPT_DATA' })
      expect(e.message).toContain('fails its checksum')
    })

    it('a file of another site', async () => {
      const cmb = await takeBackup(c, ['CMB'])
      const e = await refused(cmb)
      expect(e).toMatchObject({ code: 'BAD_INPUT', site: 'KDY' })
      expect(e.message).toContain('holds CMB, not KDY')
      // CMB's file presented as KDY's, checksum made to match
      const bytes = cmb.files.get('CMB.sqlite')!
      const e2 = await refused(clone(good, bytes, { bytes: bytes.length, sha256: sha256(bytes) }))
      expect(e2.message).toContain('is the database of CMB.primary, not KDY.primary')
    })

    it('a file of another schema', async () => {
      const SQL = await initSqlJs()
      const db = new SQL.Database(good.files.get('KDY.sqlite')!)
      db.exec('ALTER TABLE Sales_KDY ADD COLUMN DISCOUNT REAL')
      const bytes = db.export()
      db.close()
      const e = await refused(clone(good, bytes, { bytes: bytes.length, sha256: sha256(bytes) }))
      expect(e).toMatchObject({ code: 'BAD_INPUT' })
      expect(e.message).toMatch(/has schema s1-\w+ .*KDY has schema s1-\w+: a file of another schema is not restored/)
      // the file of this schema, its manifest entry naming another one
      const e2 = await refused(clone(good, undefined, { schemaVersion: 's1-0123456789abcdef' }))
      expect(e2).toMatchObject({ code: 'BAD_INPUT' })
      expect(e2.message).toMatch(/\(manifest s1-0123456789abcdef\); KDY has schema s1-\w+: a file of another schema is not restored/)
    })

    it('a manifest that does not describe its file (another commit record)', async () => {
      const seq = good.manifest.files[0].seq
      const e = await refused(clone(good, undefined, { seq: seq - 1 }))
      expect(e).toMatchObject({ code: 'CORRUPT_DATA' })
      expect(e.message).toContain(`KDY.sqlite holds record ${seq}, the manifest says ${seq - 1}`)
    })

    it('not a SQLite file, no manifest, a foreign manifest', async () => {
      const junk = new TextEncoder().encode('x'.repeat(5000))
      const e = await refused(clone(good, junk, { bytes: junk.length, sha256: sha256(junk) }))
      expect(e.message).toContain('is not a SQLite database file')
      const dir = tmp()
      try {
        writeFileSync(join(dir, 'KDY.sqlite'), good.files.get('KDY.sqlite')!)
        expect((await refusal(() => readBackup(dir))).message).toContain('has no manifest.json beside its .sqlite files')
        writeFileSync(join(dir, MANIFEST_FILE), JSON.stringify({ format: 'something-else' }))
        expect((await refusal(() => readBackup(join(dir, 'KDY.sqlite')))).message).toContain('is not an Infinity DDB backup manifest')
      } finally { rmSync(dir, { recursive: true, force: true }) }
    })
  })
})
