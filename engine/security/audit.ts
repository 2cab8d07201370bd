/**
 * The audit log: append-only and tamper-evident (spec §8). Every entry is hash-chained:
 *   hash = sha-256( prev hash + "\n" + canonical entry )       canonical: JSON of [seq, at, site, user, action, ok, detail]
 * and numbered from 1. A persisted cluster keeps it in its data directory:
 *   audit.log    one JSON entry per line, appended and fsync'd as it is written (never rewritten)
 *   audit.head   {count, hash} of the last entry (atomic rewrite), so entries cut from the end are noticed too
 * `verifyAuditText` (used by `iddb audit verify`) recomputes the chain and names the first broken entry:
 * an edited entry (its hash), a removed or reordered one (its number / its predecessor's hash), a cut tail (the head).
 * Times are the virtual clock's (determinism); no password or session token is ever written.
 */
import { createHash } from 'node:crypto'
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import type { Cluster } from '../cluster'
import type { AuditEntryView } from '../api/security'
import type { AuditEntry, AuditVerdict } from '../api/console'
import { writeFileAtomic } from '../storage/files'

export const AUDIT_FILE = 'audit.log'
export const AUDIT_HEAD = 'audit.head'
export const GENESIS = '0'.repeat(64)

export type { AuditEntry, AuditVerdict }

export interface AuditQuery {
  user?: string
  site?: string
  /** Substring of the action (e.g. "topology/failSite", "login", "refused"). */
  action?: string
  /** Substring of any field (user, site, action, detail), case-insensitive. */
  text?: string
  /** Virtual-time range, inclusive. */
  from?: number
  to?: number
  ok?: boolean
  limit?: number
}

const canonical = (e: Omit<AuditEntry, 'prev' | 'hash'>): string => JSON.stringify([e.seq, e.at, e.site, e.user, e.action, e.ok, e.detail])

export function entryHash(prev: string, e: Omit<AuditEntry, 'prev' | 'hash'>): string {
  return createHash('sha256').update(`${prev}\n${canonical(e)}`).digest('hex')
}


/**
 * Checks a whole audit log (the text of audit.log, and audit.head when there is one): numbering, chain and hashes.
 * `entry` names the first broken entry by its position in the file (1-based line).
 */
export function verifyAuditText(text: string, headText?: string | null): AuditVerdict {
  const lines = text.split('\n')
  if (lines[lines.length - 1] === '') lines.pop()
  let prev = GENESIS
  for (let i = 0; i < lines.length; i++) {
    const n = i + 1
    const broken = (reason: string): AuditVerdict => ({ ok: false, count: i, entry: n, reason: `entry ${n}: ${reason}` })
    let e: AuditEntry
    try { e = JSON.parse(lines[i]) as AuditEntry } catch { return broken('is not a JSON entry (damaged line)') }
    if (!e || typeof e !== 'object' || typeof e.hash !== 'string') return broken('is not an audit entry')
    if (e.seq !== n) return broken(`is numbered ${String(e.seq)}, expected ${n}: an entry before it was removed, or entries were reordered`)
    if (e.prev !== prev) return broken(`does not follow entry ${n - 1} (its previous-hash differs): entries were removed, reordered or replaced`)
    if (entryHash(prev, e) !== e.hash) return broken(`its content does not match its hash: the entry was edited`)
    prev = e.hash
  }
  if (headText !== undefined && headText !== null) {
    let head: { count?: unknown; hash?: unknown }
    try { head = JSON.parse(headText) as typeof head } catch { return { ok: false, count: lines.length, entry: lines.length + 1, reason: `${AUDIT_HEAD} is damaged` } }
    if (head.count !== lines.length || head.hash !== prev) {
      const c = Number(head.count)
      return {
        ok: false, count: lines.length, entry: Math.min(lines.length, Number.isFinite(c) ? c : lines.length) + 1,
        reason: Number.isFinite(c) && c > lines.length
          ? `the log ends after entry ${lines.length} but ${c} were written: entries ${lines.length + 1}–${c} were removed from the end`
          : `the head mark (${String(head.count)} entries) does not match the log (${lines.length} entries)`,
      }
    }
  }
  return { ok: true, count: lines.length, head: prev }
}

