/**
 * combine.ts against SQLite itself (sql.js): sums bit for bit over the same inputs in the same order, groups and
 * their order as GROUP BY gives them, the errors it gives; and the DQP using it only for the plain form.
 */
import { beforeAll, describe, expect, it } from 'vitest'
import type { Database, SqlJsStatic } from 'sql.js'
import { loadSqlJs, type SqlValue } from '../site/sqljs'
import { combinePartials, compareValues, type CombineSpec } from './combine'
import { Rng } from '../sim/rng'

const makeRng = (seed: number): (() => number) => { const r = new Rng(seed); return () => r.next() }
import { Cluster } from '../cluster'
import { Dqp } from './dqp'

let SQL: SqlJsStatic
beforeAll(async () => { SQL = await loadSqlJs() })

/** A partial sum as a site sends it and as insertRows stores it: [value for JavaScript, REAL flag, SQL literal]. */
type Partial = [SqlValue, boolean, string]

function randomPartial(rnd: () => number): Partial {
  const k = Math.floor(rnd() * 7)
  if (k === 0) return [null, false, 'NULL']
  if (k === 1) { const v = Math.floor((rnd() - 0.5) * 2e6); return [v, false, String(v)] }
  if (k === 2) { const v = (rnd() - 0.5) * 10 ** Math.floor(rnd() * 30 - 10); return [v, true, `CAST('${v}' AS REAL)`] }
  if (k === 3) { const v = Math.round(rnd() * 1e6) / 100; return [v, true, `CAST('${v}' AS REAL)`] }
  if (k === 4) { // a large integer (a live site sends one past 2^53 as text)
    const big = BigInt(Math.floor(rnd() * 2 ** 52)) * BigInt(Math.floor(rnd() * 4096) + 1) * (rnd() < 0.5 ? -1n : 1n)
    return [big >= -(2n ** 53n) && big <= 2n ** 53n ? Number(big) : String(big), false, String(big)]
  }
  if (k === 5) { const v = Math.floor(rnd() * 100) * 2 ** 20; return [v, true, `CAST(${v} AS REAL)`] } // integral but REAL at its site
  const v = 9223372036854775807n - BigInt(Math.floor(rnd() * 1000)) // near the top of 64 bits: sums overflow
  return [String(v), false, String(v)]
}

function sqliteSum(db: Database, values: Partial[]): { v?: SqlValue; error?: string } {
  db.run('DROP TABLE IF EXISTS t; CREATE TABLE t (x)')
  if (values.length) db.run(`INSERT INTO t VALUES ${values.map((p) => `(${p[2]})`).join(', ')}`)
  try { return { v: db.exec('SELECT SUM(x) FROM t')[0].values[0][0] as SqlValue } } catch (e) { return { error: (e as Error).message } }
}

function jsSum(values: Partial[]): { v?: SqlValue; error?: string } {
  const spec: CombineSpec = { groups: 0, out: [{ fn: 'SUM', col: 0, flag: 1 }] }
  try { return { v: combinePartials(spec, [values.map((p) => [p[0], p[1] ? 1 : 0])])![0][0] } } catch (e) { return { error: (e as Error).message } }
}

