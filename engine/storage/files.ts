/**
 * Durable files of a persisted cluster: atomic whole-file writes (tmp file, fsync, rename, fsync dir)
 * and the append-only logs (one CRC-32-checksummed JSON record per line, contiguous sequence numbers,
 * fsync'd before a commit is acknowledged, with an acknowledgement mark `<log>.ack` saying which records
 * must be there). Only a torn last record that was never acknowledged (beyond the mark) is discarded.
 * Any other damage — an empty, cut, missing or short log, a bad record, a gap — is CORRUPT_DATA naming the
 * file and the records missing: never a silent reset. openLogPair reads a log with its backup server's copy.
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

/** Today's header: `IDDB-LOG 2 <owner> from <floor>` (records floor+1, floor+2, … follow, contiguous). */
const LOG_MAGIC = 'IDDB-LOG 2'
/** Logs written before the acknowledgement mark (no floor, no mark file): read once, then rewritten as v2. */
const LOG_MAGIC_V1 = 'IDDB-LOG 1'
const MARK_MAGIC = 'IDDB-ACK'
const num16 = (n: number) => n.toString(16).padStart(16, '0')

/**
 * The acknowledgement mark beside a log (`<log>.ack`): "records floor+1 … last are acknowledged and must be in
 * the log". Rewritten in place (fixed width, one positional write) after each forced batch, with no extra fsync:
 * the log's own fsync comes first, so after a kill or a power cut the mark is never ahead of the log (at worst
 * it lags, which weakens the check, never fails a sound log). It is fsync'd when created and at each rewrite.
 */
export interface AckMark { floor: number; last: number }

const markLine = (m: AckMark) => { const b = `${MARK_MAGIC} ${num16(m.floor)} ${num16(m.last)}`; return `${b} ${crc32(b).toString(16).padStart(8, '0')}\n` }

const range = (a: number, b: number) => (a === b ? `record ${a}` : `records ${a}–${b}`)

/** Append-only, checksummed, fsync'd commit log with an acknowledgement mark. */
export class DurableLog<T = unknown> {
  private fd: number | undefined
  private markFd: number | undefined
  bytes = 0
  /** Size right after the last rewrite (checkpoint): growth since then is what a checkpoint would fold. */
  baseBytes = 0
  /** Highest sequence number written, and the highest one forced (acknowledged, in the mark). */
  lastSeq = 0
  private acked = 0
  private floor = 0
  /** What open() found and repaired that the operator should hear about (the cluster logs it as an event). */
  notices: string[] = []
  readonly markPath: string

  constructor(readonly path: string, private owner: string, private sync = true, private readOnly = false) {
    this.markPath = `${path}.ack`
  }

  get name(): string { return basename(this.path) }
  /** Records up to this sequence number are folded into an image (the log holds floor+1 …). */
  get floorSeq(): number { return this.floor }
  get isOpen(): boolean { return this.fd !== undefined }

  private corrupt(what: string): EngineError { return new EngineError('CORRUPT_DATA', `${this.path}: ${what}`) }

  private readMark(): AckMark | undefined {
    if (!existsSync(this.markPath)) return undefined
    const t = readFileSync(this.markPath, 'latin1')
    const m = /^IDDB-ACK ([0-9a-f]{16}) ([0-9a-f]{16}) ([0-9a-f]{8})\n$/.exec(t)
    if (!m || parseInt(m[3], 16) !== crc32(`${MARK_MAGIC} ${m[1]} ${m[2]}`)) {
      throw new EngineError('CORRUPT_DATA', `${this.markPath}: the acknowledgement mark of ${this.name} is damaged (cannot tell which records were acknowledged)`)
    }
    return { floor: parseInt(m[1], 16), last: parseInt(m[2], 16) }
  }

  private writeMark(durable: boolean): void {
    if (this.readOnly) return
    const buf = Buffer.from(markLine({ floor: this.floor, last: this.acked }), 'latin1')
    if (this.markFd === undefined) this.markFd = openSync(this.markPath, existsSync(this.markPath) ? 'r+' : 'w')
    writeSync(this.markFd, buf, 0, buf.length, 0)
    if (durable) fsyncSync(this.markFd)
  }

  private create(): void {
    this.floor = this.acked = this.lastSeq = 0
    this.writeMark(true)
    this.fd = openSync(this.path, 'w')
    this.bytes = 0
    this.writeRaw(`${LOG_MAGIC} ${this.owner} from ${num16(0)}\n`)
    if (this.sync) fsyncSync(this.fd)
    fsyncDir(dirname(this.path))
    this.baseBytes = this.bytes
  }

