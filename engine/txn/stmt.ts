/**
 * Fragment-level statements the DTM runs inside a sub-transaction at one site, built from
 * node-sql-parser's tree (engine/query/parse.ts) and compiled once per text into closures:
 *   SELECT *|expr [AS n], … FROM t [WHERE cond]
 *   UPDATE t SET c = expr [, …] [WHERE cond] [RETURNING *]
 *   INSERT INTO t [(c, …)] VALUES (expr, …) [, (…)]
 *   DELETE FROM t [WHERE cond]
 * Expressions follow SQLite's rules for what they use: + - * / % (integer division between integers, NULL
 * on division by zero), ||, comparisons with column affinity, AND/OR/NOT with three-valued logic, IN lists,
 * BETWEEN, LIKE, IS [NOT] NULL, CASE, CAST and the common scalar functions; anything else is refused with
 * UNSUPPORTED naming it. Values: numbers, 'strings', NULL and ? parameters.
 * Columns are checked against the fragment (unknown column → SQL_ERROR) and written values against the
 * column types (text into a numeric column, a number into a text column → BAD_INPUT), before anything changes.
 * Locking: a top-level `key = v` or `key IN (v, …)` conjunct makes the statement a row operation (row
 * locks on those keys under a table intention lock); otherwise it is a table operation (table S/X lock).
 */
import { EngineError } from '../errors'
import { parseSql, type Ast } from '../query/parse'

export type Val = string | number | null
export type Row = Record<string, unknown>
export type ColKind = 'INTEGER' | 'REAL' | 'TEXT' | 'ANY'
export interface ColInfo { name: string; type: ColKind }

/** A statement as parsed (independent of the site's schema). */
export interface Template {
  kind: 'select' | 'update' | 'insert' | 'delete'
  table: string
  params: number
  ast: Ast
}

type Fn = (row: Row | undefined, p: readonly Val[]) => Val
interface Ex { fn: Fn; real: boolean; col?: string }

/** A template compiled against one table's columns. */
export interface Compiled {
  kind: Template['kind']
  table: string
  /** Rows a row operation touches (key values), or undefined for a table operation. */
  keys: (p: readonly Val[]) => string[] | undefined
  where: (row: Row, p: readonly Val[]) => boolean
  /** SELECT: output names and expressions (undefined: every column). */
  proj?: { name: string; ex: Ex }[]
  sets?: { col: string; ex: Ex }[]
  returning?: boolean
  /** INSERT: the rows to insert (values checked against the column types). */
  rows?: (p: readonly Val[]) => Row[]
  /** Coerces and checks a value written to a column (throws BAD_INPUT on a wrong type). */
  store: (col: string, v: Val) => Val
}

const templates = new Map<string, Template>()

/** Parses a fragment-level statement (cached by text). */
export function template(sql: string): Template {
  let t = templates.get(sql)
  if (t) return t
  let parsed
  try { parsed = parseSql(sql) } catch (e) { throw e instanceof EngineError ? e : new EngineError('SQL_ERROR', String(e)) }
  if (parsed.statements.length !== 1) throw new EngineError('UNSUPPORTED', 'one statement at a time inside a transaction')
  const ast = parsed.statements[0]
  const kind = ast.type
  if (!['select', 'update', 'insert', 'delete'].includes(kind)) throw new EngineError('UNSUPPORTED', `${String(kind).toUpperCase()} statements inside a transaction (SELECT, INSERT, UPDATE and DELETE are accepted)`)
  const from = kind === 'select' || kind === 'delete' ? ast.from : ast.table
  if (!Array.isArray(from) || from.length !== 1 || !from[0].table) throw new EngineError('UNSUPPORTED', `a fragment-level ${kind.toUpperCase()} names exactly one table (global SQL — no site — handles joins)`)
  if (JSON.stringify(ast, (k, v) => (k === 'tableList' || k === 'columnList' ? undefined : v)).includes('"ast":')) throw new EngineError('UNSUPPORTED', 'subqueries in a fragment-level statement (issue the statement on the global name, without a site: the DTM evaluates its subqueries first)')
  if (kind === 'select' && (ast.groupby || ast.having || ast.orderby || ast.limit?.value?.length || ast.distinct || hasAggregate(ast.columns))) throw new EngineError('UNSUPPORTED', 'GROUP BY, HAVING, ORDER BY, LIMIT, DISTINCT and aggregates in a fragment-level SELECT (issue it on the global name, without a site)')
  if (kind !== 'select' && kind !== 'insert' && (ast.orderby || ast.limit?.value?.length)) throw new EngineError('UNSUPPORTED', `${kind.toUpperCase()} … ORDER BY / LIMIT`)
  if (kind === 'insert' && ast.values?.type !== 'values') throw new EngineError('UNSUPPORTED', 'INSERT … SELECT at a site (issue it on the global name, without a site)')
  identifiers(ast)
  let params = 0
  walk(ast, (n) => { if (n.type === 'origin' && n.value === '?') n.__param = params++ })
  t = { kind, table: String(from[0].table), params, ast }
  if (templates.size > 5000) templates.clear()
  templates.set(sql, t)
  return t
}

