/**
 * SQL front end of the DQP: node-sql-parser (sqlite dialect) does the parsing. Before parsing, two
 * console-level notations are lifted out of the text: a leading `EXPLAIN` and the local-mapping
 * notation `fragment@SITE` (not SQL), which becomes a placeholder identifier `fragment__at__SITE`.
 * Error positions are mapped back to offsets in the text the user typed.
 */
import pkg from 'node-sql-parser'
import { EngineError } from '../errors'

// node-sql-parser is CommonJS; under ESM/Vitest the default import is the module object.
const ParserCtor = ((pkg as unknown as { Parser?: unknown }).Parser ?? (pkg as unknown as { default: { Parser: unknown } }).default.Parser) as new () => SqlParser

interface SqlParser {
  astify(sql: string, opt?: { database?: string }): unknown
  sqlify(ast: unknown, opt?: { database?: string }): string
  /** Tables a statement names, as 'select::null::SALES'. */
  tableList(sql: string, opt?: { database?: string }): string[]
  /**
   * One parse giving the tables a statement names and the columns it reads or writes, as 'select::SALES::QTY'
   * ('(.*)' for a star, a null table when unqualified).
   */
  parse(sql: string, opt?: { database?: string }): { tableList: string[]; columnList: string[] }
}

const OPT = { database: 'sqlite' }
let parser: SqlParser | undefined
export function sqlParser(): SqlParser { return (parser ??= new ParserCtor()) }

/** Any AST node (node-sql-parser's types are loose; we check shapes at run time). */
export type Ast = any

export const AT_MARK = '__at__'

export interface ParsedText {
  /** Text handed to the parser (EXPLAIN removed, fragment@SITE rewritten). */
  text: string
  explain: boolean
  /** Wrapped in BEGIN; … COMMIT (several statements applied all-or-nothing). */
  transaction: boolean
  /** Placeholder identifier → { fragment, site } for the `fragment@SITE` notation. */
  atRefs: Map<string, { fragment: string; site: string }>
  /** Maps an offset in `text` back to the offset in the user's original SQL. */
  toOriginal(offset: number): number
  statements: Ast[]
}

/** Lifts EXPLAIN and fragment@SITE out of the text; never touches string literals or quoted identifiers. */
export function preprocess(sql: string): { text: string; explain: boolean; transaction: boolean; atRefs: ParsedText['atRefs']; toOriginal: (o: number) => number } {
  let start = 0
  let explain = false
  let transaction = false
  const b = /^\s*begin(\s+transaction)?\s*;\s*/i.exec(sql)
  if (b) { transaction = true; start = b[0].length }
  const m = /^\s*explain\b\s*/i.exec(sql.slice(start))
  if (m) { explain = true; start += m[0].length }
  const c = /;\s*commit(\s+transaction)?\s*;?\s*$/i.exec(sql)
  let end = sql.length
  if (c && c.index >= start) { transaction = true; end = c.index }
  const shifts: { at: number; delta: number }[] = [] // at = offset in new text after which `delta` extra chars exist
  const atRefs: ParsedText['atRefs'] = new Map()
  let out = ''
  let i = start
  while (i < end) {
    const c = sql[i]
    if (c === "'" || c === '"' || c === '`') {
      let j = i + 1
      while (j < end) {
        if (sql[j] === c) { if (sql[j + 1] === c) { j += 2; continue } break }
        j++
      }
      out += sql.slice(i, j + 1)
      i = j + 1
      continue
    }
    if (c === '-' && sql[i + 1] === '-') {
      const j = sql.indexOf('\n', i)
      const stop = j < 0 || j > end ? end : j
      out += sql.slice(i, stop)
      i = stop
      continue
    }
    if (c === '@') {
      const before = /([A-Za-z_][A-Za-z0-9_]*)$/.exec(out)
      const after = /^([A-Za-z][A-Za-z0-9_]*)/.exec(sql.slice(i + 1, end))
      if (before && after) {
        const fragment = before[1]
        const site = after[1].toUpperCase()
        const placeholder = `${fragment}${AT_MARK}${site}`
        atRefs.set(placeholder.toUpperCase(), { fragment, site })
        out += AT_MARK + site
        shifts.push({ at: out.length, delta: AT_MARK.length - 1 })
        i += 1 + after[1].length
        continue
      }
    }
    out += c
    i++
  }
  const toOriginal = (o: number) => {
    let orig = o + start
    for (const s of shifts) if (o >= s.at) orig -= s.delta
    return Math.max(0, Math.min(sql.length, orig))
  }
  return { text: out, explain, transaction, atRefs, toOriginal }
}

