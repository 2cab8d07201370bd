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
import type { Site } from '../site/site'
import { quoteId } from '../site/sqljs'
import { formatSiteTime } from '../sim/kernel'
import { backupTables, validateSiteFile, type BackupSet } from './format'
import { NO_WORK, type Work } from './snapshot'
import type { RestorePlan, RestoreTablePlan } from '../api/backup'

export type { RestorePlan, RestoreTablePlan }



interface TableDiff { table: string; columns: string[]; key: string[]; del: SqlValue[][]; put: SqlValue[][]; rowsNow: number; rowsAfter: number; insert: number; revert: number }

const RESTORED_KINDS = new Set(['horizontal', 'local'])

/** Schema name under which the backup file is attached to the primary's connection while the difference is computed. */
const ALIAS = '__restore_src'

function rowsOf(db: Database, sql: string): SqlValue[][] { return db.exec(sql)[0]?.values ?? [] }

/**
 * The difference that turns the primary's table into the backup's, computed by SQLite over the attached file
 * (key lookups: only the rows that differ cross into JavaScript). NULL-safe comparison of every column (IS NOT).
 */
function diffTable(db: Database, table: string, columns: string[], key: string[]): TableDiff {
  const q = quoteId(table)
  const on = key.map((k) => `m.${quoteId(k)} = b.${quoteId(k)}`).join(' AND ')
  const differs = columns.filter((c) => !key.includes(c)).map((c) => `m.${quoteId(c)} IS NOT b.${quoteId(c)}`).join(' OR ') || '0'
  const k0 = `m.${quoteId(key[0])}`
  const del = rowsOf(db, `SELECT ${key.map((k) => `m.${quoteId(k)}`).join(', ')} FROM main.${q} m WHERE NOT EXISTS (SELECT 1 FROM ${ALIAS}.${q} b WHERE ${on})`)
  const put: SqlValue[][] = []
  let insert = 0
  for (const r of rowsOf(db, `SELECT ${k0} IS NULL, ${columns.map((c) => `b.${quoteId(c)}`).join(', ')} FROM ${ALIAS}.${q} b LEFT JOIN main.${q} m ON ${on} WHERE ${k0} IS NULL OR ${differs}`)) {
    if (r[0]) insert++
    put.push(r.slice(1))
  }
  const rowsNow = Number(rowsOf(db, `SELECT COUNT(*) FROM main.${q}`)[0][0])
  const rowsAfter = Number(rowsOf(db, `SELECT COUNT(*) FROM ${ALIAS}.${q}`)[0][0])
  return { table, columns, key, del, put, rowsNow, rowsAfter, insert, revert: put.length - insert }
}

/**
 * The keys of each table changed by the site's commits after `fromSeq`, from the retained commit log — or null
 * when the log no longer holds every one of those records (then the whole tables are compared).
 */
function touchedKeys(site: Site, fromSeq: number, keyIdx: Map<string, number[]>): Map<string, Map<string, SqlValue[]>> | null {
  const recs = site.retained.filter((r) => r.seq > fromSeq).sort((a, b) => a.seq - b.seq)
  if (recs.length !== site.seq - fromSeq || recs.some((r, i) => r.seq !== fromSeq + 1 + i || r.body.ddl?.length)) return null
  const out = new Map<string, Map<string, SqlValue[]>>()
  for (const r of recs) {
    for (const c of r.body.c) {
      const idx = keyIdx.get(c.t)
      if (!idx) continue
      let m = out.get(c.t)
      if (!m) { m = new Map(); out.set(c.t, m) }
      const k = idx.map((i) => c.r[i])
      m.set(JSON.stringify(k), k)
    }
  }
  return out
}

const sameValue = (x: SqlValue, y: SqlValue) => x === y || (x instanceof Uint8Array && y instanceof Uint8Array && x.length === y.length && x.every((v, i) => v === y[i]))
const sameRow = (a: SqlValue[], b: SqlValue[]) => a.every((x, i) => sameValue(x, b[i]))

/** The difference restricted to the given keys: each looked up in the primary and in the attached backup. */
function diffKeys(db: Database, table: string, columns: string[], key: string[], keys: Iterable<SqlValue[]>): TableDiff {
  const q = quoteId(table)
  const where = key.map((k) => `${quoteId(k)} = ?`).join(' AND ')
  const cols = columns.map(quoteId).join(', ')
  const now = db.prepare(`SELECT ${cols} FROM main.${q} WHERE ${where}`), want = db.prepare(`SELECT ${cols} FROM ${ALIAS}.${q} WHERE ${where}`)
  const one = (st: typeof now, k: SqlValue[]) => { try { st.bind(k); return st.step() ? st.get() : null } finally { st.reset() } }
  const d: TableDiff = { table, columns, key, del: [], put: [], rowsNow: 0, rowsAfter: 0, insert: 0, revert: 0 }
  try {
    for (const k of keys) {
      const a = one(now, k), b = one(want, k)
      if (a && !b) d.del.push(k)
      else if (b && !a) { d.put.push(b); d.insert++ } else if (a && b && !sameRow(a, b)) { d.put.push(b); d.revert++ }
    }
  } finally { now.free(); want.free() }
  d.rowsNow = Number(rowsOf(db, `SELECT COUNT(*) FROM main.${q}`)[0][0])
  d.rowsAfter = Number(rowsOf(db, `SELECT COUNT(*) FROM ${ALIAS}.${q}`)[0][0])
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
    // the validated file (in sql.js's in-memory file system under v.db's name) attached to the primary's connection
    const fileName = (v.db as unknown as { filename: string }).filename
    s.primary.db.exec(`ATTACH DATABASE '${fileName.replace(/'/g, "''")}' AS ${ALIAS}`)
    try {
      const own = backupTables(cluster.topology, site).filter((t) => RESTORED_KINDS.has(t.frag.kind))
      // the changes since the backup are in the commit log: only their keys need comparing (else every row)
      const touched = touchedKeys(s, v.entry.seq, new Map(own.map((t) => [t.name, t.rel.key.map((k) => t.columns.indexOf(k))])))
      for (const t of backupTables(cluster.topology, site)) {
        const restored = RESTORED_KINDS.has(t.frag.kind)
        if (!restored) {
          const n = s.primary.count(t.name)
          tables.push({ table: t.name, kind: t.frag.kind, restored, insert: 0, delete: 0, revert: 0, rowsNow: n, rowsAfter: n })
          continue
        }
        const d = touched ? diffKeys(s.primary.db, t.name, t.columns, t.rel.key, touched.get(t.name)?.values() ?? []) : diffTable(s.primary.db, t.name, t.columns, t.rel.key)
        diffs.push(d)
        tables.push({ table: t.name, kind: t.frag.kind, restored, insert: d.insert, delete: d.del.length, revert: d.revert, rowsNow: d.rowsNow, rowsAfter: d.rowsAfter })
      }
    } finally { s.primary.db.exec(`DETACH DATABASE ${ALIAS}`) }
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
