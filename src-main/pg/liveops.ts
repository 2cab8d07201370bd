/**
 * The Replication & Backup and Backups consoles over live PostgreSQL servers (the console's live mode): what
 * they ask of the servers, asynchronously, outside the synchronous bridge.
 *
 * - replicationStatus: each site's two servers as they say of themselves (pg_is_in_recovery: a standby that is
 *   not in recovery has been promoted), the primary's standbys from pg_stat_replication (state, sync_state, the
 *   bytes sent but not yet replayed, replay_lag) and the standby's own replay delay.
 * - Backups are kept with the deployment, in DIR/backups (backup.ts: pg_dump custom format and a checksummed
 *   manifest per backup); listBackups reads every manifest there and checks its file (size and SHA-256), so a
 *   damaged backup is listed as damaged, with the reason, not offered for a restore.
 * - refreshStockCopy: the Stock_MBI refresh group between the real servers — Mumbai's Stock_MBI_LCL copied
 *   into Colombo's Stock_MBI in one transaction at Colombo, both sides' checksums compared before it commits.
 */
import { existsSync, mkdirSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import pg from 'pg'
import { EngineError, toErrorInfo } from '../../engine/errors'
import { readBackup } from './backup'
import { readBaseBackup } from './basebackup'
import { connectTo, qid } from './load'
import { loginOf, readDeployment, serverStates, type PgDeployment, type PgServer } from './servers'
import type { LiveBackupEntry, LiveBaseBackupEntry, LiveReplicationStatus, LiveServerState, LiveSiteReplication, LiveStandbyLink, StockRefreshResult } from '../ipc/contract/liveRepl'

/** Where the console keeps a deployment's backups. */
export const backupDir = (dataDir: string): string => join(dataDir, 'backups')

/** A backup's manifest file name as the console names it (no directory: it is always in DIR/backups). */
export const MANIFEST_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,150}\.dump\.json$/

/** How long a status probe waits for each server, ms (a server that does not answer is reported, not waited for). */
const PROBE_MS = 3_000

const ms = (v: unknown): number | null => (v === null || v === undefined ? null : Math.round(Number(v)))

async function probe(dataDir: string, d: PgDeployment, s: PgServer, running: boolean): Promise<{ state: LiveServerState; links: LiveStandbyLink[]; replayDelayMs: number | null }> {
  const state: LiveServerState = { id: s.id, role: s.role, port: s.port, running, inRecovery: null, lsn: null }
  if (!running) return { state, links: [], replayDelayMs: null }
  let login
  try { login = loginOf(dataDir, d, s) } catch (e) { state.error = (e as Error).message; return { state, links: [], replayDelayMs: null } }
  const c = new pg.Client({ ...login, connectionTimeoutMillis: PROBE_MS })
  c.on('error', () => {})
  try {
    await c.connect()
    await c.query(`SET statement_timeout = ${PROBE_MS}`)
    const rec = (await c.query('SELECT pg_is_in_recovery() AS r')).rows[0].r as boolean
    state.inRecovery = rec
    if (!rec) {
      state.lsn = String((await c.query('SELECT pg_current_wal_lsn()::text AS l')).rows[0].l)
      const r = await c.query(`SELECT application_name, state, sync_state, pg_wal_lsn_diff(sent_lsn, replay_lsn)::float8 AS lag,
        (EXTRACT(EPOCH FROM replay_lag) * 1000)::float8 AS replay_ms FROM pg_stat_replication ORDER BY application_name`)
      const links = r.rows.map((x) => ({ application: String(x.application_name), state: String(x.state), sync: String(x.sync_state), lagBytes: x.lag === null ? null : Number(x.lag), replayLagMs: ms(x.replay_ms) }))
      return { state, links, replayDelayMs: null }
    }
    const r = (await c.query(`SELECT pg_last_wal_replay_lsn()::text AS l,
      (EXTRACT(EPOCH FROM (now() - pg_last_xact_replay_timestamp())) * 1000)::float8 AS ms`)).rows[0]
    state.lsn = r.l === null ? null : String(r.l)
    return { state, links: [], replayDelayMs: ms(r.ms) }
  } catch (e) {
    state.error = (e as Error).message
    return { state, links: [], replayDelayMs: null }
  } finally { await c.end().catch(() => {}) }
}

