/**
 * Global SQL inside a transaction: one statement on a global name (EMPLOYEES, SALES, ITEMS, STOCK_KDY,
 * or a fragment name) is localized with the DQP's catalog (engine/query/catalog.ts: names, fragments,
 * their horizontal predicates and copies) into fragment-level statements, one per site holding rows it
 * may touch; the DTM runs each as an operation of that site's sub-transaction under strict 2PL, and
 * 2PC commits them together.
 *   UPDATE EMPLOYEES SET SALARY = SALARY * 1.1 WHERE BRCODE = 'KDY'   → Employees_KDY at KDY only
 *   UPDATE EMPLOYEES SET SALARY = SALARY + 1                           → every branch's fragment
 *   INSERT INTO SALES (INVNO, BRCODE, …) VALUES (…, 'MBI', …)          → Sales_MBI at MBI (routed by BRCODE)
 *   SELECT … FROM STOCK_KDY WHERE STOCKCODE = 'K-0001'                 → Stock_KDY at KDY (S locks)
 * Reads and writes go to the authoritative copy; a replicated relation (ITEMS) is locked, read and
 * written at its primary copy (the main repository site's), and the replication channels carry the
 * committed change to the other replicas. What cannot be localized safely is
 * refused with UNSUPPORTED naming the construct (joins, subqueries, aggregates, GROUP BY / ORDER BY /
 * LIMIT, an UPDATE of the fragmentation column that would move rows between fragments, writes to a
 * vertical fragment or a scheduled copy).
 */
import { EngineError } from '../errors'
import type { QueryCatalog, Copy, Piece } from '../query/catalog'
import { parseSql, type Ast } from '../query/parse'
import { parseStmt, type Cond, type Stmt, type Val } from './sqlmini'

export interface LocalOp { site: string; fragment: string; sql: string }
export interface Localized { kind: Stmt['kind']; target: string; ops: LocalOp[]; pruned: string[] }

const lit = (v: Val): string => (v === null ? 'NULL' : typeof v === 'number' ? String(v) : `'${String(v).replace(/'/g, "''")}'`)
const q = (n: string) => `"${n}"`
const whereSql = (w: Cond[]) => (w.length ? ` WHERE ${w.map((c) => `${q(c.col)} ${c.op} ${lit(c.val)}`).join(' AND ')}` : '')

/** Fragment-level text of a statement (values inlined; sqlmini reads it back). */
export function stmtSql(st: Stmt, table: string): string {
  switch (st.kind) {
    case 'select': return `SELECT ${st.cols === '*' ? '*' : st.cols.map(q).join(', ')} FROM ${q(table)}${whereSql(st.where)}`
    case 'delete': return `DELETE FROM ${q(table)}${whereSql(st.where)}`
    case 'insert': return `INSERT INTO ${q(table)} (${st.cols.map(q).join(', ')}) VALUES (${st.vals.map(lit).join(', ')})`
    case 'update': return `UPDATE ${q(table)} SET ${st.sets.map((a) => `${q(a.col)} = ${a.from ? `${q(a.from)} ${a.op ?? (a.sign === -1 ? '-' : '+')} ${lit(a.val)}` : lit(a.val)}`).join(', ')}${whereSql(st.where)}`
  }
}

/** Names the first construct of a parsed statement that a transaction cannot localize, if any. */
function unsupported(ast: Ast): string | undefined {
  const json = JSON.stringify(ast ?? null)
  if (ast.type === 'select') {
    if (Array.isArray(ast.from) && ast.from.length > 1) return 'joins (several tables in FROM)'
    if (ast.groupby) return 'GROUP BY'
    if (ast.having) return 'HAVING'
    if (ast.orderby) return 'ORDER BY'
    if (ast.limit?.value?.length) return 'LIMIT'
    if (ast.distinct) return 'DISTINCT'
    if (/"type":"aggr_func"/.test(json)) return 'aggregate functions'
  }
  if (ast.type === 'insert' && ast.values?.type !== 'values') return 'INSERT … SELECT'
  if (/"ast":/.test(json)) return 'subqueries'
  if (Array.isArray(ast.table) && ast.table.length > 1) return 'multi-table statements'
  if (ast.returning) return 'RETURNING'
  if (ast.type !== 'insert' && ast.type !== 'select' && ast.orderby) return `${String(ast.type).toUpperCase()} … ORDER BY`
  if (ast.type !== 'insert' && ast.type !== 'select' && ast.limit?.value?.length) return `${String(ast.type).toUpperCase()} … LIMIT`
  if (!['select', 'insert', 'update', 'delete'].includes(ast.type)) return `${String(ast.type).toUpperCase()} statements`
  return undefined
}

