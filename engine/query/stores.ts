/**
 * Adapter from the DQP to the sites' sql.js stores (engine/site/site.ts SiteStore via cluster.siteStore).
 */
import type { Cluster } from '../cluster'
import type { SiteCode } from '../topology/types'
import type { SiteStore } from '../site/site'

export function siteStoreOf(cluster: Cluster, site: SiteCode): SiteStore | undefined {
  const c = cluster as unknown as { siteStore?: (s: SiteCode) => SiteStore }
  if (typeof c.siteStore !== 'function') return undefined
  try { return c.siteStore(site) } catch { return undefined }
}
