/**
 * Backups of live PostgreSQL sites, and restores that change nothing unless they are right.
 *
 * A backup is `pg_dump --format=custom` of a site's database (or of the main repository) written under a temporary
 * name and renamed when complete, with a manifest beside it: site, database, server, PostgreSQL version, wall time,
 * the dump's size and SHA-256, and per table its row count and a content checksum (md5 over the rows in key order)
 * computed in the same snapshot as the dump (pg_dump --snapshot of an exported REPEATABLE READ snapshot).
 *
 * A restore checks the manifest and the file's SHA-256 first, restores into a scratch database, compares every
 * table's rows and checksum with the manifest, and only then replaces the site's database (a drop and a rename);
 * any refusal leaves the site's database as it was.
 */
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'
import type pg from 'pg'
import { EngineError } from '../../engine/errors'
import { findPgBin, loginOf, readDeployment, siteDatabaseOf, type PgDeployment } from './servers'
import { connectTo, qid } from './load'
import { defaultTopology } from '../../engine/topology/default'
import type { TopologySpec } from '../../engine/topology/types'
import { fragments } from '../../engine/data/schema'
import { channelSpecs } from '../../engine/site/replication'
import type { PgBackupManifest } from '../ipc/contract/liveRepl'

/** The manifest written beside each dump (its type is the IPC contract's: the live Backups console lists them). */
export type { PgBackupManifest }

const sha256File = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex')

