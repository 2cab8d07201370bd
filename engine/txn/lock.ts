/**
 * A site's lock manager: shared/exclusive row locks with table-level intention locks (IS/IX/S/X),
 * FIFO wait queues (an upgrade goes ahead of new requesters), strict two-phase locking (the DTM releases
 * a transaction's locks only at commit/abort). Pure data structure: timeouts and deadlock handling are
 * driven by the DTM. Grants that a release makes possible are returned to the caller, who runs them
 * after the lock table is consistent (no re-entrancy).
 */
import { assert } from '../assert'

export type LockMode = 'IS' | 'IX' | 'S' | 'X'

const COMPAT: Record<LockMode, Record<LockMode, boolean>> = {
  IS: { IS: true, IX: true, S: true, X: false },
  IX: { IS: true, IX: true, S: false, X: false },
  S: { IS: true, IX: false, S: true, X: false },
  X: { IS: false, IX: false, S: false, X: false },
}

export function compatible(a: LockMode, b: LockMode): boolean { return COMPAT[a][b] }

/** The weakest mode covering both (IX+S would be SIX; we use X for it). */
export function supremum(a: LockMode, b: LockMode): LockMode {
  if (a === b) return a
  if (a === 'X' || b === 'X') return 'X'
  if (a === 'IS') return b
  if (b === 'IS') return a
  return 'X' // IX + S
}

export function covers(held: LockMode, want: LockMode): boolean {
  return supremum(held, want) === held
}

export interface LockRequest { tx: string; mode: LockMode; resource: string; since: number; grant: () => void; upgrade: boolean }

interface LockEntry {
  granted: Map<string, LockMode>
  queue: LockRequest[]
  /** How many holders hold each mode (grantability in O(1), without walking the holders). */
  held: Record<LockMode, number>
}

const MODES: readonly LockMode[] = ['IS', 'IX', 'S', 'X']
/** Per requested mode, the held modes that conflict with it (COMPAT false). */
const CONFLICTS: Record<LockMode, readonly LockMode[]> = {
  IS: MODES.filter((m) => !COMPAT.IS[m]), IX: MODES.filter((m) => !COMPAT.IX[m]), S: MODES.filter((m) => !COMPAT.S[m]), X: MODES.filter((m) => !COMPAT.X[m]),
}
const newEntry = (): LockEntry => ({ granted: new Map(), queue: [], held: { IS: 0, IX: 0, S: 0, X: 0 } })

export class LockManager {
  private table = new Map<string, LockEntry>()
  /** Per transaction: the resources it holds and in which mode (the same modes as the entries' granted maps). */
  private heldBy = new Map<string, Map<string, LockMode>>()
  private waiting = new Map<string, LockRequest>()
  grants = 0
  waits = 0

  /** True if granted now; false if queued (grant() is called later, from a release's returned list). */
  acquire(tx: string, resource: string, mode: LockMode, grant: () => void, now = 0): boolean {
    let e = this.table.get(resource)
    if (!e) { e = newEntry(); this.table.set(resource, e) }
    const held = e.granted.get(tx)
    if (held && covers(held, mode)) return true
    const want = held ? supremum(held, mode) : mode
    const ok = this.grantable(e, tx, want) && (held !== undefined || e.queue.length === 0)
    if (ok) { this.grant(e, tx, resource, want); this.grants++; return true }
    const req: LockRequest = { tx, mode: want, resource, since: now, grant, upgrade: held !== undefined }
    if (req.upgrade) {
      // upgrades go before every non-holder in the queue
      let i = 0
      while (i < e.queue.length && e.queue[i].upgrade) i++
      e.queue.splice(i, 0, req)
    } else e.queue.push(req)
    this.waiting.set(tx, req)
    this.waits++
    return false
  }

  private grantable(e: LockEntry, tx: string, mode: LockMode): boolean {
    const own = e.granted.get(tx)
    for (const m of CONFLICTS[mode]) if (e.held[m] - (own === m ? 1 : 0) > 0) return false
    return true
  }

  /** A grant: only ever compatible with every other holder's mode (install() re-installs recovered locks as they were). */
  private grant(e: LockEntry, tx: string, resource: string, mode: LockMode): void {
    assert(this.grantable(e, tx, mode), () => `a lock is granted only when compatible: ${mode} on ${resource} for ${tx} while ${[...e.granted].filter(([o]) => o !== tx).map(([o, m]) => `${o} holds ${m}`).join(', ')}`)
    this.setGranted(e, tx, resource, mode)
  }