  /**
   * Reads every intact record. A torn final record that was never acknowledged is dropped (the file is cut
   * back to the last intact one); anything else — a missing, empty or short log where the mark says records
   * are acknowledged, a damaged record that is not that torn tail, a gap in the sequence — is CORRUPT_DATA
   * naming the file and the records missing. `expected`: the cluster knows this log exists (cluster.json), so
   * even a log that is missing together with its mark is damage, not a fresh start.
   */
  open(opts: { expected?: boolean } = {}): LogRecord<T>[] {
    this.notices = []
    const mark = this.readMark()
    const expected = opts.expected || mark !== undefined
    const need = (floor: number) => (mark && mark.last > floor ? range(floor + 1, mark.last) : undefined)
    if (!existsSync(this.path)) {
      const lost = mark ? need(mark.floor) : undefined
      if (lost || (expected && !mark)) throw this.corrupt(`${lost ?? 'every record'} missing (the file was deleted)`)
      if (this.readOnly) return []
      if (mark) this.notices.push(`${this.path} was missing; it held no acknowledged record: recreated`)
      this.create()
      return []
    }
    const buf = readFileSync(this.path)
    const text = buf.toString('utf8')
    const firstNl = text.indexOf('\n')
    const header = firstNl < 0 ? text : text.slice(0, firstNl)
    const v2 = new RegExp(`^${LOG_MAGIC} ${this.owner.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} from ([0-9a-f]{16})$`).exec(header)
    const legacy = header === `${LOG_MAGIC_V1} ${this.owner}`
    if (firstNl < 0 || (!v2 && !legacy)) {
      const p2 = `${LOG_MAGIC} ${this.owner} from `
      const cutHeader = firstNl < 0 && (p2.startsWith(header) || `${LOG_MAGIC_V1} ${this.owner}`.startsWith(header) || (header.startsWith(p2) && /^[0-9a-f]{0,16}$/.test(header.slice(p2.length))))
      if (cutHeader) {
        // the header itself is cut: a crash while creating the log, or damage
        const lost = mark ? need(mark.floor) : undefined
        if (lost || (expected && !mark)) throw this.corrupt(`${lost ?? 'every record'} missing (file truncated at byte ${buf.length}, inside its header)`)
        if (this.readOnly) return []
        if (mark) this.notices.push(`${this.path} was cut inside its header; it held no acknowledged record: recreated`)
        this.create()
        return []
      }
      throw this.corrupt(`not the commit log of ${this.owner} (header ${JSON.stringify(header.slice(0, 40))})`)
    }
    if (v2 && !mark) throw new EngineError('CORRUPT_DATA', `${this.markPath} is missing: cannot tell which records of ${this.name} were acknowledged`)
    const floor = v2 ? parseInt(v2[1], 16) : 0
    const records: LogRecord<T>[] = []
    let pos = firstNl + 1
    let goodEnd = pos
    let prev: number | undefined = v2 ? floor : undefined
    const at = (p: number) => Buffer.byteLength(text.slice(0, p))
    while (pos < text.length) {
      const nl = text.indexOf('\n', pos)
      const line = nl < 0 ? text.slice(pos) : text.slice(pos, nl)
      const isLast = nl < 0 || nl === text.length - 1
      const sp = line.indexOf(' ')
      const ok = nl >= 0 && sp === 8 && parseInt(line.slice(0, 8), 16) === crc32(line.slice(9))
      let rec: LogRecord<T> | undefined
      if (ok) { try { rec = JSON.parse(line.slice(9)) as LogRecord<T> } catch { rec = undefined } }
      if (!rec || !Number.isInteger(rec.seq)) {
        // a torn final record is one that was never acknowledged: the mark stops before it
        const next = (prev ?? 0) + 1
        if (isLast && (!mark || !(mark.last >= next))) break
        const lost = mark && mark.last >= next ? `; ${range(next, mark.last)} acknowledged but unreadable` : ''
        throw this.corrupt(`damaged log record at byte ${at(pos)} (checksum mismatch${isLast ? ' in the last complete record' : ''})${lost}`)
      }
      if (prev !== undefined && rec.seq !== prev + 1) {
        if (rec.seq <= prev) throw this.corrupt(`log sequence goes backwards at ${rec.seq} (byte ${at(pos)})`)
        if (v2) throw this.corrupt(`${range(prev + 1, rec.seq - 1)} missing (gap before byte ${at(pos)})`)
      }
      prev = rec.seq
      records.push(rec)
      pos = nl + 1
      goodEnd = pos
    }
    const goodBytes = at(goodEnd)
    const reached = prev ?? floor
    if (mark && mark.last > reached) {
      throw this.corrupt(`${range(reached + 1, mark.last)} missing (file truncated at byte ${buf.length})`)
    }
    this.floor = floor
    this.lastSeq = this.acked = reached
    if (this.readOnly) { this.bytes = goodBytes; return records } // a live writer may be mid-append: leave the files alone
    if (legacy) {
      // migration: a log from before the acknowledgement mark is rewritten in today's format (mark included)
      this.rewrite(records)
      this.notices.push(`${this.path}: migrated to the checksummed format with an acknowledgement mark (${records.length} record(s))`)
      return records
    }
    this.fd = openSync(this.path, 'r+')
    if (goodBytes !== buf.length) { ftruncateSync(this.fd, goodBytes); fsyncSync(this.fd) }
    this.bytes = goodBytes
    // intact records beyond the mark (durable, killed before the mark was written) are now part of the log
    if (!mark || mark.last !== reached || mark.floor !== floor) this.writeMark(true)
    return records
  }