/** Row count and content checksum of every table in the connected database (in the transaction's snapshot). */
export async function tableChecksums(c: pg.Client): Promise<Record<string, { rows: number; md5: string }>> {
  const names = (await c.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")).rows.map((r) => String(r.tablename))
  const out: Record<string, { rows: number; md5: string }> = {}
  for (const n of names) {
    const r = await c.query(`SELECT COUNT(*)::int AS rows, md5(COALESCE(string_agg(t::text, E'\\n' ORDER BY t::text), '')) AS md5 FROM ${qid(n)} t`)
    out[n] = { rows: r.rows[0].rows, md5: r.rows[0].md5 }
  }
  return out
}

function siteOf(d: PgDeployment, site: string) {
  const s = d.sites.find((x) => x.code === site)
  if (!s) throw new EngineError('UNKNOWN_SITE', `no site ${site} in this deployment (sites: ${d.sites.map((x) => x.code).join(', ')})`)
  return s
}

/** What a caller may pass to a backup or a restore: a signal that cancels it while it still can be cancelled. */
export interface PgJobOptions {
  /** Aborting stops pg_dump / pg_restore (SIGTERM) and the backup or restore fails with CANCELLED, nothing kept or changed. */
  signal?: AbortSignal
  onProgress?: (p: number, detail: string) => void
}

const cancelled = (what: string) => new EngineError('CANCELLED', `${what} cancelled`)

/** Runs a PostgreSQL client program asynchronously (the caller's event loop keeps running); an abort kills it. */
export function run(prog: string, args: string[], password: string, signal?: AbortSignal): Promise<void> {
  const bin = findPgBin()
  if (!bin) return Promise.reject(new EngineError('UNSUPPORTED', 'PostgreSQL client programs not found'))
  if (signal?.aborted) return Promise.reject(cancelled(prog))
  return new Promise((resolveRun, reject) => {
    const child = spawn(join(bin, prog), args, { env: { ...process.env, PGPASSWORD: password }, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (b: Buffer) => { out = (out + b.toString()).slice(-4000) })
    child.stderr.on('data', (b: Buffer) => { out = (out + b.toString()).slice(-4000) })
    const timer = setTimeout(() => child.kill('SIGTERM'), 600_000)
    const abort = () => child.kill('SIGTERM')
    signal?.addEventListener('abort', abort, { once: true })
    child.once('error', (e) => { clearTimeout(timer); signal?.removeEventListener('abort', abort); reject(new EngineError('INTERNAL', `${prog} could not start: ${e.message}`)) })
    child.once('close', (code, sig) => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', abort)
      if (signal?.aborted) reject(cancelled(prog))
      else if (code !== 0) reject(new EngineError('INTERNAL', `${prog} failed (${code === null ? `signal ${sig}` : `exit ${code}`}): ${out.trim().split('\n').slice(-3).join(' | ')}`))
      else resolveRun()
    })
  })
}

/**
 * After a restore: every table the live replication captures (propagate.ts, trigger iddb_capture_upd) has all its
 * rows put into the outbox again, in one transaction, so the copies (the main repository, the replicas) take the
 * restored rows — the writes made between the backup and the restore reached them; the restore itself, done under
 * the triggers, would not. Rows the copies got after the backup and the restored site no longer has are deleted
 * from them (captureLost).
 */
export async function recapture(login: ReturnType<typeof loginOf>, lockTimeoutMs = 0): Promise<void> {
  const c = connectTo(login)
  await c.connect()
  try {
    await c.query('BEGIN')
    // a row a prepared transaction holds (in doubt) would be waited for without end: with a limit, refused instead
    if (lockTimeoutMs > 0) await c.query(`SET LOCAL lock_timeout = ${Math.round(lockTimeoutMs)}`)
    for (const r of (await c.query(CAPTURED_SQL)).rows as Captured[]) await c.query(`UPDATE ${r.q} SET ${qid(r.k)} = ${qid(r.k)}`)
    await c.query('COMMIT')
  } finally { await c.end().catch(() => {}) }
}

/** The captured tables of a site's database (those with the capture trigger): their names, qualified names and one-column keys. */
const CAPTURED_SQL = `SELECT c.relname AS t, g.tgrelid::regclass::text AS q, a.attname AS k FROM pg_trigger g
  JOIN pg_class c ON c.oid = g.tgrelid
  JOIN pg_index i ON i.indrelid = g.tgrelid AND i.indisprimary AND i.indnatts = 1
  JOIN pg_attribute a ON a.attrelid = g.tgrelid AND a.attnum = i.indkey[0]
  WHERE g.tgname = 'iddb_capture_upd' ORDER BY 1`
type Captured = { t: string; q: string; k: string }

/**
 * The keys of every captured table at a site's database, as the capture trigger writes them (`to_jsonb(row) ->>
 * key`): what the site's copies hold of it, when they are up to date. Read before a restore (captureLost).
 */
export async function capturedKeys(login: ReturnType<typeof loginOf>): Promise<Map<string, Set<string>>> {
  const c = connectTo(login)
  await c.connect()
  try {
    const out = new Map<string, Set<string>>()
    for (const r of (await c.query(CAPTURED_SQL)).rows as Captured[]) {
      const keys = (await c.query(`SELECT to_jsonb(x) ->> $1 AS k FROM ${r.q} x`, [r.k])).rows.map((x) => String(x.k))
      out.set(r.t, new Set(keys))
    }
    return out
  } finally { await c.end().catch(() => {}) }
}

/**
 * After the main repository was restored from a backup: a row it holds of a global relation that no site's fragment
 * feeding it (engine/site/replication.ts channelSpecs: the horizontal, local and primary-copy fragments, under the
 * relation's name) holds any more was deleted at its site after the backup — it is deleted from the repository
 * too. In one repository transaction that first locks the relations (the applier's writes to them wait), then
 * reads the sites' keys, then deletes: a row a site commits meanwhile reaches the repository after it, never
 * before it and deleted. A relation fed by a site that cannot be read is left as it is (nothing is deleted on a
 * guess). Returns how many rows were deleted.
 */
export async function pruneRepository(dataDir: string, d: PgDeployment, topo: TopologySpec): Promise<number> {
  const hq = d.sites.find((x) => x.code === d.repository.site)
  if (!hq) return 0
  const frs = fragments(topo)
  // each relation of the repository: the site fragments whose rows it holds
  const feeds = new Map<string, { site: string; table: string }[]>()
  for (const x of d.sites) {
    const repo = channelSpecs(topo, x.code).find((sp) => sp.role === 'repository')
    if (!repo) continue
    for (const f of frs.filter((y) => y.site === x.code)) {
      for (const c of repo.map([{ t: f.name, op: 'D', r: f.columns.map(() => null) }])) {
        const l = feeds.get(c.t) ?? []
        l.push({ site: x.code, table: f.name })
        feeds.set(c.t, l)
      }
    }
  }
  const c = connectTo(loginOf(dataDir, d, hq.primary, d.repository.database))
  await c.connect()
  let n = 0
  try {
    await c.query('BEGIN')
    await c.query('SET LOCAL lock_timeout = 10000') // an applier of another console holding a relation: refused, not waited for
    const keyed = new Map((await c.query(KEYED_SQL)).rows.map((r: Captured) => [r.t, r]))
    const relations = [...feeds.keys()].filter((t) => keyed.has(t))
    for (const t of relations) await c.query(`LOCK TABLE ${keyed.get(t)!.q} IN SHARE ROW EXCLUSIVE MODE`)
    const held = new Map<string, Map<string, Set<string>> | null>()
    for (const x of d.sites) held.set(x.code, await capturedKeys(loginOf(dataDir, d, x.primary)).catch(() => null))
    for (const t of relations) {
      const from = feeds.get(t)!
      if (from.some((f) => !held.get(f.site)?.has(f.table))) continue // a source not read (or not captured): left alone
      const keys = from.flatMap((f) => [...held.get(f.site)!.get(f.table)!])
      const r = keyed.get(t)!
      n += (await c.query(`DELETE FROM ${r.q} x WHERE NOT ((to_jsonb(x) ->> $1) = ANY($2::text[]))`, [r.k, keys])).rowCount ?? 0
    }
    await c.query('COMMIT')
  } catch (e) {
    await c.query('ROLLBACK').catch(() => {})
    throw e
  } finally { await c.end().catch(() => {}) }
  return n
}

/** Every table of a database with a one-column primary key: its name, qualified name and key. */
const KEYED_SQL = `SELECT c.relname AS t, c.oid::regclass::text AS q, a.attname AS k FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
  JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary AND i.indnatts = 1
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = i.indkey[0]
  WHERE c.relkind = 'r' ORDER BY 1`

/**
 * After a restore: the rows the site held before it (`before`, from capturedKeys) and does not hold now are deleted
 * at its copies too — one outbox entry per table, deletes in the capture trigger's format — so the main repository
 * and the replicas do not keep rows the restored site no longer has. Returns how many deletes were put in the outbox.
 */
export async function captureLost(login: ReturnType<typeof loginOf>, before: Map<string, Set<string>>): Promise<number> {
  const after = await capturedKeys(login)
  const c = connectTo(login)
  await c.connect()
  let n = 0
  try {
    for (const [table, keys] of before) {
      const now = after.get(table)
      if (!now) continue // no longer captured here: nothing maps it to a copy
      const lost = [...keys].filter((k) => !now.has(k))
      if (!lost.length) continue
      await c.query('INSERT INTO iddb_repl.outbox (writes) VALUES ($1::jsonb)', [JSON.stringify(lost.map((key) => ({ table, key, row: null })))])
      n += lost.length
    }
  } finally { await c.end().catch(() => {}) }
  return n
}

/** Takes a backup of a site's database (or, with repository, of the main repository) into outDir. */
export async function pgBackup(dataDir: string, o: { site: string; outDir: string; repository?: boolean } & PgJobOptions): Promise<PgBackupManifest> {
  const d = readDeployment(dataDir)
  const s = siteOf(d, o.site)
  if (o.repository && s.code !== d.repository.site) throw new EngineError('BAD_INPUT', `the main repository is at ${d.repository.site}, not ${s.code}`)
  const database = o.repository ? d.repository.database : siteDatabaseOf(d, s.primary)
  const login = loginOf(dataDir, d, s.primary, database)
  mkdirSync(o.outDir, { recursive: true })
  const stamp = new Date().toISOString().replace(/[:.]/g, '-')
  const base = `${s.code}${o.repository ? '-repository' : ''}-${stamp}`
  const file = join(resolve(o.outDir), `${base}.dump`)
  const tmp = `${file}.partial`
  const c = connectTo(login)
  await c.connect()
  try {
    // one snapshot for the checksums and the dump: what the manifest says is what the file holds
    await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY')
    const snap = (await c.query('SELECT pg_export_snapshot() AS s')).rows[0].s as string
    o.onProgress?.(0.1, `checksums of ${database} at ${s.primary.id}`)
    const tables = await tableChecksums(c)
    if (o.signal?.aborted) throw cancelled(`the backup of ${s.code}`)
    o.onProgress?.(0.4, `pg_dump of ${database} at ${s.primary.id}`)
    try {
      await run('pg_dump', ['-h', login.host, '-p', String(login.port), '-U', login.user, '-d', database, '--format=custom', `--snapshot=${snap}`, '-f', tmp], login.password, o.signal)
    } catch (e) { rmSync(tmp, { force: true }); throw e }
    await c.query('COMMIT')
    o.onProgress?.(0.9, 'SHA-256 of the dump')
    renameSync(tmp, file)
    const m: PgBackupManifest = {
      format: 'iddb-pg-backup', version: 1, site: s.code, database, server: s.primary.id, pgVersion: d.pgVersion,
      takenAt: new Date().toISOString(), file: basename(file), bytes: statSync(file).size, sha256: sha256File(file), tables,
    }
    writeFileSync(`${file}.json`, `${JSON.stringify(m, null, 2)}\n`)
    return m
  } finally { await c.end().catch(() => {}) }
}

/** Reads and checks a backup's manifest and file (refusing a wrong format, a truncated file, a wrong checksum). */
export function readBackup(manifestFile: string): { manifest: PgBackupManifest; file: string } {
  if (!existsSync(manifestFile)) throw new EngineError('NOT_FOUND', `no backup manifest ${manifestFile}`)
  let m: PgBackupManifest
  try { m = JSON.parse(readFileSync(manifestFile, 'utf8')) as PgBackupManifest } catch (e) { throw new EngineError('CORRUPT_DATA', `${manifestFile} is not a backup manifest: ${(e as Error).message}`) }
  if (m.format !== 'iddb-pg-backup' || m.version !== 1) throw new EngineError('CORRUPT_DATA', `${manifestFile} is not an iddb PostgreSQL backup manifest`)
  const file = join(dirname(manifestFile), basename(m.file))
  if (!existsSync(file)) throw new EngineError('NOT_FOUND', `the backup file ${file} named by the manifest is missing`)
  const size = statSync(file).size
  if (size !== m.bytes) throw new EngineError('CORRUPT_DATA', `${file} holds ${size} bytes, the manifest says ${m.bytes}: the file is truncated or not this backup`)
  if (sha256File(file) !== m.sha256) throw new EngineError('CORRUPT_DATA', `${file} does not match its SHA-256 in the manifest: the backup is damaged`)
  return { manifest: m, file }
}

/** Restores a site's database from a backup; checks everything first and replaces the database only if it all holds. */
export async function pgRestore(dataDir: string, o: { manifest: string; site: string; topology?: TopologySpec } & PgJobOptions): Promise<{ tables: number; rows: number; pruned?: number }> {
  const d = readDeployment(dataDir)
  const s = siteOf(d, o.site)
  const { manifest: m, file } = readBackup(o.manifest)
  if (m.site !== s.code) throw new EngineError('BAD_INPUT', `this backup is of ${m.site}, not ${s.code}: restoring it would put another site's data here`)
  const target = m.database
  const scratch = `${target}__restoring`
  let before: Map<string, Set<string>> | undefined
  // the swap drops and renames the site's database: done from another database of the same server
  const login = loginOf(dataDir, d, s.primary, 'postgres')
  const admin = connectTo(login)
  await admin.connect()
  try {
    // a prepared transaction holds the database: it could not be dropped at the swap, so it is refused now
    const held = (await admin.query('SELECT gid FROM pg_prepared_xacts WHERE database = $1 ORDER BY gid', [target])).rows.map((r) => String(r.gid))
    if (held.length) throw new EngineError('CONFLICT', `${target} at ${s.primary.id} holds ${held.length} prepared transaction(s) (${held.slice(0, 3).join(', ')}${held.length > 3 ? ', …' : ''}): resolve them (COMMIT PREPARED or ROLLBACK PREPARED) before restoring`, { site: s.code })
    await admin.query(`DROP DATABASE IF EXISTS ${qid(scratch)} WITH (FORCE)`)
    await admin.query(`CREATE DATABASE ${qid(scratch)}`)
    try {
      o.onProgress?.(0.2, `pg_restore into ${scratch} at ${s.primary.id}`)
      await run('pg_restore', ['-h', login.host, '-p', String(login.port), '-U', login.user, '-d', scratch, '--no-owner', '--exit-on-error', file], login.password, o.signal)
      o.onProgress?.(0.7, `comparing ${scratch} with the manifest`)
      const c = connectTo({ ...login, database: scratch })
      await c.connect()
      let got: Record<string, { rows: number; md5: string }>
      try { got = await tableChecksums(c) } finally { await c.end() }
      for (const [t, want] of Object.entries(m.tables)) {
        const g = got[t]
        if (!g || g.rows !== want.rows || g.md5 !== want.md5) throw new EngineError('CORRUPT_DATA', `restored ${t} does not match the backup's manifest (${g ? `${g.rows} rows` : 'missing'}, expected ${want.rows})`)
      }
      if (o.signal?.aborted) throw cancelled(`the restore of ${s.code}`) // the last point where nothing has changed
    } catch (e) {
      await admin.query(`DROP DATABASE IF EXISTS ${qid(scratch)} WITH (FORCE)`)
      throw e
    }
    o.onProgress?.(0.9, `replacing ${target} with the verified copy`)
    before = await capturedKeys(loginOf(dataDir, d, s.primary, target)).catch(() => undefined)
    await admin.query(`DROP DATABASE IF EXISTS ${qid(target)} WITH (FORCE)`)
    await admin.query(`ALTER DATABASE ${qid(scratch)} RENAME TO ${qid(target)}`)
  } finally { await admin.end().catch(() => {}) }
  await recapture(loginOf(dataDir, d, s.primary, target))
  // what the copies got from the site after the backup, and the restored site no longer has, goes from them too
  if (before) await captureLost(loginOf(dataDir, d, s.primary, target), before)
  const summary = { tables: Object.keys(m.tables).length, rows: Object.values(m.tables).reduce((n, t) => n + t.rows, 0) }
  if (target === d.repository.database && s.code === d.repository.site) return { ...summary, pruned: await resyncRepository(dataDir, d, o.topology ?? defaultTopology()) }
  return summary
}

/**
 * After the main repository was put back to a backup (pg_restore of it, or a physical restore of its server): what
 * it had taken from the sites after the backup was removed from their outboxes then, so every site's captured rows
 * are sent again (upserts: what it has already is written the same), with a lock limit (a row a prepared
 * transaction holds is reported, CONFLICT, not waited for); and the rows the sites deleted after the backup are
 * deleted from it (pruneRepository: re-sending rows adds and updates, never deletes). Returns how many it deleted.
 */
export async function resyncRepository(dataDir: string, d: PgDeployment, topo: TopologySpec): Promise<number> {
  for (const x of d.sites) {
    try { await recapture(loginOf(dataDir, d, x.primary), 10_000) } catch (e) {
      throw new EngineError('CONFLICT', `the main repository is restored, but ${x.code}'s rows could not be sent to it again (${e instanceof Error ? e.message : String(e)}): what ${x.code} committed after the backup is not in it yet — resolve what holds ${x.code}'s rows (a prepared transaction) and restore again`, { site: x.code })
    }
  }
  return pruneRepository(dataDir, d, topo)
}
