/**
 * Restore of a site from a backup file (engine/backup/format.ts): validate first (nothing changes on a bad
 * file), then say what the restore loses, then — once the administrator confirms — make the site's own data
 * equal to the backup in ONE local transaction. The restore is a commit like any other: it is logged, fed to
 * the backup server, shipped to the main repository and the replicas, and its sequence number follows the
 * site's (the log never runs backwards, so no channel or reopen replays what the restore undid).
 *
 * What is restored: the site's own data (horizontal fragments and local tables). Replicas (ITEMS), derived
 * fragments and scheduled copies are kept as they are: they are maintained from their sources at other sites,
 * and reverting them here would undo other sites' commits. The transaction is the difference between the
 * site's rows now and the backup's (deletes first, then upserts), so its size is what changed, not the table.
 */
import type { Database } from 'sql.js'
import { EngineError } from '../errors'
import type { Cluster } from '../cluster'
import type { SiteCode } from '../topology/types'
import type { SqlValue } from '../site/sqljs'
import { quoteId } from '../site/sqljs'
import { formatSiteTime } from '../sim/kernel'
import { backupTables, validateSiteFile, type BackupSet } from './format'
import { NO_WORK, type Work } from './snapshot'
import type { RestorePlan, RestoreTablePlan } from '../api/backup'

export type { RestorePlan, RestoreTablePlan }



interface TableDiff { table: string; columns: string[]; key: string[]; keyIdx: number[]; del: SqlValue[][]; put: SqlValue[][]; rowsNow: number; rowsAfter: number; insert: number; revert: number }

const RESTORED_KINDS = new Set(['horizontal', 'local'])

function rank(v: SqlValue): number { return v === null ? 0 : typeof v === 'number' || typeof v === 'bigint' ? 1 : typeof v === 'string' ? 2 : 3 }
/** SQLite's order of values (NULL < numbers < text < blobs); ties of unlike blobs are broken arbitrarily. */
function cmp(a: SqlValue, b: SqlValue): number {
  const ra = rank(a), rb = rank(b)
  if (ra !== rb) return ra - rb
  if (ra === 1) return Number(a) - Number(b)
  if (ra === 2) return (a as string) < (b as string) ? -1 : (a as string) > (b as string) ? 1 : 0
  return 0
}
function sameValue(a: SqlValue, b: SqlValue): boolean {
  if (a === b) return true
  if (a instanceof Uint8Array && b instanceof Uint8Array) return a.length === b.length && a.every((x, i) => x === b[i])
  return false
}
const sameRow = (a: SqlValue[], b: SqlValue[]) => a.length === b.length && a.every((x, i) => sameValue(x, b[i]))

/** Rows of a table ordered by its key, as a pull iterator over one statement (freed at the end). */
function* ordered(db: Database, table: string, columns: string[], key: string[]): Generator<SqlValue[]> {
  const st = db.prepare(`SELECT ${columns.map(quoteId).join(', ')} FROM ${quoteId(table)} ORDER BY ${key.map(quoteId).join(', ')}`)
  try { while (st.step()) yield st.get() } finally { st.free() }
}

/** The difference that turns `now` into `want` for one table (merge join over the key order). */
function diffTable(now: Database, want: Database, table: string, columns: string[], key: string[]): TableDiff {
  const keyIdx = key.map((k) => columns.indexOf(k))
  const d: TableDiff = { table, columns, key, keyIdx, del: [], put: [], rowsNow: 0, rowsAfter: 0, insert: 0, revert: 0 }
  const a = ordered(now, table, columns, key), b = ordered(want, table, columns, key)
  let x = a.next(), y = b.next()
  const keyCmp = (r: SqlValue[], s: SqlValue[]) => { for (const i of keyIdx) { const c = cmp(r[i], s[i]); if (c) return c } return 0 }
  while (!x.done || !y.done) {
    const c = x.done ? 1 : y.done ? -1 : keyCmp(x.value, y.value)
    if (c < 0) { d.del.push(keyIdx.map((i) => x.value![i])); d.rowsNow++; x = a.next() } else if (c > 0) { d.put.push(y.value!); d.insert++; d.rowsAfter++; y = b.next() } else {
      if (!sameRow(x.value!, y.value!)) { d.put.push(y.value!); d.revert++ }
      d.rowsNow++; d.rowsAfter++
      x = a.next(); y = b.next()
    }
  }
  return d
}

interface Prepared { plan: RestorePlan; diffs: TableDiff[] }

