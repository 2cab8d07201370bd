/**
 * `iddb pg attach --topology FILE --data DIR`: the real deployment, one PostgreSQL server per branch that this
 * machine does not run. The topology file names each site's connection — host, port, database, user, and where
 * its password is (`passwordEnv`: an environment variable; else the pgpass file, PGPASSFILE or ~/.pgpass) — and
 * optionally the site's standby. Passwords are never in the file (a `password` key is refused) nor in pg.json.
 *
 * Attaching checks every server (it answers with the given login, allows two-phase commit, its database is
 * empty unless --replace), loads the distributed design into the site databases and the main repository's
 * database at HQ, and writes DIR/pg.json marked `attached`. From then on `npm start -- --pg DIR` and every live
 * console work on those servers; starting, stopping, building standbys and failing over are refused (the
 * servers' own machines do that).
 *
 * {
 *   "sites": {
 *     "CMB": { "host": "db-cmb.example", "port": 5432, "database": "iddb", "user": "iddb_cmb", "passwordEnv": "IDDB_PW_CMB",
 *              "standby": { "host": "db-cmb-2.example", "port": 5432 } },
 *     "MBI": { ... }, "KDY": { ... }
 *   },
 *   "repository": { "database": "iddb_repository" }
 * }
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { z } from 'zod'
import { EngineError } from '../../engine/errors'
import { defaultTopology } from '../../engine/topology/default'
import type { TopologySpec } from '../../engine/topology/types'
import { connectTo, DEFAULT_SALES, loadDesign, qid, type LoadSummary } from './load'
import { installCapture } from './propagate'
import { loginOf, REPOSITORY_DATABASE, SITE_DATABASE, writeDeployment, type PgDeployment, type PgServer } from './servers'

const name63 = z.string().min(1).max(63)
const endpoint = { host: z.string().min(1).max(255), port: z.number().int().min(1).max(65535) }
const siteSchema = z.object({
  ...endpoint,
  database: name63,
  user: name63,
  passwordEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name').optional(),
  standby: z.object(endpoint).strict().optional(),
}).strict()
const fileSchema = z.object({
  version: z.literal(1).optional(),
  sites: z.record(z.string(), siteSchema),
  repository: z.object({ database: name63 }).strict().optional(),
}).strict()

export type TopologyFile = z.infer<typeof fileSchema>

function hasPasswordKey(v: unknown): string | null {
  if (!v || typeof v !== 'object') return null
  for (const [k, x] of Object.entries(v)) {
    if (/^pass(word)?$/i.test(k)) return k
    const inner = hasPasswordKey(x)
    if (inner) return `${k}.${inner}`
  }
  return null
}

/** Reads and checks a topology file: every problem is a BAD_INPUT naming the file and the field. */
export function readTopologyFile(file: string, design: TopologySpec = defaultTopology()): TopologyFile {
  if (!existsSync(file)) throw new EngineError('NOT_FOUND', `no topology file ${file}`)
  let raw: unknown
  try { raw = JSON.parse(readFileSync(file, 'utf8')) } catch (e) { throw new EngineError('BAD_INPUT', `${file} is not valid JSON: ${(e as Error).message}`) }
  const pw = hasPasswordKey(raw)
  if (pw) throw new EngineError('BAD_INPUT', `${file}: "${pw}" — a password is never kept in the topology file; name an environment variable (passwordEnv) or put it in a pgpass file`)
  const r = fileSchema.safeParse(raw)
  if (!r.success) {
    const i = r.error.issues[0]
    throw new EngineError('BAD_INPUT', `${file}: ${i.path.join('.') || '(top)'}: ${i.message}`)
  }
  const want = design.sites.map((s) => s.code).sort()
  const have = Object.keys(r.data.sites).sort()
  if (want.join() !== have.join()) throw new EngineError('BAD_INPUT', `${file} names sites ${have.join(', ') || 'none'}; the design has ${want.join(', ')}: give each one server`)
  // PostgreSQL's prepared-transaction ids are per server: two sites on one server could not both prepare a transaction
  const seen = new Map<string, string>()
  for (const [code, s] of Object.entries(r.data.sites)) {
    const key = `${s.host.toLowerCase()}:${s.port}`
    if (seen.has(key)) throw new EngineError('BAD_INPUT', `${file}: ${seen.get(key)} and ${code} name the same server ${key}: each site needs a server of its own (two-phase commit ids are per server)`)
    seen.set(key, code)
  }
  return r.data
}

