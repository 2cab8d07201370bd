import { z } from 'zod'
import { call, event, noInput, siteCode } from './define'
import type { TopologyView } from '../../../engine/api/views'

const serverId = z.string().regex(/^[A-Z]{3}\.(router|app|primary|backup|repository)$/, 'a server id looks like CMB.primary')
const linkId = z.string().regex(/^[A-Z]{3}-[A-Z]{3}$/, 'a link id looks like CMB-KDY')

export const topologyCalls = {
  'topology/get': call(noInput).returns<TopologyView>(),
  'topology/failSite': call(z.object({ site: siteCode }).strict()).returns<TopologyView>(),
  'topology/restoreSite': call(z.object({ site: siteCode }).strict()).returns<TopologyView>(),
  'topology/failServer': call(z.object({ server: serverId }).strict()).returns<TopologyView>(),
  'topology/restoreServer': call(z.object({ server: serverId }).strict()).returns<TopologyView>(),
  'topology/failLink': call(z.object({ link: linkId }).strict()).returns<TopologyView>(),
  'topology/restoreLink': call(z.object({ link: linkId }).strict()).returns<TopologyView>(),
  'topology/degradeLink': call(z.object({
    link: linkId,
    extraDelayMs: z.number().min(0).max(60_000).default(0),
    bandwidthFactor: z.number().gt(0).max(1).default(1),
    lossRate: z.number().min(0).max(1).default(0),
  }).strict()).returns<TopologyView>(),
}

export const topologyEvents = {
  'topology/changed': event<TopologyView>(),
}
