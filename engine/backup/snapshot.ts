/**
 * Backups by hand: a site, or every site at one consistent cut, to standard SQLite files with a manifest.
 *
 * The cut is taken synchronously: every chosen primary's image is exported in one turn of the event loop, so no
 * commit can fall between two sites' images (a local commit is synchronous; the images hold exactly the
 * records up to the seq each entry names). sql.js's export() closes and reopens the connection: SiteDb.export()
 * re-applies the PRAGMAs, functions and TEMP capture triggers (engine/site/db.ts). Hashing and writing run after
 * the cut, in chunks that yield and honour cancel. On disk a backup is written under temporary names and
 * renamed into place only when every file is complete, the manifest last: a cancelled or killed backup leaves
 * no partial file under a backup's name.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { createHash } from 'node:crypto'
import { EngineError } from '../errors'
import type { Cluster } from '../cluster'
import type { SiteCode } from '../topology/types'
import { formatSiteTime } from '../sim/kernel'
import { jobLog } from '../cluster/joblog'
import { BACKUP_FORMAT, BACKUP_VERSION, MANIFEST_FILE, backupTables, parseManifest, schemaVersionOf, siteFileName, type BackupFileEntry, type BackupManifest, type BackupSet } from './format'

/** What a long step needs from its host (a job): progress, and a checkpoint that yields and throws CANCELLED. */
export interface Work {
  progress(p: number, detail?: string): void
  checkpoint(): Promise<void>
}
export const NO_WORK: Work = { progress: () => {}, checkpoint: async () => {} }

const HASH_CHUNK = 4 * 2 ** 20

/** The images of the chosen sites at one instant (synchronous: nothing commits in between). */
export function cutImages(cluster: Cluster, sites: SiteCode[]): { virtualAt: number; images: { site: SiteCode; bytes: Uint8Array; seq: number; rows: Record<string, number>; schemaVersion: string }[] } {
  if (!sites.length) throw new EngineError('BAD_INPUT', 'name a site to back up (or every site)')
  for (const code of sites) {
    cluster.site(code) // UNKNOWN_SITE
    if (!cluster.isServerUp(`${code}.primary`)) throw cluster.siteDownError(code, `${code}.primary cannot be backed up`)
    if (cluster.siteInternals(code).primary.inTransaction) throw new EngineError('CONFLICT', `${code}.primary has an open transaction; back up after it ends`, { site: code })
  }
  const images = sites.map((code) => {
    const s = cluster.siteInternals(code)
    const rows: Record<string, number> = {}
    for (const t of backupTables(cluster.topology, code)) rows[t.name] = s.primary.count(t.name)
    const schemaVersion = schemaVersionOf(s.primary.db, cluster.topology, code)
    return { site: code, bytes: s.primary.export(), seq: s.seq, rows, schemaVersion }
  })
  return { virtualAt: cluster.sim.now, images }
}

async function hashChunked(bytes: Uint8Array, work: Work, done: number, total: number): Promise<string> {
  const h = createHash('sha256')
  for (let off = 0; off < bytes.length; off += HASH_CHUNK) {
    h.update(bytes.subarray(off, off + HASH_CHUNK))
    work.progress((done + Math.min(bytes.length, off + HASH_CHUNK)) / Math.max(1, total), 'checksums')
    await work.checkpoint()
  }
  return h.digest('hex')
}

let backupSeq = 0

/** Who asked for a backup, for the job history (engine/cluster/joblog.ts). */
export interface BackupOrigin { trigger?: 'manual' | 'scheduled'; schedule?: string | null; hostJob?: string | null }

/** Takes a backup of the given sites (all of them = one consistent cut of the cluster) into memory. */
export async function takeBackup(cluster: Cluster, sites: SiteCode[] | 'all', work: Work = NO_WORK, wallNow: () => number = Date.now, origin: BackupOrigin = {}): Promise<BackupSet> {
  const codes = sites === 'all' ? cluster.siteCodes : [...new Set(sites)]
  work.progress(0, `cut of ${codes.join(', ')}`)
  await work.checkpoint()
  return backupNow(cluster, sites, work, wallNow, origin)
}