/** Every site's primary and standby as they say of themselves, with the replication between them. */
export async function replicationStatus(dataDir: string, consolePort: (site: string) => number | undefined = () => undefined): Promise<Omit<LiveReplicationStatus, 'propagation'>> {
  const d = readDeployment(dataDir)
  const running = new Map(serverStates(dataDir).map((x) => [x.server.id, x.running]))
  const sites = await Promise.all(d.sites.map(async (s): Promise<LiveSiteReplication> => {
    // an attached site whose topology file names no standby: there is none to probe
    const none: PgServer = { id: `${s.code}.backup`, site: s.code, role: 'standby', port: 0, dir: '', log: '' }
    const standby = s.standby ?? none
    const [p, b] = await Promise.all([probe(dataDir, d, s.primary, running.get(s.primary.id) ?? false), probe(dataDir, d, standby, running.get(standby.id) ?? false)])
    const streaming = p.links.some((l) => l.state === 'streaming')
    const problem = !p.state.running ? `${s.primary.id} is not running: promote the standby (failover) or start the server`
      : p.state.inRecovery !== false ? `${s.primary.id} does not accept writes${p.state.error ? `: ${p.state.error}` : ' (it is in recovery)'}`
        : !s.standby ? `${s.code} has no standby: the topology file names none`
          : !b.state.running ? `${standby.id} is not running: the site has no standby (rebuild it from ${s.primary.id})`
            : !streaming ? `${standby.id} runs but does not stream from ${s.primary.id}${b.state.error ? `: ${b.state.error}` : ''}`
            : null
    return { site: s.code, primary: p.state, standby: b.state, links: p.links, replayDelayMs: b.replayDelayMs, consolePort: consolePort(s.code) ?? null, healthy: problem === null, problem }
  }))
  return { deployment: dataDir, at: new Date().toISOString(), repository: { ...d.repository }, sites }
}

/** A base backup's directory name (pgBaseBackup: `<SITE>-base-<time>`); a `.partial` one is still being written. */
export const BASE_NAME = /^[A-Z]{3}-base-[0-9TZ-]{10,40}$/

/** The physical backups in DIR/backups, newest first, each checked against its manifest (sizes and SHA-256 of its files). */
export function listBaseBackups(dataDir: string): LiveBaseBackupEntry[] {
  const dir = backupDir(dataDir)
  if (!existsSync(dir)) return []
  const out: LiveBaseBackupEntry[] = []
  for (const name of readdirSync(dir).filter((f) => BASE_NAME.test(f))) {
    try {
      const m = readBaseBackup(join(dir, name))
      out.push({ name, ok: true, site: m.site, server: m.server, takenAt: m.takenAt, endLsn: m.endLsn, bytes: m.bytes, error: null })
    } catch (e) {
      const err = toErrorInfo(e)
      out.push({ name, ok: false, site: name.slice(0, 3), server: null, takenAt: null, endLsn: null, bytes: 0, error: err })
    }
  }
  return out.sort((a, b) => b.name.localeCompare(a.name))
}

/** The backups in DIR/backups, newest first, each checked against its manifest. */
export function listBackups(dataDir: string): LiveBackupEntry[] {
  const dir = backupDir(dataDir)
  if (!existsSync(dir)) return []
  const out: LiveBackupEntry[] = []
  for (const name of readdirSync(dir).filter((f) => MANIFEST_NAME.test(f))) {
    try {
      const { manifest } = readBackup(join(dir, name))
      out.push({ name, ok: true, manifest, rows: Object.values(manifest.tables).reduce((n, t) => n + t.rows, 0) })
    } catch (e) {
      out.push({ name, ok: false, error: toErrorInfo(e), manifest: null, rows: 0 })
    }
  }
  const at = (e: LiveBackupEntry) => e.manifest?.takenAt ?? ''
  return out.sort((a, b) => (at(b) === at(a) ? b.name.localeCompare(a.name) : at(b).localeCompare(at(a))))
}

