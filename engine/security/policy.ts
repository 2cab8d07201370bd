/**
 * Data classification (spec §8, multi-level security): every global relation carries a security level,
 * and a column may carry a higher one. Fragments and replicas carry the labels of their relation; the
 * catalogs are PUBLIC metadata. A column's label is the higher of its relation's and its own.
 */
import { LEVELS, levelRank, type LabelView, type Level } from '../api/security'
import { fragments, globalRelations, globalViews } from '../data/schema'
import { CATALOG_TABLES } from '../catalog/catalog'
import type { TopologySpec } from '../topology/types'

/** The company's classification: items are public, staff and sales internal, cost prices confidential, salaries secret. */
function defaultLabel(relation: string): { table: Level; columns: Record<string, Level> } {
  if (relation === 'ITEMS') return { table: 'PUBLIC', columns: {} }
  if (relation === 'EMPLOYEES') return { table: 'INTERNAL', columns: { SALARY: 'SECRET' } }
  if (relation === 'SALES') return { table: 'INTERNAL', columns: {} }
  if (relation.startsWith('STOCK_')) return { table: 'INTERNAL', columns: { UNITPRICE: 'CONFIDENTIAL' } }
  return { table: 'INTERNAL', columns: {} }
}

export const maxLevel = (a: Level, b: Level): Level => (levelRank(a) >= levelRank(b) ? a : b)

export function isLevel(s: string): s is Level { return (LEVELS as readonly string[]).includes(s) }

/** What a table name in a statement denotes, for the security check. */
export type NameRef =
  | { kind: 'relation'; relation: string; columns: string[] }
  | { kind: 'view'; sql: string }
  | { kind: 'public' }
  | { kind: 'unknown' }

export class SecurityPolicy {
  private labels = new Map<string, { table: Level; columns: Record<string, Level> }>()
  private names = new Map<string, NameRef>()

  constructor(topo: TopologySpec) {
    for (const r of globalRelations(topo)) {
      this.labels.set(r.name, defaultLabel(r.name))
      this.names.set(r.name.toUpperCase(), { kind: 'relation', relation: r.name, columns: r.columns.map((c) => c.name) })
    }
    for (const f of fragments(topo)) {
      if (!this.names.has(f.name.toUpperCase())) this.names.set(f.name.toUpperCase(), { kind: 'relation', relation: f.relation, columns: f.columns })
    }
    for (const v of globalViews(topo)) this.names.set(v.name.toUpperCase(), { kind: 'view', sql: v.sql })
    for (const t of CATALOG_TABLES) this.names.set(t, { kind: 'public' })
  }

  resolve(name: string): NameRef { return this.names.get(name.toUpperCase()) ?? { kind: 'unknown' } }

  /** The label of a column of a global relation (its relation's label when the column has none of its own). */
  columnLevel(relation: string, column: string): Level {
    const l = this.labels.get(relation)
    if (!l) return 'PUBLIC'
    const own = l.columns[column.toUpperCase()]
    return own ? maxLevel(l.table, own) : l.table
  }

  /** The label of a global relation as a whole (what reading any of its rows, even a count, reads). */
  relationLevel(relation: string): Level { return this.labels.get(relation)?.table ?? 'PUBLIC' }

  views(): LabelView[] {
    const out: LabelView[] = []
    for (const [relation, l] of this.labels) {
      out.push({ relation, column: null, level: l.table })
      for (const [column, level] of Object.entries(l.columns)) out.push({ relation, column, level: maxLevel(l.table, level) })
    }
    return out
  }
}
