/**
 * The global schema, its fragmentation and allocation, as data (spec §3). The fragment list for
 * per-branch relations is derived from the topology's sites, so a fourth branch gets its fragments too.
 */
import type { SiteCode, TopologySpec } from '../topology/types'

export type ColType = 'INTEGER' | 'TEXT' | 'REAL'

export interface ColumnDef { name: string; type: ColType; len: number; key?: boolean }

export interface RelationDef {
  name: string // global name, e.g. "EMPLOYEES"
  columns: ColumnDef[]
  key: string[]
  /** How the relation is distributed. */
  distribution: 'replicated' | 'horizontal' | 'per-site' | 'central'
}

export type FragmentKind = 'replica' | 'horizontal' | 'vertical' | 'copy' | 'local'

export interface FragmentDef {
  /** Fragment name, the table name at its site, e.g. "Employees_CMB". */
  name: string
  /** Global relation it belongs to. */
  relation: string
  site: SiteCode
  kind: FragmentKind
  /** Horizontal predicate as SQL over the relation's columns, e.g. "BRCODE = 'CMB'". */
  predicate?: string
  /** Per-site predicate value, for pruning: column = value. */
  predicateColumn?: string
  predicateValue?: string
  /** Columns held (vertical fragments hold a subset, always including the key). */
  columns: string[]
  /** For copies: the fragment they copy and how they are refreshed. */
  copyOf?: string
  refresh?: 'sync' | 'scheduled'
}

const ITEMS: RelationDef = {
  name: 'ITEMS', distribution: 'replicated', key: ['ITEMNO'],
  columns: [
    { name: 'ITEMNO', type: 'INTEGER', len: 8, key: true },
    { name: 'DESCRIPTION', type: 'TEXT', len: 80 },
    { name: 'CATEGORY', type: 'TEXT', len: 24 },
    { name: 'BRAND', type: 'TEXT', len: 24 },
    { name: 'LISTPRICE', type: 'REAL', len: 8 },
  ],
}

const EMPLOYEES: RelationDef = {
  name: 'EMPLOYEES', distribution: 'horizontal', key: ['EMPNO'],
  columns: [
    { name: 'EMPNO', type: 'INTEGER', len: 8, key: true },
    { name: 'NAME', type: 'TEXT', len: 60 },
    { name: 'POSITION', type: 'TEXT', len: 30 },
    { name: 'DEPT', type: 'TEXT', len: 20 },
    { name: 'BRCODE', type: 'TEXT', len: 3 },
    { name: 'SALARY', type: 'REAL', len: 8 },
    { name: 'CLEARANCE', type: 'INTEGER', len: 1 },
  ],
}

const SALES: RelationDef = {
  name: 'SALES', distribution: 'horizontal', key: ['INVNO'],
  columns: [
    { name: 'INVNO', type: 'INTEGER', len: 8, key: true },
    { name: 'BRCODE', type: 'TEXT', len: 3 },
    { name: 'ITEMNO', type: 'INTEGER', len: 8 },
    { name: 'QTY', type: 'INTEGER', len: 4 },
    { name: 'UNITPRICE', type: 'REAL', len: 8 },
    { name: 'AMOUNT', type: 'REAL', len: 8 },
    { name: 'SOLD_AT', type: 'TEXT', len: 19 },
    { name: 'EMPNO', type: 'INTEGER', len: 8 },
  ],
}

/**
 * Invoice-number blocks (issue 14): ranges of SALES.INVNO reserved by one branch, replicated at every site with
 * primary-copy control like ITEMS, and append-only (a block is never changed or deleted, so a lagging replica only
 * lacks blocks, never holds a wrong one). A branch selling a number from one of its own blocks needs no other
 * branch to prove the number unused (engine/integrity/dim.ts, KEY_BLOCKS); reserving a block is a global
 * transaction at the primary copy (engine/integrity/blocks.ts).
 */
const INVOICE_BLOCKS: RelationDef = {
  name: 'INVOICE_BLOCKS', distribution: 'replicated', key: ['BLOCKNO'],
  columns: [
    { name: 'BLOCKNO', type: 'INTEGER', len: 8, key: true },
    { name: 'BRCODE', type: 'TEXT', len: 3 },
    { name: 'LO', type: 'INTEGER', len: 8 },
    { name: 'HI', type: 'INTEGER', len: 8 },
  ],
}