/** The deployment a topology file describes (no server contacted). */
export function attachedDeployment(file: string, t: TopologyFile, design: TopologySpec = defaultTopology()): PgDeployment {
  const hq = (design.sites.find((s) => s.hq) ?? design.sites[0]).code
  const server = (code: string, role: 'primary' | 'standby', e: { host: string; port: number }, s: TopologyFile['sites'][string]): PgServer => ({
    id: `${code}.${role === 'primary' ? 'primary' : 'backup'}`, site: code, role, host: e.host, port: e.port, dir: '', log: '',
    user: s.user, database: s.database, ...(s.passwordEnv ? { passwordEnv: s.passwordEnv } : {}),
  })
  return {
    version: 1, host: t.sites[hq].host, user: t.sites[hq].user, pgVersion: '', database: SITE_DATABASE,
    sites: design.sites.map((x) => {
      const s = t.sites[x.code]
      return { code: x.code, hq: x.hq, primary: server(x.code, 'primary', s, s), ...(s.standby ? { standby: server(x.code, 'standby', s.standby, s) } : {}) }
    }),
    repository: { site: hq, database: t.repository?.database ?? REPOSITORY_DATABASE },
    createdAt: new Date().toISOString(),
    attached: { topologyFile: resolve(file), attachedAt: new Date().toISOString() },
  }
}

export interface PgAttachResult { deployment: PgDeployment; load: LoadSummary; servers: { site: string; server: string; version: string }[]; ms: number }

/**
 * Attaches the servers a topology file names: checks each, loads the design, writes DIR/pg.json. Nothing is
 * written to DIR and nothing is loaded until every server has passed its checks.
 */
export async function pgAttach(o: { dataDir: string; topologyFile: string; seed?: number; sales?: number; topology?: TopologySpec; replace?: boolean; onProgress?: (m: string) => void }): Promise<PgAttachResult> {
  const t0 = performance.now()
  const design = o.topology ?? defaultTopology()
  const dir = resolve(o.dataDir)
  if (existsSync(resolve(dir, 'pg.json'))) throw new EngineError('CONFLICT', `${dir} already holds a PostgreSQL deployment (iddb pg status --data ${o.dataDir})`)
  const t = readTopologyFile(o.topologyFile, design)
  const d = attachedDeployment(o.topologyFile, t, design)
  const servers: PgAttachResult['servers'] = []
  const login = (s: PgServer, database?: string) => loginOf(dir, d, s, database)
  for (const s of d.sites) {
    o.onProgress?.(`checking ${s.primary.id} (${s.primary.user}@${s.primary.host}:${s.primary.port}/${s.primary.database})`)
    const dbs = [s.primary.database!, ...(s.code === d.repository.site ? [d.repository.database] : [])]
    for (const database of dbs) {
      const c = connectTo(login(s.primary, database), 'iddb:attach')
      c.on('error', () => {})
      try {
        await c.connect()
      } catch (e) {
        throw new EngineError('SITE_DOWN', `${s.primary.id} (${s.primary.host}:${s.primary.port}, database ${database}, user ${s.primary.user}) cannot be reached: ${(e as Error).message}`, { site: s.code })
      }
      try {
        const r = (await c.query(`SELECT current_setting('server_version_num')::int AS v, current_setting('max_prepared_transactions')::int AS mpt,
          (SELECT count(*)::int FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')) AS tables`)).rows[0]
        const version = Math.floor(Number(r.v) / 10000)
        if (version < 13) throw new EngineError('UNSUPPORTED', `${s.primary.id} runs PostgreSQL ${version}: iddb needs 13 or later`, { site: s.code })
        if (Number(r.mpt) < 1) throw new EngineError('UNSUPPORTED', `${s.primary.id}: max_prepared_transactions is 0 — two-phase commit needs it above 0 (postgresql.conf, then restart the server)`, { site: s.code })
        if (Number(r.tables) > 0 && !o.replace) throw new EngineError('CONFLICT', `${database} at ${s.primary.id} already holds ${r.tables} table(s): attach loads the design into empty databases (--replace drops what is there)`, { site: s.code })
        if (database === s.primary.database) { servers.push({ site: s.code, server: s.primary.id, version: String(version) }); d.pgVersion ||= String(version) }
      } finally { await c.end().catch(() => {}) }
    }
  }
  if (o.replace) {
    for (const s of d.sites) for (const database of [s.primary.database!, ...(s.code === d.repository.site ? [d.repository.database] : [])]) {
      o.onProgress?.(`--replace: emptying ${database} at ${s.primary.id}`)
      const c = connectTo(login(s.primary, database), 'iddb:attach')
      await c.connect()
      try {
        const schemas = (await c.query("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'iddb\\_%'")).rows.map((x) => String(x.nspname))
        const tables = (await c.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).rows.map((x) => String(x.tablename))
        await c.query('BEGIN')
        for (const n of schemas) await c.query(`DROP SCHEMA ${qid(n)} CASCADE`)
        for (const n of tables) await c.query(`DROP TABLE IF EXISTS ${qid(n)} CASCADE`)
        await c.query('COMMIT')
      } finally { await c.end().catch(() => {}) }
    }
  }
  mkdirSync(dir, { recursive: true })
  const load = await loadDesign(d, '', { seed: o.seed ?? 1, sales: o.sales ?? DEFAULT_SALES, topology: o.topology, onProgress: o.onProgress, login: (s, database) => login(s, database) })
  d.design = { seed: load.seed, sales: load.sales }
  writeDeployment(dir, d)
  installCapture(dir, d, o.topology ?? defaultTopology())
  return { deployment: d, load, servers, ms: Math.round(performance.now() - t0) }
}
