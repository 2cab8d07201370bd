/**
 * Fills live PostgreSQL sites with the distributed design: the same engine that builds the embedded cluster
 * (engine/data: global schema, fragmentation and allocation; engine/catalog: the global and local catalogs;
 * the seeded generator) builds it once in memory, and every site's tables — fragments, replicas, copies and
 * catalogs — are created and copied into that site's PostgreSQL database, the main repository into its own
 * database on the HQ server. One definition of the design, two kinds of site store.
 *
 * Names keep their exact case (`"Employees_KDY"`, `"EMPNO"`): SQL sent to a live site quotes every identifier.
 * Security users (SEC_* tables) are not copied: at a live site they are PostgreSQL roles. Each database also
 * gets the few SQLite functions the query processor's statements may call (dialect.ts PG_COMPAT_SQL).
 */
import pg from 'pg'
import { Cluster } from '../../engine/cluster'
import type { TopologySpec } from '../../engine/topology/types'
import type { SiteDb } from '../../engine/site/db'
import type { PgDeployment, PgLogin } from './servers'
import { hostOf } from './wan'
import { PG_COMPAT_SQL } from './dialect'
import type { SyncPg } from './syncbridge'

type Value = string | number | null | Uint8Array

export interface LoadSummary { seed: number; sales: number; tables: Record<string, Record<string, number>>; ms: number }

export const qid = (name: string) => `"${name.replace(/"/g, '""')}"`

/** Tables of an embedded database that a live site holds (no engine internals, no security tables). */
export function copiedTables(db: SiteDb): { name: string; columns: { name: string; type: string; pk: number }[] }[] {
  const names = db.query("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '\\_\\_%' ESCAPE '\\' AND name NOT LIKE 'SEC\\_%' ESCAPE '\\' ORDER BY name").rows.map((r) => String(r[0]))
  return names.map((name) => ({
    name,
    columns: db.query(`PRAGMA table_info(${qid(name)})`).rows.map((r) => ({ name: String(r[1]), type: String(r[2] ?? '').toUpperCase(), pk: Number(r[5]) })),
  }))
}

/**
 * SQLite's declared type → PostgreSQL's (SQLite INTEGER is 64-bit). An untyped column holds text or numbers
 * (a local catalog's LKEY/HKEY): jsonb keeps each value's class, and the client reads it back as the same JS
 * number or string, as sql.js gives it.
 */
export function pgType(sqliteType: string): string {
  if (sqliteType === '') return 'jsonb'
  if (sqliteType.includes('INT')) return 'bigint'
  if (sqliteType.includes('REAL') || sqliteType.includes('FLOA') || sqliteType.includes('DOUB')) return 'double precision'
  if (sqliteType.includes('BLOB')) return 'bytea'
  return 'text'
}

export function createTableDdl(t: ReturnType<typeof copiedTables>[number]): string {
  const pk = t.columns.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk).map((c) => qid(c.name))
  const cols = t.columns.map((c) => `${qid(c.name)} ${pgType(c.type)}`)
  return `CREATE TABLE ${qid(t.name)} (${[...cols, ...(pk.length ? [`PRIMARY KEY (${pk.join(', ')})`] : [])].join(', ')})`
}

/**
 * One table `name` on the bridge's connection `target` holding every row of `sources` (fragments, read from their
 * live sites): the union a one-database reference keeps. Its shape is the first source's as the embedded cluster
 * has it. Returns the number of rows copied.
 */
export function copyUnion(bridge: SyncPg, cluster: Cluster, target: string, name: string, sources: readonly { site: string; name: string }[]): number {
  const shape = copiedTables(cluster.siteInternals(sources[0].site).primary).find((t) => t.name === sources[0].name)!
  bridge.query(target, createTableDdl({ ...shape, name }))
  let rows = 0
  for (const f of sources) {
    const r = bridge.queryArrays(f.site, `SELECT ${shape.columns.map((c) => qid(c.name)).join(', ')} FROM ${qid(f.name)}`)
    for (let i = 0; i < r.rows.length; i += 200) {
      const params: unknown[] = []
      const tuples = r.rows.slice(i, i + 200).map((row) => `(${row.map((v) => { params.push(v); return `$${params.length}` }).join(', ')})`)
      bridge.query(target, `INSERT INTO ${qid(name)} VALUES ${tuples.join(', ')}`, params)
    }
    rows += r.rows.length
  }
  return rows
}

