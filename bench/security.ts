/**
 * Security benchmark (group 'security'), one in-memory cluster with 1,000,000 generated sales
 * (IDDB_BENCH_SECURITY_SALES overrides, for quick runs):
 *   security.mls_overhead_ratio  wall time of the global group-by (SELECT BRCODE, SUM(AMOUNT) FROM SALES GROUP BY
 *                                BRCODE at Kandy, as in bench/query.ts) run as an INTERNAL session — the multi-level
 *                                security check of the statement (engine/security/mls.ts) included — ÷ the same query
 *                                run as the console's operator. Rounds alternate who goes first; median of 7 each.
 *                                Goal ≤ 1.1.
 *   security.mls_check_us        the check alone for that session and a star query over EMPLOYEES that it rewrites
 *                                (median µs over 2,000 checks).
 */
import { Cluster } from '../engine/cluster'
import { Dqp } from '../engine/query/dqp'
import { SecurityManager } from '../engine/security/dsm'
import type { BenchContext } from './run'
import { median } from './stats'


export const group = {
  name: 'security',
  async run(ctx: BenchContext): Promise<Record<string, number>> {
    const sales = Number(process.env.IDDB_BENCH_SECURITY_SALES ?? 1_000_000)
    ctx.log(`security: generating ${sales.toLocaleString('en')} sales …`)
    const c = await Cluster.create({ seed: 2024, sales })
    c.settle(3_600_000)
    const dqp = await Dqp.create(c)
    const dsm = SecurityManager.of(c)
    dsm.addUser('KDY', 'clerk', 'bench-pass-1', 'INTERNAL')
    const token = dsm.login('KDY', 'clerk', 'bench-pass-1').token

    const G = 'SELECT BRCODE, SUM(AMOUNT) FROM SALES GROUP BY BRCODE'
    const once = async (session: string | undefined): Promise<{ ms: number; rows: string }> => {
      const t = performance.now()
      const auth = dsm.authorize(session, 'KDY', G)
      const r = await dqp.run('KDY', auth.sql, { user: auth.user ?? undefined })
      const ms = performance.now() - t
      return { ms, rows: JSON.stringify(r.rows.map((x) => [x[0], Math.round(Number(x[1]) * 100)]).sort()) }
    }
    const asOperator: number[] = [], asSession: number[] = []
    await once(undefined); await once(token) // warm-up
    for (let i = 0; i < 7; i++) {
      const order: (string | undefined)[] = i % 2 ? [token, undefined] : [undefined, token]
      const got: string[] = []
      for (const who of order) {
        const r = await once(who)
        ;(who ? asSession : asOperator).push(r.ms)
        got.push(r.rows)
      }
      if (got[0] !== got[1]) throw new Error(`the session's group-by differs from the operator's: ${got[0]} vs ${got[1]}`)
    }
    ctx.log(`security: group-by as operator ${median(asOperator).toFixed(1)} ms, as INTERNAL session ${median(asSession).toFixed(1)} ms`)

    const checks: number[] = []
    const STAR = "SELECT * FROM EMPLOYEES e JOIN SALES s ON s.EMPNO = e.EMPNO WHERE e.BRCODE = 'KDY' ORDER BY 6"
    for (let i = 0; i < 2000; i++) {
      const t = performance.now()
      dsm.authorize(token, 'KDY', i % 2 ? G : STAR)
      checks.push((performance.now() - t) * 1000)
    }
    return {
      'security.mls_overhead_ratio': median(asSession) / median(asOperator),
      'security.mls_check_us': median(checks),
    }
  },
}
