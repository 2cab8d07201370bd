/**
 * The Catalog console's local catalog over a live site (`liveCatalog/site`, `liveCatalog/analyze`): read now from
 * the site's primary itself (catalog.ts liveLocalCatalog: pg_class.reltuples, pg_stats bounds, avg_width,
 * pg_index), with each table's exact row count (count(*)) beside the statistics' reltuples, so an administrator
 * sees how far the statistics the optimizer would use are from the rows the server holds, and ANALYZE to bring
 * them back. Statistics and counts are read in one REPEATABLE READ snapshot: the counts are of the same rows.
 *
 * Each call opens a connection of its own (application_name iddb:console:catalog) to the server pg.json names
 * now, and closes it: the console's DQP and DTM connections are not touched.
 */
import pg from 'pg'
import { EngineError } from '../../engine/errors'
import { liveLocalCatalog } from './catalog'
import type { LiveCatalogRead } from '../ipc/contract/liveops'
import { loginOf, readDeployment, siteDatabaseOf, type PgDeployment, type PgLogin, hostOf } from './servers'

/** How long a connection attempt may take, ms (a stopped server refuses at once; a hung one must not hang the console). */
const CONNECT_MS = 5_000
/** Limit of one statement of a read, ms (count(*) of every table of a branch, ANALYZE of its database). */
const STATEMENT_MS = 60_000

const quote = (name: string) => `"${name.replace(/"/g, '""')}"`

/** The site's primary in the deployment as it stands now (a failover rewrites pg.json), with the password. */
function target(dataDir: string, site: string): { d: PgDeployment; server: PgDeployment['sites'][number]['primary']; login: PgLogin } {
  const d = readDeployment(dataDir)
  const s = d.sites.find((x) => x.code === site)
  if (!s) throw new EngineError('UNKNOWN_SITE', `no site ${site} in this deployment (sites: ${d.sites.map((x) => x.code).join(', ')})`)
  return { d, server: s.primary, login: loginOf(dataDir, d, s.primary) }
}

/** A connection to the site's primary, or SITE_DOWN naming the server when it cannot be reached. */
async function open(dataDir: string, site: string, purpose: string): Promise<{ c: pg.Client; d: PgDeployment; server: PgDeployment['sites'][number]['primary'] }> {
  const { d, server, login } = target(dataDir, site)
  const c = new pg.Client({
    ...login,
    application_name: `iddb:console:${purpose}`, connectionTimeoutMillis: CONNECT_MS, statement_timeout: STATEMENT_MS,
  })
  c.on('error', () => { /* a server that goes away mid-call fails the call itself */ })
  try {
    await c.connect()
  } catch (e) {
    await c.end().catch(() => {})
    throw new EngineError('SITE_DOWN', `live server ${server.id} (${hostOf(d, server)}:${server.port}, database ${siteDatabaseOf(d, server)}) cannot be reached: ${(e as Error).message}`, { site })
  }
  return { c, d, server }
}

/** Wraps a server's error as the site's (the message names the server); EngineErrors pass through. */
function asSiteError(e: unknown, site: string, server: string): EngineError {
  if (e instanceof EngineError) return e
  const err = e as Error & { code?: string }
  const lost = !err.code || /^08|^57P0/.test(err.code)
  return new EngineError(lost ? 'SITE_DOWN' : 'SQL_ERROR', `${server}: ${err.message}`, { site })
}

/** ANALYZE of the site's database at its primary; returns how long it took, ms. */
export async function analyzeSite(dataDir: string, site: string): Promise<{ site: string; server: string; ms: number; at: string }> {
  const { c, server } = await open(dataDir, site, 'catalog')
  const at = new Date().toISOString()
  const t0 = performance.now()
  try {
    await c.query('ANALYZE')
    return { site, server: server.id, ms: Math.round(performance.now() - t0), at }
  } catch (e) {
    throw asSiteError(e, site, server.id)
  } finally { await c.end().catch(() => {}) }
}

/**
 * The site's local catalog read from its primary now, with count(*) of every table; `analyze` runs ANALYZE first
 * (every table read whole up to 30,000 rows per table at the default statistics target: reltuples is then exact).
 */
export async function readLiveCatalog(dataDir: string, site: string, o: { analyze?: boolean } = {}): Promise<LiveCatalogRead> {
  const { c, d, server } = await open(dataDir, site, 'catalog')
  const readAt = new Date().toISOString()
  const t0 = performance.now()
  try {
    if (o.analyze) await c.query('ANALYZE')
    await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY')
    const cat = await liveLocalCatalog(c)
    const counts: Record<string, number> = {}
    if (cat.tables.length) {
      const r = await c.query(cat.tables.map((t) => `SELECT ${pgLiteral(t.TABLE_NAME)} AS t, count(*)::bigint AS n FROM public.${quote(t.TABLE_NAME)}`).join(' UNION ALL '))
      for (const row of r.rows) counts[String(row.t)] = Number(row.n)
    }
    const la = await c.query(`SELECT relname AS t, GREATEST(last_analyze, last_autoanalyze) AS at FROM pg_stat_user_tables WHERE schemaname = 'public'`)
    const lastAnalyzed: Record<string, string | null> = {}
    for (const row of la.rows) lastAnalyzed[String(row.t)] = row.at ? new Date(row.at as string).toISOString() : null
    await c.query('COMMIT')
    return {
      site, server: server.id, host: hostOf(d, server), port: server.port, database: siteDatabaseOf(d, server),
      readAt, readMs: Math.round(performance.now() - t0), analyzed: !!o.analyze, counts, lastAnalyzed, ...cat,
    }
  } catch (e) {
    throw asSiteError(e, site, server.id)
  } finally { await c.end().catch(() => {}) }
}

/** A string literal for PostgreSQL (standard_conforming_strings on, as the servers of `pg up` have it). */
const pgLiteral = (s: string) => `'${s.replace(/'/g, "''")}'`
