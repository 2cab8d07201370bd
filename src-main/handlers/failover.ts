import { EngineError } from '../../engine/errors'
import { Failover } from '../../engine/cluster/failover'
import type { PromotionReport } from '../../engine/api/failover'
import type { HandlerContext, HandlerMap } from './context'
import { tickPayload } from './system'

type FailoverCall = 'failover/get' | 'failover/promote' | 'failover/failback' | 'failover/setFeed' | 'failover/setAuto'

/** A promotion takes virtual time: run the clock until the promoted server accepts writes (bounded), as a query does. */
const MAX_EVENTS = 2_000_000

async function promote(ctx: HandlerContext, site: string, confirm: string, failback: boolean): Promise<PromotionReport> {
  const c = ctx.cluster
  c.site(site) // UNKNOWN_SITE for a well-formed code that is not in the topology
  if (confirm !== site) throw new EngineError('BAD_INPUT', `type the site's code ${site} to confirm the ${failback ? 'fail back' : 'promotion'} (got "${confirm}")`, { site })
  const f = Failover.of(c)
  const done = failback ? f.failback(site) : f.promote(site)
  c.sim.runUntilTrue(() => !f.feedView(site).promoting, MAX_EVENTS)
  const report = await done
  ctx.emit('topology/changed', c.topologyView())
  ctx.emit('engine/tick', tickPayload(ctx))
  return report
}

export const failoverHandlers: HandlerMap<FailoverCall> = {
  'failover/get': async (ctx) => Failover.of(ctx.cluster).view(),
  'failover/promote': (ctx, { site, confirm }) => promote(ctx, site, confirm, false),
  'failover/failback': (ctx, { site, confirm }) => promote(ctx, site, confirm, true),
  'failover/setFeed': async (ctx, { site, mode }) => { ctx.cluster.site(site); const f = Failover.of(ctx.cluster); f.setFeedMode(site, mode); return f.view() },
  'failover/setAuto': async (ctx, input) => Failover.of(ctx.cluster).setAuto(input),
}
