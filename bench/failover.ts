/**
 * Failover benchmark (group 'failover'), on a cluster with the default 20,000 sales and a synchronous feed at KDY:
 *   failover.rto_virtual_ms   virtual ms from the promote command to the promoted KDY server accepting writes,
 *                             after 200 commits at KDY and its primary failing at once. Goal ≤ 1,000.
 *   failover.rpo_rows         committed rows of those 200 commits not on the promoted server (checked by reading
 *                             them back, and equal to the report's count). Goal 0.
 *   failover.async_rpo_txns   the same with the asynchronous feed and the backup down during the commits
 *                             (context: what the synchronous feed saves).
 */
import { Cluster } from '../engine/cluster'
import { Failover } from '../engine/cluster/failover'
import type { BenchContext } from './run'

const N = 200

async function run(mode: 'sync' | 'async'): Promise<{ rto: number; rpoRows: number; reportTxns: number }> {
  const c = await Cluster.create({ seed: 5 })
  c.settle()
  const f = Failover.of(c)
  f.setFeedMode('KDY', mode)
  if (mode === 'async') c.failServer('KDY.backup')
  const keys: number[] = []
  for (let i = 0; i < N; i++) {
    const k = 5_000_000 + i
    c.siteStore('KDY').exec(`INSERT INTO Sales_KDY (INVNO, BRCODE, ITEMNO, QTY, UNITPRICE, AMOUNT) VALUES (${k}, 'KDY', 1, 1, 1, 1)`)
    keys.push(k)
  }
  if (mode === 'async') { c.sim.advance(100); c.failServer('KDY.primary'); c.restoreServer('KDY.backup') } else c.failServer('KDY.primary')
  const done = f.promote('KDY')
  c.sim.runUntilTrue(() => !f.feedView('KDY').promoting, 5_000_000)
  const r = await done
  const have = Number(c.siteStore('KDY').query(`SELECT COUNT(*) FROM Sales_KDY WHERE INVNO BETWEEN ${keys[0]} AND ${keys[N - 1]}`).rows[0][0])
  c.close({ checkpoint: false })
  return { rto: r.rtoMs, rpoRows: N - have, reportTxns: r.rpoTxns }
}

export const group = {
  name: 'failover',
  async run(ctx: BenchContext): Promise<Record<string, number>> {
    const s = await run('sync')
    ctx.log(`synchronous: RTO ${s.rto} ms virtual, ${s.rpoRows} row(s) missing (report: ${s.reportTxns} transaction(s))`)
    const a = await run('async')
    ctx.log(`asynchronous, backup down during the commits: ${a.rpoRows} row(s) missing (report: ${a.reportTxns})`)
    return { 'failover.rto_virtual_ms': s.rto, 'failover.rpo_rows': s.rpoRows, 'failover.async_rpo_txns': a.reportTxns }
  },
}