/** "NAME" is an identifier in these statements (SQLite reads it as one when the column exists; an unknown one is an error here). */
export function identifiers(ast: Ast): void {
  walk(ast, (n) => {
    if (n.type === 'double_quote_string') { n.type = 'column_ref'; n.table = null; n.column = String(n.value); delete n.value }
  })
}

function walk(n: Ast, visit: (n: Ast) => void): void {
  if (!n || typeof n !== 'object') return
  if (Array.isArray(n)) { for (const x of n) walk(x, visit); return }
  visit(n)
  for (const k of Object.keys(n)) if (k !== 'tableList' && k !== 'columnList' && k !== 'loc') walk(n[k], visit)
}

function hasAggregate(n: Ast): boolean {
  let found = false
  walk(n, (x) => { if (x.type === 'aggr_func') found = true })
  return found
}

const compiled = new Map<string, Compiled>()

/** Compiles a template for a table (key column upper case, '' if none; columns known, or undefined to skip checks). */
export function compile(t: Template, table: string, key: string, cols: ColInfo[] | undefined, sqlKey: string): Compiled {
  const ck = `${sqlKey}\u0000${table}`
  const hit = compiled.get(ck)
  if (hit) return hit
  const c = new Compiler(table, cols).statement(t, key)
  if (compiled.size > 5000) compiled.clear()
  compiled.set(ck, c)
  return c
}

const isNumText = (s: string) => /^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$/.test(s)

class Compiler {
  private types = new Map<string, ColKind>()
  constructor(private table: string, private cols: ColInfo[] | undefined) {
    for (const c of cols ?? []) this.types.set(c.name.toUpperCase(), c.type)
  }

  private col(name: string): string {
    const u = name.toUpperCase()
    if (this.cols && !this.types.has(u)) throw new EngineError('SQL_ERROR', `${this.table} has no column ${u}`)
    return u
  }

  statement(t: Template, key: string): Compiled {
    const ast = t.ast
    const store = (col: string, v: Val): Val => this.store(col, v)
    const where = ast.where ? this.cond(ast.where) : () => true
    const keys = this.keysOf(ast.where, key)
    const base = { kind: t.kind, table: this.table, keys, where, store }
    switch (t.kind) {
      case 'select': {
        const star = ast.columns.length === 1 && ast.columns[0].expr?.type === 'column_ref' && ast.columns[0].expr.column === '*'
        if (star) return base
        const proj = ast.columns.map((c: Ast) => {
          if (c.expr?.type === 'column_ref' && c.expr.column === '*') throw new EngineError('UNSUPPORTED', '* mixed with other columns in a fragment-level SELECT')
          const ex = this.expr(c.expr)
          return { name: c.as ? String(c.as).toUpperCase() : ex.col ?? exprName(c.expr), ex }
        })
        return { ...base, proj }
      }
      case 'delete': return base
      case 'update': {
        const sets = ast.set.map((s: Ast) => ({ col: this.col(String(s.column)), ex: this.expr(s.value) }))
        if (key && sets.some((x: { col: string }) => x.col === key)) throw new EngineError('UNSUPPORTED', `UPDATE … SET ${key} (the key of ${this.table}) inside a transaction: delete the row and insert it again instead`)
        const returning = !!ast.returning
        if (returning && !(ast.returning.columns?.length === 1 && ast.returning.columns[0].expr?.column === '*')) throw new EngineError('UNSUPPORTED', 'RETURNING other than RETURNING * in a fragment-level UPDATE')
        return { ...base, sets, returning }
      }
      case 'insert': {
        const names: string[] = ast.columns ? ast.columns.map((c: Ast) => this.col(String(typeof c === 'string' ? c : c?.value ?? c))) : (this.cols ?? []).map((c) => c.name.toUpperCase())
        if (!names.length) throw new EngineError('SQL_ERROR', `INSERT into ${this.table} must name its columns`)
        const tuples: Ex[][] = ast.values.values.map((tu: Ast) => {
          const vals = tu.value as Ast[]
          if (vals.length !== names.length) throw new EngineError('SQL_ERROR', `${vals.length} values for ${names.length} columns in INSERT into ${this.table}`)
          return vals.map((v) => this.expr(v))
        })
        const rows = (p: readonly Val[]) => tuples.map((tu) => {
          const r: Row = {}
          names.forEach((n, i) => { r[n] = this.store(n, tu[i].fn(undefined, p)) })
          return r
        })
        return { ...base, rows }
      }
    }
  }

