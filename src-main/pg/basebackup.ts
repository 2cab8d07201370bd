/**
 * Physical backups of a site's primary with pg_basebackup, and their verification by restore.
 *
 * A base backup is `pg_basebackup -Ft -X stream --checkpoint=fast --manifest-checksums=SHA256` of the site's
 * primary into DIR/<site>-base-<stamp>/ (written under a `.partial` name and renamed when complete): base.tar,
 * pg_wal.tar (uncompressed: pg_verifybackup reads only plain directories, so verification extracts them anyway) and
 * PostgreSQL's own backup_manifest. Beside it, our manifest (iddb-base.json): kind 'base', site, server, timeline and
 * start/end LSN (from backup_manifest's WAL-Ranges), every file's size and SHA-256, and the source's per-table
 * checksums taken in a snapshot right after pg_basebackup returned (with the LSN of that moment). The backup itself
 * is consistent as of its end LSN; the checksums equal it when nothing was committed between the two LSNs, which
 * the manifest lets a reader see (sourceLsn vs endLsn) and which verification reports rather than hides.
 *
 * Verification checks our manifest's sizes and SHA-256s (a damaged archive is refused before anything runs),
 * extracts the tars into a temporary directory given to the servers' OS user, runs pg_verifybackup on it, starts it
 * as a scratch server on a free loopback port, computes tableChecksums there, compares, stops it and removes it.
 */
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, appendFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join, resolve } from 'node:path'
import { EngineError } from '../../engine/errors'
import { giveTreeToServers, loginOf, pgProgram, readDeployment, rebuildStandby, replacePrimaryData, requireLocalServers, siteDatabaseOf } from './servers'
import { connectTo } from './load'
import { captureLost, capturedKeys, recapture, resyncRepository, run, tableChecksums, type PgJobOptions } from './backup'
import { defaultTopology } from '../../engine/topology/default'
import type { TopologySpec } from '../../engine/topology/types'
import { freePorts } from './ports'
import type { LiveBaseRestoreResult, LiveBaseVerifyResult } from '../ipc/contract/liveRepl'

type Checksums = Record<string, { rows: number; md5: string }>

/** Our manifest of a base backup (iddb-base.json inside the backup's directory). */
export interface PgBaseBackupManifest {
  format: 'iddb-pg-backup'
  version: 1
  kind: 'base'
  site: string
  server: string
  database: string
  pgVersion: string
  takenAt: string
  /** The backup's directory name (beside its siblings in the backups directory). */
  dir: string
  timeline: number
  startLsn: string
  endLsn: string
  /** The primary's WAL position when the source checksums were taken (just after the backup ended). */
  sourceLsn: string
  files: { name: string; bytes: number; sha256: string }[]
  bytes: number
  /** The site database's tables at the primary, in one snapshot taken right after pg_basebackup returned. */
  tables: Checksums
}

const MANIFEST = 'iddb-base.json'
const sha256File = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex')

