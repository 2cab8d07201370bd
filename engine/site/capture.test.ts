import { describe, it, expect } from 'vitest'
import fc from 'fast-check'
import { SiteDb, changesLength, jsonLength, type Change } from './db'
import { loadSqlJs } from './sqljs'

async function primaryWithTable(): Promise<SiteDb> {
  const SQL = await loadSqlJs()
  const db = new SiteDb(SQL, 'CMB', 'primary')
  db.script('CREATE TABLE T (K TEXT PRIMARY KEY, Q INTEGER CHECK (Q >= 0), P REAL)')
  db.track('T', ['K', 'Q', 'P'], ['K'])
  return db
}

describe('row-level change capture at a primary', () => {
  it('captures inserts, updates (old then new image) and deletes in execution order', async () => {
    const db = await primaryWithTable()
    db.begin()
    db.run("INSERT INTO T VALUES ('a', 1, 2.5)")
    db.run("UPDATE T SET Q = 5 WHERE K = 'a'")
    db.run("DELETE FROM T WHERE K = 'a'")
    const c = db.drainChanges()
    db.commit()
    expect(c).toEqual([
      { t: 'T', op: 'I', r: ['a', 1, 2.5] },
      { t: 'T', op: 'D', r: ['a', 1, 2.5] },
      { t: 'T', op: 'I', r: ['a', 5, 2.5] },
      { t: 'T', op: 'D', r: ['a', 5, 2.5] },
    ])
    expect(db.drainChanges()).toEqual([])
  })

  it('drops what a failing statement captured (SQLite undid it) and keeps the rest of the transaction', async () => {
    const db = await primaryWithTable()
    db.run("INSERT INTO T VALUES ('a', 1, 1), ('b', 0, 1)")
    db.discardChanges()
    db.begin()
    db.run("UPDATE T SET P = 9 WHERE K = 'a'")
    // the multi-row update decrements 'a' (captured) and then violates the CHECK on 'b': the statement is undone
    expect(() => db.run('UPDATE T SET Q = Q - 1')).toThrow(/CHECK/)
    expect(() => db.script("UPDATE T SET P = 3 WHERE K = 'b'; UPDATE T SET Q = -5")).toThrow(/CHECK/)
    const c = db.drainChanges()
    db.commit()
    expect(c).toEqual([
      { t: 'T', op: 'D', r: ['a', 1, 1] },
      { t: 'T', op: 'I', r: ['a', 1, 9] },
      // the script's first statement stands (SQLite keeps it), its failing second one is dropped
      { t: 'T', op: 'D', r: ['b', 0, 1] },
      { t: 'T', op: 'I', r: ['b', 0, 3] },
    ])
    expect(db.query('SELECT K, Q, P FROM T ORDER BY K').rows).toEqual([['a', 1, 9], ['b', 0, 3]])
  })

  it('a rollback drops the transaction’s captures; a reload starts with nothing captured', async () => {
    const db = await primaryWithTable()
    db.begin()
    db.run("INSERT INTO T VALUES ('a', 1, 1)")
    db.rollback()
    expect(db.drainChanges()).toEqual([])
    db.run("INSERT INTO T VALUES ('z', 1, 1)") // captured, not drained
    db.load(db.export())
    expect(db.drainChanges()).toEqual([])
    db.run("INSERT INTO T VALUES ('y', 2, 2)") // capture still works on the new connection
    expect(db.drainChanges()).toEqual([{ t: 'T', op: 'I', r: ['y', 2, 2] }])
  })

  it('backups and the repository capture nothing; capture lives in no database image', async () => {
    const SQL = await loadSqlJs()
    const p = await primaryWithTable()
    const b = new SiteDb(SQL, 'CMB', 'backup', p.export())
    b.track('T', ['K', 'Q', 'P'], ['K'])
    b.run("INSERT INTO T VALUES ('a', 1, 1)")
    expect(b.drainChanges()).toEqual([])
    const names = (db: SiteDb) => db.query("SELECT name FROM sqlite_master WHERE name LIKE '%cdc%'").rows
    expect(names(p)).toEqual([])
    expect(names(b)).toEqual([])
  })

  it('an image written with the old in-file capture opens clean', async () => {
    const SQL = await loadSqlJs()
    const raw = new SQL.Database()
    raw.exec(`CREATE TABLE __meta (k TEXT PRIMARY KEY, v); CREATE TABLE T (K TEXT PRIMARY KEY, Q INTEGER, P REAL);
      CREATE TABLE __cdc (seq INTEGER PRIMARY KEY, t TEXT NOT NULL, op TEXT NOT NULL, r TEXT NOT NULL);
      CREATE TRIGGER "__cdc_i_T" AFTER INSERT ON T BEGIN INSERT INTO __cdc (t, op, r) VALUES ('T', 'I', json_array(NEW.K)); END;`)
    const db = new SiteDb(SQL, 'CMB', 'primary', raw.export())
    raw.close()
    db.track('T', ['K', 'Q', 'P'], ['K'])
    db.run("INSERT INTO T VALUES ('a', 1, 1)")
    expect(db.query("SELECT name FROM main.sqlite_master WHERE name LIKE '%cdc%'").rows).toEqual([])
    expect(db.drainChanges()).toEqual([{ t: 'T', op: 'I', r: ['a', 1, 1] }])
  })
})

describe('wire size of change batches', () => {
  it('jsonLength(v) equals JSON.stringify(v).length for rows of numbers, strings, null and booleans', () => {
    const value = fc.oneof(fc.integer({ min: -1e15, max: 1e15 }), fc.double({ noNaN: false }), fc.string({ unit: 'binary' }), fc.constant(null), fc.boolean(),
      fc.constantFrom(0, -0, 9, 10, -10, 99, 100, 1e21, 2 ** 53, -(2 ** 53), 0.5, 1e-7))
    fc.assert(fc.property(fc.array(fc.record({ t: fc.string(), op: fc.constantFrom('I', 'D'), r: fc.array(value, { maxLength: 8 }) })), (changes) => {
      expect(jsonLength(changes)).toBe(JSON.stringify(changes).length)
      expect(changesLength(changes as unknown as Change[])).toBe(JSON.stringify(changes).length)
    }), { numRuns: 500 })
  })
})