  /** Values written to a column: SQLite's affinity for numeric text; a wrong type is refused. */
  store(col: string, v: Val): Val {
    const ty = this.types.get(col)
    if (v === null || !ty || ty === 'ANY') return v
    if (ty === 'TEXT') {
      if (typeof v !== 'string') throw new EngineError('BAD_INPUT', `${this.table}.${col} is TEXT: the number ${v} is the wrong type (quote it: '${v}')`)
      return v
    }
    if (typeof v === 'number') return v
    if (isNumText(v)) return Number(v)
    throw new EngineError('BAD_INPUT', `${this.table}.${col} is ${ty}: '${v}' is the wrong type (not a number)`)
  }

  /** Top-level `key = v` / `key IN (v, …)` conjuncts with constant right-hand sides: a row operation. */
  private keysOf(where: Ast, key: string): Compiled['keys'] {
    if (!key) return () => undefined
    const conj: Ast[] = []
    const split = (n: Ast) => { if (n?.type === 'binary_expr' && n.operator === 'AND' && !n.parentheses) { split(n.left); split(n.right) } else if (n) conj.push(n) }
    split(where)
    for (const c of conj) {
      if (c.type !== 'binary_expr' || c.left?.type !== 'column_ref' || String(c.left.column).toUpperCase() !== key) continue
      if (c.operator === '=' && isConst(c.right)) { const e = this.expr(c.right); return (p) => { const v = e.fn(undefined, p); return v === null ? [] : [String(v)] } }
      if (c.operator === 'IN' && c.right?.type === 'expr_list' && c.right.value.every(isConst)) {
        const es = (c.right.value as Ast[]).map((x) => this.expr(x))
        return (p) => [...new Set(es.map((e) => e.fn(undefined, p)).filter((v) => v !== null).map(String))]
      }
    }
    return () => undefined
  }

  private cond(n: Ast): (row: Row, p: readonly Val[]) => boolean {
    const e = this.expr(n)
    return (row, p) => truthy(e.fn(row, p))
  }

  expr(n: Ast): Ex {
    if (n === null || n === undefined) return { fn: () => null, real: false }
    switch (n.type) {
      case 'number': {
        const v = Number(n.value)
        const real = /[.eE]/.test(String(n.value))
        return { fn: () => v, real }
      }
      case 'single_quote_string': case 'string': case 'double_quote_string': {
        if (n.type === 'double_quote_string') return this.colRef(String(n.value))
        const v = String(n.value)
        return { fn: () => v, real: false }
      }
      case 'bool': { const v = n.value ? 1 : 0; return { fn: () => v, real: false } }
      case 'null': return { fn: () => null, real: false }
      case 'origin': {
        if (n.__param === undefined) throw new EngineError('UNSUPPORTED', `${String(n.value)} in a statement`)
        const i = n.__param as number
        return { fn: (_r, p) => (p[i] === undefined ? null : p[i]), real: false }
      }
      case 'column_ref': return this.colRef(String(n.column))
      case 'unary_expr': {
        const a = this.expr(n.expr)
        if (n.operator === '-') return { fn: (r, p) => { const v = num(a.fn(r, p)); return v === null ? null : -v }, real: a.real }
        if (n.operator === '+') return a
        if (String(n.operator).toUpperCase() === 'NOT') return { fn: (r, p) => not(a.fn(r, p)), real: false }
        break
      }
      case 'binary_expr': return this.binary(n)
      case 'expr_list': {
        if (n.value?.length === 1) return this.expr(n.value[0])
        break
      }
      case 'case': return this.caseExpr(n)
      case 'cast': {
        const a = this.expr(n.expr)
        const to = String(n.target?.[0]?.dataType ?? '').toUpperCase()
        if (/INT/.test(to)) return { fn: (r, p) => { const v = a.fn(r, p); if (v === null) return null; const x = typeof v === 'number' ? v : parseFloat(v); return Number.isFinite(x) ? Math.trunc(x) : 0 }, real: false }
        if (/REAL|FLOA|DOUB|NUMERIC|DECIMAL/.test(to)) return { fn: (r, p) => { const v = a.fn(r, p); if (v === null) return null; const x = typeof v === 'number' ? v : parseFloat(v); return Number.isFinite(x) ? x : 0 }, real: true }
        if (/CHAR|TEXT|CLOB/.test(to)) return { fn: (r, p) => { const v = a.fn(r, p); return v === null ? null : text(v, a.real) }, real: false }
        throw new EngineError('UNSUPPORTED', `CAST … AS ${to} inside a transaction`)
      }
      case 'function': return this.func(n)
      case 'aggr_func': throw new EngineError('UNSUPPORTED', `aggregate ${String(n.name)} in a fragment-level statement`)
    }
    throw new EngineError('UNSUPPORTED', `the expression ${describe(n)} inside a transaction`)
  }