/** Localizes one global statement issued at `origin` (for messages); `isUp(site)`: is a site's primary up. */
export function localize(cat: QueryCatalog, origin: string, sql: string, params: readonly Val[], isUp: (site: string) => boolean): Localized {
  const parsed = parseSql(sql)
  if (parsed.statements.length !== 1) throw new EngineError('UNSUPPORTED', 'one statement at a time inside a transaction')
  if (parsed.explain) throw new EngineError('UNSUPPORTED', 'EXPLAIN inside a transaction')
  if (parsed.atRefs.size) throw new EngineError('UNSUPPORTED', 'fragment@SITE names inside a transaction (name the fragment, or the global relation)')
  const why = unsupported(parsed.statements[0])
  if (why) throw new EngineError('UNSUPPORTED', `${why} inside a transaction: only single-table SELECT/INSERT/UPDATE/DELETE with conjunctive column-vs-value conditions can be localized to the fragments`)
  let st: Stmt
  try { st = parseStmt(sql, params) } catch (e) {
    if (e instanceof EngineError && e.code === 'SQL_ERROR') throw new EngineError('UNSUPPORTED', `${e.message.replace(/:.*$/s, '')} — inside a transaction a statement may use only conditions column op value joined by AND, and assignments column = value or column = column +|-|*|/ value`)
    throw e
  }
  const target = cat.resolve(st.table.toUpperCase(), new Map())
  const rel = target.relation
  const cols = target.columns
  const check = (c: string) => { if (!cols.includes(c)) throw new EngineError('SQL_ERROR', `${target.display} has no column ${c}`) }
  if (st.kind !== 'select' || st.cols !== '*') for (const c of st.kind === 'insert' || st.kind === 'select' ? st.cols as string[] : []) check(c)
  if (st.kind !== 'insert') for (const w of st.where) check(w.col)
  if (st.kind === 'update') for (const a of st.sets) { check(a.col); if (a.from) check(a.from) }

  const write = st.kind !== 'select'
  const f = target.fragment
  if (write && f?.kind === 'vertical') throw new EngineError('UNSUPPORTED', `writing ${f.name}, a vertical fragment maintained from ${f.copyOf}: write ${rel.name} instead`)
  if (write && f?.kind === 'copy') throw new EngineError('UNSUPPORTED', `writing ${f.name}, a scheduled copy of ${f.copyOf}: write ${rel.name} instead`)
  if (!write && f?.kind === 'copy') throw new EngineError('UNSUPPORTED', `reading ${f.name}, a scheduled copy of ${f.copyOf}, inside a transaction (it is not locked with its source): read ${rel.name} instead`)

  const pieces = cat.pieces(target)
  const copyOf = (p: Piece): Copy => {
    const prim = p.copies.filter((c) => c.server === 'primary')
    let c: Copy | undefined
    if (target.kind === 'relation' && rel.distribution === 'replicated') {
      // primary-copy locking: every transaction reads and writes the same copy (the main repository site's),
      // so 2PL sees every conflict; the other replicas follow through replication after the commit
      c = prim.find((x) => x.site === cat.repositorySite) ?? prim[0]
      if (c && !isUp(c.site)) throw new EngineError('UNREACHABLE', `${rel.name} cannot be used from ${origin}: its primary copy at ${c.site} is down; inside a transaction ${rel.name} is locked and ${write ? 'written' : 'read'} there only`, { site: c.site })
    } else {
      c = prim.find((x) => x.role === 'authoritative') ?? (target.kind !== 'relation' ? prim.find((x) => x.role === 'replica') : undefined)
    }
    if (!c) throw new EngineError('UNSUPPORTED', `${p.name} has no copy that a transaction can lock and ${write ? 'write' : 'read'}`)
    return c
  }

  const pc = pieces.length > 1 ? pieces[0].predicateColumn : undefined
  let live = pieces
  const pruned: string[] = []
  if (st.kind === 'insert') {
    if (pieces.length > 1) {
      if (!pc) throw new EngineError('UNSUPPORTED', `INSERT into ${rel.name}: its fragments have no routing column`)
      const i = st.cols.indexOf(pc)
      if (i < 0) throw new EngineError('BAD_INPUT', `INSERT into ${rel.name} must give ${pc}: it decides the fragment (${pieces.map((p) => `${p.name} ${p.predicate}`).join(', ')})`)
      const v = st.vals[i]
      const hit = pieces.find((p) => p.predicateValue === String(v))
      if (!hit) throw new EngineError('BAD_INPUT', `${pc} ${lit(v)} matches no fragment of ${rel.name} (${pieces.map((p) => `${p.name} ${p.predicate}`).join(', ')})`)
      live = [hit]
    } else if (pieces[0].predicateColumn) {
      const i = st.cols.indexOf(pieces[0].predicateColumn)
      if (i >= 0 && String(st.vals[i]) !== pieces[0].predicateValue) throw new EngineError('BAD_INPUT', `a row with ${pieces[0].predicateColumn} ${lit(st.vals[i])} does not belong in ${pieces[0].name} (${pieces[0].predicate})`)
    }
  } else if (pc) {
    // prune by the fragmentation predicate: an equality on the routing column keeps one fragment
    live = pieces.filter((p) => st.where.every((w) => w.col !== pc || w.op !== '=' || String(w.val) === p.predicateValue) &&
      st.where.every((w) => w.col !== pc || (w.op !== '<>' && w.op !== '!=') || String(w.val) !== p.predicateValue))
    for (const p of pieces) if (!live.includes(p)) pruned.push(p.name)
  }
  if (st.kind === 'update') {
    const routing = pieces[0]?.predicateColumn
    const a = routing ? st.sets.find((x) => x.col === routing) : undefined
    if (a) {
      const stays = !a.from && live.length === 1 && String(a.val) === live[0].predicateValue
      if (!stays) throw new EngineError('UNSUPPORTED', `UPDATE … SET ${routing} would move rows between fragments of ${rel.name} (${pieces.map((p) => p.name).join(', ')}); inside a transaction delete the row and insert it again instead`)
    }
    const key = rel.key.length === 1 ? rel.key[0] : undefined
    if (key && st.sets.some((x) => x.col === key)) throw new EngineError('UNSUPPORTED', `UPDATE … SET ${key} (the key of ${rel.name}) inside a transaction: delete the row and insert it again instead`)
  }
  const ops: LocalOp[] = live.map((p) => {
    const c = copyOf(p)
    if (st.kind === 'insert') for (const col of st.cols) if (!c.columns.includes(col)) throw new EngineError('SQL_ERROR', `${c.table} at ${c.site} has no column ${col}`)
    return { site: c.site, fragment: c.table, sql: stmtSql(st, c.table) }
  })
  return { kind: st.kind, target: rel.name, ops, pruned }
}
