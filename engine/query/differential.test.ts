/**
 * Typed differential test (issue 17): thousands of generated global SELECTs — filters, joins, group-bys, set
 * operations, expressions over aggregates, NULLs, ORDER BY / LIMIT — run through the DQP at a random site and
 * over one database holding everything. The answers must be equal in values AND types (typeof and
 * Number.isInteger per cell, non-integral numbers within 1e-9 relative; storage classes also through typeof() columns and class-dependent expressions),
 * or the DQP must refuse with UNSUPPORTED — and the constructs it supports must not be refused.
 */
import { describe, it, expect, beforeAll } from 'vitest'
import fc from 'fast-check'
import type { Database } from 'sql.js'
import { Cluster } from '../cluster'
import { Dqp } from './dqp'
import { centralReference, runCentral, sameTypedResult } from './testkit'
import { EngineError } from '../errors'
import { MODES, SITES, anyQuery, isOrdered } from './corpus'

let dqp: Dqp
let ref: Database

beforeAll(async () => {
  const cluster = await Cluster.create({ seed: 23, sales: 500 })
  dqp = await Dqp.create(cluster)
  ref = await centralReference(cluster)
})

describe('typed differential: DQP at a random site vs one database holding everything', () => {
  it('values and types are equal, or the query is refused with UNSUPPORTED', async () => {
    const tally = { equal: 0, refused: 0 }
    const modes = fc.constantFrom(...MODES)
    await fc.assert(fc.asyncProperty(anyQuery, fc.constantFrom(...SITES), modes, async (q, site, mode) => {
      const want = runCentral(ref, q)
      let got
      try {
        got = await dqp.run(site, q, mode === 'no partial aggregation' ? { noPartialAggregation: true } : mode === 'auto' ? {} : { strategy: mode })
      } catch (e) {
        if (e instanceof EngineError && e.code === 'UNSUPPORTED') {
          if (!/NULLS (FIRST|LAST)/.test(q)) throw new Error(`a supported construct was refused at ${site}: ${q}\n${e.message}`)
          tally.refused++
          return
        }
        throw new Error(`DQP failed at ${site} on: ${q}\n${e instanceof Error ? e.message : String(e)}`)
      }
      if (/NULLS (FIRST|LAST)/.test(q)) throw new Error(`expected UNSUPPORTED for ${q}`)
      const diff = sameTypedResult(got.rows, want.rows, isOrdered(q))
      if (diff) throw new Error(`mismatch at ${site} (${mode}: ${got.plan.strategy}) on: ${q}\n${diff}\nDQP: ${JSON.stringify(got.rows.slice(0, 4))}\nref: ${JSON.stringify(want.rows.slice(0, 4))}`)
      expect(got.columns.length).toBe(want.columns.length)
      tally.equal++
    }), { numRuns: 3000, seed: 1717 + Number(process.env.IDDB_DIFF_SEED ?? 0) })
    expect(tally.equal).toBeGreaterThan(2500)
  }, 120_000)
})