describe('combinePartials', () => {
  it('sums exactly as SQLite\'s sum() does, bit for bit: integers exact, then Kahan–Babuška–Neumaier, NULL over nothing, the integer overflow error', () => {
    const db = new SQL.Database()
    try {
      const rnd = makeRng(1234)
      let overflows = 0, reals = 0
      for (let n = 0; n < 3000; n++) {
        const len = Math.floor(rnd() * 8)
        const values: Partial[] = []
        // mostly from one kind, so that long integer runs (and their overflow) happen as well as mixtures
        const kind = Math.floor(rnd() * 3)
        for (let i = 0; i < len; i++) values.push(kind === 0 ? randomPartial(() => rnd() * 0.999) : kind === 1 ? randomPartial(rnd) : randomPartial(() => 0.6 + rnd() * 0.39))
        const want = sqliteSum(db, values), got = jsSum(values)
        if (want.error) overflows++
        if (typeof want.v === 'number' && !Number.isInteger(want.v)) reals++
        expect(got, JSON.stringify(values)).toEqual(want)
        if (want.v !== undefined) expect(Object.is(got.v, want.v), `${got.v} vs ${want.v} for ${JSON.stringify(values)}`).toBe(true)
      }
      expect(overflows).toBeGreaterThan(10)
      expect(reals).toBeGreaterThan(100)
    } finally { db.close() }
  })

  it('groups and orders as GROUP BY does, counts and sums per group, with no GROUP BY one row even over nothing', () => {
    const db = new SQL.Database()
    try {
      const rnd = makeRng(99)
      const keys: [SqlValue, string][] = [[null, 'NULL'], [1, '1'], [2.5, '2.5'], [-3, '-3'], ['a', "'a'"], ['B', "'B'"], ['é', "'é'"], ['😀', "'😀'"], ['\uffee', "'\uffee'"], ['', "''"], [10, '10'], [2, '2.0']]
      for (let n = 0; n < 200; n++) {
        const parts: SqlValue[][][] = []
        const lits: string[] = []
        for (let p = 0; p < 1 + Math.floor(rnd() * 3); p++) {
          const rows: SqlValue[][] = []
          for (let i = 0; i < Math.floor(rnd() * 12); i++) {
            const [k, kl] = keys[Math.floor(rnd() * keys.length)]
            const cnt = Math.floor(rnd() * 50)
            const s = rnd() < 0.2 ? null : Math.floor(rnd() * 400) / 4 // exact in either summation
            const real = rnd() < 0.5
            rows.push([k, cnt, s, real ? 1 : 0])
            lits.push(`(${kl}, ${cnt}, ${s === null ? 'NULL' : real ? `CAST(${s} AS REAL)` : Number.isInteger(s) ? s : `CAST(${s} AS REAL)`})`)
          }
          parts.push(rows)
        }
        db.run('DROP TABLE IF EXISTS p; CREATE TABLE p (g, c, s)')
        if (lits.length) db.run(`INSERT INTO p VALUES ${lits.join(', ')}`)
        const want = (db.exec('SELECT g, COALESCE(SUM(c), 0), SUM(s) FROM p GROUP BY g')[0]?.values ?? []) as SqlValue[][]
        const got = combinePartials({ groups: 1, out: [{ group: 0 }, { fn: 'COUNT', col: 1 }, { fn: 'SUM', col: 2, flag: 3 }] }, parts)
        expect(got).toEqual(want)
        const none = db.exec('SELECT COALESCE(SUM(c), 0), SUM(s) FROM p')[0].values
        expect(combinePartials({ groups: 0, out: [{ fn: 'COUNT', col: 1 }, { fn: 'SUM', col: 2, flag: 3 }] }, parts)).toEqual(none)
      }
      expect(combinePartials({ groups: 0, out: [{ fn: 'COUNT', col: 0 }, { fn: 'SUM', col: 1, flag: 2 }] }, [])).toEqual([[0, null]])
      expect(combinePartials({ groups: 1, out: [{ group: 0 }, { fn: 'COUNT', col: 1 }] }, [])).toEqual([])
    } finally { db.close() }
  })

  it('answers null for a value it cannot take exactly (a BLOB or a malformed number as a partial sum), and compares as SQLite does', () => {
    const spec: CombineSpec = { groups: 1, out: [{ group: 0 }, { fn: 'SUM', col: 1, flag: 2 }] }
    expect(combinePartials(spec, [[[1, new Uint8Array([1]), 0]]])).toBeNull()
    expect(combinePartials(spec, [[[1, '12abc', 0]]])).toBeNull()
    expect(combinePartials(spec, [[[1, '12', 0], [1, ' 1.5 ', 0]]])).toEqual([[1, 13.5]])
    // a BLOB key is its bytes, after every text (and never the text that spells its key)
    expect(combinePartials({ groups: 1, out: [{ group: 0 }, { fn: 'COUNT', col: 1 }] }, [[[new Uint8Array([1]), 2], ['b1|', 3]], [[new Uint8Array([1]), 4]]])).toEqual([['b1|', 3], [new Uint8Array([1]), 6]])
    expect(compareValues(null, -1e308)).toBeLessThan(0)
    expect(compareValues(1e308, '')).toBeLessThan(0)
    expect(compareValues('\uffee', '😀')).toBeLessThan(0) // by code point, not by UTF-16 unit
    expect(compareValues('z', new Uint8Array([0]))).toBeLessThan(0)
  })
})

describe('the DQP\'s assembly of the plain form', () => {
  it('combines a plain group-by itself and gives what the final statement gives; a query with HAVING still runs it in the scratch database', async () => {
    const cluster = await Cluster.create({ seed: 3, sales: 800 })
    try {
      const dqp = await Dqp.create(cluster)
      const plain = await dqp.run('CMB', 'SELECT BRCODE, ITEMNO, COUNT(*) AS N, SUM(QTY) AS Q, SUM(AMOUNT) AS A FROM SALES GROUP BY BRCODE, ITEMNO')
      const viaSql = await dqp.run('CMB', 'SELECT BRCODE, ITEMNO, COUNT(*) AS N, SUM(QTY) AS Q, SUM(AMOUNT) AS A FROM SALES GROUP BY BRCODE, ITEMNO HAVING COUNT(*) >= 0')
      const note = (r: typeof plain) => r.plan.steps.find((s) => s.kind === 'assemble')?.note
      expect(note(plain)).toMatch(/by the assembly itself/)
      expect(note(viaSql)).not.toMatch(/by the assembly itself/)
      expect(plain.rows.length).toBeGreaterThan(50)
      expect(plain.rows.map((r) => r.slice(0, 4))).toEqual(viaSql.rows.map((r) => r.slice(0, 4)))
      plain.rows.forEach((r, i) => expect(r[4] as number).toBeCloseTo(viaSql.rows[i][4] as number, 6))
      // no GROUP BY: one row
      const all = await dqp.run('KDY', 'SELECT COUNT(*) AS N, SUM(QTY) AS Q FROM SALES')
      expect(note(all)).toMatch(/by the assembly itself/)
      expect(all.rows).toEqual((await dqp.run('KDY', 'SELECT COUNT(*) AS N, SUM(QTY) AS Q FROM SALES HAVING 1 = 1')).rows)
    } finally { cluster.close({ checkpoint: false }) }
  }, 60_000)

  it('leaves more than 50,000 partial rows to the scratch database (whose inserts and final statement yield as they go)', async () => {
    const cluster = await Cluster.create({ seed: 4, sales: 60_000 })
    try {
      const dqp = await Dqp.create(cluster)
      const r = await dqp.run('CMB', 'SELECT INVNO, COUNT(*) AS N FROM SALES GROUP BY INVNO')
      expect(r.rows.length).toBe(60_000)
      expect(r.plan.steps.find((s) => s.kind === 'assemble')?.note).toBe('combine partial aggregates')
      expect(r.rows.every((x) => x[1] === 1)).toBe(true)
    } finally { cluster.close({ checkpoint: false }) }
  }, 120_000)
})