/**
 * The one backup path: the cut is taken synchronously, at the current virtual time (a schedule calls this
 * from its timer, so the cut is at the scheduled instant), then the files are hashed in chunks. Recorded as
 * a job in the engine's history: its virtual start, rows, bytes, wall time, or its error.
 */
export function backupNow(cluster: Cluster, sites: SiteCode[] | 'all', work: Work = NO_WORK, wallNow: () => number = Date.now, origin: BackupOrigin = {}): Promise<BackupSet> {
  const codes = sites === 'all' ? cluster.siteCodes : [...new Set(sites)]
  const scope = sites === 'all' || codes.length === cluster.siteCodes.length ? 'cluster' : 'site'
  const job = jobLog(cluster).start({
    kind: 'backup', site: scope === 'cluster' ? 'ALL' : codes.join('+'), label: `backup of ${scope === 'cluster' ? 'every site (one cut)' : codes.join(', ')}`,
    trigger: origin.trigger, schedule: origin.schedule, hostJob: origin.hostJob,
  })
  const t0 = performance.now()
  let cut: ReturnType<typeof cutImages>
  try { cut = cutImages(cluster, codes) } catch (e) { job.fail(e); return Promise.reject(e) }
  return (async () => {
    try {
      const set = await assemble(cluster, codes, scope, cut, work, wallNow)
      job.done({ rows: backupRows(set), bytes: backupBytes(set), wallMs: Math.round(performance.now() - t0), detail: set.manifest.id })
      return set
    } catch (e) { job.fail(e, { wallMs: Math.round(performance.now() - t0) }); throw e }
  })()
}

async function assemble(cluster: Cluster, codes: SiteCode[], scope: 'cluster' | 'site', cut: ReturnType<typeof cutImages>, work: Work, wallNow: () => number): Promise<BackupSet> {
  const total = cut.images.reduce((a, i) => a + i.bytes.length, 0)
  const files = new Map<string, Uint8Array>()
  const entries: BackupFileEntry[] = []
  let done = 0
  for (const img of cut.images) {
    const file = siteFileName(img.site)
    const sum = await hashChunked(img.bytes, work, done, total)
    done += img.bytes.length
    files.set(file, img.bytes)
    entries.push({ site: img.site, file, bytes: img.bytes.length, sha256: sum, seq: img.seq, schemaVersion: img.schemaVersion, rows: img.rows })
  }
  const id = `${codes.join('+')}-${formatSiteTime(cut.virtualAt).replace(/[^0-9]/g, '').slice(0, 14)}-${++backupSeq}`
  const manifest: BackupManifest = {
    format: BACKUP_FORMAT, version: BACKUP_VERSION, id, scope, sites: codes, virtualAt: cut.virtualAt,
    virtualLocal: formatSiteTime(cut.virtualAt), wallAt: new Date(wallNow()).toISOString(), files: entries,
  }
  cluster.log('backup', `backup ${id} taken: ${codes.join(', ')} at ${manifest.virtualLocal} (${total.toLocaleString('en')} bytes)`)
  return { manifest, files }
}

export const backupBytes = (set: BackupSet) => [...set.files.values()].reduce((a, b) => a + b.length, 0)
export const backupRows = (set: BackupSet) => set.manifest.files.reduce((a, f) => a + Object.values(f.rows).reduce((x, y) => x + y, 0), 0)

const WRITE_CHUNK = 4 * 2 ** 20

function fsyncDir(dir: string): void {
  try { const fd = openSync(dir, 'r'); try { fsyncSync(fd) } finally { closeSync(fd) } } catch { /* not everywhere */ }
}

/**
 * Writes a backup into `dir` (created if missing; must not already hold a backup): each file under a temporary
 * name, fsync'd, then all renamed into place with the manifest last. Cancel or failure removes the temporaries.
 */
