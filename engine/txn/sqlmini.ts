/**
 * Fragment-level statements the DTM runs inside a sub-transaction at one site:
 *   SELECT cols|* FROM t [WHERE c op v [AND ...]]
 *   UPDATE t SET c = c + n | c = c - n | c = v [, ...] [WHERE ...]
 *   INSERT INTO t (c, ...) VALUES (v, ...)
 *   DELETE FROM t [WHERE ...]
 * Values: numbers, 'strings', NULL, ? parameters. An equality on the table's key column makes the
 * statement a row operation (row lock); otherwise it is a table operation (table S/X lock).
 */
import { EngineError } from '../errors'

export type Val = string | number | null
export type Cmp = '=' | '<>' | '!=' | '<' | '<=' | '>' | '>='
export interface Cond { col: string; op: Cmp; val: Val }
export interface SetItem { col: string; from?: string; sign?: 1 | -1; op?: '+' | '-' | '*' | '/'; val: Val }

export type Stmt =
  | { kind: 'select'; table: string; cols: string[] | '*'; where: Cond[] }
  | { kind: 'update'; table: string; sets: SetItem[]; where: Cond[] }
  | { kind: 'insert'; table: string; cols: string[]; vals: Val[] }
  | { kind: 'delete'; table: string; where: Cond[] }

type Tpl = { stmt: Stmt; params: number }
const cache = new Map<string, Tpl>()

export function parseStmt(sql: string, params: readonly Val[] = []): Stmt {
  let t = cache.get(sql)
  if (!t) {
    t = parseTpl(sql)
    if (cache.size > 5000) cache.clear()
    cache.set(sql, t)
  }
  if (t.params !== params.length) throw new EngineError('BAD_INPUT', `statement has ${t.params} parameter(s), ${params.length} given`)
  return t.params ? bind(t.stmt, params) : t.stmt
}

const P = { __param: true }
function isParam(v: unknown): v is { __param: true; i: number } { return typeof v === 'object' && v !== null && '__param' in v }

function bind(s: Stmt, params: readonly Val[]): Stmt {
  const b = (v: Val): Val => (isParam(v) ? params[(v as unknown as { i: number }).i] : v)
  switch (s.kind) {
    case 'select': return { ...s, where: s.where.map((c) => ({ ...c, val: b(c.val) })) }
    case 'delete': return { ...s, where: s.where.map((c) => ({ ...c, val: b(c.val) })) }
    case 'update': return { ...s, sets: s.sets.map((x) => ({ ...x, val: b(x.val) })), where: s.where.map((c) => ({ ...c, val: b(c.val) })) }
    case 'insert': return { ...s, vals: s.vals.map(b) }
  }
}

function parseTpl(sql: string): Tpl {
  let n = 0
  const lit = (raw: string): Val => {
    const s = raw.trim()
    if (s === '?') return { ...P, i: n++ } as unknown as Val
    if (/^'(?:[^']|'')*'$/.test(s)) return s.slice(1, -1).replace(/''/g, "'")
    if (/^NULL$/i.test(s)) return null
    if (/^[+-]?\d+(\.\d+)?$/.test(s)) return Number(s)
    throw bad(sql, `cannot read value ${s}`)
  }
  const where = (w: string | undefined): Cond[] => {
    if (!w) return []
    return splitTop(w, /\s+AND\s+/i).map((part) => {
      const m = /^\s*"?(\w+)"?\s*(<=|>=|<>|!=|=|<|>)\s*(.+?)\s*$/.exec(part)
      if (!m) throw bad(sql, `cannot read condition ${part}`)
      return { col: m[1].toUpperCase(), op: m[2] as Cmp, val: lit(m[3]) }
    })
  }
  const s = sql.trim().replace(/;\s*$/, '')
  let m: RegExpExecArray | null
  if ((m = /^SELECT\s+(.+?)\s+FROM\s+"?(\w+)"?(?:\s+WHERE\s+(.+))?$/is.exec(s))) {
    const cols = m[1].trim() === '*' ? '*' as const : m[1].split(',').map((c) => c.trim().replace(/"/g, '').toUpperCase())
    return { stmt: { kind: 'select', table: m[2], cols, where: where(m[3]) }, params: n }
  }
  if ((m = /^UPDATE\s+"?(\w+)"?\s+SET\s+(.+?)(?:\s+WHERE\s+(.+))?$/is.exec(s))) {
    const sets = splitTop(m[2], /\s*,\s*/).map((a): SetItem => {
      const x = /^\s*"?(\w+)"?\s*=\s*(?:"?(\w+)"?\s*([-+*/])\s*(.+)|(.+))$/.exec(a)
      if (!x) throw bad(sql, `cannot read assignment ${a}`)
      if (x[2] && !/^\d/.test(x[2])) return { col: x[1].toUpperCase(), from: x[2].toUpperCase(), sign: x[3] === '-' ? -1 : 1, op: x[3] as SetItem['op'], val: lit(x[4]) }
      return { col: x[1].toUpperCase(), val: lit(x[5] ?? `${x[2]}${x[3]}${x[4]}`) }
    })
    const stmt: Stmt = { kind: 'update', table: m[1], sets, where: [] }
    stmt.where = where(m[3])
    return { stmt, params: n }
  }
  if ((m = /^INSERT\s+INTO\s+"?(\w+)"?\s*\(([^)]*)\)\s*VALUES\s*\((.*)\)$/is.exec(s))) {
    const cols = m[2].split(',').map((c) => c.trim().replace(/"/g, '').toUpperCase())
    const vals = splitTop(m[3], /\s*,\s*/).map(lit)
    if (cols.length !== vals.length) throw bad(sql, 'column and value counts differ')
    return { stmt: { kind: 'insert', table: m[1], cols, vals }, params: n }
  }
  if ((m = /^DELETE\s+FROM\s+"?(\w+)"?(?:\s+WHERE\s+(.+))?$/is.exec(s))) {
    return { stmt: { kind: 'delete', table: m[1], where: where(m[2]) }, params: n }
  }
  throw bad(sql, 'only SELECT, UPDATE, INSERT and DELETE on one fragment are accepted inside a transaction')
}

/** Splits on a separator outside quotes. */
function splitTop(s: string, sep: RegExp): string[] {
  const out: string[] = []
  let cur = ''
  let q = false
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]
    if (ch === "'") { q = !q; cur += ch; continue }
    if (!q) {
      const rest = s.slice(i)
      const m = new RegExp(`^(?:${sep.source})`, sep.flags).exec(rest)
      if (m && m[0].length) { out.push(cur); cur = ''; i += m[0].length - 1; continue }
    }
    cur += ch
  }
  out.push(cur)
  return out.map((x) => x.trim()).filter((x) => x.length)
}

function bad(sql: string, why: string): EngineError { return new EngineError('SQL_ERROR', `${why}: ${sql.slice(0, 120)}`) }

export function matches(row: Record<string, unknown>, where: Cond[]): boolean {
  for (const c of where) {
    const v = row[c.col]
    const w = c.val
    let ok: boolean
    switch (c.op) {
      case '=': ok = v == w || String(v) === String(w); break
      case '<>': case '!=': ok = !(v == w || String(v) === String(w)); break
      case '<': ok = (v as number) < (w as number); break
      case '<=': ok = (v as number) <= (w as number); break
      case '>': ok = (v as number) > (w as number); break
      case '>=': ok = (v as number) >= (w as number); break
    }
    if (!ok) return false
  }
  return true
}

export function isWrite(s: Stmt): boolean { return s.kind !== 'select' }