/**
 * node-sql-parser's sqlite grammar knows UNION [ALL] only. INTERSECT and EXCEPT are reserved words in SQLite
 * (never identifiers), so outside literals, quoted names and comments each one is a set operator: it is
 * handed to the parser as an equally long `UNION` and put back on the AST afterwards, compound by compound
 * in the order of the text. ORDER BY … NULLS FIRST / LAST, which the grammar cannot read either, is refused
 * by name. Offsets in the text are unchanged.
 */
export function astifySql(text: string): Ast {
  const ops: { op: string; at: number }[] = []
  let out = ''
  let last = ''
  let lastAt = 0
  let i = 0
  while (i < text.length) {
    const c = text[i]
    if (c === "'" || c === '"' || c === '`' || c === '[') {
      const close = c === '[' ? ']' : c
      let j = i + 1
      while (j < text.length) {
        if (text[j] === close) { if (close !== ']' && text[j + 1] === close) { j += 2; continue } break }
        j++
      }
      out += text.slice(i, j + 1); i = j + 1; last = ''
      continue
    }
    if ((c === '-' && text[i + 1] === '-') || (c === '/' && text[i + 1] === '*')) {
      const j = c === '-' ? text.indexOf('\n', i) : text.indexOf('*/', i + 2)
      const stop = j < 0 ? text.length : c === '-' ? j : j + 2
      out += text.slice(i, stop); i = stop
      continue
    }
    const w = /^[A-Za-z_][A-Za-z0-9_$]*/.exec(text.slice(i, i + 64))
    if (w && !/[A-Za-z0-9_$]/.test(text[i - 1] ?? '')) {
      const word = w[0].toUpperCase()
      if (word === 'FIRST' || word === 'LAST') {
        if (last === 'NULLS') throw new EngineError('UNSUPPORTED', `ORDER BY … NULLS ${word} is not supported by the distributed query processor (SQLite puts NULLs first in ascending and last in descending order; to choose, order by \`x IS NULL\` first, e.g. ORDER BY x IS NULL ${word === 'FIRST' ? 'DESC' : 'ASC'}, x)`, { position: lastAt })
      }
      if (word === 'INTERSECT' || word === 'EXCEPT') {
        ops.push({ op: word.toLowerCase(), at: i })
        out += 'UNION'.padEnd(word.length, ' ')
      } else {
        if (word === 'UNION') ops.push({ op: 'union', at: i })
        out += w[0]
      }
      last = word
      lastAt = i
      i += w[0].length
      continue
    }
    if (!/\s/.test(c)) last = ''
    out += c
    i++
  }
  const ast = sqlParser().astify(out, OPT)
  if (!ops.some((o) => o.op !== 'union')) return ast
  // compounds in the order of the text: a block's own clauses (and the compounds inside them), its operator, its next branch
  let k = 0
  const walk = (n: Ast): void => {
    if (!n || typeof n !== 'object') return
    if (Array.isArray(n)) { n.forEach(walk); return }
    for (const key of Object.keys(n)) if (key !== '_next' && key !== 'set_op' && key !== 'tableList' && key !== 'columnList' && key !== 'loc') walk(n[key])
    if (n._next) {
      const o = ops[k++]
      if (!o || !String(n.set_op ?? '').toLowerCase().startsWith('union')) throw new EngineError('UNSUPPORTED', 'this combination of set operations could not be read (INTERSECT / EXCEPT)')
      if (o.op !== 'union') n.set_op = o.op
      walk(n._next)
    }
  }
  walk(ast)
  if (k !== ops.length) throw new EngineError('UNSUPPORTED', `INTERSECT / EXCEPT in this position is not supported (set operations combine whole SELECTs)`, { position: ops[Math.min(k, ops.length - 1)].at })
  return ast
}