  private colRef(name: string): Ex {
    const c = this.col(name)
    const ty = this.types.get(c)
    return { fn: (r) => (r ? ((r[c] ?? null) as Val) : null), real: ty === 'REAL', col: c }
  }

  /** The other side of a comparison with a column takes the column's affinity (SQLite). */
  private affine(col: Ex, other: Ast, o: Ex): Ex {
    const ty = col.col ? this.types.get(col.col) : undefined
    if (!ty || ty === 'ANY' || other?.type === 'column_ref') return o
    if (ty === 'TEXT') return { ...o, fn: (r, p) => { const v = o.fn(r, p); return typeof v === 'number' ? text(v, o.real) : v } }
    return { ...o, fn: (r, p) => { const v = o.fn(r, p); return typeof v === 'string' && isNumText(v) ? Number(v) : v } }
  }

  private binary(n: Ast): Ex {
    const op = String(n.operator).toUpperCase()
    if (op === 'AND' || op === 'OR') {
      const a = this.expr(n.left), b = this.expr(n.right)
      if (op === 'AND') return { fn: (r, p) => { const x = tri(a.fn(r, p)); if (x === 0) return 0; const y = tri(b.fn(r, p)); return y === 0 ? 0 : x === null || y === null ? null : 1 }, real: false }
      return { fn: (r, p) => { const x = tri(a.fn(r, p)); if (x === 1) return 1; const y = tri(b.fn(r, p)); return y === 1 ? 1 : x === null || y === null ? null : 0 }, real: false }
    }
    if (op === 'IN' || op === 'NOT IN') {
      const a = this.expr(n.left)
      const list = (n.right?.type === 'expr_list' ? n.right.value : [n.right]) as Ast[]
      const es = list.map((x) => this.affine(a, x, this.expr(x)))
      const neg = op === 'NOT IN'
      return {
        fn: (r, p) => {
          const v = a.fn(r, p)
          if (v === null) return null
          let sawNull = false
          for (const e of es) { const w = e.fn(r, p); if (w === null) { sawNull = true; continue } if (cmp(v, w) === 0) return neg ? 0 : 1 }
          return sawNull ? null : neg ? 1 : 0
        }, real: false,
      }
    }
    if (op === 'BETWEEN' || op === 'NOT BETWEEN') {
      const a = this.expr(n.left)
      const lo = this.affine(a, n.right.value[0], this.expr(n.right.value[0])), hi = this.affine(a, n.right.value[1], this.expr(n.right.value[1]))
      const neg = op === 'NOT BETWEEN'
      return { fn: (r, p) => { const v = a.fn(r, p), l = lo.fn(r, p), h = hi.fn(r, p); if (v === null || l === null || h === null) return null; const ok = cmp(v, l) >= 0 && cmp(v, h) <= 0; return ok !== neg ? 1 : 0 }, real: false }
    }
    if (op === 'IS' || op === 'IS NOT') {
      const a = this.expr(n.left), b = this.expr(n.right)
      const neg = op === 'IS NOT'
      return { fn: (r, p) => { const x = a.fn(r, p), y = b.fn(r, p); const same = x === null || y === null ? x === y : cmp(x, y) === 0; return same !== neg ? 1 : 0 }, real: false }
    }
    if (op === 'LIKE' || op === 'NOT LIKE') {
      const a = this.expr(n.left), b = this.expr(n.right)
      const neg = op === 'NOT LIKE'
      return { fn: (r, p) => { const x = a.fn(r, p), y = b.fn(r, p); if (x === null || y === null) return null; return like(text(x, a.real), text(y, b.real)) !== neg ? 1 : 0 }, real: false }
    }
    if (op === '||') {
      const a = this.expr(n.left), b = this.expr(n.right)
      return { fn: (r, p) => { const x = a.fn(r, p), y = b.fn(r, p); return x === null || y === null ? null : text(x, a.real) + text(y, b.real) }, real: false }
    }
    if (['=', '==', '<>', '!=', '<', '<=', '>', '>='].includes(op)) {
      let a = this.expr(n.left), b = this.expr(n.right)
      if (a.col) b = this.affine(a, n.right, b)
      else if (b.col) a = this.affine(b, n.left, a)
      const test = op === '=' || op === '==' ? (c: number) => c === 0 : op === '<>' || op === '!=' ? (c: number) => c !== 0 : op === '<' ? (c: number) => c < 0 : op === '<=' ? (c: number) => c <= 0 : op === '>' ? (c: number) => c > 0 : (c: number) => c >= 0
      return { fn: (r, p) => { const x = a.fn(r, p), y = b.fn(r, p); return x === null || y === null ? null : test(cmp(x, y)) ? 1 : 0 }, real: false }
    }
    if (['+', '-', '*', '/', '%'].includes(op)) {
      const a = this.expr(n.left), b = this.expr(n.right)
      const real = op !== '%' && (a.real || b.real)
      return {
        fn: (r, p) => {
          const x = num(a.fn(r, p)), y = num(b.fn(r, p))
          if (x === null || y === null) return null
          switch (op) {
            case '+': return x + y
            case '-': return x - y
            case '*': return x * y
            case '/': if (y === 0) return null; return !real && Number.isInteger(x) && Number.isInteger(y) ? Math.trunc(x / y) : x / y
            default: { const xi = Math.trunc(x), yi = Math.trunc(y); return yi === 0 ? null : xi % yi }
          }
        }, real,
      }
    }
    throw new EngineError('UNSUPPORTED', `the operator ${op} inside a transaction`)
  }

