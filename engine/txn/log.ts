/**
 * The DTM's durable log interface (the recovery manager's stable storage at one site) and an
 * in-memory stable-storage model that survives simulated crashes: records appended without `force`
 * sit in a volatile tail that a crash loses; a forced append flushes the tail and the record.
 */
export type TxnLogType =
  | 'WAIT' // coordinator, distributed/linear: participants known, PREPARE about to go out
  | 'READY' // participant voted yes: redo images + locks
  | 'RO' // participant voted read-only (distributed/linear)
  | 'COMMIT'
  | 'ABORT'
  | 'END' // coordinator: every participant acknowledged
  | 'HEURISTIC' // an administrator resolved an in-doubt transaction by hand

/**
 * A redo after-image: the row as it must be after commit (null = deleted). `cols`, when present, says the
 * committed row existed and only these columns changed (an UPDATE), so a store may update it in place.
 */
export interface TxnWrite {
  table: string; key: string; row: Record<string, unknown> | null; cols?: string[]
  /** A delete at a read-only replica, part of an eager delete of a replicated relation (engine/txn/global.ts): allowed by replica control. */
  replica?: true
}

export interface TxnLogRecord {
  lsn?: number
  type: TxnLogType
  gid: string
  role: 'coord' | 'part'
  at: number
  coord?: string
  participants?: string[]
  protocol?: string
  writes?: TxnWrite[]
  locks?: { resource: string; mode: 'IS' | 'IX' | 'S' | 'X' }[]
  decision?: 'COMMIT' | 'ABORT'
  by?: string
  startAt?: number
}

export interface DurableLog {
  /** Appends a record; `force` makes it (and everything before it) stable before returning. */
  append(rec: TxnLogRecord, force: boolean): number
  /** Every record that survived (stable plus the still-volatile tail while the site is up). */
  records(): readonly TxnLogRecord[]
  /** A system failure: the volatile tail is lost. */
  crash(): void
  readonly forces: number
  readonly appended: number
  /**
   * Group commit (file logs): forced records written but not yet fsync'd. While true, nothing that depends on
   * them may leave the site (the DTM holds its messages and client answers) until sync() made them stable.
   */
  readonly dirty?: boolean
  /** One fsync for every record written so far; returns the forced records it made stable. */
  sync?(): TxnLogRecord[]
}

/**
 * The volatile-tail discipline every 2PC log follows: a record appended without `force` waits in a tail that
 * a crash loses; a forced append makes the tail and the record stable in one step (`persist`).
 */
export abstract class TailedLog implements DurableLog {
  protected stable: TxnLogRecord[] = []
  private tail: TxnLogRecord[] = []
  protected lsn = 0
  forces = 0
  appended = 0

  append(rec: TxnLogRecord, force: boolean): number {
    rec.lsn = ++this.lsn
    this.appended++
    this.tail.push(rec)
    if (force) {
      this.forces++
      const body = this.tail
      this.tail = []
      this.persist(body, rec)
      for (const r of body) this.stable.push(r)
      this.afterForce()
    }
    return rec.lsn
  }

  /** Writes a forced batch (the former tail, ending with the forced record) to stable storage. */
  protected abstract persist(body: TxnLogRecord[], forced: TxnLogRecord): void
  /** Runs after each force (a log checkpoints here when it has grown enough). */
  protected abstract afterForce(): void

  records(): readonly TxnLogRecord[] { return this.tail.length ? [...this.stable, ...this.tail] : this.stable }
  crash(): void { this.tail.length = 0 }
}

export class MemoryStableLog extends TailedLog {
  /** Keep at most this many stable records (older completed ones are checkpointed away). */
  constructor(private readonly cap = 20_000) { super() }

  /** The records themselves model stable storage here: nothing to write. */
  protected persist(): void {}
  protected afterForce(): void { if (this.stable.length > this.cap) this.checkpoint() }

  /** Drops records of transactions that are finished everywhere this log knows of (END or lone COMMIT/ABORT). */
  private checkpoint(): void {
    this.stable = recordsToKeep(this.stable)
  }
}

/**
 * What a 2PC log keeps at a checkpoint: every record of a transaction still open at this site
 * (prepared participant, coordinator in WAIT or not yet ENDed) and the newest half of the rest,
 * so peers asking about recent decisions can still be answered.
 */
export function recordsToKeep(stable: readonly TxnLogRecord[]): TxnLogRecord[] {
  const coordOpen = new Set<string>()
  const partOpen = new Set<string>()
  for (const r of stable) {
    const open = r.role === 'coord' ? coordOpen : partOpen
    if (r.type === 'READY' || r.type === 'WAIT' || (r.type === 'COMMIT' && r.role === 'coord')) open.add(r.gid)
    if ((r.type === 'COMMIT' || r.type === 'ABORT' || r.type === 'HEURISTIC') && r.role === 'part') partOpen.delete(r.gid)
    if (r.type === 'END' || (r.type === 'ABORT' && r.role === 'coord')) coordOpen.delete(r.gid)
  }
  const keepFrom = stable.length >> 1
  return stable.filter((r, i) => i >= keepFrom || (r.role === 'coord' ? coordOpen : partOpen).has(r.gid))
}
