/**
 * The data directory of a persisted cluster:
 *   cluster.json                     topology, seed, clock, failures, format version (atomic rewrite)
 *   <SITE>.primary.sqlite            standard SQLite files (openable with any SQLite tool), rewritten
 *   <SITE>.backup.sqlite             atomically at checkpoints (tmp file, fsync, rename, fsync dir)
 *   CMB.repository.sqlite            the main repository
 *   <SITE>.log                       the primary's append-only commit log, fsync'd before each commit is
 *                                    acknowledged; replayed on reopen and truncated at checkpoints to what is still needed
 *   <SITE>.backup.log                the backup server's copy of that log (written and forced with it): a
 *                                    damaged primary log is restored from it, with the backup image
 *   <log>.ack                        acknowledgement mark: the records floor+1 … last a log must hold
 *   <SITE>.2pc.log (+ .ack)          the DTM's 2PC log (engine/txn/filelog.ts), listed in cluster.json once created
 * A missing, corrupt or foreign file gives CORRUPT_DATA naming the file — never a silent reset.
 */
import { closeSync, existsSync, fsyncSync, linkSync, mkdirSync, openSync, readdirSync, readFileSync, unlinkSync, writeSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { SqlJsStatic } from 'sql.js'
import { DurableLog, readSqliteFile, removeStaleTemps, writeFileAtomic } from './files'
import { EngineError } from '../errors'
import type { TopologySpec } from '../topology/types'
import type { Degradation, LinkState } from '../net/network'
import type { LogBody, Site } from '../site/site'
import type { GenerateSummary } from '../data/load'
import { validateTopology } from '../topology/default'

export const FORMAT = 'iddb-cluster'
export const FORMAT_VERSION = 1

export interface ClusterFile {
  format: typeof FORMAT
  version: number
  seed: number
  clock: number
  topology: TopologySpec
  down?: string[]
  links?: Record<string, { state: LinkState; degradation: Degradation }>
  generated?: GenerateSummary
  /** Log files the cluster expects (a missing one is damage, never a fresh start). Absent in older directories. */
  logs?: string[]
}

/** A lock file's holder is running (a zombie — killed, not yet reaped by its parent — is not). */
function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false
  if (pid === process.pid) return true
  try { process.kill(pid, 0) } catch (e) { return (e as { code?: string }).code === 'EPERM' }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch { return true } // no /proc (macOS, Windows): trust kill(pid, 0)
}

const readPid = (path: string): number | undefined => {
  try { return Number(readFileSync(path, 'utf8').trim()) } catch { return undefined }
}

/**
 * Creates path holding this process's pid, only if it does not exist; false when it exists. The pid is written
 * to a private temp file first and hard-linked into place (link fails if the name exists), so the lock never
 * exists empty: a starter reading it always sees a pid. Where hard links are unsupported, an O_EXCL create.
 */
function createExclusive(path: string): boolean {
  const tmp = `${path}.${process.pid}.tmp`
  const fd = openSync(tmp, 'w')
  try { writeSync(fd, String(process.pid)); fsyncSync(fd) } finally { closeSync(fd) }
  try {
    linkSync(tmp, path)
    return true
  } catch (e) {
    const code = (e as { code?: string }).code
    if (code === 'EEXIST') return false
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw e
  } finally { unlinkSync(tmp) }
  let xfd: number
  try { xfd = openSync(path, 'wx') } catch (e) {
    if ((e as { code?: string }).code === 'EEXIST') return false
    throw e
  }
  try { writeSync(xfd, String(process.pid)); fsyncSync(xfd) } finally { closeSync(xfd) }
  return true
}

export const dbFileName = (id: string) => `${id}.sqlite`

export class Persistence {
  private logs = new Map<string, DurableLog<LogBody>>()
  private locked = false
  private constructor(readonly dir: string, private fsync: boolean, readonly readOnly = false) {}

  /**
   * One writer per data directory: cluster.lock holds the writer's pid, created exclusively (O_EXCL), so of two
   * starters only one can win. A lock left by a dead process (kill -9, a zombie included) is taken over under a
   * second exclusive file (cluster.lock.takeover): the one starter holding it checks the lock is still the dead
   * one, removes it and creates its own exclusively; a live holder is CONFLICT naming its pid. Read-only opens
   * (iddb sql SELECT …) need no lock.
   */
  private lock(): void {
    const path = join(this.dir, 'cluster.lock')
    const takeover = `${path}.takeover`
    for (let attempt = 0; attempt < 5; attempt++) {
      if (createExclusive(path)) { this.locked = true; return }
      const pid = readPid(path)
      if (pid === undefined) continue // removed meanwhile: try the exclusive create again
      if (pidAlive(pid) && pid !== process.pid) throw new EngineError('CONFLICT', `${this.dir} is in use by process ${pid} (open it read-only, or stop that process)`)
      if (!createExclusive(takeover)) {
        const other = readPid(takeover)
        throw new EngineError('CONFLICT', other !== undefined && !pidAlive(other)
          ? `${takeover} was left by process ${other}, which died while taking over a stale lock: remove that file and start again`
          : `process ${other ?? '?'} is taking over the stale lock of ${this.dir} (left by process ${pid})`)
      }
      try {
        if (readPid(path) === pid) unlinkSync(path)
      } finally { unlinkSync(takeover) }
    }
    throw new EngineError('CONFLICT', `could not take the lock of ${this.dir}: other processes keep taking it`)
  }

