/**
 * Statement guard and watchdog benchmark (group 'guard'):
 *   security.cancel_latency_ms       the five-way cross join of ITEMS (~10^11 rows, one sql.js step) started with
 *                                    query/start on an engine worker (EngineClient, the real worker bundle); once it
 *                                    is running, wall time from sending query/cancel to the query/result answer
 *                                    (CANCELLED). Median of 7. Goal ≤ 100.
 *   guard.ping_p95_ms                p95 round trip of system/ping while that cross join runs (the worker answers
 *                                    from inside the statement). Moved here from engine-host/client.test.ts.
 *   guard.overhead_groupby_ratio     the group-by benchmark's site sub-queries (SELECT BRCODE, SUM(AMOUNT) … GROUP
 *                                    BY BRCODE on each site's sales fragment, 1,000,000 sales in all;
 *                                    IDDB_BENCH_QUERY_SALES overrides) with the guard conjunct ÷ without. Median of 5.
 */
import { EngineClient } from '../src-main/engine-host/client'
import { Cluster } from '../engine/cluster'
import { guardTerm } from '../engine/query/guard'
import type { BenchContext } from './run'
import { median } from './stats'

const CROSS5 = 'SELECT COUNT(*) FROM ITEMS a, ITEMS b, ITEMS c, ITEMS d, ITEMS e'

async function cancelLatency(ctx: BenchContext): Promise<{ latency: number; pingP95: number }> {
  const engine = await EngineClient.start({ seed: 13, host: 'cli' })
  engine.actor = (await engine.call('console/setup', { password: 'bench-pass-1' })).token // calls act as the HQ DBA
  try {
    await engine.call('query/run', { site: 'CMB', sql: 'SELECT COUNT(*) FROM ITEMS' }) // the data is loaded
    const lat: number[] = []
    const rtts: number[] = []
    for (let i = 0; i < 7; i++) {
      const job = await engine.call('query/start', { site: 'CMB', sql: CROSS5 })
      const result = engine.call('query/result', { jobId: job.id }).then(() => 'finished', (e: { code?: string }) => e.code ?? 'error')
      // let it run into the statement: a few pings answered from inside it
      for (let k = 0; k < 10; k++) {
        const t = performance.now()
        await engine.call('system/ping', { sentAt: t })
        rtts.push(performance.now() - t)
        await new Promise((r) => setTimeout(r, 10))
      }
      if ((await engine.call('jobs/get', { id: job.id })).status !== 'running') throw new Error('the cross join was not running when it was to be cancelled')
      const t0 = performance.now()
      await engine.call('query/cancel', { jobId: job.id })
      const end = await result
      lat.push(performance.now() - t0)
      if (end !== 'CANCELLED') throw new Error(`the cancelled cross join ended ${end}`)
    }
    rtts.sort((a, b) => a - b)
    ctx.log(`guard: cancel latency ${lat.map((x) => x.toFixed(1)).join(', ')} ms; ping p95 ${rtts[Math.floor(rtts.length * 0.95)].toFixed(1)} ms over ${rtts.length}`)
    return { latency: median(lat), pingP95: rtts[Math.floor(rtts.length * 0.95)] }
  } finally {
    await engine.close()
  }
}

async function groupbyOverhead(ctx: BenchContext): Promise<number> {
  const sales = Number(process.env.IDDB_BENCH_QUERY_SALES ?? 1_000_000)
  ctx.log(`guard: generating ${sales.toLocaleString('en')} sales …`)
  const c = await Cluster.create({ seed: 2024, sales })
  try {
    c.settle(3_600_000)
    const run = (guarded: boolean) => {
      const t = performance.now()
      for (const s of c.siteCodes) {
        c.siteStore(s).query(`SELECT "BRCODE" AS "__g0", SUM(AMOUNT) AS "__a0" FROM "Sales_${s}"${guarded ? ` WHERE ${guardTerm()}` : ''} GROUP BY "BRCODE"`)
      }
      return performance.now() - t
    }
    run(false); run(true) // warm-up
    const plain: number[] = [], guarded: number[] = []
    for (let i = 0; i < 5; i++) { plain.push(run(false)); guarded.push(run(true)) }
    ctx.log(`guard: group-by site sub-queries ${median(plain).toFixed(1)} ms without, ${median(guarded).toFixed(1)} ms with the guard`)
    return median(guarded) / median(plain)
  } finally {
    c.close()
  }
}

export const group = {
  name: 'guard',
  async run(ctx: BenchContext): Promise<Record<string, number>> {
    const { latency, pingP95 } = await cancelLatency(ctx)
    const overhead = await groupbyOverhead(ctx)
    return { 'security.cancel_latency_ms': latency, 'guard.ping_p95_ms': pingP95, 'guard.overhead_groupby_ratio': overhead }
  },
}
