/** Small helpers turning AST pieces back into SQL text (always through node-sql-parser's sqlify). */
import { sqlify, colName, type Ast } from './parse'
import type { SqlValue } from '../site/sqljs'

export const qid = (name: string) => `"${name.replace(/"/g, '""')}"`

const PREFIX = 'SELECT 1 FROM "__x" WHERE '
const exprCache = new WeakMap<object, string>()

/** SQL text of an expression (parenthesised by the caller when combined). */
export function exprSql(e: Ast): string {
  const hit = exprCache.get(e)
  if (hit !== undefined) return hit
  const s = sqlify({ with: null, type: 'select', options: null, distinct: null, columns: [{ expr: { type: 'number', value: 1 }, as: null }], from: [{ db: null, table: '__x', as: null }], where: e, groupby: null, having: null, orderby: null, limit: null })
  if (!s.startsWith(PREFIX)) throw new Error(`unexpected sqlify output: ${s}`)
  const out = s.slice(PREFIX.length)
  exprCache.set(e, out)
  return out
}

export function andSql(parts: string[]): string { return parts.map((p) => `(${p})`).join(' AND ') }

/** Columns referenced by an expression (upper case). */
export function exprColumns(e: Ast): Set<string> {
  const out = new Set<string>()
  const walk = (n: Ast) => {
    if (!n || typeof n !== 'object') return
    if (Array.isArray(n)) { n.forEach(walk); return }
    if (n.type === 'column_ref') { const c = colName(n); if (c) out.add(c.toUpperCase()); return }
    for (const k of Object.keys(n)) if (k !== 'tableList' && k !== 'columnList') walk(n[k])
  }
  walk(e)
  return out
}

/** Literal value of a node, or undefined when it is not a plain literal. */
export function literal(n: Ast): { v: SqlValue } | undefined {
  if (!n || typeof n !== 'object') return undefined
  if (n.type === 'number') { const v = Number(n.value); return Number.isFinite(v) ? { v } : undefined }
  if (n.type === 'single_quote_string' || n.type === 'string') return { v: String(n.value).replace(/''/g, "'") }
  if (n.type === 'unary_expr' && n.operator === '-' && n.expr?.type === 'number') return { v: -Number(n.expr.value) }
  if (n.type === 'null') return { v: null }
  return undefined
}

/** Wire size of a value / row, as the sites serialise results. */
export function valueBytes(v: SqlValue): number {
  if (v === null || v === undefined) return 1
  if (typeof v === 'number') return 8
  if (typeof v === 'string') return v.length + 2
  return (v as Uint8Array).length + 4
}
export function rowsBytes(columns: string[], rows: SqlValue[][]): number {
  let b = 16
  for (const c of columns) b += c.length + 2
  for (const r of rows) { b += 2; for (const v of r) b += valueBytes(v) }
  return b
}
