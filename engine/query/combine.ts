/**
 * The assembly of partial aggregates without the scratch database, for the plain form: every output column is a
 * GROUP BY column or a COUNT / SUM of the query, with no HAVING, ORDER BY, LIMIT or DISTINCT (plan.ts
 * combineSpec). It computes what the final statement over "__P" computes in SQLite (finalAggSql:
 * `SELECT __g…, COALESCE(SUM(__aC), 0), SUM(__aS) … FROM __P GROUP BY __g…`), with SQLite's own rules:
 *
 *   - groups: equal as SQLite's GROUP BY finds them (a number equals a number of the same value, whatever its
 *     storage class; a text its bytes; NULLs one group), output in the order of its sorter — NULL, then numbers,
 *     then texts by their UTF-8 bytes (BINARY), then BLOBs by their bytes —, with no GROUP BY one row always;
 *   - SUM: func.c's sumStep / sumFinalize — exact 64-bit integer sums while every input is an INTEGER, then
 *     Kahan–Babuška–Neumaier summation (an integer past 2^52 split as SQLite splits it), "integer overflow" as its
 *     error, NULL over no non-NULL input; a partial sum's storage class as insertRows gives it in "__P" (the
 *     site's REAL flag, else an integral value is an INTEGER); a text (a live site's integer past 2^53) by
 *     SQLite's numeric conversion of a well-formed number;
 *   - COUNT: the sum of the sites' counts, 0 over none.
 * The partial rows are taken in the order the sites' answers are listed (the plan's order), each site's in its
 * order: the same inputs give the same sums. A value it cannot take exactly (a BLOB or a malformed number as a
 * partial sum) makes it answer null: the caller assembles in the scratch database instead.
 *
 * Why: for a query whose partial rows are few (a group-by of 176 items over three sites), inserting them into
 * sql.js and grouping them there cost 0.8 ms of a 5 ms distributed query; this takes 0.05 ms.
 */
import { EngineError } from '../errors'
import type { SqlValue } from '../site/sqljs'

/** An output column of the plain form: the i-th GROUP BY column, or the combined COUNT / SUM of a partial column. */
export type CombineColumn = { group: number } | { fn: 'COUNT' | 'SUM'; col: number; flag?: number }

export interface CombineSpec {
  /** GROUP BY columns (the first `groups` columns of a partial row). */
  groups: number
  out: CombineColumn[]
}

const I64_MIN = -(2n ** 63n)
const I64_MAX = 2n ** 63n - 1n
const FOLD = 4503599627370496n // 2^52: SQLite splits an integer at or past it before summing it as a double
const WELL_FORMED_INT = /^\s*[+-]?\d+\s*$/
const WELL_FORMED_REAL = /^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/

/** SQLite's SumCtx and its steps (func.c), in JavaScript: the integers exact (BigInt), the doubles as C rounds them. */
class SumCtx {
  rSum = 0
  rErr = 0
  iSum = 0n
  cnt = 0
  approx = false
  ovrfl = false

  private kbn(r: number): void {
    const s = this.rSum
    const t = s + r
    if (Math.abs(s) > Math.abs(r)) this.rErr += (s - t) + r
    else this.rErr += (r - t) + s
    this.rSum = t
  }

  private kbnInt(i: bigint): void {
    if (i <= -FOLD || i >= FOLD) {
      const sm = i % 16384n
      this.kbn(Number(i - sm))
      this.kbn(Number(sm))
    } else this.kbn(Number(i))
  }

  private kbnInit(i: bigint): void {
    if (i <= -FOLD || i >= FOLD) {
      const sm = i % 16384n
      this.rSum = Number(i - sm)
      this.rErr = Number(sm)
    } else {
      this.rSum = Number(i)
      this.rErr = 0
    }
  }

  /** One input: an integer (BigInt) or a double (number). */
  step(v: bigint | number): void {
    this.cnt++
    if (!this.approx) {
      if (typeof v === 'number') {
        this.kbnInit(this.iSum)
        this.approx = true
        this.kbn(v)
      } else {
        const x = this.iSum + v
        if (x >= I64_MIN && x <= I64_MAX) this.iSum = x
        else {
          this.ovrfl = true
          this.kbnInit(this.iSum)
          this.approx = true
          this.kbnInt(v)
        }
      }
    } else if (typeof v === 'bigint') this.kbnInt(v)
    else {
      this.ovrfl = false
      this.kbn(v)
    }
  }

  /** sumFinalize: NULL over no input; the error SQLite gives for an integer sum past 64 bits. */
  result(): SqlValue {
    if (this.cnt === 0) return null
    if (!this.approx) return Number(this.iSum) // sql.js reads an INTEGER as the nearest double
    if (this.ovrfl) throw new EngineError('SQL_ERROR', 'integer overflow')
    return Number.isFinite(this.rErr) ? this.rSum + this.rErr : this.rSum
  }
}

