/**
 * Combined partial aggregates keep SQLite's storage classes (issue 17, bug 6): COUNT integer, SUM integer
 * when every input is, MIN/MAX the class of the value, AVG real. Compared through typeof() and through
 * expressions whose result depends on the class (integer division, concatenation).
 */
import { describe, it, expect, beforeAll } from 'vitest'
import type { Database } from 'sql.js'
import { Cluster } from '../cluster'
import { Dqp } from './dqp'
import { centralReference, runCentral } from './testkit'

let dqp: Dqp
let ref: Database

beforeAll(async () => {
  const cluster = await Cluster.create({ seed: 11, sales: 600 })
  dqp = await Dqp.create(cluster)
  ref = await centralReference(cluster)
})

const QUERIES = [
  'SELECT COUNT(*) / 9 FROM SALES WHERE QTY > 1',
  "SELECT COUNT(*) || ' sales' FROM SALES",
  'SELECT MAX(AMOUNT) / 2, MIN(AMOUNT) / 2, typeof(MAX(AMOUNT)) FROM SALES WHERE AMOUNT = 21 OR INVNO < 3',
  'SELECT typeof(COUNT(*)), typeof(SUM(QTY)), typeof(SUM(AMOUNT)), typeof(AVG(QTY)), typeof(MIN(QTY)), typeof(MAX(UNITPRICE)) FROM SALES',
  "SELECT BRCODE, COUNT(*) / 7, SUM(QTY) / 7, typeof(SUM(QTY)), MAX(QTY) || '' FROM SALES GROUP BY BRCODE ORDER BY BRCODE",
  "SELECT COUNT(*), typeof(COUNT(*)), SUM(QTY), AVG(QTY) FROM SALES WHERE BRCODE = 'XXX'",
  "SELECT SUM(UNITPRICE * 0 + 4) || '', MAX(UNITPRICE) || '' FROM SALES",
]

describe('partial aggregates keep SQLite types', () => {
  it('values and storage classes equal the centralized ones at every site', async () => {
    for (const q of QUERIES) for (const site of ['CMB', 'MBI', 'KDY']) {
      const want = runCentral(ref, q).rows
      const got = await dqp.run(site, q)
      expect({ q, site, rows: got.rows }).toEqual({ q, site, rows: want })
    }
  })
  it('the issue\'s example: COUNT(*) / 9 is an integer division', async () => {
    const r = await dqp.run('KDY', 'SELECT COUNT(*) / 9, COUNT(*) FROM SALES')
    expect(r.plan.strategy).toBe('partial-aggregation')
    expect(r.rows[0][0]).toBe(Math.floor((r.rows[0][1] as number) / 9))
  })
})