/** Copies one embedded table into the connected PostgreSQL database (created new), in batches; returns its rows. */
export async function copyTable(client: pg.Client, db: SiteDb, t: ReturnType<typeof copiedTables>[number]): Promise<number> {
  await client.query(createTableDdl(t))
  const untyped = t.columns.map((c) => c.type === '')
  const rows = db.query(`SELECT * FROM ${qid(t.name)}`).rows as Value[][]
  const batch = Math.max(1, Math.floor(20_000 / t.columns.length))
  const head = `INSERT INTO ${qid(t.name)} (${t.columns.map((c) => qid(c.name)).join(', ')}) VALUES `
  for (let i = 0; i < rows.length; i += batch) {
    const part = rows.slice(i, i + batch)
    const params: unknown[] = []
    const tuples = part.map((r) => `(${r.map((v, j) => {
      params.push(v instanceof Uint8Array ? Buffer.from(v) : untyped[j] && v !== null ? JSON.stringify(v) : v)
      return `$${params.length}`
    }).join(', ')})`)
    await client.query(head + tuples.join(', '), params)
  }
  return rows.length
}

/** A client (not yet connected) for one server's login (servers.ts loginOf). */
export function connectTo(l: PgLogin, applicationName?: string): pg.Client {
  return new pg.Client({ ...l, connectionTimeoutMillis: 10_000, ...(applicationName ? { application_name: applicationName } : {}) })
}

export function connect(d: PgDeployment, port: number, database: string, password: string): pg.Client {
  return new pg.Client({ host: hostOf(d, port), port, user: d.user, password, database, connectionTimeoutMillis: 10_000 })
}

/** The SALES rows `iddb pg up` and `iddb pg attach` load unless told otherwise. */
export const DEFAULT_SALES = 20_000

/** Creates the site databases and the repository database, then loads the generated design into them. */
export async function loadDesign(d: PgDeployment, password: string, o: { seed: number; sales: number; topology?: TopologySpec; onProgress?: (m: string) => void
  /** Attached servers (attach.ts): each server's own login, into databases that exist (none are created here). */
  login?: (server: PgDeployment['sites'][number]['primary'], database: string) => PgLogin
}): Promise<LoadSummary> {
  const t0 = performance.now()
  o.onProgress?.(`generating the design (seed ${o.seed}, ${o.sales} sales)`)
  const cluster = await Cluster.create({ seed: o.seed, sales: o.sales, topology: o.topology })
  const summary: LoadSummary = { seed: o.seed, sales: o.sales, tables: {}, ms: 0 }
  try {
    for (const s of d.sites) {
      if (!o.login) {
        const admin = connect(d, s.primary.port, 'postgres', password)
        await admin.connect()
        try {
          await admin.query(`CREATE DATABASE ${qid(d.database)}`)
          if (s.code === d.repository.site) await admin.query(`CREATE DATABASE ${qid(d.repository.database)}`)
        } finally { await admin.end() }
      }
      const site = cluster.siteInternals(s.code)
      const targets: [string, SiteDb | undefined, string][] = [[s.code, site.primary, s.primary.database ?? d.database], [`${s.code}.repository`, site.repository, d.repository.database]]
      for (const [label, db, database] of targets) {
        if (!db) continue
        o.onProgress?.(`loading ${label}`)
        const client = o.login ? connectTo(o.login(s.primary, database)) : connect(d, s.primary.port, database, password)
        await client.connect()
        try {
          await client.query('BEGIN')
          const counts: Record<string, number> = {}
          for (const t of copiedTables(db)) counts[t.name] = await copyTable(client, db, t)
          await client.query(PG_COMPAT_SQL) // SQLite's functions the DQP's statements may call (dialect.ts)
          await client.query('COMMIT')
          await client.query('ANALYZE')
          summary.tables[label] = counts
        } finally { await client.end() }
      }
    }
  } finally { cluster.close({ checkpoint: false }) }
  summary.ms = Math.round(performance.now() - t0)
  return summary
}
