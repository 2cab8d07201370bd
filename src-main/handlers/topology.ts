import type { TopologyView } from '../../engine/api/views'
import type { HandlerContext, HandlerMap } from './context'
import { tickPayload } from './system'

type TopologyCall = 'topology/get' | 'topology/failSite' | 'topology/restoreSite' | 'topology/failServer' | 'topology/restoreServer' | 'topology/failLink' | 'topology/restoreLink' | 'topology/degradeLink'

/** After a change: push the new topology and the health lights, return the view. */
export function changed(ctx: HandlerContext): TopologyView {
  const view = ctx.cluster.topologyView()
  ctx.emit('topology/changed', view)
  ctx.emit('engine/tick', tickPayload(ctx))
  return view
}

export const topologyHandlers: HandlerMap<TopologyCall> = {
  'topology/get': async (ctx) => ctx.cluster.topologyView(),
  'topology/failSite': async (ctx, { site }) => { ctx.cluster.site(site); ctx.cluster.failSite(site); return changed(ctx) },
  'topology/restoreSite': async (ctx, { site }) => { ctx.cluster.site(site); ctx.cluster.restoreSite(site); return changed(ctx) },
  'topology/failServer': async (ctx, { server }) => { ctx.cluster.failServer(server); return changed(ctx) },
  'topology/restoreServer': async (ctx, { server }) => { ctx.cluster.restoreServer(server); return changed(ctx) },
  'topology/failLink': async (ctx, { link }) => { ctx.cluster.net.link(link); ctx.cluster.failLink(link); return changed(ctx) },
  'topology/restoreLink': async (ctx, { link }) => { ctx.cluster.net.link(link); ctx.cluster.restoreLink(link); return changed(ctx) },
  'topology/degradeLink': async (ctx, { link, ...d }) => { ctx.cluster.net.link(link); ctx.cluster.degradeLink(link, d); return changed(ctx) },
}