  private setGranted(e: LockEntry, tx: string, resource: string, mode: LockMode): void {
    const prev = e.granted.get(tx)
    if (prev) e.held[prev]--
    e.held[mode]++
    e.granted.set(tx, mode)
    let s = this.heldBy.get(tx)
    if (!s) { s = new Map(); this.heldBy.set(tx, s) }
    s.set(resource, mode)
  }

  /** Grants queued requests from the head while they fit (FIFO). */
  private pump(resource: string, out: (() => void)[], e = this.table.get(resource)): void {
    if (!e) return
    while (e.queue.length) {
      const r = e.queue[0]
      if (!this.grantable(e, r.tx, r.mode)) break
      e.queue.shift()
      this.waiting.delete(r.tx)
      this.grant(e, r.tx, resource, r.mode)
      this.grants++
      out.push(r.grant)
    }
    if (!e.queue.length && !e.granted.size) this.table.delete(resource)
  }

  /** Withdraws tx's waiting request (timeout, victim). Returns grants made possible. */
  cancelWait(tx: string): (() => void)[] {
    const out: (() => void)[] = []
    const r = this.waiting.get(tx)
    if (!r) return out
    this.waiting.delete(tx)
    const e = this.table.get(r.resource)
    if (e) {
      e.queue = e.queue.filter((q) => q !== r)
      this.pump(r.resource, out)
    }
    return out
  }

  /** Strict 2PL end of transaction: drops every lock and waiting request of tx. */
  releaseAll(tx: string): (() => void)[] {
    const out = this.cancelWait(tx)
    const held = this.heldBy.get(tx)
    if (!held) return out
    this.heldBy.delete(tx)
    for (const res of held.keys()) {
      const e = this.table.get(res)
      if (!e) continue
      const m = e.granted.get(tx)
      if (m) { e.held[m]--; e.granted.delete(tx) }
      this.pump(res, out, e)
    }
    return out
  }

  /** Drops one lock of tx (a short read lock: the DIM's lookups, engine/integrity/txn.ts); returns grants made possible. */
  release(tx: string, resource: string): (() => void)[] {
    const out: (() => void)[] = []
    const e = this.table.get(resource)
    const m = e?.granted.get(tx)
    if (!e || !m) return out
    e.held[m]--
    e.granted.delete(tx)
    this.heldBy.get(tx)?.delete(resource)
    if (this.heldBy.get(tx)?.size === 0) this.heldBy.delete(tx)
    this.pump(resource, out)
    return out
  }

  /** Re-installs a lock without queueing (recovery of prepared transactions). */
  install(tx: string, resource: string, mode: LockMode): void {
    let e = this.table.get(resource)
    if (!e) { e = newEntry(); this.table.set(resource, e) }
    const held = e.granted.get(tx)
    this.setGranted(e, tx, resource, held ? supremum(held, mode) : mode)
  }

  waitingRequest(tx: string): LockRequest | undefined { return this.waiting.get(tx) }
  isWaiting(tx: string): boolean { return this.waiting.has(tx) }
  heldLocks(tx: string): { resource: string; mode: LockMode }[] {
    const s = this.heldBy.get(tx)
    if (!s) return []
    const out: { resource: string; mode: LockMode }[] = []
    for (const [resource, mode] of s) out.push({ resource, mode })
    return out
  }
  heldCount(tx: string): number { return this.heldBy.get(tx)?.size ?? 0 }
  transactions(): string[] { return [...new Set([...this.heldBy.keys(), ...this.waiting.keys()])] }
  get waiterCount(): number { return this.waiting.size }
  get lockCount(): number { let n = 0; for (const s of this.heldBy.values()) n += s.size; return n }

  /** Who `tx` waits for: incompatible holders and incompatible requests ahead of it in the queue. */
  blockersOf(tx: string): string[] {
    const r = this.waiting.get(tx)
    if (!r) return []
    const e = this.table.get(r.resource)!
    const out = new Set<string>()
    for (const [o, m] of e.granted) if (o !== tx && !COMPAT[r.mode][m]) out.add(o)
    for (const q of e.queue) {
      if (q === r) break
      if (q.tx !== tx && !(COMPAT[r.mode][q.mode] && COMPAT[q.mode][r.mode])) out.add(q.tx)
    }
    return [...out]
  }

  /** The local wait-for graph as adjacency (waiter → blockers). */
  waitsFor(): Map<string, string[]> {
    const g = new Map<string, string[]>()
    for (const tx of this.waiting.keys()) {
      const b = this.blockersOf(tx)
      if (b.length) g.set(tx, b)
    }
    return g
  }

  clear(): void { this.table.clear(); this.heldBy.clear(); this.waiting.clear() }
}