/**
 * Keys allocated in blocks, as data: a relation's one-column key whose values are reserved per branch in an
 * append-only replicated relation of ranges (`blocks`, with the owning branch in `owner` and the range LO..HI).
 * A new row of `relation` written into the fragment of branch X whose key lies in a block owned by X is unique
 * if it is unique in X's own fragment (blocks are disjoint; any other branch writing a number of X's block is
 * not its owner and takes the global check, which looks in X's fragment).
 */
export interface KeyBlocks { relation: string; column: string; blocks: string; owner: string; lo: string; hi: string }
export const KEY_BLOCKS: readonly KeyBlocks[] = [{ relation: 'SALES', column: 'INVNO', blocks: 'INVOICE_BLOCKS', owner: 'BRCODE', lo: 'LO', hi: 'HI' }]

const STOCK_COLUMNS: ColumnDef[] = [
  { name: 'STOCKCODE', type: 'TEXT', len: 12, key: true },
  { name: 'ITEMNO', type: 'INTEGER', len: 8 },
  { name: 'QTY', type: 'INTEGER', len: 6 },
  { name: 'UNITPRICE', type: 'REAL', len: 8 },
  { name: 'LASTIN', type: 'TEXT', len: 10 },
  { name: 'NEXTIN', type: 'TEXT', len: 10 },
]

/** Stock relations: one per branch, named STOCK_<SITE> globally. */
export function stockRelation(site: SiteCode): RelationDef {
  return { name: `STOCK_${site}`, distribution: 'per-site', key: ['STOCKCODE'], columns: STOCK_COLUMNS.map((c) => ({ ...c })) }
}

export function globalRelations(topo: TopologySpec): RelationDef[] {
  return [ITEMS, EMPLOYEES, SALES, INVOICE_BLOCKS, ...topo.sites.map((s) => stockRelation(s.code))].map((r) => ({ ...r, columns: r.columns.map((c) => ({ ...c })) }))
}

const cap = (code: string) => code // fragment names keep the site code in capitals: Employees_CMB

/**
 * Allocation (spec §3): ITEMS (and the invoice-number blocks, INVOICE_BLOCKS) replicated at every site; EMPLOYEES/SALES horizontal by BRCODE at their site;
 * Stock_CMB at CMB with its vertical fragment Stocks_CMB_FRG at MBI; Stock_MBI_LCL at MBI with its copy
 * Stock_MBI at CMB refreshed at noon and end of day; Stock_<X> at X for other branches (Kandy and any new one).
 */
export function fragments(topo: TopologySpec): FragmentDef[] {
  if (topo.design === 'legacy') return legacyFragments(topo)
  const out: FragmentDef[] = []
  const allCols = (r: RelationDef) => r.columns.map((c) => c.name)
  for (const s of topo.sites) {
    out.push({ name: 'ITEMS', relation: 'ITEMS', site: s.code, kind: 'replica', columns: allCols(ITEMS) })
  }
  for (const s of topo.sites) {
    out.push({ name: 'INVOICE_BLOCKS', relation: 'INVOICE_BLOCKS', site: s.code, kind: 'replica', columns: allCols(INVOICE_BLOCKS) })
  }
  for (const s of topo.sites) {
    out.push({ name: `Employees_${cap(s.code)}`, relation: 'EMPLOYEES', site: s.code, kind: 'horizontal', predicate: `BRCODE = '${s.code}'`, predicateColumn: 'BRCODE', predicateValue: s.code, columns: allCols(EMPLOYEES) })
    out.push({ name: `Sales_${cap(s.code)}`, relation: 'SALES', site: s.code, kind: 'horizontal', predicate: `BRCODE = '${s.code}'`, predicateColumn: 'BRCODE', predicateValue: s.code, columns: allCols(SALES) })
  }
  const stockCols = STOCK_COLUMNS.map((c) => c.name)
  const hq = topo.sites.find((s) => s.hq)?.code ?? topo.sites[0].code
  for (const s of topo.sites) {
    const rel = `STOCK_${s.code}`
    if (s.code === 'MBI') {
      out.push({ name: 'Stock_MBI_LCL', relation: rel, site: 'MBI', kind: 'local', columns: stockCols })
      out.push({ name: 'Stock_MBI', relation: rel, site: hq, kind: 'copy', copyOf: 'Stock_MBI_LCL', refresh: 'scheduled', columns: stockCols })
    } else {
      out.push({ name: `Stock_${s.code}`, relation: rel, site: s.code, kind: 'local', columns: stockCols })
    }
    if (s.code === 'CMB' && topo.sites.some((x) => x.code === 'MBI')) {
      out.push({ name: 'Stocks_CMB_FRG', relation: rel, site: 'MBI', kind: 'vertical', copyOf: 'Stock_CMB', refresh: 'sync', columns: stockCols.filter((c) => c !== 'UNITPRICE') })
    }
  }
  return out
}