export async function writeBackupDir(set: BackupSet, dir: string, work: Work = NO_WORK): Promise<string[]> {
  mkdirSync(dir, { recursive: true })
  const names = [...set.files.keys(), MANIFEST_FILE]
  const clash = names.filter((n) => existsSync(join(dir, n)))
  if (clash.length) {
    const interrupted = !existsSync(join(dir, MANIFEST_FILE)) ? ' (without a manifest.json: what is left of an interrupted backup, which no restore accepts)' : ''
    throw new EngineError('CONFLICT', `${dir} already holds ${clash.join(', ')}${interrupted}: write a backup to a new or empty directory`)
  }
  const tmp = (n: string) => join(dir, `.${n}.${set.manifest.id}.part`)
  const written: string[] = []
  const total = [...set.files.values()].reduce((a, b) => a + b.length, 0)
  let done = 0
  try {
    for (const [name, bytes] of set.files) {
      const fd = openSync(tmp(name), 'w')
      written.push(tmp(name))
      try {
        for (let off = 0; off < bytes.length;) {
          off += writeSync(fd, bytes, off, Math.min(WRITE_CHUNK, bytes.length - off))
          work.progress((done + off) / Math.max(1, total), `writing ${name}`)
          await work.checkpoint()
        }
        fsyncSync(fd)
      } finally { closeSync(fd) }
      done += bytes.length
    }
    const fd = openSync(tmp(MANIFEST_FILE), 'w')
    written.push(tmp(MANIFEST_FILE))
    try { writeSync(fd, `${JSON.stringify(set.manifest, null, 2)}\n`); fsyncSync(fd) } finally { closeSync(fd) }
    await work.checkpoint() // the last point a cancel applies: what follows only renames
  } catch (e) {
    for (const p of written) { try { unlinkSync(p) } catch { /* already gone */ } }
    throw e
  }
  for (const n of set.files.keys()) renameSync(tmp(n), join(dir, n))
  renameSync(tmp(MANIFEST_FILE), join(dir, MANIFEST_FILE))
  fsyncDir(dir)
  // temporaries of these names left by an interrupted backup into this directory (never read by a restore)
  for (const f of readdirSync(dir)) if (names.some((n) => f.startsWith(`.${n}.`) && f.endsWith('.part'))) { try { unlinkSync(join(dir, f)) } catch { /* gone */ } }
  return names.map((n) => join(dir, n))
}

/**
 * Reads a backup from a directory holding manifest.json, or from one of its .sqlite files (the manifest beside
 * it; only that file is read). Files are read as they are: validation (format/validateSiteFile) judges them.
 */
export function readBackup(path: string): BackupSet {
  if (!existsSync(path)) throw new EngineError('NOT_FOUND', `no backup at ${path}`)
  const isDir = statSync(path).isDirectory()
  const dir = isDir ? path : dirname(path)
  const mpath = join(dir, MANIFEST_FILE)
  if (!existsSync(mpath)) {
    throw new EngineError('CORRUPT_DATA', `${dir} has no ${MANIFEST_FILE}${isDir && readdirSync(dir).some((f) => f.endsWith('.sqlite')) ? ' beside its .sqlite files' : ''}: without it the files' site, schema and checksum cannot be checked`)
  }
  const manifest = parseManifest(readFileSync(mpath, 'utf8'), mpath)
  const files = new Map<string, Uint8Array>()
  for (const f of manifest.files) {
    if (!isDir && f.file !== basename(path)) continue
    const p = join(dir, f.file)
    if (existsSync(p)) { const b = readFileSync(p); files.set(f.file, new Uint8Array(b.buffer, b.byteOffset, b.length)) }
  }
  if (!isDir && !manifest.files.some((f) => f.file === basename(path))) throw new EngineError('CORRUPT_DATA', `${mpath} does not list ${basename(path)}`)
  return { manifest, files }
}