/** The path of a backup's manifest in DIR/backups, refusing a name that is not one (no directories, no other files). */
export function backupManifestPath(dataDir: string, name: string): string {
  if (!MANIFEST_NAME.test(name) || name.includes('..')) throw new EngineError('BAD_INPUT', `${name.slice(0, 80)} is not the name of a backup manifest in the deployment's backups (<SITE>-<time>.dump.json)`)
  const dir = backupDir(dataDir)
  mkdirSync(dir, { recursive: true })
  return join(dir, name)
}

/**
 * The Stock_MBI refresh group between the real servers: Mumbai's Stock_MBI_LCL replaces Colombo's copy
 * Stock_MBI in one transaction at Colombo (the source read in one snapshot); the copy's checksum must equal the
 * source's before the transaction commits, or nothing changes.
 */
export async function refreshStockCopy(dataDir: string, o: { copy?: string; site?: string; source?: string; sourceSite?: string } = {}): Promise<StockRefreshResult> {
  const t0 = performance.now()
  const copy = o.copy ?? 'Stock_MBI'
  const source = o.source ?? 'Stock_MBI_LCL'
  const d = readDeployment(dataDir)
  const site = o.site ?? d.repository.site
  const sourceSite = o.sourceSite ?? 'MBI'
  const at = (code: string) => {
    const s = d.sites.find((x) => x.code === code)
    if (!s) throw new EngineError('UNKNOWN_SITE', `no site ${code} in this deployment (sites: ${d.sites.map((x) => x.code).join(', ')})`)
    return s
  }
  const src = connectTo(loginOf(dataDir, d, at(sourceSite).primary))
  const dst = connectTo(loginOf(dataDir, d, at(site).primary))
  src.on('error', () => {})
  dst.on('error', () => {})
  try {
    await src.connect()
    await dst.connect()
    const sum = async (c: pg.Client, t: string) => {
      const r = await c.query(`SELECT COUNT(*)::int AS rows, md5(COALESCE(string_agg(t::text, E'\\n' ORDER BY t::text), '')) AS md5 FROM ${qid(t)} t`)
      return { rows: Number(r.rows[0].rows), md5: String(r.rows[0].md5) }
    }
    await src.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY')
    const cols = (await src.query("SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position", [source])).rows.map((r) => String(r.column_name))
    if (!cols.length) throw new EngineError('UNKNOWN_TABLE', `no table ${source} at ${sourceSite}'s server`, { site: sourceSite })
    const want = await sum(src, source)
    const rows = (await src.query({ text: `SELECT ${cols.map(qid).join(', ')} FROM ${qid(source)}`, rowMode: 'array' })).rows as unknown[][]
    await src.query('COMMIT')
    await dst.query('BEGIN')
    try {
      const have = (await dst.query("SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position", [copy])).rows.map((r) => String(r.column_name))
      if (have.join(',') !== cols.join(',')) throw new EngineError('CONFLICT', `${copy} at ${site} has columns (${have.join(', ') || 'no such table'}), ${source} at ${sourceSite} has (${cols.join(', ')}): not a copy of it`, { site })
      await dst.query(`DELETE FROM ${qid(copy)}`)
      for (let i = 0; i < rows.length; i += 200) {
        const part = rows.slice(i, i + 200)
        const params: unknown[] = []
        const tuples = part.map((r) => `(${r.map((v) => { params.push(v); return `$${params.length}` }).join(', ')})`)
        await dst.query(`INSERT INTO ${qid(copy)} (${cols.map(qid).join(', ')}) VALUES ${tuples.join(', ')}`, params)
      }
      const got = await sum(dst, copy)
      if (got.rows !== want.rows || got.md5 !== want.md5) throw new EngineError('CORRUPT_DATA', `${copy} at ${site} would hold ${got.rows} rows (md5 ${got.md5}), ${source} at ${sourceSite} holds ${want.rows} (md5 ${want.md5}): the refresh is rolled back`, { site })
      await dst.query('COMMIT')
      return { copy, site, source, sourceSite, rows: got.rows, md5: got.md5, ms: Math.round(performance.now() - t0) }
    } catch (e) {
      await dst.query('ROLLBACK').catch(() => {})
      throw e
    }
  } finally {
    await src.end().catch(() => {})
    await dst.end().catch(() => {})
  }
}
