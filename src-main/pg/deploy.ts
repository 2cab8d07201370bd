/**
 * `iddb pg up|down|status` as functions (the CLI and the tests call these): a whole deployment of live
 * PostgreSQL sites on this machine — servers, standbys, the design loaded — and its live state.
 */
import { defaultTopology } from '../../engine/topology/default'
import { EngineError } from '../../engine/errors'
import type { TopologySpec } from '../../engine/topology/types'
import { createServers, createStandbys, loginOf, makeStandbysSynchronous, readDeployment, readPassword, serverStates, stopDeployment, writeDeployment, type LocalDeployment, type PgDeployment, type PgServer } from './servers'
import { connectTo, DEFAULT_SALES, loadDesign, type LoadSummary } from './load'
import { hostOf, planWan, tearDownWan, type WanKind } from './wan'
import { installCapture } from './propagate'

export interface PgUpResult { deployment: LocalDeployment; load: LoadSummary; ms: number }

export async function pgUp(o: { dataDir: string; seed?: number; sales?: number; basePort?: number; topology?: TopologySpec; durable?: boolean; onProgress?: (m: string) => void
  /** 't1': each branch's servers in a network namespace behind its modelled link from the console's site (HQ). */
  wan?: WanKind
}): Promise<PgUpResult> {
  const t0 = performance.now()
  const topo = o.topology ?? defaultTopology()
  // the console (and the DTM's coordinator) sits at HQ: the branches are the far ends of its links
  const wan = o.wan ? planWan(o.dataDir, o.wan, topo, (topo.sites.find((s) => s.hq) ?? topo.sites[0]).code) : undefined
  const d = createServers({ dataDir: o.dataDir, sites: topo.sites.map((s) => ({ code: s.code, hq: s.hq })), basePort: o.basePort ?? 54320, durable: o.durable, onProgress: o.onProgress, wan })
  try {
    const password = readPassword(o.dataDir, d)
    const load = await loadDesign(d, password, { seed: o.seed ?? 1, sales: o.sales ?? DEFAULT_SALES, topology: o.topology, onProgress: o.onProgress })
    d.design = { seed: load.seed, sales: load.sales } // the live console builds its catalog metadata from the same design
    writeDeployment(o.dataDir, d)
    installCapture(o.dataDir, d, topo)
    createStandbys(o.dataDir, d, password, o.onProgress)
    await makeStandbysSynchronous(d, password)
    return { deployment: d, load, ms: Math.round(performance.now() - t0) }
  } catch (e) {
    stopDeployment(o.dataDir, 'immediate')
    if (d.wan) tearDownWan(d.wan)
    throw e
  }
}

/** Stops every server; under --wan also removes the branches' namespaces and veths (pg start makes them again). */
export function pgDown(dataDir: string): string[] {
  const stopped = stopDeployment(dataDir, 'fast')
  const d = readDeployment(dataDir)
  if (d.wan) tearDownWan(d.wan)
  return stopped
}

export interface ServerStatus {
  id: string; site: string; role: 'primary' | 'standby'; host: string; port: number; running: boolean
  /** What the server says of itself (pg_is_in_recovery): a standby that is not in recovery has been promoted. */
  inRecovery?: boolean
  /** Primary: its standbys as pg_stat_replication shows them. */
  replication?: { state: string; sync: string; lagBytes: number | null }[]
  /** Standby: how far behind its last replayed transaction is, ms (null when nothing was replayed yet). */
  replayDelayMs?: number | null
  error?: string
}

async function probe(dataDir: string, d: PgDeployment, s: PgServer): Promise<Partial<ServerStatus>> {
  let c: import('pg').Client
  try { c = connectTo(loginOf(dataDir, d, s)) } catch (e) { return { error: (e as Error).message } }
  try {
    await c.connect()
    const rec = (await c.query('SELECT pg_is_in_recovery() AS r')).rows[0].r as boolean
    if (!rec) {
      const r = await c.query('SELECT state, sync_state, pg_wal_lsn_diff(sent_lsn, replay_lsn)::float8 AS lag FROM pg_stat_replication')
      return { inRecovery: rec, replication: r.rows.map((x) => ({ state: String(x.state), sync: String(x.sync_state), lagBytes: x.lag === null ? null : Number(x.lag) })) }
    }
    const r = await c.query('SELECT (EXTRACT(EPOCH FROM (now() - pg_last_xact_replay_timestamp())) * 1000)::float8 AS ms')
    return { inRecovery: rec, replayDelayMs: r.rows[0].ms === null ? null : Math.round(Number(r.rows[0].ms)) }
  } catch (e) {
    return { error: (e as Error).message }
  } finally { await c.end().catch(() => {}) }
}

export async function pgStatus(dataDir: string): Promise<{ deployment: PgDeployment; servers: ServerStatus[] }> {
  const d = readDeployment(dataDir)
  const states = serverStates(dataDir)
  const servers: ServerStatus[] = []
  for (const { server, running } of states) {
    const base: ServerStatus = { id: server.id, site: server.site, role: server.role, host: hostOf(d, server), port: server.port, running }
    servers.push(running ? { ...base, ...(await probe(dataDir, d, server)) } : base)
  }
  return { deployment: d, servers }
}

/** Runs fn with a connection to a site's current primary (its database), closed afterwards. */
export async function withSiteClient<T>(dataDir: string, site: string, fn: (c: import('pg').Client) => Promise<T>): Promise<T> {
  const d = readDeployment(dataDir)
  const s = d.sites.find((x) => x.code === site)
  if (!s) throw new EngineError('UNKNOWN_SITE', `no site ${site} in this deployment (sites: ${d.sites.map((x) => x.code).join(', ')})`)
  const c = connectTo(loginOf(dataDir, d, s.primary))
  await c.connect()
  try { return await fn(c) } finally { await c.end().catch(() => {}) }
}
