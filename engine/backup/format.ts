/**
 * The backup format: one standard SQLite file per site (the primary's byte image, `<SITE>.sqlite`, openable
 * with any SQLite tool) and a manifest beside them (`manifest.json`) recording the cut (virtual and wall time),
 * and per file its site, the site's commit record it holds, its schema version, row counts and SHA-256.
 * Validation refuses, with a clear error and before anything is changed: a manifest that is not one, a file
 * the manifest does not list or that is missing, a truncated file (shorter than the manifest says, or than its
 * own SQLite header says), a wrong checksum, a file that is not a SQLite database, a file of another site,
 * and a file of another schema.
 */
import { createHash } from 'node:crypto'
import type { Database, SqlJsStatic } from 'sql.js'
import { EngineError } from '../errors'
import { localTables, type LocalTable } from '../catalog/catalog'
import { createTableSql } from '../data/schema'
import type { SiteCode, TopologySpec } from '../topology/types'
import { SQLITE_MAGIC } from '../storage/files'
import { quoteId } from '../site/sqljs'
import { BACKUP_FORMAT, type BackupFileEntry, type BackupManifest } from '../api/backup'

export { BACKUP_FORMAT, type BackupFileEntry, type BackupManifest }

export const BACKUP_VERSION = 1
export const MANIFEST_FILE = 'manifest.json'



/** A backup in memory: the manifest and the bytes of each file it lists. */
export interface BackupSet { manifest: BackupManifest; files: Map<string, Uint8Array> }

export const siteFileName = (site: SiteCode) => `${site}.sqlite`

export function sha256(bytes: Uint8Array): string { return createHash('sha256').update(bytes).digest('hex') }

/** The fragment tables a site's backup covers (its own data: fragments, local tables, replicas, copies). */
export function backupTables(topo: TopologySpec, site: SiteCode): LocalTable[] { return localTables(topo, site) }

/** Columns (name, declared type, key position) of each table, in name order: the schema a file is checked against. */
function schemaOf(db: Database, tables: string[]): string {
  const parts: string[] = []
  for (const t of [...tables].sort()) {
    const cols = db.exec(`PRAGMA table_info(${quoteId(t)})`)[0]?.values ?? []
    parts.push(`${t}(${cols.map((c) => `${String(c[1])}:${String(c[2]).toUpperCase()}:${Number(c[5])}`).join(',')})`)
  }
  return parts.join(';')
}
const versionOf = (schema: string) => `s1-${createHash('sha256').update(schema).digest('hex').slice(0, 16)}`

/** The schema version of a site's data as the topology defines it (independent of the primary's state). */
export function expectedSchemaVersion(SQL: SqlJsStatic, topo: TopologySpec, site: SiteCode): string {
  const db = new SQL.Database()
  try {
    const tables = backupTables(topo, site)
    for (const t of tables) db.exec(createTableSql(t.name, t.rel, t.columns))
    return versionOf(schemaOf(db, tables.map((t) => t.name)))
  } finally { db.close() }
}

/** The schema version of an open database, for the site's tables (a missing table gives an empty column list). */
export function schemaVersionOf(db: Database, topo: TopologySpec, site: SiteCode): string {
  return versionOf(schemaOf(db, backupTables(topo, site).map((t) => t.name)))
}

/** Length a SQLite file must have according to its own header (page size × page count), or null if unknown. */
export function sqliteDeclaredLength(bytes: Uint8Array): number | null {
  if (bytes.length < 100) return null
  const raw = (bytes[16] << 8) | bytes[17]
  const pageSize = raw === 1 ? 65536 : raw
  const pages = ((bytes[28] << 24) | (bytes[29] << 16) | (bytes[30] << 8) | bytes[31]) >>> 0
  const changeCounter = ((bytes[24] << 24) | (bytes[25] << 16) | (bytes[26] << 8) | bytes[27]) >>> 0
  const validFor = ((bytes[92] << 24) | (bytes[93] << 16) | (bytes[94] << 8) | bytes[95]) >>> 0
  if (!pages || validFor !== changeCounter) return null // the in-header size is valid only when these match
  return pageSize * pages
}

