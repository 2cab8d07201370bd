/**
 * The DTM's durable log on disk, for a persisted cluster: `<dataDir>/<SITE>.2pc.log`, beside the site's
 * commit log `<SITE>.log` and with the same discipline (engine/storage/files.ts: one checksummed JSON
 * line per append, fsync'd before append returns, a torn last line discarded on open, damage elsewhere
 * CORRUPT_DATA naming the file, checkpoints rewritten atomically, an acknowledgement mark `<file>.ack` so a cut,
 * emptied or deleted log is detected), in two copies: the primary's and the backup server's
 * `<SITE>.backup.2pc.log`, written and forced together, so a damaged primary copy is restored from the backup's.
 *
 * Records appended without `force` (presumed abort: ABORT, END) stay in a volatile tail, exactly as in
 * MemoryStableLog; a forced append writes the tail and the record as ONE line. Group commit: the fsync is
 * done by sync(), which the DTM calls before any message or client answer depending on the record leaves
 * the site (so READY is on disk before the vote goes out, a decision before it is sent or reported), and
 * the forces of all transactions in the window share it. A kill loses only records nothing depended on.
 */
import { DurableLog as FileLog, openLogPair } from '../storage/files'
import { EngineError } from '../errors'
import { recordsToKeep, TailedLog, type TxnLogRecord } from './log'

type Batch = TxnLogRecord[]

/** The backup server's copy of a 2PC log: `<dir>/<SITE>.2pc.log` → `<dir>/<SITE>.backup.2pc.log`. */
export const backupTxnLogPath = (path: string) => path.replace(/\.2pc\.log$/, '.backup.2pc.log')

export class FileTxnLog extends TailedLog {
  /** The primary copy, then the backup server's copy: every forced batch goes to both (primary first). */
  private files: [FileLog<Batch>, FileLog<Batch>]
  private seq = 0
  /** Rewrite (checkpoint) the file once it has grown by this much since the last rewrite. */
  static CHECKPOINT_BYTES = 8 * 2 ** 20

  /** Forced records written without fsync yet (group commit: the DTM calls sync() before anything depends on them). */
  private pending: TxnLogRecord[] = []
  get dirty(): boolean { return this.pending.length > 0 }

  /** What opening the files repaired that the operator should hear about (the cluster logs it). */
  readonly notices: string[]
  /**
   * The primary copy is damaged (why): the records come from the backup server's copy, and the site must refuse
   * service until repair() (a restore from its backup server). `lost`: the backup copy is damaged too.
   */
  damage?: string
  lost = false

  /**
   * `expected(name)`: the cluster lists this file in cluster.json, so a missing one is damage, never a fresh start.
   * Damage to acknowledged records (a forced batch) of the primary copy sets `damage`; of the backup copy, that
   * copy is rewritten from the primary's (a notice).
   */
  constructor(readonly path: string, owner: string, fsync = true, private readonly group = true, opts: { expected?: (name: string) => boolean; readOnly?: boolean } = {}) {
    super()
    const ro = !!opts.readOnly // a read-only cluster (iddb sql SELECT beside a live writer) leaves the files alone
    this.files = [new FileLog<Batch>(path, `${owner} 2pc`, fsync, ro), new FileLog<Batch>(backupTxnLogPath(path), `${owner}.backup 2pc`, fsync, ro)]
    const pair = openLogPair(this.files[0], this.files[1], { expected: opts.expected ?? (() => false) })
    this.notices = pair.notices
    if (pair.primaryError) {
      this.lost = !!pair.backupError
      this.damage = pair.backupError
        ? `both copies of the 2PC log are damaged (${pair.primaryError.message}; ${pair.backupError.message})`
        : `the 2PC log is damaged (${pair.primaryError.message}); restore it from the backup server's copy`
    }
    this.seq = Math.max(this.files[0].lastSeq, this.files[1].lastSeq)
    for (const r of pair.records) {
      this.seq = Math.max(this.seq, r.seq)
      for (const rec of r.body) { this.stable.push(rec); this.lsn = Math.max(this.lsn, rec.lsn ?? 0) }
    }
  }

  get names(): string[] { return this.files.map((f) => f.name) }

  /** A forced batch is ONE line of each copy (fsync'd now, or by sync() under group commit). */
  protected persist(body: TxnLogRecord[], forced: TxnLogRecord): void {
    if (this.damage) throw new EngineError('CORRUPT_DATA', `${this.path}: ${this.damage}`)
    ++this.seq
    for (const f of this.files) f.append(this.seq, body, false)
    if (this.group) this.pending.push(forced)
    else for (const f of this.files) f.flush()
  }

  protected afterForce(): void {
    if (this.files[0].bytes - this.files[0].baseBytes > FileTxnLog.CHECKPOINT_BYTES) this.checkpoint(recordsToKeep(this.stable))
  }

  sync(): TxnLogRecord[] {
    if (!this.pending.length) return []
    for (const f of this.files) f.flush()
    const done = this.pending
    this.pending = []
    return done
  }

  close(): void { this.sync(); for (const f of this.files) f.close() }

  /** A restore from the backup server: the primary copy is rewritten from the records the backup's copy holds. */
  repair(): void {
    if (!this.damage) return
    if (this.lost) throw new EngineError('CORRUPT_DATA', `${this.path}: ${this.damage}: no intact copy to restore from`)
    this.damage = undefined
    this.checkpoint(this.stable)
  }

  /** Keeps the given records (a checkpoint keeps the open transactions' and the newest half of the rest). */
  private checkpoint(kept: TxnLogRecord[]): void {
    // one batch per kept record keeps each line small; numbered on from the last batch, so the sequence only
    // grows and the acknowledgement mark is never ahead of the rewritten file
    this.sync()
    let seq = this.seq
    const batches = kept.map((r) => ({ seq: ++seq, body: [r] }))
    for (const f of this.files) f.rewrite(batches, this.seq)
    this.seq = seq
    this.stable = kept
  }
}
