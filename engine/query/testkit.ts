/**
 * Test/bench support: a centralized reference database (a byte copy of the Colombo main repository,
 * with the global views defined) and result comparison as multisets / ordered lists with a float
 * tolerance for re-associated sums.
 */
import type { Database } from 'sql.js'
import type { Cluster } from '../cluster'
import { loadSqlJs, type SqlValue } from '../site/sqljs'
import { fragments, globalViews } from '../data/schema'

/** A centralized copy of all data (main repository, after replication settled). */
export async function centralReference(cluster: Cluster): Promise<Database> {
  const SQL = await loadSqlJs()
  cluster.settle(600_000)
  const repo = cluster.siteInternals(cluster.topology.sites.find((s) => s.repository)!.code).repository!
  const db = new SQL.Database(repo.export())
  for (const v of globalViews(cluster.topology)) db.run(`CREATE VIEW IF NOT EXISTS "${v.name}" AS ${v.sql}`)
  // fragment names (location transparency) as their defining views over the global relations
  const rels = new Set(cluster.topology.sites.map((s) => `STOCK_${s.code}`).concat(['SALES', 'EMPLOYEES', 'ITEMS']))
  for (const f of fragments(cluster.topology)) {
    if (rels.has(f.name.toUpperCase()) || f.kind === 'copy') continue
    db.run(`CREATE VIEW IF NOT EXISTS "${f.name}" AS SELECT ${f.columns.join(', ')} FROM ${f.relation}${f.predicate ? ` WHERE ${f.predicate}` : ''}`)
  }
  return db
}

export function runCentral(db: Database, sql: string): { columns: string[]; rows: SqlValue[][] } {
  const r = db.exec(sql)
  if (!r.length) {
    const st = db.prepare(sql)
    try { return { columns: st.getColumnNames(), rows: [] } } finally { st.free() }
  }
  return { columns: r[0].columns, rows: r[0].values }
}

const close = (a: SqlValue, b: SqlValue): boolean => {
  if (typeof a === 'number' && typeof b === 'number') return a === b || Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b))
  return a === b
}

const canon = (v: SqlValue): string => (typeof v === 'number' ? `n${Number(v.toPrecision(8))}` : v === null ? 'null' : `s${String(v)}`)

/** Equal as multisets (ordered = false) or as sequences; returns a description of the first difference. */
export function sameResult(a: SqlValue[][], b: SqlValue[][], ordered: boolean): string | undefined {
  if (a.length !== b.length) return `row count ${a.length} vs ${b.length}`
  const key = (r: SqlValue[]) => r.map(canon).join('|')
  const A = ordered ? a : [...a].sort((x, y) => (key(x) < key(y) ? -1 : key(x) > key(y) ? 1 : 0))
  const B = ordered ? b : [...b].sort((x, y) => (key(x) < key(y) ? -1 : key(x) > key(y) ? 1 : 0))
  for (let i = 0; i < A.length; i++) {
    if (A[i].length !== B[i].length) return `row ${i}: ${A[i].length} vs ${B[i].length} columns`
    for (let j = 0; j < A[i].length; j++) if (!close(A[i][j], B[i][j])) return `row ${i} col ${j}: ${JSON.stringify(A[i][j])} vs ${JSON.stringify(B[i][j])}`
  }
  return undefined
}

/** Sort key of a value for typed comparison (non-integral numbers to 10 significant digits). */
const typedKey = (v: SqlValue): string => {
  if (v === null || v === undefined) return 'N'
  if (typeof v === 'number') return Number.isInteger(v) ? `I${v}` : `R${Number(v.toPrecision(10))}`
  if (typeof v === 'string') return `S${v}`
  return `B${Array.from(v as Uint8Array).join(',')}`
}

/**
 * Same value and type: typeof equal; integers (Number.isInteger) exactly equal; a non-integral number only
 * within 1e-9 relative of the other (re-associated real sums differ in the last bits — and may land on an integer).
 */
const sameTyped = (a: SqlValue, b: SqlValue): boolean => {
  if (typeof a === 'number' && typeof b === 'number') {
    if (Number.isInteger(a) && Number.isInteger(b)) return a === b
    return Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b))
  }
  return typedKey(a) === typedKey(b)
}

/** Equal as multisets (ordered = false) or as sequences, values AND types; returns the first difference. */
export function sameTypedResult(a: SqlValue[][], b: SqlValue[][], ordered: boolean): string | undefined {
  if (a.length !== b.length) return `row count ${a.length} vs ${b.length}`
  const key = (r: SqlValue[]) => r.map(typedKey).join('|')
  const sorted = (x: SqlValue[][]) => (ordered ? x : [...x].sort((p, q) => (key(p) < key(q) ? -1 : key(p) > key(q) ? 1 : 0)))
  const A = sorted(a), B = sorted(b)
  for (let i = 0; i < A.length; i++) {
    if (A[i].length !== B[i].length || A[i].some((v, j) => !sameTyped(v, B[i][j]))) return `row ${i}: ${key(A[i])} vs ${key(B[i])}`
  }
  return undefined
}
