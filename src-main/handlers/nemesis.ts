/** Nemesis faults and failure drills: each change pushes the new topology and health lights (topology/changed). */
import type { NemesisView } from '../../engine/api/nemesis'
import { EngineError } from '../../engine/errors'
import { defaultDrillSite, drillView, finishDrill, startDrill } from '../../engine/cluster/drills'
import type { HandlerContext, HandlerMap } from './context'
import { changed } from './topology'

type NemesisCall = 'nemesis/get' | 'nemesis/failMedia' | 'nemesis/lan' | 'nemesis/partition' | 'nemesis/heal' | 'nemesis/linkChaos' | 'nemesis/skew' | 'drill/get' | 'drill/start' | 'drill/finish'

function after(ctx: HandlerContext): NemesisView {
  changed(ctx)
  return ctx.cluster.nemesisView()
}

/** A destructive action goes ahead only when the administrator typed the site's code (checked here, not only in the page). */
function confirmed(site: string, typed: string | undefined): void {
  if (typed !== site) throw new EngineError('BAD_INPUT', `type the site's code ${site} to confirm: this destroys ${site}'s primary database until it is restored`, { site })
}

export const nemesisHandlers: HandlerMap<NemesisCall> = {
  'nemesis/get': async (ctx) => ctx.cluster.nemesisView(),
  'nemesis/failMedia': async (ctx, { site, kind, confirm }) => { ctx.cluster.site(site); confirmed(site, confirm); ctx.cluster.failMedia(site, kind); return after(ctx) },
  'nemesis/lan': async (ctx, { site, state, extraDelayMs, lossRate }) => {
    if (state === 'down') ctx.cluster.failLan(site)
    else if (state === 'degraded') ctx.cluster.degradeLan(site, { extraDelayMs, lossRate })
    else ctx.cluster.restoreLan(site)
    return after(ctx)
  },
  'nemesis/partition': async (ctx, { groups }) => { ctx.cluster.partition(groups); return after(ctx) },
  'nemesis/heal': async (ctx) => { ctx.cluster.heal(); return after(ctx) },
  'nemesis/linkChaos': async (ctx, { link, ...chaos }) => { ctx.cluster.setLinkChaos(link, chaos); return after(ctx) },
  'nemesis/skew': async (ctx, { site, offsetMs }) => { ctx.cluster.skewClock(site, offsetMs); return after(ctx) },
  'drill/get': async (ctx) => drillView(ctx.cluster),
  'drill/start': async (ctx, { category, site, confirm }) => {
    const target = site ?? defaultDrillSite(ctx.cluster)
    const v = startDrill(ctx.cluster, category, target, { confirmed: confirm === target })
    changed(ctx)
    return v
  },
  'drill/finish': async (ctx) => { const v = finishDrill(ctx.cluster); changed(ctx); return v },
}
