/**
 * Ticket protocol benchmark (group 'ticket'):
 *   ticket.conflict_free_latency_vs_rtt  virtual acceptance latency of an uncontended ticket presented at Colombo
 *                                        (from the server receiving it to its ACCEPT) ÷ one round trip (NEWTKT
 *                                        out, reply back, idle links) to the nearest majority. Goal ≤ 1.05.
 *   ticket.accepts_per_s                 uncontended tickets decided per wall second (all sites presenting,
 *                                        pipelined, traces off). Goal ≥ 20,000.
 *   ticket.modelcheck_states_per_s       distinct states per wall second of the exhaustive model-checker run
 *                                        (3 servers, 2 concurrent claimants of one ticket).
 *   ticket.modelcheck_states             distinct states of that exhaustive run (26,320 — a regression guard: it
 *                                        changes only if the protocol or the world's canonical form changes).
 *   ticket.modelcheck_3claimants_states_per_s  states per wall second on the larger 3-claimant space (bounded
 *                                        run of 200,000 states; the full space is millions of worlds).
 */
import { Cluster } from '../engine/cluster'
import { TicketService } from '../engine/ticket/service'
import { majority } from '../engine/ticket/core'
import { checkConfig, modelCheck } from '../engine/ticket/modelcheck'
import type { BenchContext } from './run'

export function conflictFreeLatencyRatio(site = 'CMB', samples = 20): { ratio: number; latencyMs: number; rttMs: number } {
  const c = new Cluster({ seed: 7 })
  const svc = new TicketService(c, { trace: false })
  const lan = c.site(site).lanDelayMs
  let sum = 0
  for (let k = 0; k < samples; k++) {
    const v = svc.present(`LAT-${k}`, [site])
    c.sim.runUntilIdle()
    if (v.outcome !== 'accepted' || v.decidedAt === undefined) throw new Error(`ticket LAT-${k}: ${v.answer}`)
    sum += v.decidedAt - (v.submittedAt + lan)
  }
  const latencyMs = sum / samples
  // one round trip to the nearest majority: the (majority−1)-th fastest peer round trip
  const rtts = c.siteCodes.filter((x) => x !== site).map((x) => c.net.estimateMs(site, x, 40) + c.net.estimateMs(x, site, 48)).sort((a, b) => a - b)
  const rttMs = rtts[majority(c.siteCodes.length) - 2]
  svc.dispose()
  return { ratio: latencyMs / rttMs, latencyMs, rttMs }
}

export function acceptsPerSecond(total = 20_000): { perS: number; accepted: number; wallMs: number } {
  const c = new Cluster({ seed: 9 })
  const svc = new TicketService(c, { trace: false })
  const sites = c.siteCodes
  let accepted = 0
  const t0 = performance.now()
  for (let k = 0; k < total; k++) {
    // POS terminals at the three sites present tickets in bursts of 24 every 8 virtual ms (3,000 tickets/s),
    // below the T1 links' capacity (a saturated T1 would only measure queueing, not the protocol)
    if (k % 24 === 0) c.sim.advance(8)
    svc.present(`A${k}`, [sites[k % sites.length]], { onDone: (v) => { if (v.outcome === 'accepted') accepted++ } })
  }
  c.sim.runUntilIdle()
  const wallMs = performance.now() - t0
  svc.dispose()
  return { perS: accepted / (wallMs / 1000), accepted, wallMs }
}

export const group = {
  name: 'ticket',
  async run(ctx: BenchContext): Promise<Record<string, number>> {
    const lat = conflictFreeLatencyRatio()
    ctx.log(`ticket: uncontended acceptance at CMB ${lat.latencyMs.toFixed(3)} ms vs round trip to nearest majority ${lat.rttMs.toFixed(3)} ms`)
    acceptsPerSecond(2_000) // warm-up
    const thr = acceptsPerSecond(30_000)
    ctx.log(`ticket: ${thr.accepted} tickets accepted in ${thr.wallMs.toFixed(0)} ms wall`)
    modelCheck(checkConfig(3, [0, 1], { maxStates: 5_000 }, { abcast: 'external' })) // warm-up
    const mc = modelCheck(checkConfig(3, [0, 1], {}, { abcast: 'external' }))
    ctx.log(`ticket: model checker ${mc.states} states, ${mc.transitions} transitions (complete=${mc.complete}, violations=${mc.violations.length}) in ${mc.ms.toFixed(0)} ms`)
    const mc3 = modelCheck(checkConfig(3, [0, 1, 2], { maxStates: 200_000 }, { abcast: 'external', notifyDecisions: false }))
    ctx.log(`ticket: model checker, 3 claimants: ${mc3.states} states (complete=${mc3.complete}, violations=${mc3.violations.length}) in ${mc3.ms.toFixed(0)} ms`)
    return {
      'ticket.conflict_free_latency_vs_rtt': lat.ratio,
      'ticket.accepts_per_s': thr.perS,
      'ticket.modelcheck_states_per_s': mc.states / (mc.ms / 1000),
      'ticket.modelcheck_states': mc.states,
      'ticket.modelcheck_3claimants_states_per_s': mc3.states / (mc3.ms / 1000),
    }
  },
}
