/**
 * The Distributed Integrity Manager's constraints, declared once as data over the global schema (spec §5:
 * "constraints that span sites, e.g. a unique EMPNO across fragments, SALES.ITEMNO → ITEMS"). Derived from
 * the topology like the fragments are, so a fourth branch gets its fragment predicates and STOCK_<X> keys
 * without code. Written into the replicated global catalog as GLOBAL_CONSTRAINTS (see installConstraints).
 *
 * What the generated data defines (engine/data/generator.ts, checked by integrity.test.ts on generated data):
 *   EMPNO 1..n over all branches, INVNO 1..n over all branches (one invoice sequence, not per branch),
 *   STOCKCODE '<SITE>-<ITEMNO>' per branch stock list, every SALES.ITEMNO / STOCK_*.ITEMNO an ITEMS row,
 *   every SALES.EMPNO an employee, QTY ≥ 0, AMOUNT = QTY × UNITPRICE rounded to the cent.
 */
import { fragments, globalRelations, KEY_BLOCKS, type FragmentDef } from '../data/schema'
import type { SqlValue } from '../site/sqljs'
import type { TopologySpec } from '../topology/types'

export type ConstraintKind = 'PRIMARY KEY' | 'FOREIGN KEY' | 'FRAGMENT' | 'CHECK'

/** A row as the DIM sees it: upper-case column name → value. */
export type DimRow = Record<string, SqlValue>

export interface ConstraintDef {
  name: string
  kind: ConstraintKind
  /** Global relation the constraint is declared on. */
  relation: string
  columns: string[]
  /** FOREIGN KEY: the referenced relation and columns. */
  refRelation?: string
  refColumns?: string[]
  /** FRAGMENT: the fragment and its predicate; CHECK: the condition (SQL over the relation's columns). */
  fragment?: string
  site?: string
  predicate?: string
  /** FRAGMENT / CHECK: the same condition in JS (a NULL operand passes, as SQL CHECK does). */
  test?: (r: DimRow) => boolean
  /** How the DIM checks it (shown in the catalog). */
  enforcement: string
  /** Scope of uniqueness for a PRIMARY KEY: the fragments that share the key space. */
  scope?: string[]
}

const num = (v: SqlValue): number | null => (v === null || v === undefined ? null : Number(v))

/** Fragments that hold a relation's own rows (no replicas, copies or vertical fragments). */
export function ownerFragments(topo: TopologySpec, relation: string): FragmentDef[] {
  return fragments(topo).filter((f) => f.relation === relation && (f.kind === 'horizontal' || f.kind === 'local'))
}

