/**
 * Distributed query processor benchmark (group 'query'), one in-memory cluster with 1,000,000 generated
 * sales (IDDB_BENCH_QUERY_SALES overrides, for quick runs):
 *   query.groupby_1m_ratio_vs_central  wall time of SELECT BRCODE, SUM(AMOUNT) FROM SALES GROUP BY BRCODE through
 *                                      the DQP (partial aggregates at the three sites, combined at the assembly
 *                                      site, simulation included) ÷ the same query on one centralized sql.js DB
 *                                      holding all sales (the Colombo main repository). Median of 5 each. Goal ≤ 1.15.
 *   query.join_bytes_ratio_vs_shipall  a selective join of SALES with EMPLOYEES issued at Kandy (the sales of the
 *                                      best-paid sales executive): bytes over the WAN links of the chosen plan ÷ bytes
 *                                      of the ship-whole-fragments plan, same query. Goal ≤ 0.1.
 *   query.point_lookup_us              engine time of a global point lookup by INVNO that the catalog routes to one
 *                                      site (SALES WHERE BRCODE = 'KDY' AND INVNO = n, at KDY), median µs over 2,000
 *                                      runs after 2,000 others (a console that has been running). Goal ≤ 100.
 *   query.point_lookup_cold_us         the median of those first 2,000 runs (the JIT still compiling the planner
 *                                      and executor: what the first queries after start see).
 *   query.estimate_error               median over the benchmark queries' site sub-queries of estimated ÷ actual
 *                                      rows. Goal 0.5–2.
 */
import { Cluster } from '../engine/cluster'
import { Dqp } from '../engine/query/dqp'
import type { QueryRunResult } from '../engine/query/types'
import type { BenchContext } from './run'
import { median } from './stats'

const wanBytes = (r: QueryRunResult) => Object.entries(r.perLinkBytes).filter(([k]) => !k.startsWith('LAN:')).reduce((s, [, v]) => s + v, 0)

export const group = {
  name: 'query',
  async run(ctx: BenchContext): Promise<Record<string, number>> {
    const sales = Number(process.env.IDDB_BENCH_QUERY_SALES ?? 1_000_000)
    ctx.log(`query: generating ${sales.toLocaleString('en')} sales …`)
    const c = await Cluster.create({ seed: 2024, sales })
    c.settle(3_600_000)
    const dqp = await Dqp.create(c)
    const repo = c.siteInternals(c.topology.sites.find((s) => s.repository)!.code).repository!
    const estRatios: number[] = []
    const collect = (r: QueryRunResult) => {
      for (const s of r.plan.steps) if (s.kind === 'subquery' && s.estRows !== undefined && s.actualRows !== undefined) {
        estRatios.push(Math.max(1, s.estRows) / Math.max(1, s.actualRows))
      }
    }

    // 1. GROUP BY over all sales vs the centralized DB
    const G = 'SELECT BRCODE, SUM(AMOUNT) FROM SALES GROUP BY BRCODE'
    const central: number[] = [], dist: number[] = []
    let check: string | undefined
    for (let i = 0; i < 6; i++) {
      let t = performance.now()
      const want = repo.query(G)
      const tc = performance.now() - t
      t = performance.now()
      const got = await dqp.run('KDY', G)
      const td = performance.now() - t
      if (i === 0) { collect(got); continue } // warm-up
      central.push(tc); dist.push(td)
      const a = JSON.stringify(got.rows.map((r) => [r[0], Math.round(Number(r[1]) * 100)]).sort())
      const b = JSON.stringify(want.rows.map((r) => [r[0], Math.round(Number(r[1]) * 100)]).sort())
      if (a !== b) check = `${a} vs ${b}`
    }
    if (check) throw new Error(`group-by result differs from the centralized result: ${check}`)
    ctx.log(`query: group-by central ${median(central).toFixed(1)} ms, distributed ${median(dist).toFixed(1)} ms`)

    // 2. selective join: chosen plan vs ship-whole
    // selective: the sales of the best-paid sales executive (the threshold is read from the data, unmeasured)
    const t = repo.query("SELECT SALARY FROM EMPLOYEES WHERE POSITION = 'Sales Executive' ORDER BY SALARY DESC LIMIT 1").rows[0]?.[0] ?? 0
    const J = `SELECT s.INVNO, s.AMOUNT, e.NAME FROM SALES s JOIN EMPLOYEES e ON s.EMPNO = e.EMPNO WHERE e.POSITION = 'Sales Executive' AND e.SALARY >= ${t}`
    const chosen = await dqp.run('KDY', J)
    collect(chosen)
    const whole = await dqp.run('KDY', J, { strategy: 'ship-whole' })
    if (chosen.rows.length !== whole.rows.length) throw new Error(`join results differ: ${chosen.rows.length} vs ${whole.rows.length} rows`)
    ctx.log(`query: join ${chosen.rows.length} rows; WAN bytes chosen (${chosen.plan.joins.map((j) => j.chosen).join(', ')}) ${wanBytes(chosen)} vs ship-whole ${wanBytes(whole)}`)

    // 3. point lookup routed to one site
    const inv = c.siteStore('KDY').query('SELECT INVNO FROM Sales_KDY ORDER BY INVNO LIMIT 1 OFFSET 100').rows[0][0]
    const P = `SELECT * FROM SALES WHERE BRCODE = 'KDY' AND INVNO = ${inv}`
    const first = dqp.runSync('KDY', P)
    if (first.plan.strategy !== 'single-site' || first.rows.length !== 1) throw new Error('point lookup was not routed to one site')
    collect(first)
    // the first 2,000 runs are timed apart (the JIT still compiling the planner: cold), then 2,000 warm ones
    const timed = (n: number) => {
      const out: number[] = []
      for (let i = 0; i < n; i++) {
        const t = performance.now()
        dqp.runSync('KDY', P)
        out.push((performance.now() - t) * 1000)
      }
      return out
    }
    const cold = timed(2000)
    const us = timed(2000)

    // 4. a few more benchmark queries for the estimate error
    for (const q of [
      "SELECT * FROM EMPLOYEES WHERE BRCODE = 'MBI' AND SALARY > 3000",
      'SELECT ITEMNO, COUNT(*) FROM SALES WHERE QTY >= 3 GROUP BY ITEMNO',
      `SELECT COUNT(*) FROM SALES WHERE INVNO < ${Math.round(sales / 4)}`,
      "SELECT STOCKCODE, QTY FROM STOCK_CMB WHERE QTY < 50",
      "SELECT CATEGORY, COUNT(*) FROM ITEMS GROUP BY CATEGORY",
    ]) collect(await dqp.run('MBI', q))

    c.close()
    return {
      'query.groupby_1m_ratio_vs_central': median(dist) / median(central),
      'query.join_bytes_ratio_vs_shipall': wanBytes(chosen) / Math.max(1, wanBytes(whole)),
      'query.point_lookup_us': median(us),
      'query.point_lookup_cold_us': median(cold),
      'query.estimate_error': median(estRatios),
    }
  },
}