/** Parses and checks a manifest's shape (CORRUPT_DATA naming what is wrong). */
export function parseManifest(text: string, where = MANIFEST_FILE): BackupManifest {
  let m: unknown
  try { m = JSON.parse(text) } catch (e) { throw new EngineError('CORRUPT_DATA', `${where} is not JSON (${e instanceof Error ? e.message : String(e)})`) }
  const o = m as Partial<BackupManifest>
  if (!o || typeof o !== 'object' || o.format !== BACKUP_FORMAT) throw new EngineError('CORRUPT_DATA', `${where} is not an Infinity DDB backup manifest (format "${String(o?.format)}")`)
  if (o.version !== BACKUP_VERSION) throw new EngineError('UNSUPPORTED', `${where} is backup format version ${String(o.version)}; this console reads version ${BACKUP_VERSION}`)
  if (!Array.isArray(o.files) || !o.files.every((f) => f && typeof f.site === 'string' && typeof f.file === 'string' && typeof f.sha256 === 'string' && Number.isInteger(f.bytes) && Number.isInteger(f.seq))) {
    throw new EngineError('CORRUPT_DATA', `${where}: its file list is malformed`)
  }
  if (!o.files.every((f) => /^[A-Za-z0-9_-]{1,40}\.sqlite$/.test(f.file))) throw new EngineError('CORRUPT_DATA', `${where}: a file name is not <SITE>.sqlite`)
  return o as BackupManifest
}

export interface ValidatedFile { entry: BackupFileEntry; bytes: Uint8Array; db: Database }

/**
 * Checks one site's file of a backup: listed, present, complete, checksum, SQLite, this site's, this schema.
 * Returns the file opened (the caller closes `db`). Nothing is changed anywhere.
 */
export function validateSiteFile(SQL: SqlJsStatic, topo: TopologySpec, set: BackupSet, site: SiteCode): ValidatedFile {
  const m = set.manifest
  const entry = m.files.find((f) => f.site === site)
  if (!entry) throw new EngineError('BAD_INPUT', `backup ${m.id} holds ${m.files.map((f) => f.site).join(', ') || 'no site'}, not ${site}: a site is restored only from its own backup`, { site })
  const bytes = set.files.get(entry.file)
  if (!bytes) throw new EngineError('CORRUPT_DATA', `backup ${m.id}: ${entry.file} is missing (the manifest lists it)`, { site })
  if (bytes.length < entry.bytes) throw new EngineError('CORRUPT_DATA', `backup ${m.id}: ${entry.file} is truncated (${bytes.length} of ${entry.bytes} bytes)`, { site })
  if (bytes.length !== entry.bytes) throw new EngineError('CORRUPT_DATA', `backup ${m.id}: ${entry.file} is ${bytes.length} bytes, the manifest says ${entry.bytes}`, { site })
  if (bytes.length < 100 || Buffer.from(bytes.subarray(0, 16)).toString('latin1') !== SQLITE_MAGIC) throw new EngineError('CORRUPT_DATA', `backup ${m.id}: ${entry.file} is not a SQLite database file (bad header)`, { site })
  const declared = sqliteDeclaredLength(bytes)
  if (declared !== null && declared > bytes.length) throw new EngineError('CORRUPT_DATA', `backup ${m.id}: ${entry.file} is truncated (its header declares ${declared} bytes, the file has ${bytes.length})`, { site })
  const sum = sha256(bytes)
  if (sum !== entry.sha256) throw new EngineError('CORRUPT_DATA', `backup ${m.id}: ${entry.file} fails its checksum (SHA-256 ${sum.slice(0, 12)}…, the manifest says ${entry.sha256.slice(0, 12)}…)`, { site })
  let db: Database
  try { db = new SQL.Database(bytes) } catch (e) { throw new EngineError('CORRUPT_DATA', `backup ${m.id}: ${entry.file} cannot be opened (${e instanceof Error ? e.message : String(e)})`, { site }) }
  try {
    let who: unknown = null
    try { who = db.exec("SELECT v FROM __meta WHERE k = 'iddb.db'")[0]?.values[0]?.[0] ?? null } catch (e) {
      throw new EngineError('CORRUPT_DATA', `backup ${m.id}: ${entry.file} is not an Infinity DDB site database (${e instanceof Error ? e.message : String(e)})`, { site })
    }
    if (who !== `${site}.primary`) throw new EngineError('BAD_INPUT', `backup ${m.id}: ${entry.file} is the database of ${who === null ? 'no Infinity DDB site' : String(who)}, not ${site}.primary`, { site })
    const want = expectedSchemaVersion(SQL, topo, site)
    const have = schemaVersionOf(db, topo, site)
    if (have !== want || entry.schemaVersion !== want) {
      throw new EngineError('BAD_INPUT', `backup ${m.id}: ${entry.file} has schema ${have} (manifest ${entry.schemaVersion}); ${site} has schema ${want}: a file of another schema is not restored`, { site })
    }
    const seq = Number(db.exec("SELECT v FROM __meta WHERE k = 'seq'")[0]?.values[0]?.[0] ?? 0)
    if (seq !== entry.seq) throw new EngineError('CORRUPT_DATA', `backup ${m.id}: ${entry.file} holds record ${seq}, the manifest says ${entry.seq}`, { site })
    return { entry, bytes, db }
  } catch (e) { db.close(); throw e }
}
