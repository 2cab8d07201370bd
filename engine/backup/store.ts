/**
 * The engine's backup list: the backups held in memory for the console to save and restore from — taken by
 * hand, uploaded from kept files, or made by a schedule (engine/backup/schedule.ts). Bounded: the newest
 * KEEP_BACKUPS taken or uploaded, the newest `retain` of each schedule, and KEEP_BACKUP_BYTES in all.
 */
import { EngineError } from '../errors'
import type { BackupSet } from './format'
import { backupBytes } from './snapshot'

export const KEEP_BACKUPS = 8
export const KEEP_BACKUP_BYTES = 1024 * 2 ** 20

export interface Held {
  key: string
  set: BackupSet
  origin: 'taken' | 'uploaded' | 'scheduled'
  /** The schedule that made it (scheduled ones). */
  schedule: string | null
  durationMs: number | null
}
export interface Upload { files: Map<string, { total: number; received: number; chunks: Uint8Array[] }>; touched: number }

export class BackupStore {
  held: Held[] = []
  uploads = new Map<string, Upload>()
  private ups = 0
  /** Retention of each schedule (the newest N of its backups are kept). */
  private retain = new Map<string, number>()

  add(set: BackupSet, origin: Held['origin'], durationMs: number | null, schedule: string | null = null): Held {
    let key = set.manifest.id
    if (this.held.some((h) => h.key === key)) key = `${set.manifest.id}~up${++this.ups}`
    const h: Held = { key, set, origin, durationMs, schedule }
    this.held.push(h)
    this.prune()
    return h
  }

  /** Sets a schedule's retention (undefined: the schedule is gone, its backups are kept under the hand bound). */
  setRetention(schedule: string, n: number | undefined): void {
    if (n === undefined) {
      this.retain.delete(schedule)
      for (const h of this.held) if (h.schedule === schedule) h.schedule = null
    } else this.retain.set(schedule, n)
    this.prune()
  }

  heldBy(schedule: string): Held[] { return this.held.filter((h) => h.schedule === schedule) }

  private prune(): void {
    const drop = new Set<Held>()
    const groups = new Map<string | null, Held[]>()
    for (const h of this.held) { const g = groups.get(h.schedule) ?? []; g.push(h); groups.set(h.schedule, g) }
    for (const [s, g] of groups) {
      const n = s === null ? KEEP_BACKUPS : this.retain.get(s) ?? KEEP_BACKUPS
      for (const h of g.slice(0, Math.max(0, g.length - n))) drop.add(h)
    }
    this.held = this.held.filter((h) => !drop.has(h))
    while (this.held.length > 1 && this.held.reduce((a, x) => a + backupBytes(x.set), 0) > KEEP_BACKUP_BYTES) this.held.shift()
  }

  get(key: string): Held {
    const h = this.held.find((x) => x.key === key)
    if (!h) throw new EngineError('NOT_FOUND', `no backup ${key} is held (held: ${this.held.map((x) => x.key).join(', ') || 'none'}); upload a kept backup to restore from it`)
    return h
  }
}

const stores = new WeakMap<object, BackupStore>()
/** The cluster's backup list (built on first use). */
export function backupStore(c: object): BackupStore {
  let s = stores.get(c)
  if (!s) { s = new BackupStore(); stores.set(c, s) }
  return s
}
