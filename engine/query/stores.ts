/**
 * The one boundary between the DQP and the sites' database servers. The DQP (exec.ts, stats.ts) reads a site
 * only through QuerySiteStore: by default the embedded sql.js store (engine/site/site.ts SiteStore via
 * cluster.siteStore); a cluster may have its sites' stores replaced (useSiteStores), e.g. by live PostgreSQL
 * servers (src-main/pg/sitestore.ts), and the same planner and executor then run over those.
 */
import type { Cluster } from '../cluster'
import type { SiteCode } from '../topology/types'
import type { SiteStore } from '../site/site'
import type { QueryResult, SqlValue } from '../site/sqljs'

/** A read-only server the DQP queries (a site's main repository). */
export interface QueryServer {
  query(sql: string, params?: SqlValue[]): QueryResult
}

/**
 * What the DQP needs of a site: its primary's reads (SQL in the planner's dialect, SQLite's; `?` parameters),
 * whether it serves, its commit sequence number (statistics are cached per number) and, at the repository
 * site, the main repository.
 */
export interface QuerySiteStore extends QueryServer {
  /** Grows with every commit at the site: cached statistics of an older number are read again. */
  readonly seq: number
  /** The primary serves (a cheap check: no access is recorded). */
  isUp(): boolean
  /** Throws the site's down error when the primary cannot serve now (an access: may find a damaged medium). */
  available(): void
  readonly repository?: QueryServer
  /**
   * Optional: the store's reads can be answered together with other stores' (live servers behind one bridge,
   * whose statements run at once on their connections). The executor hands every read it is about to make at
   * stores sharing one batcher to it in one call, instead of one query() after the other. An embedded store has
   * none: its reads run in process, one at a time, on its fast path.
   */
  readonly batcher?: SiteReadBatcher
  /**
   * Optional: the store's answers say how many bytes crossed its connection (QueryResult.wire: a live server's
   * protocol messages, as its socket counted them). The executor then counts a sub-query's request and result on
   * the links by those bytes, with no modelled header or encryption overhead, instead of by its own estimate.
   */
  readonly wireCounted?: boolean
}

/** One read at a site's store: its primary, or its main repository; SQL in the planner's dialect, as query()'s. */
export interface SiteRead { store: QuerySiteStore; server: 'primary' | 'repository'; sql: string; params?: SqlValue[] }

/** A read's outcome in a batch: what query() would have returned, or what it would have thrown. */
export type SiteReadOutcome = { ok: true; result: QueryResult } | { ok: false; error: unknown }

/** Runs several stores' reads at once (see QuerySiteStore.batcher). */
export interface SiteReadBatcher {
  /** Every read's outcome, in the order given; one failing does not stop the others. Each read is a read, nothing more: it changes nothing at its site. */
  readMany(reads: readonly SiteRead[]): SiteReadOutcome[]
}

export type SiteStoreProvider = (site: SiteCode) => QuerySiteStore | undefined

const replaced = new WeakMap<Cluster, SiteStoreProvider>()

/**
 * Replaces the stores the DQP reads for this cluster's sites: `provider(site)` is consulted first, and a site
 * it gives no store for keeps its embedded one. `null` restores the embedded stores everywhere.
 */
export function useSiteStores(cluster: Cluster, provider: SiteStoreProvider | null): void {
  if (provider) replaced.set(cluster, provider)
  else replaced.delete(cluster)
}

/** The store the DQP reads a site through (a replacement when one is registered), or undefined. */
export function siteStoreOf(cluster: Cluster, site: SiteCode): QuerySiteStore | undefined {
  const r = replaced.get(cluster)?.(site)
  if (r) return r
  return embeddedStoreOf(cluster, site)
}

/**
 * The site's embedded sql.js store when the DQP reads that one (no replacement for the site), else undefined:
 * the executor's prepared-statement fast path and the statistics' database identity apply only to it.
 */
export function embeddedStoreOf(cluster: Cluster, site: SiteCode): SiteStore | undefined {
  if (replaced.get(cluster)?.(site)) return undefined
  const c = cluster as unknown as { siteStore?: (s: SiteCode) => SiteStore }
  if (typeof c.siteStore !== 'function') return undefined
  try { return c.siteStore(site) } catch { return undefined }
}