  /**
   * Appends one record. `force` (the default) makes it durable (fsync, when the log syncs) and acknowledged
   * (the mark) before returning; group commit appends with force = false, then one flush().
   */
  append(seq: number, body: T, force = true): void {
    if (this.readOnly) throw new EngineError('CONFLICT', `the cluster was opened read-only: cannot commit (log ${this.path})`)
    if (this.fd === undefined) throw new EngineError('INTERNAL', `log ${this.path} is not open`)
    const json = JSON.stringify({ seq, body })
    const line = `${crc32(json).toString(16).padStart(8, '0')} ${json}\n`
    this.writeRaw(line)
    this.lastSeq = seq
    if (force) this.flush()
  }

  /** Makes every record appended so far durable and acknowledged (one fsync, one mark write). */
  flush(): void {
    if (this.fd === undefined || this.acked === this.lastSeq) return
    if (this.sync) fsyncSync(this.fd)
    this.acked = this.lastSeq
    this.writeMark(false)
  }

  private writeRaw(s: string): void {
    const buf = Buffer.from(s, 'utf8')
    let off = 0
    // positional write at the end (the fd may be r+)
    while (off < buf.length) { const n = writeSync(this.fd!, buf, off, buf.length - off, this.bytes); off += n; this.bytes += n }
  }

  /**
   * Replaces the log with the given records (after a checkpoint), atomically: they must be contiguous, and the
   * records before them are folded into an image (the new floor). The log is written first, then the mark, so
   * a crash between the two leaves a mark that is not ahead of the log. `upTo`: with no records, the sequence
   * number the image holds (the next append is upTo + 1).
   */
  rewrite(records: LogRecord<T>[], upTo = Math.max(this.lastSeq, this.acked)): void {
    if (this.readOnly) return
    this.close()
    const last = records.length ? records[records.length - 1].seq : upTo
    const floor = records.length ? records[0].seq - 1 : last
    const lines = records.map((r) => { const json = JSON.stringify(r); return `${crc32(json).toString(16).padStart(8, '0')} ${json}\n` })
    const text = `${LOG_MAGIC} ${this.owner} from ${num16(floor)}\n${lines.join('')}`
    writeFileAtomic(this.path, text)
    this.floor = floor
    this.lastSeq = this.acked = last
    this.writeMark(true)
    this.fd = openSync(this.path, 'r+')
    this.bytes = Buffer.byteLength(text)
    this.baseBytes = this.bytes
  }

  close(): void {
    if (this.fd !== undefined) { closeSync(this.fd); this.fd = undefined }
    if (this.markFd !== undefined) { closeSync(this.markFd); this.markFd = undefined }
  }
}

export interface LogPairOpen<T> {
  /** The acknowledged records: the primary copy's, or the backup server's when the primary copy is damaged. */
  records: LogRecord<T>[]
  /** The primary copy is damaged (the caller refuses service until a restore from the backup copy). */
  primaryError?: EngineError
  /** The backup server's copy is damaged: rewritten from the primary copy when that one is intact. */
  backupError?: EngineError
  notices: string[]
}

/**
 * Opens a log and the backup server's copy of it (both written and forced together, the primary copy first).
 * The longer intact copy wins and the other is rewritten to match (a damaged backup copy from the primary's:
 * nothing acknowledged is lost, and a notice says so). `check` adds the caller's own consistency checks
 * (against a database image); `upTo` is the sequence number an empty pair continues from.
 */
export function openLogPair<T>(primary: DurableLog<T>, backup: DurableLog<T>, opts: {
  expected: (name: string) => boolean
  check?: (log: DurableLog<T>, records: LogRecord<T>[]) => void
  upTo?: number
}): LogPairOpen<T> {
  const notices: string[] = []
  const open = (l: DurableLog<T>): { recs?: LogRecord<T>[]; err?: EngineError } => {
    try {
      const recs = l.open({ expected: opts.expected(l.name) })
      notices.push(...l.notices)
      opts.check?.(l, recs)
      return { recs }
    } catch (e) {
      if (e instanceof EngineError && e.code === 'CORRUPT_DATA') return { err: e }
      throw e
    }
  }
  const a = open(primary)
  const b = open(backup)
  if (!a.recs) return { records: b.recs ?? [], primaryError: a.err, backupError: b.err, notices }
  const fromBackup = !!b.recs && backup.lastSeq > primary.lastSeq
  const records = fromBackup ? b.recs! : a.recs
  const target = records.length ? records[records.length - 1].seq : Math.max(opts.upTo ?? 0, primary.lastSeq, backup.lastSeq)
  if (b.err) notices.push(`${b.err.message}: rewritten from ${primary.name} (no acknowledged record lost)`)
  if (fromBackup) notices.push(`${primary.path} ended at record ${primary.lastSeq}, its backup copy at ${backup.lastSeq}: rewritten from ${backup.name}`)
  for (const l of [primary, backup]) if (l.lastSeq !== target || (l === backup && b.err)) l.rewrite(records, target)
  return { records, backupError: b.err, notices }
}
