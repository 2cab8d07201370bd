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
import { recordsToKeep, TailedLog, type TxnLogRecord } from './log'

type Batch = TxnLogRecord[]

export class FileTxnLog extends TailedLog {
  private file: FileLog<Batch>
  private seq = 0
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
  /** What opening the file repaired that the operator should hear about (the cluster logs it). */
  readonly notices: string[]

  /**
   * `expected`: the cluster lists this log in cluster.json, so a missing one is damage (CORRUPT_DATA), never a
   * fresh start. Any damage to acknowledged records (a forced batch) is CORRUPT_DATA naming the file.
   */
  constructor(readonly path: string, owner: string, fsync = true, private readonly group = true, opts: { expected?: boolean } = {}) {
    super()
    this.file = new FileLog<Batch>(path, `${owner} 2pc`, fsync)
    const batches = this.file.open(opts)
    this.notices = this.file.notices
    this.seq = this.file.lastSeq
    for (const r of batches) {
      this.seq = r.seq
      for (const rec of r.body) { this.stable.push(rec); this.lsn = Math.max(this.lsn, rec.lsn ?? 0) }
    }
  }

  /** A forced batch is ONE line of the file (fsync'd now, or by sync() under group commit). */
  protected persist(body: TxnLogRecord[], forced: TxnLogRecord): void {
    this.file.append(++this.seq, body, !this.group) // under group commit, sync() forces (and marks) the batch
    if (this.group) this.pending.push(forced)
  }

  protected afterForce(): void {
    if (this.file.bytes - this.file.baseBytes > FileTxnLog.CHECKPOINT_BYTES) this.checkpoint()
  }

  sync(): TxnLogRecord[] {
    if (!this.pending.length) return []
    this.file.flush()
    const done = this.pending
    this.pending = []
    return done
  }

  close(): void { this.sync(); this.file.close() }

  /** Keeps the records of transactions still open here, and the newest half of the rest (so peers can be answered). */
  private checkpoint(): void {
    const kept = recordsToKeep(this.stable)
    // one batch per kept record keeps each line small; numbered on from the last batch, so the sequence only
    // grows and the acknowledgement mark is never ahead of the rewritten file
    this.sync()
    let seq = this.seq
    const batches = kept.map((r) => ({ seq: ++seq, body: [r] }))
    this.file.rewrite(batches, this.seq)
    this.seq = seq
    this.stable = kept
  }
}