/** Parses one or more `;`-separated statements. Syntax errors become SQL_ERROR with a position. */
export function parseSql(sql: string): ParsedText {
  if (!sql.trim()) throw new EngineError('SQL_ERROR', 'empty SQL statement', { position: 0 })
  const pre = preprocess(sql)
  let ast: Ast
  try {
    ast = astifySql(pre.text)
  } catch (e) {
    if (e instanceof EngineError) throw e.position === undefined ? e : new EngineError(e.code, e.message, { position: pre.toOriginal(e.position) })
    const err = e as { message?: string; location?: { start?: { offset?: number; line?: number; column?: number } }; found?: string }
    const off = err.location?.start?.offset
    const position = off === undefined ? undefined : pre.toOriginal(off)
    const found = err.found === undefined ? undefined : err.found === null ? 'end of input' : `"${err.found}"`
    const msg = position === undefined
      ? `syntax error: ${err.message ?? String(e)}`
      : `syntax error at position ${position}${found ? ` near ${found}` : ''} (line ${err.location?.start?.line}, column ${err.location?.start?.column})`
    if (position !== undefined) {
      const rest = sql.slice(position)
      const kw = /^(RIGHT|FULL|NATURAL)\s+(OUTER\s+)?JOIN\b/i.exec(rest) ?? /^(RIGHT|FULL|NATURAL)\b/i.exec(rest)
      if (/^OVER\b/i.test(rest) || /\bOVER\s*\(?\s*$/i.test(sql.slice(0, position))) throw new EngineError('UNSUPPORTED', 'window functions (… OVER (…)) are not supported by the distributed query processor', { position })
      if (kw) throw new EngineError('UNSUPPORTED', `${kw[1].toUpperCase()} JOIN is not supported by the distributed query processor${kw[1].toUpperCase() === 'RIGHT' ? ' (rewrite it as a LEFT JOIN)' : ''}`, { position })
    }
    throw new EngineError('SQL_ERROR', msg, position === undefined ? {} : { position })
  }
  const statements = (Array.isArray(ast) ? ast : [ast]).filter((s) => s && typeof s === 'object')
  if (!statements.length) throw new EngineError('SQL_ERROR', 'no statement found', { position: 0 })
  return { ...pre, statements }
}

export function sqlify(ast: Ast): string {
  return sqlParser().sqlify(ast, OPT)
}

/** Column name of a column_ref node (string or {expr:{value}} depending on the dialect). */
export function colName(node: Ast): string | undefined {
  const c = node?.column
  if (typeof c === 'string') return c
  if (c && typeof c === 'object') return c.expr?.value ?? c.value
  return undefined
}

export function isSelect(n: Ast): boolean { return n && typeof n === 'object' && n.type === 'select' }

/** Splits a boolean expression into its AND-conjuncts. */
export function conjuncts(e: Ast): Ast[] {
  if (!e) return []
  if (e.type === 'binary_expr' && String(e.operator).toUpperCase() === 'AND') return [...conjuncts(e.left), ...conjuncts(e.right)]
  return [e]
}

export function andAll(list: Ast[]): Ast | null {
  if (!list.length) return null
  return list.reduce((a, b) => ({ type: 'binary_expr', operator: 'AND', left: a, right: b }))
}

/** Whether some node of a parser tree (objects and arrays, at any depth) satisfies `pred`. */
export function astSome(n: Ast, pred: (node: Ast) => boolean): boolean {
  if (!n || typeof n !== 'object') return false
  if (Array.isArray(n)) return n.some((x) => astSome(x, pred))
  if (pred(n)) return true
  for (const k of Object.keys(n)) if (astSome(n[k], pred)) return true
  return false
}
