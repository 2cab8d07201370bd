/**
 * Incremental refresh of a scheduled copy (Stock_MBI at Colombo from Stock_MBI_LCL at Mumbai), as a
 * materialized-view log does it: every commit at the source site that changes the source table is folded
 * into the copy's change log, by key, keeping each key's latest image (a row, or deleted) and the commit
 * record (seq) that made it. A refresh ships only the keys changed since the copy's last refresh — or the
 * whole table when the log no longer covers that gap (the cluster was reopened, the source was bulk loaded or
 * restored, or the log grew past its bound) — and the target applies it in ONE local transaction, so a copy
 * is never half refreshed.
 */
import type { Change } from './db'
import type { SqlValue } from './sqljs'
import { quoteId } from './sqljs'

/** The log keeps at most this many keys; past it, the next refresh is a full snapshot. */
export const COPY_LOG_MAX_KEYS = 200_000

interface LogEntry { seq: number; at: number; row: SqlValue[] | null; key: SqlValue[] }

export interface RefreshPayload {
  mode: 'incremental' | 'full'
  /** The source commit record the payload brings the copy up to. */
  toSeq: number
  /** Virtual time the source was read (the data is current as of then). */
  asOf: number
  /** incremental: the rows to upsert; full: every row. */
  rows: SqlValue[][]
  /** incremental: the keys deleted. */
  deletes: SqlValue[][]
  /** Bytes on the wire (the JSON of rows and deletes). */
  bytes: number
}

export class CopyLog {
  private entries = new Map<string, LogEntry>()
  /** The log holds every change after this source seq (null: it does not cover anything yet). */
  coveredFrom: number | null = null
  constructor(readonly source: string, readonly keyIdx: number[]) {}

  /** The log starts (again) at `seq`: changes up to it are not in it. */
  reset(seq: number): void { this.entries.clear(); this.coveredFrom = seq }

  get size(): number { return this.entries.size }

  /** A durable commit at the source site. */
  record(seq: number, at: number, changes: readonly Change[]): void {
    if (this.coveredFrom === null) return
    for (const c of changes) {
      if (c.t !== this.source) continue
      const key = this.keyIdx.map((i) => c.r[i])
      const k = JSON.stringify(key)
      // a change is a delete of the old image and an insert of the new one, in that order
      this.entries.set(k, { seq, at, row: c.op === 'I' ? c.r : null, key })
    }
    if (this.entries.size > COPY_LOG_MAX_KEYS) { this.entries.clear(); this.coveredFrom = null }
  }

  /** Whether the log holds every change after `seq` (the copy's last refresh). */
  covers(seq: number): boolean { return this.coveredFrom !== null && this.coveredFrom <= seq }

  /** The net changes after `fromSeq` (upserts and deletes). */
  delta(fromSeq: number): { rows: SqlValue[][]; deletes: SqlValue[][] } {
    const rows: SqlValue[][] = []
    const deletes: SqlValue[][] = []
    for (const e of this.entries.values()) {
      if (e.seq <= fromSeq) continue
      if (e.row) rows.push(e.row); else deletes.push(e.key)
    }
    return { rows, deletes }
  }

  /** Earliest commit time after `fromSeq` that changed the source (when a copy as of `fromSeq` stopped being current). */
  firstChangeAfter(fromSeq: number): number | null {
    let t: number | null = null
    for (const e of this.entries.values()) if (e.seq > fromSeq && (t === null || e.at < t)) t = e.at
    return t
  }

  /** The copy holds everything up to `seq`: entries at or before it are not needed again. */
  applied(seq: number): void {
    for (const [k, e] of this.entries) if (e.seq <= seq) this.entries.delete(k)
    if (this.coveredFrom !== null && this.coveredFrom < seq) this.coveredFrom = seq
  }
}

export const payloadBytes = (rows: SqlValue[][], deletes: SqlValue[][]) => JSON.stringify(rows).length + (deletes.length ? JSON.stringify(deletes).length : 0)

/** Statements that apply a payload to the copy table (inside the caller's one transaction). */
export function applyStatements(table: string, columns: string[], key: string[], p: Pick<RefreshPayload, 'mode' | 'rows' | 'deletes'>): { sql: string; params?: SqlValue[] }[] {
  const q = quoteId(table)
  const out: { sql: string; params?: SqlValue[] }[] = []
  const ph = `(${columns.map(() => '?').join(', ')})`
  const cols = columns.map(quoteId).join(', ')
  const where = key.map((k) => `${quoteId(k)} = ?`).join(' AND ')
  const keyIdx = key.map((k) => columns.indexOf(k))
  // an upsert is a delete by key and an insert (not INSERT OR REPLACE: the capture triggers see both images)
  if (p.mode === 'full') out.push({ sql: `DELETE FROM ${q}` })
  else for (const k of [...p.deletes, ...p.rows.map((r) => keyIdx.map((i) => r[i]))]) out.push({ sql: `DELETE FROM ${q} WHERE ${where}`, params: k })
  for (const r of p.rows) out.push({ sql: `INSERT INTO ${q} (${cols}) VALUES ${ph}`, params: r })
  return out
}