export function globalConstraints(topo: TopologySpec): ConstraintDef[] {
  const out: ConstraintDef[] = []
  const rels = globalRelations(topo)
  for (const r of rels) {
    const owners = ownerFragments(topo, r.name)
    const scope = r.distribution === 'replicated' ? [`${r.name} (every replica)`] : owners.map((f) => `${f.name}@${f.site}`)
    out.push({
      name: `PK_${r.name}`, kind: 'PRIMARY KEY', relation: r.name, columns: r.key, scope,
      enforcement: owners.length > 1
        ? `unique over ${owners.length} fragments: local index at the written fragment, key lookups (S-locked) at the other fragments' sites`
        : 'local unique index at the fragment',
    })
    const kb = KEY_BLOCKS.find((x) => x.relation === r.name && r.key.length === 1 && x.column === r.key[0])
    if (kb && owners.length > 1) out[out.length - 1].enforcement += `; a ${kb.column} in a block of the writing branch (${kb.blocks}, read at the writing site's replica) is looked up in its own fragment only`
  }
  out.push({ name: 'FK_SALES_ITEMNO', kind: 'FOREIGN KEY', relation: 'SALES', columns: ['ITEMNO'], refRelation: 'ITEMS', refColumns: ['ITEMNO'], enforcement: "lookup in the ITEMS replica at the writing site (S-locked; an item delete is eager, removed at every replica in its own commit), then at the primary copy when absent there (a new item not yet replicated); deleting an item looks up its sales at every site" })
  out.push({ name: 'FK_SALES_EMPNO', kind: 'FOREIGN KEY', relation: 'SALES', columns: ['EMPNO'], refRelation: 'EMPLOYEES', refColumns: ['EMPNO'], enforcement: "lookup in the written site's Employees fragment, then the other branches' fragments over the network; deleting an employee looks up their sales at every site" })
  for (const s of topo.sites) {
    out.push({ name: `FK_STOCK_${s.code}_ITEMNO`, kind: 'FOREIGN KEY', relation: `STOCK_${s.code}`, columns: ['ITEMNO'], refRelation: 'ITEMS', refColumns: ['ITEMNO'], enforcement: "lookup in the ITEMS replica at the writing site, then at the primary copy when absent there" })
  }
  for (const f of fragments(topo)) {
    if (f.kind !== 'horizontal' || !f.predicateColumn) continue
    const col = f.predicateColumn, val = f.predicateValue
    out.push({
      name: `FRAG_${f.name}`, kind: 'FRAGMENT', relation: f.relation, columns: [col], fragment: f.name, site: f.site, predicate: f.predicate,
      test: (r) => r[col] !== null && r[col] !== undefined && String(r[col]) === val,
      enforcement: 'row check at the fragment (writes through the global name are routed by it)',
    })
  }
  const qty: ConstraintDef['test'] = (r) => { const q = num(r.QTY); return q === null || q >= 0 }
  out.push({ name: 'CK_SALES_QTY', kind: 'CHECK', relation: 'SALES', columns: ['QTY'], predicate: 'QTY >= 0', test: qty, enforcement: 'row check' })
  out.push({
    name: 'CK_SALES_AMOUNT', kind: 'CHECK', relation: 'SALES', columns: ['AMOUNT', 'QTY', 'UNITPRICE'],
    // the data rounds AMOUNT to the cent: equal within half a cent
    predicate: 'ABS(AMOUNT - QTY * UNITPRICE) <= 0.005000001',
    test: (r) => { const a = num(r.AMOUNT), q = num(r.QTY), p = num(r.UNITPRICE); return a === null || q === null || p === null || Math.abs(a - q * p) <= 0.005000001 },
    enforcement: 'row check',
  })
  for (const kb of KEY_BLOCKS) {
    if (!rels.some((r) => r.name === kb.blocks)) continue
    out.push({
      name: `CK_${kb.blocks}_RANGE`, kind: 'CHECK', relation: kb.blocks, columns: [kb.lo, kb.hi], predicate: `${kb.lo} >= 1 AND ${kb.lo} <= ${kb.hi}`,
      test: (r) => { const lo = num(r[kb.lo]), hi = num(r[kb.hi]); return lo === null || hi === null || (lo >= 1 && lo <= hi) },
      enforcement: 'row check',
    })
    out.push({
      name: `RSV_${kb.blocks}`, kind: 'CHECK', relation: kb.blocks, columns: [kb.owner, kb.lo, kb.hi],
      predicate: `append-only; a block is added only by a reservation, above every block and holding no ${kb.relation}.${kb.column} of any branch`,
      test: () => true,
      enforcement: `written only by a block reservation (a global transaction at the primary copy that reads every block and every ${kb.relation} fragment under S locks); a direct write, update or delete is refused. A new ${kb.relation} row whose ${kb.column} lies in a block of its own branch (per the local replica) is checked in its own fragment only`,
    })
  }
  for (const s of topo.sites) out.push({ name: `CK_STOCK_${s.code}_QTY`, kind: 'CHECK', relation: `STOCK_${s.code}`, columns: ['QTY'], predicate: 'QTY >= 0', test: qty, enforcement: 'row check' })
  return out
}

/** Constraints per relation (cached per topology object). */
const byRel = new WeakMap<TopologySpec, Map<string, ConstraintDef[]>>()
export function constraintsOf(topo: TopologySpec, relation: string): ConstraintDef[] {
  let m = byRel.get(topo)
  if (!m) {
    m = new Map()
    for (const c of globalConstraints(topo)) m.set(c.relation, [...(m.get(c.relation) ?? []), c])
    byRel.set(topo, m)
  }
  return m.get(relation) ?? []
}

/** Foreign keys that reference a relation (its deletes and key changes are checked against them). */
const refsTo = new WeakMap<TopologySpec, Map<string, ConstraintDef[]>>()
export function referencesTo(topo: TopologySpec, relation: string): ConstraintDef[] {
  let m = refsTo.get(topo)
  if (!m) {
    m = new Map()
    for (const c of globalConstraints(topo)) if (c.kind === 'FOREIGN KEY') m.set(c.refRelation!, [...(m.get(c.refRelation!) ?? []), c])
    refsTo.set(topo, m)
  }
  return m.get(relation) ?? []
}

export const CONSTRAINTS_DDL = `CREATE TABLE IF NOT EXISTS GLOBAL_CONSTRAINTS (CNAME TEXT PRIMARY KEY, TBL_NAME TEXT NOT NULL, TYPE TEXT NOT NULL,
  COLUMNS TEXT NOT NULL, REF_TABLE TEXT, REF_COLUMNS TEXT, FNAME TEXT, SITE TEXT, PREDICATE TEXT, ENFORCEMENT TEXT NOT NULL)`

/** Fills GLOBAL_CONSTRAINTS (same content at every site: it is part of the replicated global catalog). */
export function installConstraints(run: (sql: string, p: SqlValue[]) => void, topo: TopologySpec): void {
  for (const c of globalConstraints(topo)) {
    run('INSERT OR REPLACE INTO GLOBAL_CONSTRAINTS VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)', [
      c.name, c.relation, c.kind, c.columns.join(', '), c.refRelation ?? null, c.refColumns?.join(', ') ?? null,
      c.fragment ?? null, c.site ?? null, c.predicate ?? (c.scope ? `unique over ${c.scope.join(', ')}` : null), c.enforcement,
    ])
  }
}