  private caseExpr(n: Ast): Ex {
    const base = n.expr ? this.expr(n.expr) : undefined
    const arms = (n.args as Ast[]).map((a) => ({ when: a.type === 'when' ? this.expr(a.cond) : undefined, then: this.expr(a.result) }))
    const real = arms.some((a) => a.then.real)
    return {
      fn: (r, p) => {
        const b = base?.fn(r, p)
        for (const a of arms) {
          if (!a.when) return a.then.fn(r, p)
          const w = a.when.fn(r, p)
          if (base ? b !== null && b !== undefined && w !== null && cmp(b, w) === 0 : truthy(w)) return a.then.fn(r, p)
        }
        return null
      }, real,
    }
  }

  private func(n: Ast): Ex {
    const name = (Array.isArray(n.name?.name) ? n.name.name.map((x: Ast) => x.value).join('.') : String(n.name)).toUpperCase()
    const args = ((n.args?.value ?? []) as Ast[]).map((a) => this.expr(a))
    const one = (f: (v: Val, real: boolean) => Val, real = false): Ex => {
      if (args.length !== 1) throw new EngineError('SQL_ERROR', `wrong number of arguments to function ${name}()`)
      const a = args[0]
      return { fn: (r, p) => { const v = a.fn(r, p); return v === null ? null : f(v, a.real) }, real }
    }
    switch (name) {
      case 'NOT': return one((v) => not(v))
      case 'ABS': return one((v) => Math.abs(num(v) ?? 0), args[0]?.real)
      case 'UPPER': return one((v, re) => text(v, re).toUpperCase())
      case 'LOWER': return one((v, re) => text(v, re).toLowerCase())
      case 'LENGTH': return one((v, re) => text(v, re).length)
      case 'TRIM': return one((v, re) => text(v, re).trim())
      case 'ROUND': {
        const [a, d] = args
        if (!a) throw new EngineError('SQL_ERROR', 'wrong number of arguments to function ROUND()')
        return { fn: (r, p) => { const v = num(a.fn(r, p)); if (v === null) return null; const k = 10 ** Number(d ? num(d.fn(r, p)) ?? 0 : 0); return Math.sign(v) * Math.round(Math.abs(v) * k) / k }, real: true }
      }
      case 'COALESCE': case 'IFNULL': return { fn: (r, p) => { for (const a of args) { const v = a.fn(r, p); if (v !== null) return v } return null }, real: args.some((a) => a.real) }
      case 'NULLIF': return { fn: (r, p) => { const x = args[0].fn(r, p), y = args[1].fn(r, p); return x !== null && y !== null && cmp(x, y) === 0 ? null : x }, real: args[0]?.real ?? false }
      case 'MIN': case 'MAX': {
        if (args.length < 2) throw new EngineError('UNSUPPORTED', `aggregate ${name} in a fragment-level statement`)
        return { fn: (r, p) => { let best: Val = null; for (const a of args) { const v = a.fn(r, p); if (v === null) return null; if (best === null || (name === 'MIN' ? cmp(v, best) < 0 : cmp(v, best) > 0)) best = v } return best }, real: args.some((a) => a.real) }
      }
      case 'SUBSTR': case 'SUBSTRING': return {
        fn: (r, p) => {
          const s = args[0].fn(r, p), st = num(args[1]?.fn(r, p) ?? null), ln = args[2] ? num(args[2].fn(r, p)) : undefined
          if (s === null || st === null || ln === null) return null
          const str = text(s, args[0].real)
          const from = st > 0 ? st - 1 : st < 0 ? Math.max(0, str.length + st) : 0
          return ln === undefined ? str.slice(from) : str.substr(from, Math.max(0, ln))
        }, real: false,
      }
    }
    throw new EngineError('UNSUPPORTED', `the function ${name}() inside a transaction`)
  }
}