/** Takes a base backup of a site's primary into outDir; returns our manifest. */
export async function pgBaseBackup(dataDir: string, o: { site: string; outDir: string } & PgJobOptions): Promise<PgBaseBackupManifest> {
  const d = readDeployment(dataDir)
  const s = d.sites.find((x) => x.code === o.site)
  if (!s) throw new EngineError('UNKNOWN_SITE', `no site ${o.site} in this deployment (sites: ${d.sites.map((x) => x.code).join(', ')})`)
  const database = siteDatabaseOf(d, s.primary)
  const login = loginOf(dataDir, d, s.primary, database)
  mkdirSync(o.outDir, { recursive: true })
  const name = `${s.code}-base-${new Date().toISOString().replace(/[:.]/g, '-')}`
  const dir = join(resolve(o.outDir), name)
  const tmp = `${dir}.partial`
  rmSync(tmp, { recursive: true, force: true })
  o.onProgress?.(0.1, `pg_basebackup of ${s.primary.id}`)
  try {
    await run('pg_basebackup', ['-h', login.host, '-p', String(login.port), '-U', login.user, '-D', tmp, '-Ft', '-X', 'stream', '--checkpoint=fast', '--manifest-checksums=SHA256', '--no-sync'], login.password, o.signal)
  } catch (e) { rmSync(tmp, { recursive: true, force: true }); throw e }
  try {
    o.onProgress?.(0.7, `checksums of ${database} at ${s.primary.id}`)
    const c = connectTo(login)
    await c.connect()
    let tables: Checksums
    let sourceLsn: string
    try {
      await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY')
      tables = await tableChecksums(c)
      sourceLsn = String((await c.query('SELECT pg_current_wal_lsn()::text AS l')).rows[0].l)
      await c.query('COMMIT')
    } finally { await c.end().catch(() => {}) }
    if (o.signal?.aborted) throw new EngineError('CANCELLED', `the base backup of ${s.code} cancelled`)
    const pgm = JSON.parse(readFileSync(join(tmp, 'backup_manifest'), 'utf8')) as { 'WAL-Ranges': { Timeline: number; 'Start-LSN': string; 'End-LSN': string }[] }
    const range = pgm['WAL-Ranges'][0]
    o.onProgress?.(0.9, 'SHA-256 of the archive files')
    const files = readdirSync(tmp).sort().map((f) => ({ name: f, bytes: statSync(join(tmp, f)).size, sha256: sha256File(join(tmp, f)) }))
    const m: PgBaseBackupManifest = {
      format: 'iddb-pg-backup', version: 1, kind: 'base', site: s.code, server: s.primary.id, database, pgVersion: d.pgVersion,
      takenAt: new Date().toISOString(), dir: name, timeline: range.Timeline, startLsn: range['Start-LSN'], endLsn: range['End-LSN'], sourceLsn,
      files, bytes: files.reduce((n, f) => n + f.bytes, 0), tables,
    }
    writeFileSync(join(tmp, MANIFEST), `${JSON.stringify(m, null, 2)}\n`)
    renameSync(tmp, dir)
    return m
  } catch (e) { rmSync(tmp, { recursive: true, force: true }); throw e }
}

/** Reads our manifest of a base backup and checks every archive file's size and SHA-256 against it. */
export function readBaseBackup(backupDir: string): PgBaseBackupManifest {
  const f = join(backupDir, MANIFEST)
  if (!existsSync(f)) throw new EngineError('NOT_FOUND', `no base backup manifest ${f}`)
  let m: PgBaseBackupManifest
  try { m = JSON.parse(readFileSync(f, 'utf8')) as PgBaseBackupManifest } catch (e) { throw new EngineError('CORRUPT_DATA', `${f} is not a base backup manifest: ${(e as Error).message}`) }
  if (m.format !== 'iddb-pg-backup' || m.version !== 1 || m.kind !== 'base') throw new EngineError('CORRUPT_DATA', `${f} is not an iddb base backup manifest`)
  for (const x of m.files) {
    const p = join(backupDir, basename(x.name))
    if (!existsSync(p)) throw new EngineError('NOT_FOUND', `${p} named by the manifest is missing`)
    const size = statSync(p).size
    if (size !== x.bytes) throw new EngineError('CORRUPT_DATA', `${p} holds ${size} bytes, the manifest says ${x.bytes}: the archive is truncated or not this backup`, { site: m.site })
    if (sha256File(p) !== x.sha256) throw new EngineError('CORRUPT_DATA', `${p} does not match its SHA-256 in the manifest: the archive is damaged`, { site: m.site })
  }
  return m
}

/** What a verification by restore found (the console's result adds the backup's name). */
export type BaseVerifyResult = Omit<LiveBaseVerifyResult, 'name'>

