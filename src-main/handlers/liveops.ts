/**
 * The Catalog console's local catalogs and the Topology console's failure drills over live servers
 * (contract/liveops.ts). Live mode only: in the simulation every call is refused (UNSUPPORTED) and the embedded
 * calls (catalog/local, topology/failServer, nemesis/*, drill/*) apply. The work at the servers is in
 * src-main/pg/livecatalog.ts and src-main/pg/drills.ts; each call reads the deployment (pg.json) as it stands.
 */
import { EngineError } from '../../engine/errors'
import type { LiveSites } from '../pg/live'
import { analyzeSite, readLiveCatalog } from '../pg/livecatalog'
import { killLiveBackend, liveBackends, liveServers, startLiveServer, stopLiveServer } from '../pg/drills'
import type { HandlerContext, HandlerMap } from './context'

type LiveOpsCall = 'liveCatalog/site' | 'liveCatalog/analyze' | 'liveDrill/servers' | 'liveDrill/stopServer' | 'liveDrill/startServer' | 'liveDrill/backends' | 'liveDrill/killBackend'
  | 'liveDrill/links' | 'liveDrill/cutLink' | 'liveDrill/restoreLink'

function liveOf(ctx: HandlerContext, what: string): LiveSites {
  if (!ctx.live) throw new EngineError('UNSUPPORTED', `${what} needs live mode (npm start -- --pg DIR): the sites of this console are the embedded simulation`)
  return ctx.live
}

/** The ports the console's own connections were opened to (its deployment as LiveSites read it at start). */
const consolePorts = (live: LiveSites) => new Set(live.deployment.sites.map((s) => s.primary.port))

/** A site of the console's design (UNKNOWN_SITE otherwise) — the deployment has the same sites (LiveSites.open checks). */
function siteOf(ctx: HandlerContext, site: string): string {
  ctx.cluster.site(site)
  return site
}

/** A server's state changed at the servers: the Topology console and the badge read again. */
function changed(ctx: HandlerContext): void {
  ctx.emit('topology/changed', ctx.cluster.topologyView())
}

export const liveOpsHandlers: HandlerMap<LiveOpsCall> = {
  'liveCatalog/site': async (ctx, { site, analyze }) => {
    const live = liveOf(ctx, 'Reading a local catalog from its server')
    const r = await readLiveCatalog(live.dataDir, siteOf(ctx, site), { analyze })
    // the DQP's cached statistics of the site are read again on its next query (ANALYZE may have changed them)
    if (analyze) live.stores[site]?.invalidate()
    return r
  },
  'liveCatalog/analyze': async (ctx, { site }) => {
    const live = liveOf(ctx, 'ANALYZE at a server')
    const r = await analyzeSite(live.dataDir, siteOf(ctx, site))
    live.stores[site]?.invalidate()
    return r
  },
  'liveDrill/servers': async (ctx) => {
    const live = liveOf(ctx, 'Listing the live servers')
    return liveServers(live.dataDir, consolePorts(live))
  },
  'liveDrill/stopServer': async (ctx, { server, confirm }) => {
    const live = liveOf(ctx, 'Stopping a server')
    if (confirm !== server) throw new EngineError('BAD_INPUT', `type the server's id ${server} to confirm stopping it (got "${confirm}")`, { site: server.split('.')[0] })
    const stopped = stopLiveServer(live.dataDir, server)
    ctx.cluster.log('drill', `live drill: ${server} ${stopped ? 'stopped (pg_ctl stop -m immediate)' : 'was not running'}`, server.split('.')[0])
    const servers = await liveServers(live.dataDir, consolePorts(live))
    changed(ctx)
    return { server, stopped, servers }
  },
  'liveDrill/startServer': async (ctx, { server }) => {
    const live = liveOf(ctx, 'Starting a server')
    const r = await startLiveServer(live.dataDir, server)
    ctx.cluster.log('drill', `live drill: ${server} started (pg_ctl start, ${r.ms} ms)`, server.split('.')[0])
    const servers = await liveServers(live.dataDir, consolePorts(live))
    changed(ctx)
    return { server, ms: r.ms, servers }
  },
  'liveDrill/backends': async (ctx, { site }) => {
    const live = liveOf(ctx, 'Listing a server\'s backends')
    return liveBackends(live.dataDir, siteOf(ctx, site))
  },
  'liveDrill/links': async (ctx) => liveOf(ctx, 'Listing the console\'s links').links.list(),
  'liveDrill/cutLink': async (ctx, { site }) => {
    const live = liveOf(ctx, 'Cutting a link')
    const link = live.links.cut(siteOf(ctx, site))
    ctx.cluster.log('drill', `live drill: the console's link to ${site} (${link.target.host}:${link.target.port}) cut — its connections reset, new ones refused`, site)
    changed(ctx)
    return link
  },
  'liveDrill/restoreLink': async (ctx, { site }) => {
    const live = liveOf(ctx, 'Restoring a link')
    const link = live.links.restore(siteOf(ctx, site))
    ctx.cluster.log('drill', `live drill: the console's link to ${site} restored (${link.refused} connections were refused while it was cut)`, site)
    changed(ctx)
    return link
  },
  'liveDrill/killBackend': async (ctx, { site, pid }) => {
    const live = liveOf(ctx, 'Ending a backend')
    const r = await killLiveBackend(live.dataDir, siteOf(ctx, site), pid)
    ctx.cluster.log('drill', `live drill: backend ${r.pid} (${r.application || 'no application name'}) at ${r.server} ${r.terminated ? 'terminated' : 'signalled, still running after 5 s'}`, site)
    return r
  },
}
