/**
 * Where a site's committed rows live, as the DTM sees them. Sub-transactions never write here before
 * the decision: their writes are buffered after-images (redo-only, idempotent), forced into the READY
 * record, and applied atomically at commit. Aborted work therefore leaves no trace.
 */
import { EngineError } from '../errors'
import type { TxnWrite } from './log'
import type { ColInfo } from './stmt'

export type Row = Record<string, unknown>

/**
 * What a store with two-phase commit of its own reports when asked to finish a prepared transaction:
 * 'committed' / 'rolled-back' it did so now; 'already-committed' it had been committed before (a repeated
 * COMMIT is then harmless; a ROLLBACK cannot undo it — the caller must treat that as a heuristic mismatch);
 * 'absent' it is neither prepared nor committed here (rolled back before, or never prepared).
 */
export type PreparedOutcome = 'committed' | 'rolled-back' | 'already-committed' | 'absent'

export interface TxnStore {
  /** Key column of a table (upper case), or throws UNKNOWN_TABLE. */
  keyColumn(table: string): string
  /** Canonical table name (case-insensitive lookup). */
  resolveTable(table: string): string
  /** Throws when the table takes no write at this site (replica control: a read-only replica or derived fragment). */
  checkWrite?(table: string): void
  get(table: string, key: string): Row | undefined
  scan(table: string): Row[]
  /** The table's columns (upper case) and types, for checking statements; undefined: not known (no checks). */
  columns?(table: string): ColInfo[] | undefined
  /** Applies committed after-images atomically and durably. Idempotent. */
  apply(writes: readonly TxnWrite[]): void

  // Two-phase commit at the store itself, for a store that is a database server able to keep a transaction
  // prepared (PostgreSQL's PREPARE TRANSACTION). All optional: a store without them is given its
  // after-images by apply() once the decision is made, as the embedded sites are.
  /**
   * Applies the after-images inside a transaction the server makes durable and keeps, locks held, without
   * committing it, under the global id `gid`. Throws (and keeps nothing) when it cannot: the vote is no.
   * A gid already prepared or committed here is refused (CONFLICT), never applied twice.
   */
  prepare?(gid: string, writes: readonly TxnWrite[]): void
  /** Commits the prepared transaction `gid`; repeated after it was committed: 'already-committed'. */
  commitPrepared?(gid: string): PreparedOutcome
  /** Rolls the prepared transaction `gid` back; 'absent' when there is nothing to roll back. */
  rollbackPrepared?(gid: string): PreparedOutcome
  /** The gids prepared here and not yet committed or rolled back (recovery, the in-doubt view), oldest first. */
  prepared?(): string[]

  // Work started ahead, for a store whose calls wait on a server (live sites): the server begins what the
  // participant is about to be asked, so that the servers of one transaction work at once rather than one after
  // the other, while the protocol's steps keep their order. What is started ahead only takes effect through the
  // call it anticipates (prepare / commitPrepared / rollbackPrepared, which then wait for it instead of sending
  // it again); dropAhead undoes it when that call will not come.
  /** Starts prepare(gid, writes) at the server without waiting (the PREPARE message is on its way here). */
  prepareAhead?(gid: string, writes: readonly TxnWrite[]): void
  /** Starts commitPrepared(gid) without waiting (the coordinator's COMMIT, already durable there, is on its way). */
  commitAhead?(gid: string): void
  /** The participant will not prepare `gid` after all (it aborted first): a prepare started ahead is rolled back. */
  dropAhead?(gid: string): void
  /**
   * Starts reading the committed rows of `keys` in `table` without waiting (a statement naming them is on its way
   * here). A later get() of one of them takes that read's answer instead of reading again, unless anything was
   * written through the store since it was sent (then it reads again: the answer could be stale).
   */
  readAhead?(table: string, keys: readonly string[]): void
}

/** Committed rows held in memory; they model the site's disk, so they survive a simulated crash. */
export class MemoryStore implements TxnStore {
  private tables = new Map<string, { key: string; rows: Map<string, Row>; cols?: ColInfo[] }>()
  private names = new Map<string, string>()
  applied = 0

  /** Columns: as given, else those of the first row (type ANY: values are not checked). */
  createTable(name: string, key: string, rows: Row[] = [], cols?: ColInfo[]): void {
    const first = rows[0]
    const t = { key: key.toUpperCase(), rows: new Map<string, Row>(), cols: cols ?? (first ? Object.keys(first).map((c) => ({ name: c.toUpperCase(), type: 'ANY' as const })) : undefined) }
    for (const r of rows) t.rows.set(String(r[t.key]), { ...r })
    this.tables.set(name, t)
    this.names.set(name.toUpperCase(), name)
  }

  resolveTable(table: string): string {
    const n = this.tables.has(table) ? table : this.names.get(table.toUpperCase())
    if (!n) throw new EngineError('UNKNOWN_TABLE', `no fragment ${table} at this site`)
    return n
  }
  private t(table: string) { return this.tables.get(this.resolveTable(table))! }
  keyColumn(table: string): string { return this.t(table).key }
  get(table: string, key: string): Row | undefined { return this.t(table).rows.get(key) }
  scan(table: string): Row[] { return [...this.t(table).rows.values()] }
  columns(table: string): ColInfo[] | undefined { return this.t(table).cols }
  apply(writes: readonly TxnWrite[]): void {
    for (const w of writes) {
      const t = this.t(w.table)
      if (w.row) t.rows.set(w.key, { ...w.row })
      else t.rows.delete(w.key)
    }
    this.applied += writes.length
  }
  tableNames(): string[] { return [...this.tables.keys()] }
}
