/**
 * Semantic analysis of a SELECT over global names: scopes (one per SELECT block, nested for
 * subqueries), base-table references resolved against the global catalog (global relation, fragment
 * name without site, fragment@SITE), global views expanded, the columns each reference needs and the
 * single-table conjuncts that may be pushed down to the sites. Anything the DQP cannot handle is
 * refused here with UNSUPPORTED naming the construct.
 */
import { EngineError } from '../errors'
import { astifySql, colName, conjuncts, isSelect, type Ast } from './parse'
import type { QueryCatalog, NameTarget } from './catalog'

export interface Scope {
  id: number
  select: Ast
  parent?: Scope
  refs: TableRef[]
  /** Aliases of derived tables (subqueries / expanded views) in this scope's FROM. */
  derived: string[]
}

export interface TableRef {
  id: string
  /** Name as written (upper case), i.e. the table name the assembly site will see. */
  name: string
  alias: string
  target: NameTarget
  scope: Scope
  /** Right-hand side of a LEFT JOIN (its rows may be null-extended). */
  nullable: boolean
  fromItem: Ast
  needed: Set<string>
  /** Single-table conjuncts pushed to this reference (unqualified copies). */
  filters: Ast[]
  /** Equi-join conjuncts with another base reference in the same scope (candidates for a semijoin). */
  equiJoins: { col: string; other: TableRef; otherCol: string }[]
}

export interface Analysis {
  root: Ast
  scopes: Scope[]
  refs: TableRef[]
  /** Name (upper) → refs using it. */
  byName: Map<string, TableRef[]>
  hasSubquery: boolean
  viewsUsed: string[]
}

const UNSUPPORTED_FUNCS = new Set(['RANDOM', 'RANDOMBLOB', 'CHANGES', 'LAST_INSERT_ROWID', 'TOTAL_CHANGES', 'LOAD_EXTENSION', 'SQLITE_VERSION', 'DATE', 'TIME', 'DATETIME', 'JULIANDAY', 'STRFTIME', 'UNIXEPOCH'])

function funcName(n: Ast): string {
  const nm = n?.name
  if (typeof nm === 'string') return nm.toUpperCase()
  const parts = nm?.name
  if (Array.isArray(parts)) return parts.map((p: Ast) => String(p.value)).join('.').toUpperCase()
  return ''
}

/** Refuses constructs outside the supported subset, naming them. */
function checkSelectShape(sel: Ast): void {
  if (sel.with) throw new EngineError('UNSUPPORTED', 'WITH (common table expressions) is not supported by the distributed query processor')
  if (sel.into && sel.into.position) throw new EngineError('UNSUPPORTED', 'SELECT … INTO is not supported')
  if (sel.for_update) throw new EngineError('UNSUPPORTED', 'SELECT … FOR UPDATE is not supported')
  for (const f of sel.from ?? []) {
    const j = String(f.join ?? '').toUpperCase()
    if (j.includes('RIGHT')) throw new EngineError('UNSUPPORTED', 'RIGHT JOIN is not supported (rewrite it as a LEFT JOIN)')
    if (j.includes('FULL')) throw new EngineError('UNSUPPORTED', 'FULL OUTER JOIN is not supported')
    if (j.includes('NATURAL')) throw new EngineError('UNSUPPORTED', 'NATURAL JOIN is not supported (use JOIN … ON)')
    if (f.using) throw new EngineError('UNSUPPORTED', 'JOIN … USING is not supported (use JOIN … ON)')
    if (f.type === 'dual' || f.type === 'expr' && !f.expr?.ast) throw new EngineError('UNSUPPORTED', 'table-valued expressions in FROM are not supported')
  }
}

function walkExpr(n: Ast, visit: (n: Ast) => 'skip' | void): void {
  if (!n || typeof n !== 'object') return
  if (Array.isArray(n)) { for (const x of n) walkExpr(x, visit); return }
  if (visit(n) === 'skip') return
  for (const k of Object.keys(n)) {
    if (k === 'tableList' || k === 'columnList' || k === 'loc') continue
    walkExpr(n[k], visit)
  }
}