/** Verifies the audit log of a data directory (audit.log + audit.head); no log at all is 0 entries. */
export function verifyAuditDir(dir: string): AuditVerdict {
  const file = join(dir, AUDIT_FILE)
  const head = join(dir, AUDIT_HEAD)
  const text = existsSync(file) ? readFileSync(file, 'utf8') : ''
  if (!existsSync(file) && existsSync(head)) return { ok: false, count: 0, entry: 1, reason: `${AUDIT_FILE} is missing but ${AUDIT_HEAD} records entries` }
  return verifyAuditText(text, existsSync(head) ? readFileSync(head, 'utf8') : null)
}

export function matches(e: AuditEntryView, q: AuditQuery): boolean {
  if (q.user && e.user !== q.user) return false
  if (q.site && e.site !== q.site) return false
  if (q.action && !e.action.toLowerCase().includes(q.action.toLowerCase())) return false
  if (q.ok !== undefined && e.ok !== q.ok) return false
  if (q.from !== undefined && e.at < q.from) return false
  if (q.to !== undefined && e.at > q.to) return false
  if (q.text) {
    const t = q.text.toLowerCase()
    if (![e.user, e.site, e.action, e.detail].some((f) => f.toLowerCase().includes(t))) return false
  }
  return true
}

export class AuditLog {
  private entries: AuditEntry[] = []
  private fd: number | undefined
  /** Set when the file on disk failed verification at open: new entries still chain on, `verify` reports it. */
  readonly damage: string | null = null

  private constructor(private now: () => number, private dir: string | null) {
    if (!dir) return
    const file = join(dir, AUDIT_FILE)
    if (existsSync(file)) {
      const text = readFileSync(file, 'utf8')
      const v = verifyAuditText(text, existsSync(join(dir, AUDIT_HEAD)) ? readFileSync(join(dir, AUDIT_HEAD), 'utf8') : null)
      if (!v.ok) this.damage = v.reason
      for (const line of text.split('\n')) {
        if (!line) continue
        try { this.entries.push(JSON.parse(line) as AuditEntry) } catch { /* a damaged line: verify names it */ }
      }
    }
  }

  /** The log of a cluster (persisted next to its data unless it is in memory or opened read-only). */
  static of(cluster: Cluster): AuditLog { return cluster.subsystems.audit() }

  /** A new log for a cluster (its subsystem registry calls this once; everyone else calls AuditLog.of). */
  static create(cluster: Cluster): AuditLog {
    return new AuditLog(() => cluster.sim.now, cluster.dataDir && !cluster.readOnly ? cluster.dataDir : null)
  }

  get size(): number { return this.entries.length }
  get head(): string { return this.entries.at(-1)?.hash ?? GENESIS }

  append(site: string, user: string, action: string, ok: boolean, detail: string): AuditEntry {
    const body = { seq: this.entries.length + 1, at: this.now(), site, user, action, ok, detail }
    const prev = this.head
    const e: AuditEntry = { ...body, prev, hash: entryHash(prev, body) }
    if (this.dir) {
      this.fd ??= openSync(join(this.dir, AUDIT_FILE), 'a')
      const buf = Buffer.from(`${JSON.stringify(e)}\n`, 'utf8')
      let off = 0
      while (off < buf.length) off += writeSync(this.fd, buf, off, buf.length - off)
      fsyncSync(this.fd)
      writeFileAtomic(join(this.dir, AUDIT_HEAD), JSON.stringify({ count: e.seq, hash: e.hash }))
    }
    this.entries.push(e)
    return e
  }

  /** Newest first. */
  search(q: AuditQuery = {}): AuditEntry[] {
    const out: AuditEntry[] = []
    const limit = q.limit ?? 200
    for (let i = this.entries.length - 1; i >= 0 && out.length < limit; i--) if (matches(this.entries[i], q)) out.push(this.entries[i])
    return out
  }

  /** Newest first, the last `n`. */
  recent(n: number): AuditEntry[] { return this.entries.slice(-n).reverse() }

  /** The chain as held in memory (and, persisted, as on disk). */
  verify(): AuditVerdict {
    if (this.dir) return verifyAuditDir(this.dir)
    return verifyAuditText(this.entries.map((e) => JSON.stringify(e)).join('\n'))
  }

  close(): void {
    if (this.fd !== undefined) { closeSync(this.fd); this.fd = undefined }
  }
}