/**
 * A partial sum as insertRows stores it in "__P" and sum() then reads it: NULL (skipped), an INTEGER (BigInt) or a
 * REAL (number); undefined when it cannot be said exactly here.
 */
function sumInput(v: SqlValue, real: boolean): bigint | number | null | undefined {
  if (v === null) return null
  if (typeof v === 'number') {
    if (!real && Number.isInteger(v) && v >= -(2 ** 63) && v < 2 ** 63) return BigInt(v)
    return v
  }
  if (typeof v === 'string') {
    if (WELL_FORMED_INT.test(v)) {
      const i = BigInt(v.trim())
      return i >= I64_MIN && i <= I64_MAX ? i : Number(v)
    }
    return WELL_FORMED_REAL.test(v) ? Number(v) : undefined
  }
  return undefined
}

/** The storage class order of SQLite's comparisons: NULL, numbers, texts, BLOBs. */
const rank = (v: SqlValue): number => (v === null ? 0 : typeof v === 'number' ? 1 : typeof v === 'string' ? 2 : 3)

const utf8 = new TextEncoder()

/** sqlite3MemCompare with BINARY: a text by its UTF-8 bytes (the code points' order), a BLOB by its bytes then length. */
export function compareValues(a: SqlValue, b: SqlValue): number {
  const ra = rank(a), rb = rank(b)
  if (ra !== rb) return ra - rb
  if (typeof a === 'number' && typeof b === 'number') return a < b ? -1 : a > b ? 1 : 0
  if (typeof a === 'string' && typeof b === 'string') {
    if (a === b) return 0
    // code point order (UTF-16 code unit order differs for characters past U+FFFF)
    const x = [...a], y = [...b]
    for (let i = 0; i < Math.min(x.length, y.length); i++) {
      if (x[i] !== y[i]) return x[i].codePointAt(0)! - y[i].codePointAt(0)!
    }
    return x.length - y.length
  }
  const x = a instanceof Uint8Array ? a : utf8.encode(String(a)), y = b instanceof Uint8Array ? b : utf8.encode(String(b))
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i]
  return x.length - y.length
}

/** A group's key for the Map: equal exactly when SQLite's GROUP BY takes the values for equal. */
function keyOf(row: SqlValue[], n: number): string {
  let k = ''
  for (let i = 0; i < n; i++) {
    const v = row[i]
    if (v === null) k += 'z|'
    else if (typeof v === 'number') k += `n${v === 0 ? 0 : v}|` // 0 and -0 are one group
    else if (typeof v === 'string') k += `s${v.length}:${v}|`
    else k += `b${Array.from(v as Uint8Array).join(',')}|`
  }
  return k
}

/**
 * The combined rows of the plain form from the sites' partial rows (`parts`, in the plan's order), or null when
 * some value cannot be combined exactly here (the caller uses the scratch database). Throws SQL_ERROR as the
 * final statement would (integer overflow).
 */
export function combinePartials(spec: CombineSpec, parts: readonly (readonly SqlValue[][])[]): SqlValue[][] | null {
  const sums = spec.out.filter((c): c is Extract<CombineColumn, { fn: string }> => 'fn' in c)
  const groups = new Map<SqlValue | symbol, { key: SqlValue[]; acc: SumCtx[] }>()
  const order: { key: SqlValue[]; acc: SumCtx[] }[] = []
  const fresh = (key: SqlValue[]) => { const g = { key, acc: sums.map(() => new SumCtx()) }; order.push(g); return g }
  if (spec.groups === 0) groups.set('', fresh([]))
  for (const rows of parts) {
    for (const row of rows) {
      // one GROUP BY column: the value itself is the key (a Map tells 5 from '5', and takes 0 and -0 for one) but a BLOB's bytes
      const v0 = row[0]
      const k = spec.groups !== 1 ? keyOf(row, spec.groups) : v0 instanceof Uint8Array ? Symbol.for(keyOf(row, 1)) : v0
      let g = groups.get(k)
      if (!g) { g = fresh(row.slice(0, spec.groups)); groups.set(k, g) }
      for (let j = 0; j < sums.length; j++) {
        const c = sums[j]
        const v = sumInput(row[c.col], c.flag !== undefined && !!row[c.flag])
        if (v === undefined) return null
        if (v !== null) g.acc[j].step(v)
      }
    }
  }
  if (spec.groups) {
    order.sort((a, b) => {
      for (let i = 0; i < spec.groups; i++) { const d = compareValues(a.key[i], b.key[i]); if (d) return d }
      return 0
    })
  }
  return order.map((g) => spec.out.map((c) => {
    if ('group' in c) return g.key[c.group]
    const r = g.acc[sums.indexOf(c)].result()
    return c.fn === 'COUNT' ? (r ?? 0) : r
  }))
}