function tar(args: string[]): void {
  const r = spawnSync('tar', args, { encoding: 'utf8' })
  if (r.status !== 0) throw new EngineError('CORRUPT_DATA', `tar ${args.join(' ')} failed: ${(r.stderr || r.stdout).trim()}`)
}

/**
 * Verifies a base backup by restoring it: checks the archive, extracts it, runs pg_verifybackup, starts it as a
 * scratch server (loopback, a free port, as the servers' OS user), compares its tables with the manifest, removes it.
 */
export async function verifyBaseBackup(dataDir: string, backupDir: string, o: PgJobOptions = {}): Promise<BaseVerifyResult> {
  return verifyRead(dataDir, backupDir, readBaseBackup(backupDir), o)
}

/** Each table of the manifest beside what a server holds (and a table the manifest does not name, as unequal). */
function compareTables(want: Checksums, got: Checksums): BaseVerifyResult['tables'] {
  const tables = Object.entries(want).map(([t, w]) => ({ table: t, rows: got[t]?.rows ?? -1, expectedRows: w.rows, equal: got[t]?.md5 === w.md5 && got[t].rows === w.rows }))
  for (const t of Object.keys(got)) if (!(t in want)) tables.push({ table: t, rows: got[t].rows, expectedRows: -1, equal: false })
  return tables
}

/** verifyBaseBackup with the manifest already read and its files checked (readBaseBackup). */
async function verifyRead(dataDir: string, backupDir: string, m: PgBaseBackupManifest, o: PgJobOptions): Promise<BaseVerifyResult> {
  const t0 = Date.now()
  const d = readDeployment(dataDir)
  const s = d.sites.find((x) => x.code === m.site)
  if (!s) throw new EngineError('UNKNOWN_SITE', `the backup is of ${m.site}, not a site of this deployment`)
  const login = loginOf(dataDir, d, s.primary, m.database)
  const root = mkdtempSync(join(tmpdir(), 'iddb-verify-'))
  chmodSync(root, 0o755)
  const data = join(root, 'data')
  let started = false
  try {
    o.onProgress?.(0.1, 'extracting the archive')
    mkdirSync(join(data, 'pg_wal'), { recursive: true })
    chmodSync(data, 0o700)
    tar(['-xf', join(backupDir, 'base.tar'), '-C', data])
    tar(['-xf', join(backupDir, 'pg_wal.tar'), '-C', join(data, 'pg_wal')])
    // the servers' OS user reads the backup's own manifest from the tree it is given (the backups directory is not its)
    copyFileSync(join(backupDir, 'backup_manifest'), join(root, 'backup_manifest'))
    giveTreeToServers(root)
    o.onProgress?.(0.3, 'pg_verifybackup')
    const out = pgProgram('pg_verifybackup', ['-m', join(root, 'backup_manifest'), data])
    if (o.signal?.aborted) throw new EngineError('CANCELLED', 'the verification cancelled')
    const port = await freePorts(1, 40000)
    appendFileSync(join(data, 'postgresql.auto.conf'), `\n# iddb: scratch server verifying ${m.dir}\nport = ${port}\nlisten_addresses = '127.0.0.1'\nsynchronous_standby_names = ''\n`)
    const log = join(root, 'server.log')
    writeFileSync(log, '')
    giveTreeToServers(root)
    o.onProgress?.(0.5, `starting the scratch server on port ${port}`)
    pgProgram('pg_ctl', ['-D', data, '-l', log, '-w', '-t', '120', 'start'])
    started = true
    const c = connectTo({ ...login, host: '127.0.0.1', port })
    await c.connect()
    let got: Checksums
    try { got = await tableChecksums(c) } finally { await c.end().catch(() => {}) }
    o.onProgress?.(0.9, 'comparing')
    const tables = compareTables(m.tables, got)
    return { site: m.site, endLsn: m.endLsn, sourceLsn: m.sourceLsn, verifybackup: out.trim().split('\n').slice(-1)[0], tables, equal: tables.every((t) => t.equal), ms: Date.now() - t0 }
  } finally {
    if (started) { try { pgProgram('pg_ctl', ['-D', data, '-m', 'immediate', '-w', '-t', '60', 'stop']) } catch { /* already stopped */ } }
    rmSync(root, { recursive: true, force: true })
  }
}

