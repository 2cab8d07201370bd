/**
 * The legacy-vs-distributed comparison (group 'compare', engine/compare, docs/COMPARE.md): the whole business day
 * (default options, seed 1) run on both designs by runCompare, the product's own code path.
 *   compare.kdy_local_read_speedup     the slowest branch's (Kandy's) median stock look-up at its counter, legacy ÷
 *                                      distributed (virtual ms; the report's speed claim, expected ≥ 10× from link physics)
 *   compare.wan_bytes_ratio            WAN bytes of the day on every link (the network's counters), distributed ÷ legacy
 *   compare.availability_during_hq_outage_legacy / _distributed
 *                                      share of the branches' requests served while Colombo is down (14:00–15:00)
 *   compare.day_run_ms                 wall time of the whole comparison (both clusters built and both days run). Goal ≤ 30,000 ms
 *   compare.legacy_run_ms / compare.distributed_run_ms   the two designs' shares of it
 *   compare.requests_per_design        requests of the day (each design runs the same list)
 */
import { runCompare } from '../engine/compare'
import type { BenchContext } from './run'

export const group = {
  name: 'compare',
  async run(ctx: BenchContext): Promise<Record<string, number>> {
    const r = await runCompare({ seed: 1 })
    const h = r.headline
    ctx.log(`day: ${r.results.legacy.requests} requests per design; legacy ${r.results.legacy.wallMs} ms, distributed ${r.results.distributed.wallMs} ms`)
    const slow = h.slowBranch ?? ''
    ctx.log(`${slow} stock look-up p50: legacy ${r.results.legacy.response[slow]?.stock_lookup?.p50} ms, distributed ${r.results.distributed.response[slow]?.stock_lookup?.p50} ms`)
    return {
      kdy_local_read_speedup: h.kdyLocalReadSpeedup,
      wan_bytes_ratio: h.wanBytesRatio,
      availability_during_hq_outage_legacy: h.availabilityDuringHqOutage.legacy,
      availability_during_hq_outage_distributed: h.availabilityDuringHqOutage.distributed,
      day_run_ms: h.dayRunMs,
      legacy_run_ms: r.results.legacy.wallMs,
      distributed_run_ms: r.results.distributed.wallMs,
      requests_per_design: r.results.legacy.requests,
    }
  },
}