function prepare(cluster: Cluster, set: BackupSet, site: SiteCode): Prepared {
  cluster.site(site)
  if (!cluster.isServerUp(`${site}.primary`)) throw cluster.siteDownError(site, `${site}.primary cannot take a restore from a file (recover it from its backup server first)`)
  const s = cluster.siteInternals(site)
  if (s.primary.inTransaction) throw new EngineError('CONFLICT', `${site}.primary has an open transaction`, { site })
  const v = validateSiteFile(s.SQL, cluster.topology, set, site)
  try {
    if (v.entry.seq > s.seq) throw new EngineError('CONFLICT', `backup ${set.manifest.id} holds ${site}'s record ${v.entry.seq}, but ${site} has committed only up to ${s.seq}: it is not from this cluster's history`, { site })
    const diffs: TableDiff[] = []
    const tables: RestoreTablePlan[] = []
    for (const t of backupTables(cluster.topology, site)) {
      const restored = RESTORED_KINDS.has(t.frag.kind)
      if (!restored) {
        const n = s.primary.count(t.name)
        tables.push({ table: t.name, kind: t.frag.kind, restored, insert: 0, delete: 0, revert: 0, rowsNow: n, rowsAfter: n })
        continue
      }
      const d = diffTable(s.primary.db, v.db, t.name, t.columns, t.rel.key)
      diffs.push(d)
      tables.push({ table: t.name, kind: t.frag.kind, restored, insert: d.insert, delete: d.del.length, revert: d.revert, rowsNow: d.rowsNow, rowsAfter: d.rowsAfter })
    }
    const lost = s.seq - v.entry.seq
    const changes = diffs.reduce((a, d) => a + d.del.length + d.put.length, 0)
    const own = tables.filter((t) => t.restored).map((t) => t.table)
    const kept = tables.filter((t) => !t.restored).map((t) => `${t.table} (${t.kind})`)
    const message = `Restoring ${site} from backup ${set.manifest.id} (taken at ${formatSiteTime(set.manifest.virtualAt)}, ${site} record ${v.entry.seq}) sets ${own.join(', ')} to the backup. `
      + (!changes ? `Nothing is lost: ${site}'s own data already equals the backup.`
        : `${lost} commit(s) made at ${site} after the backup (records ${v.entry.seq + 1}–${s.seq}) are lost where they changed its own data`
          + `: ${tables.reduce((a, t) => a + t.insert, 0)} row(s) re-inserted, ${tables.reduce((a, t) => a + t.delete, 0)} deleted, ${tables.reduce((a, t) => a + t.revert, 0)} reverted.`)
      + (kept.length ? ` Kept current from their sources: ${kept.join(', ')}.` : '')
    return { plan: { backupId: set.manifest.id, site, backupAt: set.manifest.virtualAt, backupLocal: formatSiteTime(set.manifest.virtualAt), backupSeq: v.entry.seq, currentSeq: s.seq, lostCommits: lost, tables, changes, message }, diffs }
  } finally { v.db.close() }
}

/** Validates the backup for this site and states what a restore would change and lose (changes nothing). */
export function planRestore(cluster: Cluster, set: BackupSet, site: SiteCode): RestorePlan { return prepare(cluster, set, site).plan }

/**
 * Restores a site's own data from a backup, after validation, as one local transaction. `confirm` must be the
 * site's code (the administrator typed it after reading the plan). Returns the plan carried out.
 */
export async function restoreFromFile(cluster: Cluster, set: BackupSet, site: SiteCode, confirm: string, work: Work = NO_WORK): Promise<RestorePlan & { seq: number }> {
  if (confirm !== site) throw new EngineError('BAD_INPUT', `type the site's code ${site} to confirm the restore (got "${confirm}")`, { site })
  work.progress(0, `validating backup ${set.manifest.id} for ${site}`)
  await work.checkpoint()
  // validation and the difference are computed and applied in one synchronous step: no commit can fall between
  const { plan, diffs } = prepare(cluster, set, site)
  const seq = cluster.siteStore(site).withTransaction((tx) => {
    for (const d of diffs) {
      const del = `DELETE FROM ${quoteId(d.table)} WHERE ${d.key.map((k) => `${quoteId(k)} = ?`).join(' AND ')}`
      for (const k of d.del) tx.run(del, k)
      const put = `INSERT OR REPLACE INTO ${quoteId(d.table)} (${d.columns.map(quoteId).join(', ')}) VALUES (${d.columns.map(() => '?').join(', ')})`
      for (const r of d.put) tx.run(put, r)
    }
    return cluster.siteInternals(site).seq + (plan.changes ? 1 : 0)
  })
  work.progress(1, `restored ${plan.changes} row(s)`)
  cluster.log('recovery', `${site} restored from backup ${plan.backupId}: ${plan.changes} row(s) written${plan.lostCommits ? `, ${plan.lostCommits} later commit(s) undone` : ''}`, site)
  return { ...plan, seq }
}