  unlock(): void {
    if (!this.locked) return
    const path = join(this.dir, 'cluster.lock')
    if (readPid(path) === process.pid) try { unlinkSync(path) } catch { /* already gone */ }
    this.locked = false
    for (const l of this.logs.values()) l.close()
  }

  static assertFresh(dir: string): void {
    const d = resolve(dir)
    if (existsSync(d) && readdirSync(d).length) {
      throw new EngineError('CONFLICT', `${d} is not empty${existsSync(join(d, 'cluster.json')) ? ' (it holds a cluster: open it instead)' : ''}`)
    }
  }

  static create(dir: string, fsync: boolean): Persistence {
    const d = resolve(dir)
    mkdirSync(d, { recursive: true })
    const p = new Persistence(d, fsync)
    p.lock()
    return p
  }

  static reopen(dir: string, fsync: boolean, readOnly = false): Persistence {
    const d = resolve(dir)
    if (!existsSync(join(d, 'cluster.json'))) throw new EngineError('NOT_FOUND', `${d} holds no cluster (no cluster.json); create one with iddb init --data ${dir}`)
    const p = new Persistence(d, fsync, readOnly)
    if (!readOnly) p.lock()
    return p
  }

  /** Reads and validates cluster.json and every database image. */
  static read(dir: string, SQL: SqlJsStatic, readOnly = false): { file: ClusterFile; images: Map<string, Uint8Array> } {
    const d = resolve(dir)
    const cj = join(d, 'cluster.json')
    if (!existsSync(cj)) throw new EngineError('NOT_FOUND', `${d} holds no cluster (no cluster.json); create one with iddb init --data ${dir}`)
    if (!readOnly) removeStaleTemps(d)
    let file: ClusterFile
    try {
      file = JSON.parse(readFileSync(cj, 'utf8')) as ClusterFile
    } catch (e) {
      throw new EngineError('CORRUPT_DATA', `${cj} is not valid JSON (${e instanceof Error ? e.message : String(e)})`)
    }
    if (!file || file.format !== FORMAT) throw new EngineError('CORRUPT_DATA', `${cj} is not an Infinity DDB cluster file`)
    if (file.version !== FORMAT_VERSION) throw new EngineError('CORRUPT_DATA', `${cj} has format version ${file.version}; this build reads ${FORMAT_VERSION}`)
    if (!Number.isFinite(file.clock) || !Number.isFinite(file.seed)) throw new EngineError('CORRUPT_DATA', `${cj}: clock/seed missing`)
    try { validateTopology(file.topology) } catch (e) {
      throw new EngineError('CORRUPT_DATA', `${cj}: bad topology (${e instanceof Error ? e.message : String(e)})`)
    }
    const images = new Map<string, Uint8Array>()
    for (const s of file.topology.sites) {
      for (const role of ['primary', 'backup', ...(s.repository ? ['repository'] : [])]) {
        const id = `${s.code}.${role}`
        const path = join(d, dbFileName(id))
        const bytes = readSqliteFile(path)
        // a cheap structural probe so a damaged file is named here, not deep inside the engine
        try {
          const db = new SQL.Database(bytes)
          try {
            const who = db.exec("SELECT v FROM __meta WHERE k = 'iddb.db'")[0]?.values[0]?.[0]
            if (who !== id) throw new Error(who === undefined ? 'it is not an Infinity DDB database' : `it belongs to ${String(who)}`)
            db.exec('SELECT COUNT(*) FROM sqlite_master')
          } finally { db.close() }
        } catch (e) {
          throw new EngineError('CORRUPT_DATA', `${path} is corrupt or foreign: ${e instanceof Error ? e.message : String(e)}`, { site: s.code })
        }
        images.set(id, bytes)
      }
    }
    return { file, images }
  }

  log(site: string): DurableLog<LogBody> {
    let l = this.logs.get(site)
    if (!l) { l = new DurableLog<LogBody>(join(this.dir, `${site}.log`), `${site}`, this.fsync, this.readOnly); this.logs.set(site, l) }
    return l
  }

  /** The backup server's copy of a site's commit log. */
  backupLog(site: string): DurableLog<LogBody> {
    return this.log(`${site}.backup`)
  }

  writeClusterFile(f: ClusterFile): void {
    if (this.readOnly) return
    writeFileAtomic(join(this.dir, 'cluster.json'), JSON.stringify(f, null, 2))
  }

  /**
   * Writes the images, cluster.json, then cuts the logs to what channels still need. A site whose primary waits
   * for a restore (`damaged`) keeps its primary image and logs as they are: they are what the restore works from.
   */
  checkpoint(f: ClusterFile, sites: Site[], damaged: (s: Site) => boolean = () => false): void {
    if (this.readOnly) return
    for (const s of sites) {
      for (const db of [s.primary, s.backup, s.repository]) if (db && !(db === s.primary && damaged(s))) writeFileAtomic(join(this.dir, dbFileName(db.id)), db.export())
    }
    this.writeClusterFile(f)
    // the images now hold everything each log replays into its primary; keep only what channels still need
    for (const s of sites) {
      if (damaged(s)) continue
      const keep = s.retained.map((r) => ({ seq: r.seq, body: r.body }))
      for (const l of s.logs()) l.rewrite(keep, s.seq)
    }
  }
}