export function analyzeSelect(root: Ast, cat: QueryCatalog, atRefs: Map<string, { fragment: string; site: string }>): Analysis {
  const scopes: Scope[] = []
  const refs: TableRef[] = []
  const viewsUsed: string[] = []
  let hasSubquery = false
  let refSeq = 0

  // ---- pass 1: scopes and references (views expanded in place) ------------------------------
  const buildScope = (sel: Ast, parent: Scope | undefined, depth: number): Scope => {
    if (depth > 12) throw new EngineError('UNSUPPORTED', 'subqueries nested deeper than 12 levels are not supported')
    checkSelectShape(sel)
    const scope: Scope = { id: scopes.length, select: sel, parent, refs: [], derived: [] }
    scopes.push(scope)
    for (const item of sel.from ?? []) {
      if (item.table !== undefined && item.table !== null && !item.expr) {
        const name = String(item.table).toUpperCase()
        const view = cat.view(name)
        if (view) {
          const vAst = parseViewAst(view.name, view.sql)
          viewsUsed.push(view.name)
          const alias = item.as ?? view.name
          delete item.table; delete item.db
          item.expr = { ast: vAst, parentheses: true }
          item.as = alias
          scope.derived.push(String(alias).toUpperCase())
          buildScope(vAst, parent, depth + 1)
          continue
        }
        if (item.db) throw new EngineError('UNSUPPORTED', `schema-qualified table ${item.db}.${item.table} is not supported; use fragment@SITE for local mapping`)
        const target = cat.resolve(name, atRefs)
        const j = String(item.join ?? '').toUpperCase()
        const ref: TableRef = {
          id: `t${++refSeq}`, name, alias: String(item.as ?? item.table).toUpperCase(), target, scope,
          nullable: j.includes('LEFT'), fromItem: item, needed: new Set(), filters: [], equiJoins: [],
        }
        scope.refs.push(ref)
        refs.push(ref)
      } else if (item.expr?.ast) {
        hasSubquery = true
        scope.derived.push(String(item.as ?? '').toUpperCase())
        buildScope(item.expr.ast, parent, depth + 1)
      } else {
        throw new EngineError('UNSUPPORTED', 'this kind of FROM item is not supported')
      }
    }
    // subqueries in expressions
    const exprParts = [sel.columns, sel.where, sel.groupby, sel.having, sel.orderby, sel.limit, ...(sel.from ?? []).map((f: Ast) => f.on)]
    walkExpr(exprParts, (n) => {
      if (n.ast && isSelect(n.ast)) { hasSubquery = true; buildScope(n.ast, scope, depth + 1); return 'skip' }
      if (n.type === 'aggr_func' || n.type === 'function') {
        if (n.over) throw new EngineError('UNSUPPORTED', `window function ${funcName(n) || ''} … OVER is not supported`)
        const f = funcName(n)
        if (UNSUPPORTED_FUNCS.has(f)) throw new EngineError('UNSUPPORTED', `function ${f}() is not supported in distributed queries (its value depends on the site or the moment)`)
      }
      if (n.type === 'aggr_func' && String(n.name).toUpperCase() === 'GROUP_CONCAT') throw new EngineError('UNSUPPORTED', 'GROUP_CONCAT is not supported (its order is not deterministic across sites)')
    })
    if (sel._next) {
      if (!isSelect(sel._next)) throw new EngineError('UNSUPPORTED', 'this set operation is not supported')
      hasSubquery = true
      buildScope(sel._next, parent, depth)
    }
    return scope
  }
  buildScope(root, undefined, 0)

  const byName = new Map<string, TableRef[]>()
  for (const r of refs) byName.set(r.name, [...(byName.get(r.name) ?? []), r])

  // ---- pass 2: column resolution ----------------------------------------------------------
  type Res = { kind: 'ref'; ref: TableRef } | { kind: 'other' }
  const resolve = (scope: Scope | undefined, table: string | null, col: string): Res => {
    for (let s = scope; s; s = s.parent) {
      if (table) {
        const t = table.toUpperCase()
        const r = s.refs.find((x) => x.alias === t)
        if (r) return { kind: 'ref', ref: r }
        if (s.derived.includes(t)) return { kind: 'other' }
        continue
      }
      const cands = s.refs.filter((x) => x.target.columns.includes(col))
      if (s.derived.length) return { kind: 'other' } // unknown output columns: be conservative
      if (cands.length === 1) return { kind: 'ref', ref: cands[0] }
      if (cands.length > 1) return { kind: 'other' }
    }
    return { kind: 'other' }
  }
  const markNeeded = (scope: Scope, table: string | null, col: string) => {
    if (col === '*') {
      for (let s: Scope | undefined = scope; s; s = undefined) {
        for (const r of s.refs) if (!table || r.alias === table.toUpperCase()) r.target.columns.forEach((c) => r.needed.add(c))
      }
      return
    }
    const res = resolve(scope, table, col)
    if (res.kind === 'ref') { res.ref.needed.add(col); return }
    // unresolved or ambiguous: every visible reference that has such a column keeps it
    for (let s: Scope | undefined = scope; s; s = s.parent) for (const r of s.refs) if (r.target.columns.includes(col)) r.needed.add(col)
    // derived tables / outer scopes may hide it anywhere: keep it wherever it exists
    for (const r of refs) if (r.target.columns.includes(col) && (!table || r.alias === table.toUpperCase())) r.needed.add(col)
  }
  for (const scope of scopes) {
    const sel = scope.select
    const parts = [sel.columns, sel.where, sel.groupby, sel.having, sel.orderby, sel.limit, ...(sel.from ?? []).map((f: Ast) => f.on)]
    walkExpr(parts, (n) => {
      if (n.ast && isSelect(n.ast)) return 'skip'
      if (n.type === 'column_ref') {
        const c = colName(n)
        if (c) markNeeded(scope, n.table ?? null, c === '*' ? '*' : c.toUpperCase())
        return 'skip'
      }
    })
  }
  // a table with no needed column still contributes its row count (COUNT(*), EXISTS): keep its key
  for (const r of refs) if (!r.needed.size) r.target.key.forEach((k) => r.needed.add(k))

  // ---- pass 3: pushable conjuncts ---------------------------------------------------------
  const refsOf = (scope: Scope, e: Ast): Set<TableRef> | null => {
    const used = new Set<TableRef>()
    let ok = true
    walkExpr(e, (n) => {
      if (!ok) return 'skip'
      if (n.ast) { ok = false; return 'skip' }
      if (n.type === 'aggr_func') { ok = false; return 'skip' }
      if (n.type === 'column_ref') {
        const c = colName(n)
        if (!c || c === '*') { ok = false; return 'skip' }
        const res = resolve(scope, n.table ?? null, c.toUpperCase())
        if (res.kind !== 'ref' || res.ref.scope !== scope) { ok = false; return 'skip' }
        used.add(res.ref)
        return 'skip'
      }
      if (n.type === 'param' || n.type === 'var') { ok = false; return 'skip' }
    })
    return ok ? used : null
  }
  const unqualify = (e: Ast): Ast => {
    const c = structuredClone(e)
    walkExpr(c, (n) => { if (n.type === 'column_ref') { n.table = null; return 'skip' } })
    return c
  }
  const equi = (scope: Scope, e: Ast): { a: TableRef; ac: string; b: TableRef; bc: string } | null => {
    if (e.type !== 'binary_expr' || e.operator !== '=' || e.left?.type !== 'column_ref' || e.right?.type !== 'column_ref') return null
    const ca = colName(e.left)?.toUpperCase(), cb = colName(e.right)?.toUpperCase()
    if (!ca || !cb) return null
    const ra = resolve(scope, e.left.table ?? null, ca), rb = resolve(scope, e.right.table ?? null, cb)
    if (ra.kind !== 'ref' || rb.kind !== 'ref' || ra.ref === rb.ref || ra.ref.scope !== scope || rb.ref.scope !== scope) return null
    return { a: ra.ref, ac: ca, b: rb.ref, bc: cb }
  }
  for (const scope of scopes) {
    const sel = scope.select
    for (const c of conjuncts(sel.where)) {
      const used = refsOf(scope, c)
      if (used && used.size === 1) {
        const r = [...used][0]
        if (!r.nullable) r.filters.push(unqualify(c))
      }
      const eq = equi(scope, c)
      if (eq && !eq.a.nullable && !eq.b.nullable) {
        eq.a.equiJoins.push({ col: eq.ac, other: eq.b, otherCol: eq.bc })
        eq.b.equiJoins.push({ col: eq.bc, other: eq.a, otherCol: eq.ac })
      }
    }
    for (const item of sel.from ?? []) {
      if (!item.on) continue
      const isLeft = String(item.join ?? '').toUpperCase().includes('LEFT')
      const itemRef = scope.refs.find((r) => r.fromItem === item)
      for (const c of conjuncts(item.on)) {
        const used = refsOf(scope, c)
        if (used && used.size === 1) {
          const r = [...used][0]
          if (isLeft ? r === itemRef : !r.nullable) r.filters.push(unqualify(c))
        }
        const eq = equi(scope, c)
        if (!eq) continue
        if (!isLeft) {
          if (!eq.a.nullable && !eq.b.nullable) {
            eq.a.equiJoins.push({ col: eq.ac, other: eq.b, otherCol: eq.bc })
            eq.b.equiJoins.push({ col: eq.bc, other: eq.a, otherCol: eq.ac })
          }
        } else if (itemRef) {
          // the right side of a LEFT JOIN may be reduced by the keys of a preserved reference
          if (eq.a === itemRef && !eq.b.nullable) itemRef.equiJoins.push({ col: eq.ac, other: eq.b, otherCol: eq.bc })
          if (eq.b === itemRef && !eq.a.nullable) itemRef.equiJoins.push({ col: eq.bc, other: eq.a, otherCol: eq.ac })
        }
      }
    }
  }
  return { root, scopes, refs, byName, hasSubquery, viewsUsed }
}

const viewCache = new Map<string, Ast>()
export function parseViewAst(name: string, sql: string): Ast {
  let a = viewCache.get(sql)
  if (!a) {
    try { a = astifySql(sql) } catch (e) {
      throw new EngineError('INTERNAL', `global view ${name} does not parse: ${e instanceof Error ? e.message : String(e)}`)
    }
    if (Array.isArray(a)) a = a[0]
    viewCache.set(sql, a)
  }
  return structuredClone(a)
}
