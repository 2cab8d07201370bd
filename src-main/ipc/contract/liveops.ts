/**
 * The Catalog console and the failure drills over live PostgreSQL servers (live mode only: refused with
 * UNSUPPORTED in the simulation, where the embedded calls catalog/* and topology/*, nemesis/*, drill/* apply).
 *   liveCatalog/site     a site's local catalog read from its server now (src-main/pg/livecatalog.ts)
 *   liveCatalog/analyze  ANALYZE at the site's server
 *   liveDrill/*          stop / start a server, list and end backends, every server's state (src-main/pg/drills.ts),
 *                        cut and restore the console's link to a site (src-main/pg/links.ts)
 */
import { z } from 'zod'
import { call, noInput, siteCode } from './define'

/** A local catalog table of a live site (the shape of LCAT_TABLES, LCAT_COLUMNS, LCAT_INDEXES: src-main/pg/catalog.ts). */
export interface LiveLocalCatalogRows {
  tables: { TABLE_NAME: string; TYPE: string; NUM_ROWS: number }[]
  columns: { COL_NAME: string; TABLE: string; TYPE: string; LEN: number; LKEY: string | number | null; HKEY: string | number | null }[]
  indexes: { INDEX_NAME: string; KEY_COLS: string; TYPE: string; PCT_UNIQUE: number; TABLE_NAME: string }[]
}

export interface LiveCatalogRead extends LiveLocalCatalogRows {
  site: string
  /** The server read (the site's primary as pg.json names it now) and where it listens. */
  server: string
  host: string
  port: number
  database: string
  /** When the read started (ISO time of the engine's host) and how long it took, ms. */
  readAt: string
  readMs: number
  /** ANALYZE ran at the server just before the read (in this call). */
  analyzed: boolean
  /** Per table: count(*) at the server, in the same snapshot as the statistics. */
  counts: Record<string, number>
  /** When each table was last analyzed at the server (pg_stat_user_tables: by hand or by autovacuum), ISO; null: never. */
  lastAnalyzed: Record<string, string | null>
}

export interface LiveServerState {
  id: string
  site: string
  role: 'primary' | 'standby'
  host: string
  port: number
  /** The postmaster runs (pg_ctl status). */
  running: boolean
  /** The server answered a statement now. */
  up: boolean
  /** What it says of itself: in recovery (a standby), or not (a primary, or a promoted standby); null: no answer. */
  inRecovery: boolean | null
  /**
   * A server not in recovery: how many standbys stream from it now (pg_stat_replication). With synchronous
   * standbys a primary with none streaming makes its commits wait. null: a standby, or no answer.
   */
  standbysStreaming: number | null
  /** The console's connections (DQP, DTM, repository) go to this server. */
  console: boolean
  /** Why it did not answer (absent when it did). */
  error?: string
}

export interface LiveBackend {
  pid: number
  database: string
  application: string
  state: string | null
  /** ISO times: when the backend started, when its current transaction began (null: none open). */
  backendStart: string | null
  xactStart: string | null
  /** The backend's current or last statement, shortened. */
  query: string
  /** A connection of this console (application_name iddb:console:…): its purpose (e.g. KDY, KDY.txn, CMB.repository). */
  consolePurpose: string | null
}

export interface LiveKillResult { site: string; server: string; pid: number; application: string; terminated: boolean }

/** The console's link to a site's server (src-main/pg/links.ts): what its DQP, DTM and replication go through. */
export interface LiveLinkState {
  site: string
  /** The port the console's connections to the site go to (its server's). */
  port: number
  /** Where the link leads: the site's server now. */
  target: { host: string; port: number }
  /** Cut by the drill: connections through it are reset. */
  cut: boolean
  /** The console's connections over it with a session open now. */
  connections: number
  /** Calls over it refused because it was cut, since the console started. */
  refused: number
}

/** A server of the deployment: SITE.primary or SITE.backup (the ids pg.json gives). */
const serverId = z.string().regex(/^[A-Z]{3}\.(primary|backup)$/, 'a server id like KDY.primary or KDY.backup')

export const liveOpsCalls = {
  /** The site's local catalog from its primary's statistics, with count(*) per table; `analyze`: ANALYZE first. */
  'liveCatalog/site': call(z.object({ site: siteCode, analyze: z.boolean().default(false) }).strict()).returns<LiveCatalogRead>(),
  /** ANALYZE of the site's database at its primary. */
  'liveCatalog/analyze': call(z.object({ site: siteCode }).strict()).returns<{ site: string; server: string; ms: number; at: string }>(),
  /** Every server of the deployment: role, port, whether it runs and answers, whether the console's connections use it. */
  'liveDrill/servers': call(noInput).returns<LiveServerState[]>(),
  /** Stops a server at once (pg_ctl stop -m immediate); `confirm` is the server's id typed by the administrator. */
  'liveDrill/stopServer': call(z.object({ server: serverId, confirm: z.string().max(32) }).strict()).returns<{ server: string; stopped: boolean; servers: LiveServerState[] }>(),
  /** Starts a stopped server (pg_ctl start) and waits until it accepts connections. */
  'liveDrill/startServer': call(z.object({ server: serverId }).strict()).returns<{ server: string; ms: number; servers: LiveServerState[] }>(),
  /** The client backends of a site's primary (pg_stat_activity). */
  'liveDrill/backends': call(z.object({ site: siteCode }).strict()).returns<{ site: string; server: string; backends: LiveBackend[] }>(),
  /** Ends a backend of a site's primary (pg_terminate_backend): the given pid, or the console's DQP connection to the site. */
  'liveDrill/killBackend': call(z.object({ site: siteCode, pid: z.number().int().min(1).max(2 ** 31 - 1).optional() }).strict()).returns<LiveKillResult>(),
  /** The console's links to its sites' servers. */
  'liveDrill/links': call(noInput).returns<LiveLinkState[]>(),
  /** Makes the link to a site's server unreachable: its connections reset, new ones refused, until restored. */
  'liveDrill/cutLink': call(z.object({ site: siteCode }).strict()).returns<LiveLinkState>(),
  /** Forwards the link to a site's server again (the console reconnects on its next call). */
  'liveDrill/restoreLink': call(z.object({ site: siteCode }).strict()).returns<LiveLinkState>(),
}
