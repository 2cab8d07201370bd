/**
 * The DTM's durable log on disk, for a persisted cluster: `<dataDir>/<SITE>.2pc.log`, beside the site's
 * commit log `<SITE>.log` and with the same discipline (engine/storage/files.ts: one checksummed JSON
 * line per append, fsync'd before append returns, a torn last line discarded on open, damage elsewhere
 * CORRUPT_DATA naming the file, checkpoints rewritten atomically).
 *
 * Records appended without `force` (presumed abort: ABORT, END) stay in a volatile tail, exactly as in
 * MemoryStableLog; a forced append writes the tail and the record as ONE line. Group commit: the fsync is
 * done by sync(), which the DTM calls before any message or client answer depending on the record leaves
 * the site (so READY is on disk before the vote goes out, a decision before it is sent or reported), and
 * the forces of all transactions in the window share it. A kill loses only records nothing depended on.
 */
import { DurableLog as FileLog } from '../storage/files'
import { recordsToKeep, type DurableLog, type TxnLogRecord } from './log'

type Batch = TxnLogRecord[]

export class FileTxnLog implements DurableLog {
  private file: FileLog<Batch>
  private stable: TxnLogRecord[] = []
  private tail: TxnLogRecord[] = []
  private seq = 0
  private lsn = 0
  forces = 0
  appended = 0
  /** Rewrite (checkpoint) the file once it has grown by this much since the last rewrite. */
  static CHECKPOINT_BYTES = 8 * 2 ** 20

  /** Forced records written without fsync yet (group commit: the DTM calls sync() before anything depends on them). */
  private pending: TxnLogRecord[] = []
  get dirty(): boolean { return this.pending.length > 0 }

  /**
   * `group`: a forced append is written at once but fsync'd by sync(), which the DTM calls before any message or
   * answer that depends on the record leaves the site; forces of many transactions then share one fsync.
   * Without it every forced append is fsync'd before append returns.
   */
  constructor(readonly path: string, owner: string, fsync = true, private readonly group = true) {
    this.file = new FileLog<Batch>(path, `${owner} 2pc`, fsync)
    for (const r of this.file.open()) {
      this.seq = r.seq
      for (const rec of r.body) { this.stable.push(rec); this.lsn = Math.max(this.lsn, rec.lsn ?? 0) }
    }
  }

  append(rec: TxnLogRecord, force: boolean): number {
    rec.lsn = ++this.lsn
    this.appended++
    this.tail.push(rec)
    if (force) {
      this.forces++
      const body = this.tail
      this.tail = []
      this.file.append(++this.seq, body, !this.group)
      if (this.group) this.pending.push(rec)
      for (const r of body) this.stable.push(r)
      if (this.file.bytes - this.file.baseBytes > FileTxnLog.CHECKPOINT_BYTES) this.checkpoint()
    }
    return rec.lsn
  }

  sync(): TxnLogRecord[] {
    if (!this.pending.length) return []
    this.file.flush()
    const done = this.pending
    this.pending = []
    return done
  }

  records(): readonly TxnLogRecord[] { return this.tail.length ? [...this.stable, ...this.tail] : this.stable }
  crash(): void { this.tail.length = 0 }
  close(): void { this.sync(); this.file.close() }

  /** Keeps the records of transactions still open here, and the newest half of the rest (so peers can be answered). */
  private checkpoint(): void {
    const kept = recordsToKeep(this.stable)
    // one batch per kept record keeps the sequence increasing and each line small
    this.sync()
    let seq = 0
    const batches = kept.map((r) => ({ seq: ++seq, body: [r] }))
    this.file.rewrite(batches)
    this.seq = seq
    this.stable = kept
  }
}