/**
 * The legacy centralized allocation (issue 14): the same relations and the same horizontal fragments by branch,
 * all held in ONE database at the HQ site (so the query processor and the DTM route every request there by their
 * ordinary localization); ITEMS once (a replica of one: its primary copy), each branch's stock as Stock_<X>, no replica, copy or vertical fragment.
 */
function legacyFragments(topo: TopologySpec): FragmentDef[] {
  const hq = (topo.sites.find((s) => s.hq) ?? topo.sites.find((s) => s.repository) ?? topo.sites[0]).code
  const allCols = (r: RelationDef) => r.columns.map((c) => c.name)
  const out: FragmentDef[] = [{ name: 'ITEMS', relation: 'ITEMS', site: hq, kind: 'replica', columns: allCols(ITEMS) }, { name: 'INVOICE_BLOCKS', relation: 'INVOICE_BLOCKS', site: hq, kind: 'replica', columns: allCols(INVOICE_BLOCKS) }]
  for (const s of topo.sites) {
    out.push({ name: `Employees_${cap(s.code)}`, relation: 'EMPLOYEES', site: hq, kind: 'horizontal', predicate: `BRCODE = '${s.code}'`, predicateColumn: 'BRCODE', predicateValue: s.code, columns: allCols(EMPLOYEES) })
    out.push({ name: `Sales_${cap(s.code)}`, relation: 'SALES', site: hq, kind: 'horizontal', predicate: `BRCODE = '${s.code}'`, predicateColumn: 'BRCODE', predicateValue: s.code, columns: allCols(SALES) })
  }
  for (const s of topo.sites) out.push({ name: `Stock_${s.code}`, relation: `STOCK_${s.code}`, site: hq, kind: 'local', columns: STOCK_COLUMNS.map((c) => c.name) })
  return out
}

/** The fragment of a per-branch horizontal relation (SALES, EMPLOYEES) holding `branch`'s rows, wherever it is allocated. */
export function branchFragment(topo: TopologySpec, relation: string, branch: SiteCode): FragmentDef | undefined {
  return fragments(topo).find((f) => f.relation === relation && f.kind === 'horizontal' && f.predicateValue === branch)
}

/** Global application views: a single-site illusion over the fragments. */
export function globalViews(topo: TopologySpec): { name: string; sql: string }[] {
  return [
    { name: 'V_BRANCH_REVENUE', sql: 'SELECT BRCODE, COUNT(*) AS NSALES, SUM(AMOUNT) AS REVENUE FROM SALES GROUP BY BRCODE' },
    { name: 'V_STAFF_DIRECTORY', sql: 'SELECT EMPNO, NAME, POSITION, DEPT, BRCODE FROM EMPLOYEES' },
    { name: 'V_ALL_STOCK', sql: topo.sites.map((s) => `SELECT '${s.code}' AS BRCODE, STOCKCODE, ITEMNO, QTY, LASTIN, NEXTIN FROM STOCK_${s.code}`).join(' UNION ALL ') },
  ]
}

export function createTableSql(table: string, rel: RelationDef, columns: string[] = rel.columns.map((c) => c.name)): string {
  const defs = columns.map((n) => {
    const c = rel.columns.find((x) => x.name === n)!
    return `${c.name} ${c.type}${rel.key.length === 1 && rel.key[0] === c.name ? ' PRIMARY KEY' : ''}`
  })
  return `CREATE TABLE IF NOT EXISTS "${table}" (${defs.join(', ')})`
}

/**
 * Whether a row satisfies its fragment's horizontal predicate (`predicateColumn = predicateValue`); rows of
 * other fragments always do. `get` reads a column of the row by name.
 */
export function satisfiesPredicate(f: FragmentDef, get: (column: string) => unknown): boolean {
  if (f.kind !== 'horizontal' || !f.predicateColumn) return true
  return String(get(f.predicateColumn)) === f.predicateValue
}