/** What an in-place restore of a base backup did (the console's result adds the backup's name). */
export type BaseRestoreResult = Omit<LiveBaseRestoreResult, 'name'>

/**
 * Restores a site's primary from a base backup, in place: the backup is verified first (its files' SHA-256, then
 * restored into a scratch server: pg_verifybackup and every table's checksum — a backup that does not restore is
 * refused before the site is touched); then the primary is stopped, its data directory kept aside
 * (`<dir>.before-restore-<time>`: nothing deleted), the archive extracted in its place and the server started,
 * recovering to the backup's end LSN. The site's standby is built anew from it (it had streamed past that point);
 * the restored tables are put into the outbox again (the copies take the restored rows), the rows the site held
 * before and no longer has are deleted at the copies (captureLost), and the restored tables' checksums are
 * compared with the manifest's. Commits made at the site after the backup are gone from it (they are
 * in the directory kept aside); a transaction the backup holds prepared is prepared again, for its coordinator's
 * log to finish.
 */
export async function restoreBaseBackup(dataDir: string, backupDir: string, o: PgJobOptions & { topology?: TopologySpec } = {}): Promise<BaseRestoreResult> {
  const t0 = Date.now()
  const d = requireLocalServers(readDeployment(dataDir), 'a physical restore (the site\'s server is stopped and started here)')
  const m = readBaseBackup(backupDir)
  o.onProgress?.(0.05, 'verifying the backup in a scratch server first')
  const v = await verifyRead(dataDir, backupDir, m, { signal: o.signal, onProgress: (p, msg) => o.onProgress?.(0.05 + p * 0.4, msg) })
  if (o.signal?.aborted) throw new EngineError('CANCELLED', 'the restore cancelled before the site was touched')
  const s = d.sites.find((x) => x.code === m.site)
  if (!s) throw new EngineError('UNKNOWN_SITE', `the backup is of ${m.site}, not a site of this deployment`)
  // the keys its copies hold now (a primary that does not answer: not known, and nothing is deleted from them)
  const login = loginOf(dataDir, d, s.primary, m.database)
  const before = await capturedKeys(login).catch(() => undefined)
  o.onProgress?.(0.5, `stopping ${s.primary.id} and putting the backup in its place`)
  const kept = replacePrimaryData(dataDir, m.site, (data) => {
    mkdirSync(join(data, 'pg_wal'), { recursive: true })
    tar(['-xf', join(backupDir, 'base.tar'), '-C', data])
    tar(['-xf', join(backupDir, 'pg_wal.tar'), '-C', join(data, 'pg_wal')])
  })
  o.onProgress?.(0.7, `rebuilding ${s.standby?.id ?? 'the standby'} from the restored primary`)
  await rebuildStandby(dataDir, m.site)
  o.onProgress?.(0.9, 'checksums of the restored tables')
  const c = connectTo(login)
  await c.connect()
  let got: Checksums
  try { got = await tableChecksums(c) } finally { await c.end().catch(() => {}) }
  await recapture(login)
  const lost = before ? await captureLost(login, before) : null
  // the repository's server restored: the main repository went back to the backup with it
  const prunedFromRepository = m.site === d.repository.site ? await resyncRepository(dataDir, d, o.topology ?? defaultTopology()) : undefined
  const tables = compareTables(m.tables, got)
  return { site: m.site, endLsn: m.endLsn, sourceLsn: m.sourceLsn, kept, verifiedFirst: v.equal, deletedAtCopies: lost, ...(prunedFromRepository !== undefined ? { prunedFromRepository } : {}), tables, equal: tables.every((t) => t.equal), ms: Date.now() - t0 }
}
