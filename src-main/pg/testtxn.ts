/**
 * Test helper for vitest suites over live servers (not for Playwright, which must not load vitest): a two-site
 * transaction driven through the cluster's DTM.
 */
import { expect } from 'vitest'
import type { Cluster } from '../../engine/cluster'
import { Dtm, type CommitResult, type ExecResult } from '../../engine/txn/dtm'

/**
 * A two-site transaction through the cluster's DTM: `units` of one item moved from Stock_CMB to Stock_KDY
 * (an item both hold), committed with 2PC. Returns the quantities at the servers before and after, read with
 * `at`, for the test to assert on; each statement's failure fails the test with its message.
 */
export async function transferCmbToKdy(cluster: Cluster, at: (site: string, sql: string) => Promise<Record<string, unknown>[]>, units: number): Promise<{ gid: string; item: number; outcome: CommitResult['outcome'] | undefined; before: number[]; after: number[] }> {
  const items = async (site: string, t: string) => (await at(site, `SELECT "ITEMNO" AS i FROM "${t}" ORDER BY 1`)).map((r) => Number(r.i))
  const kdy = new Set(await items('KDY', 'Stock_KDY'))
  const item = (await items('CMB', 'Stock_CMB')).find((i) => kdy.has(i))
  expect(item).toBeDefined()
  const qty = async (site: string, t: string) => Number((await at(site, `SELECT "QTY" AS q FROM "${t}" WHERE "ITEMNO" = ${item}`))[0].q)
  const both = async () => [await qty('CMB', 'Stock_CMB'), await qty('KDY', 'Stock_KDY')]
  const before = await both()
  const dtm = Dtm.of(cluster)
  const gid = dtm.begin('CMB')
  const exec = (site: string, sql: string) => {
    let r: ExecResult | undefined
    dtm.exec(gid, site, sql, [], (x) => { r = x })
    cluster.sim.runUntilTrue(() => r !== undefined, 2_000_000)
    expect(r?.ok, r?.error?.message).toBe(true)
  }
  exec('CMB', `UPDATE Stock_CMB SET QTY = QTY - ${units} WHERE ITEMNO = ${item}`)
  exec('KDY', `UPDATE Stock_KDY SET QTY = QTY + ${units} WHERE ITEMNO = ${item}`)
  let res: CommitResult | undefined
  dtm.commit(gid, (x) => { res = x })
  cluster.sim.runUntilTrue(() => res !== undefined && dtm.unfinishedAt(gid).length === 0, 2_000_000)
  return { gid, item: item!, outcome: res?.outcome, before, after: await both() }
}