/** Value of a constant expression (INSERT … VALUES at the global level). */
export function constExpr(e: Ast): Val { return new Compiler('VALUES', undefined).expr(e).fn(undefined, []) }

function isConst(n: Ast): boolean {
  if (!n) return false
  if (['number', 'single_quote_string', 'string', 'null', 'bool'].includes(n.type)) return true
  if (n.type === 'origin' && n.__param !== undefined) return true
  if (n.type === 'unary_expr') return isConst(n.expr)
  return false
}

function exprName(n: Ast): string {
  if (n?.type === 'column_ref') return String(n.column).toUpperCase()
  return describe(n)
}

function describe(n: Ast): string {
  if (!n || typeof n !== 'object') return String(n)
  if (n.type === 'function') return `${(Array.isArray(n.name?.name) ? n.name.name.map((x: Ast) => x.value).join('.') : String(n.name)).toUpperCase()}(…)`
  return String(n.type)
}

/** SQLite's ordering: NULL < numbers < text; numbers numerically, text by code points. */
export function cmp(a: Val, b: Val): number {
  if (a === b) return 0
  if (a === null) return -1
  if (b === null) return 1
  const an = typeof a === 'number', bn = typeof b === 'number'
  if (an && bn) return (a as number) < (b as number) ? -1 : (a as number) > (b as number) ? 1 : 0
  if (an) return -1
  if (bn) return 1
  return (a as string) < (b as string) ? -1 : (a as string) > (b as string) ? 1 : 0
}

function num(v: Val): number | null {
  if (v === null) return null
  if (typeof v === 'number') return v
  const m = /^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?/.exec(v)
  return m ? Number(m[0]) : 0
}

function text(v: Val, real: boolean): string {
  if (typeof v === 'string') return v
  if (typeof v === 'number' && real && Number.isInteger(v)) return `${v}.0`
  return String(v)
}

function tri(v: Val): 0 | 1 | null {
  if (v === null) return null
  return (num(v) ?? 0) !== 0 ? 1 : 0
}
function truthy(v: Val): boolean { return tri(v) === 1 }
function not(v: Val): Val { const t = tri(v); return t === null ? null : t ? 0 : 1 }

function like(s: string, pat: string): boolean {
  let re = '^'
  for (const ch of pat) re += ch === '%' ? '.*' : ch === '_' ? '.' : ch.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  return new RegExp(`${re}$`, 'is').test(s)
}
