/**
 * Durable files of a persisted cluster: atomic whole-file writes (tmp file, fsync, rename, fsync dir)
 * and the per-site append-only commit log (one checksummed JSON record per line, fsync'd before a
 * commit is acknowledged). A torn last record (crash mid-append) is discarded: it was never acknowledged.
 * Any other damage is CORRUPT_DATA naming the file — never a silent reset.
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync, ftruncateSync, readdirSync, unlinkSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { EngineError } from '../errors'

const CRC_TABLE = (() => {
  const t = new Uint32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    t[n] = c >>> 0
  }
  return t
})()

export function crc32(s: string | Uint8Array): number {
  const bytes = typeof s === 'string' ? Buffer.from(s, 'utf8') : s
  let c = 0xffffffff
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}

function fsyncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r')
    try { fsyncSync(fd) } finally { closeSync(fd) }
  } catch { /* some platforms cannot fsync a directory */ }
}

/** Writes a whole file atomically: readers see the old or the new content, never a mix. */
export function writeFileAtomic(path: string, data: Uint8Array | string): void {
  const tmp = join(dirname(path), `.${basename(path)}.tmp`)
  const fd = openSync(tmp, 'w')
  try {
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data
    let off = 0
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  renameSync(tmp, path)
  fsyncDir(dirname(path))
}

/** Removes temp files left by a crash during an atomic write (the old file is intact). */
export function removeStaleTemps(dir: string): void {
  for (const f of readdirSync(dir)) if (f.startsWith('.') && f.endsWith('.tmp')) unlinkSync(join(dir, f))
}

export const SQLITE_MAGIC = 'SQLite format 3\u0000'

export function readSqliteFile(path: string): Uint8Array {
  if (!existsSync(path)) throw new EngineError('CORRUPT_DATA', `missing database file ${path}`)
  const buf = readFileSync(path)
  if (buf.length < 100 || buf.subarray(0, 16).toString('latin1') !== SQLITE_MAGIC) {
    throw new EngineError('CORRUPT_DATA', `${path} is not a SQLite database file (bad header)`)
  }
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.length)
}

export interface LogRecord<T = unknown> { seq: number; body: T }

const LOG_MAGIC = 'IDDB-LOG 1'

/** Append-only, checksummed, fsync'd commit log. */
export class DurableLog<T = unknown> {
  private fd: number | undefined
  bytes = 0
  /** Size right after the last rewrite (checkpoint): growth since then is what a checkpoint would fold. */
  baseBytes = 0

  constructor(readonly path: string, private owner: string, private sync = true, private readOnly = false) {}

  /** Reads every intact record; truncates a torn tail; throws CORRUPT_DATA on damage elsewhere. */
  open(): LogRecord<T>[] {
    const records: LogRecord<T>[] = []
    if (this.readOnly && !existsSync(this.path)) return records
    if (!existsSync(this.path)) {
      this.fd = openSync(this.path, 'w')
      this.writeRaw(`${LOG_MAGIC} ${this.owner}\n`)
      fsyncDir(dirname(this.path))
      return records
    }
    const buf = readFileSync(this.path)
    const text = buf.toString('utf8')
    const firstNl = text.indexOf('\n')
    const header = firstNl < 0 ? text : text.slice(0, firstNl)
    if (header !== `${LOG_MAGIC} ${this.owner}`) {
      if (firstNl < 0 && `${LOG_MAGIC} ${this.owner}`.startsWith(header)) {
        if (this.readOnly) return records
        // crash while creating the log: nothing was ever acknowledged through it
        this.fd = openSync(this.path, 'w')
        this.writeRaw(`${LOG_MAGIC} ${this.owner}\n`)
        return records
      }
      throw new EngineError('CORRUPT_DATA', `${this.path} is not the commit log of ${this.owner} (header ${JSON.stringify(header.slice(0, 40))})`)
    }
    let pos = firstNl + 1
    let goodEnd = pos
    let lastSeq = 0
    while (pos < text.length) {
      const nl = text.indexOf('\n', pos)
      const line = nl < 0 ? text.slice(pos) : text.slice(pos, nl)
      const isLast = nl < 0 || nl === text.length - 1
      const sp = line.indexOf(' ')
      const ok = nl >= 0 && sp === 8 && parseInt(line.slice(0, 8), 16) === crc32(line.slice(9))
      if (!ok) {
        if (isLast) break // torn tail: never acknowledged
        throw new EngineError('CORRUPT_DATA', `${this.path}: damaged log record at byte ${Buffer.byteLength(text.slice(0, pos))}`)
      }
      let rec: LogRecord<T>
      try { rec = JSON.parse(line.slice(9)) as LogRecord<T> } catch {
        throw new EngineError('CORRUPT_DATA', `${this.path}: unreadable log record at byte ${pos}`)
      }
      if (!(rec.seq > lastSeq)) throw new EngineError('CORRUPT_DATA', `${this.path}: log sequence goes backwards at ${rec.seq}`)
      lastSeq = rec.seq
      records.push(rec)
      pos = nl + 1
      goodEnd = pos
    }
    const goodBytes = Buffer.byteLength(text.slice(0, goodEnd))
    if (this.readOnly) { this.bytes = goodBytes; return records } // a live writer may be mid-append: leave the file alone
    this.fd = openSync(this.path, 'r+')
    if (goodBytes !== buf.length) { ftruncateSync(this.fd, goodBytes); fsyncSync(this.fd) }
    this.bytes = goodBytes
    return records
  }

  /** Appends one record and makes it durable before returning. */
  append(seq: number, body: T, sync = this.sync): void {
    if (this.readOnly) throw new EngineError('CONFLICT', `the cluster was opened read-only: cannot commit (log ${this.path})`)
    if (this.fd === undefined) throw new EngineError('INTERNAL', `log ${this.path} is not open`)
    const json = JSON.stringify({ seq, body })
    const line = `${crc32(json).toString(16).padStart(8, '0')} ${json}\n`
    this.writeRaw(line)
    if (sync) fsyncSync(this.fd)
  }

  /** Makes every record appended so far durable (group commit: several `append(…, false)` then one flush). */
  flush(): void {
    if (this.fd !== undefined && this.sync) fsyncSync(this.fd)
  }

  private writeRaw(s: string): void {
    const buf = Buffer.from(s, 'utf8')
    let off = 0
    // positional write at the end (the fd may be r+)
    while (off < buf.length) { const n = writeSync(this.fd!, buf, off, buf.length - off, this.bytes); off += n; this.bytes += n }
  }

  /** Replaces the log with the given records (after a checkpoint), atomically. */
  rewrite(records: LogRecord<T>[]): void {
    if (this.readOnly) return
    this.close()
    const lines = records.map((r) => { const json = JSON.stringify(r); return `${crc32(json).toString(16).padStart(8, '0')} ${json}\n` })
    const text = `${LOG_MAGIC} ${this.owner}\n${lines.join('')}`
    writeFileAtomic(this.path, text)
    this.fd = openSync(this.path, 'r+')
    this.bytes = Buffer.byteLength(text)
    this.baseBytes = this.bytes
  }

  close(): void {
    if (this.fd !== undefined) { closeSync(this.fd); this.fd = undefined }
  }
}
