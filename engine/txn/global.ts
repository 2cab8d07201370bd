/**
 * Global SQL inside a transaction: a statement on global names (EMPLOYEES, SALES, ITEMS, STOCK_KDY, or a
 * fragment name) is localized with the DQP's catalog (engine/query/catalog.ts: names, fragments, their
 * horizontal predicates and copies) into fragment-level statements (engine/txn/stmt.ts), one per site
 * holding rows it may touch; the DTM runs each as an operation of that site's sub-transaction under strict
 * 2PL, and 2PC commits them together. Built from node-sql-parser's tree.
 *   UPDATE EMPLOYEES SET SALARY = SALARY * 1.1 WHERE BRCODE = 'KDY'   → Employees_KDY at KDY only
 *   UPDATE EMPLOYEES SET SALARY = SALARY + 1 WHERE EMPNO IN (7, 9)     → every branch's fragment (row locks)
 *   INSERT INTO SALES (…) VALUES (…, 'MBI', …), (…, 'KDY', …)          → Sales_MBI at MBI, Sales_KDY at KDY
 *   UPDATE SALES SET BRCODE = 'CMB' WHERE INVNO = 5                    → UPDATE … RETURNING * where the row is,
 *                                                                        then DELETE there + INSERT at CMB
 *   SELECT … joins, subqueries, aggregates, ORDER BY …                 → each base reference's fragments read
 *     under S locks (row locks for a key equality), then the statement runs over those rows in a scratch
 *     database at the origin: repeatable, because the locks are held to the end of the transaction
 *   UPDATE/DELETE with (uncorrelated) subqueries, INSERT … SELECT       → the subquery / SELECT is such a read
 *     first; its values are inlined into the write
 * Reads and writes go to the authoritative copy; a replicated relation (ITEMS) is locked, read and written at
 * its primary copy (the main repository site's), and the replication channels carry the committed change to
 * the other replicas. What cannot be done safely is refused with UNSUPPORTED naming the construct (writes to
 * a vertical fragment or a scheduled copy, an UPDATE of a relation's key, correlated subqueries in a write).
 */
import type { SqlJsStatic } from 'sql.js'
import { EngineError, toErrorInfo, type ErrorInfo } from '../errors'
import type { QueryCatalog, Copy, Piece, NameTarget } from '../query/catalog'
import { parseSql, sqlify, conjuncts, astSome, type Ast, type ParsedText } from '../query/parse'
import { analyzeSelect } from '../query/analyze'
import { exprSql, qid } from '../query/sqltext'
import { loadedSqlJs } from '../site/sqljs'
import { constExpr, identifiers, type Row, type Val } from './stmt'

export interface LocalOp { site: string; fragment: string; sql: string }
export interface Localized { kind: 'select' | 'insert' | 'update' | 'delete'; target: string; ops: LocalOp[]; pruned: string[] }

/** What the DTM gives a global statement: fragment-level operations of the same transaction. */
export interface GlobalHost {
  origin: string
  /** The site's primary is up and reachable from the origin. */
  isUp: (site: string) => boolean
  exec: (site: string, sql: string, cb: (r: { ok: boolean; rows?: Row[]; affected?: number; error?: ErrorInfo }) => void, opts?: OpOptions) => void
}

/**
 * An eager replica operation (a delete of a replicated relation's rows at a read-only replica, in the same
 * transaction as at the primary copy): the participant first applies every change of the primary copy committed
 * before (`fenceFrom`: the primary copy's site), so no earlier replicated insert or update can bring the row back.
 */
export interface OpOptions { fenceFrom?: string }
export interface GlobalResult { ok: boolean; rows?: Row[]; affected?: number; error?: ErrorInfo; localized?: Localized }

const lit = (v: Val): string => (v === null || v === undefined ? 'NULL' : typeof v === 'number' ? (Number.isFinite(v) ? String(v) : 'NULL') : `'${String(v).replace(/'/g, "''")}'`)
const litNode = (v: Val): Ast => (v === null || v === undefined ? { type: 'null', value: null } : typeof v === 'number' ? (v < 0 ? { type: 'unary_expr', operator: '-', expr: { type: 'number', value: -v } } : { type: 'number', value: v }) : { type: 'single_quote_string', value: v })

function walk(n: Ast, visit: (n: Ast, parent: Ast, key: string | number) => 'skip' | void, parent?: Ast, key?: string | number): void {
  if (!n || typeof n !== 'object') return
  if (Array.isArray(n)) { n.forEach((x, i) => walk(x, visit, n, i)); return }
  if (parent !== undefined && visit(n, parent, key!) === 'skip') return
  for (const k of Object.keys(n)) if (k !== 'tableList' && k !== 'columnList' && k !== 'loc') walk(n[k], visit, n, k)
}

/** Replaces ? parameters by literals (in order of appearance). */
function bindParams(ast: Ast, params: readonly Val[]): void {
  let i = 0
  walk({ root: ast }, (n, parent, key) => {
    if (n.type === 'origin' && n.value === '?') {
      if (i >= params.length) throw new EngineError('BAD_INPUT', `statement has more parameters than the ${params.length} given`)
      parent[key] = litNode(params[i++])
      return 'skip'
    }
  })
  if (i !== params.length) throw new EngineError('BAD_INPUT', `statement has ${i} parameter(s), ${params.length} given`)
}

function unqualify(n: Ast): void {
  walk({ root: n }, (x) => { if (x.type === 'column_ref') x.table = null })
}

const isSubquery = (n: Ast) => !!n && typeof n === 'object' && !Array.isArray(n) && !!n.ast && typeof n.ast === 'object'
function hasSubquery(n: Ast): boolean {
  let found = false
  walk({ root: n }, (x) => { if (isSubquery(x)) { found = true; return 'skip' } })
  return found
}

/** The copy a transaction locks, reads and writes for a piece. */
function copyFor(cat: QueryCatalog, target: NameTarget, p: Piece, write: boolean, host: GlobalHost): Copy {
  const rel = target.relation
  const prim = p.copies.filter((c) => c.server === 'primary')
  let c: Copy | undefined
  if (target.kind === 'relation' && rel.distribution === 'replicated') {
    // primary-copy locking: every transaction reads and writes the same copy (the main repository site's),
    // so 2PL sees every conflict; the other replicas follow through replication after the commit
    c = prim.find((x) => x.site === cat.repositorySite) ?? prim[0]
    if (c && !host.isUp(c.site)) throw new EngineError('UNREACHABLE', `${rel.name} cannot be used from ${host.origin}: its primary copy at ${c.site} is down; inside a transaction ${rel.name} is locked and ${write ? 'written' : 'read'} there only`, { site: c.site })
  } else {
    c = prim.find((x) => x.role === 'authoritative') ?? (target.kind !== 'relation' ? prim.find((x) => x.role === 'replica') : undefined)
  }
  if (!c) throw new EngineError('UNSUPPORTED', `${p.name} has no copy that a transaction can lock and ${write ? 'write' : 'read'}`)
  if (!host.isUp(c.site)) throw new EngineError('UNREACHABLE', `fragment ${p.name} cannot be ${write ? 'written' : 'read'} from ${host.origin}: its site ${c.site} is down or unreachable (inside a transaction a fragment is locked at its own site)`, { site: c.site })
  return c
}

function writable(t: NameTarget): void {
  const f = t.fragment
  if (f?.kind === 'vertical') throw new EngineError('UNSUPPORTED', `writing ${f.name}, a vertical fragment maintained from ${f.copyOf}: write ${t.relation.name} instead`)
  if (f?.kind === 'copy') throw new EngineError('UNSUPPORTED', `writing ${f.name}, a scheduled copy of ${f.copyOf}: write ${t.relation.name} instead`)
}

/** Pieces a condition may touch: top-level conjuncts on the fragmentation column (=, <>, IN, NOT IN with literals). */
function prune(pieces: Piece[], where: Ast): { live: Piece[]; pruned: string[] } {
  const pc = pieces.length > 1 ? pieces[0].predicateColumn : undefined
  if (!pc || !where) return { live: pieces, pruned: [] }
  const litVal = (n: Ast): string | undefined => (n?.type === 'number' ? String(n.value) : n?.type === 'single_quote_string' || n?.type === 'string' ? String(n.value) : undefined)
  let live = pieces
  for (const c of conjuncts(where)) {
    if (c.type !== 'binary_expr' || c.left?.type !== 'column_ref' || String(c.left.column).toUpperCase() !== pc) continue
    const op = String(c.operator).toUpperCase()
    const vals = (c.right?.type === 'expr_list' ? c.right.value : [c.right]).map(litVal)
    if (vals.some((v: string | undefined) => v === undefined)) continue
    if (op === '=' || op === 'IN') live = live.filter((p) => vals.includes(p.predicateValue))
    else if (op === '<>' || op === '!=' || op === 'NOT IN') live = live.filter((p) => !vals.includes(p.predicateValue))
  }
  return { live, pruned: pieces.filter((p) => !live.includes(p)).map((p) => p.name) }
}

/** A statement already parsed by the query processor (its fragment@SITE names resolved through atRefs). */
export interface PreParsed { ast: Ast; atRefs: ParsedText['atRefs'] }

/** Runs one global statement of a transaction; `done` gets the combined result. */
export function runGlobal(cat: QueryCatalog, host: GlobalHost, sql: string, params: readonly Val[], done: (r: GlobalResult) => void, pre?: PreParsed): void {
  const loc: Localized = { kind: 'select', target: '', ops: [], pruned: [] }
  const fail = (e: unknown) => done({ ok: false, error: toErrorInfo(e), localized: loc })
  let atRefs: ParsedText['atRefs']
  let ast: Ast
  try {
    if (pre) { atRefs = pre.atRefs; ast = structuredClone(pre.ast) }
    else {
      const parsed = parseSql(sql)
      if (parsed.statements.length !== 1) throw new EngineError('UNSUPPORTED', 'one statement at a time inside a transaction')
      if (parsed.explain) throw new EngineError('UNSUPPORTED', 'EXPLAIN inside a transaction')
      atRefs = parsed.atRefs
      ast = structuredClone(parsed.statements[0])
    }
  } catch (e) { return fail(e) }
  identifiers(ast)
  const ctx = new Run(cat, host, atRefs, loc)
  try {
    bindParams(ast, params)
    const kind = String(ast.type)
    if (!['select', 'insert', 'update', 'delete'].includes(kind)) throw new EngineError('UNSUPPORTED', `${kind.toUpperCase()} statements inside a transaction (SELECT, INSERT, UPDATE and DELETE are accepted)`)
    loc.kind = kind as Localized['kind']
    if (ast.returning) throw new EngineError('UNSUPPORTED', 'RETURNING in a global statement')
    if (kind === 'select') ctx.select(ast, (r) => done({ ...r, localized: loc }))
    else ctx.write(ast, (r) => done({ ...r, localized: loc }))
  } catch (e) { fail(e) }
}

class Run {
  constructor(private cat: QueryCatalog, private host: GlobalHost, private atRefs: ParsedText['atRefs'], private loc: Localized) {}

  /** One fragment-level operation (recorded in the localization). */
  private op(site: string, fragment: string, sql: string, cb: (r: { rows?: Row[]; affected?: number }) => void, fail: (e: ErrorInfo) => void, opts?: OpOptions): void {
    this.loc.ops.push({ site, fragment, sql })
    this.host.exec(site, sql, (r) => (r.ok ? cb(r) : fail(r.error ?? { code: 'INTERNAL', message: 'statement failed' })), opts)
  }

  /** Runs ops one after the other, then `end`. */
  private seq(ops: { site: string; fragment: string; sql: string; then?: (r: { rows?: Row[]; affected?: number }) => void; opts?: OpOptions }[], end: () => void, fail: (e: ErrorInfo) => void): void {
    const step = (i: number): void => {
      if (i === ops.length) return end()
      const o = ops[i]
      this.op(o.site, o.fragment, o.sql, (r) => { try { o.then?.(r) } catch (e) { return fail(toErrorInfo(e)) } step(i + 1) }, fail, o.opts)
    }
    step(0)
  }

  private resolve(name: string): NameTarget {
    if (this.cat.view(name.toUpperCase())) throw new EngineError('UNSUPPORTED', `global view ${name.toUpperCase()} is read-only`)
    return this.cat.resolve(name.toUpperCase(), this.atRefs)
  }

  // ---- reads ------------------------------------------------------------------------------------
  select(ast: Ast, done: (r: GlobalResult) => void): void {
    const from = ast.from ?? []
    const simple = from.length === 1 && from[0].table && !from[0].join && !ast.groupby && !ast.having && !ast.orderby && !ast.limit?.value?.length &&
      !ast.distinct && !ast._next && !ast.with && !hasSubquery(ast) && !astSome(ast.columns, (n) => n.type === 'aggr_func') && !this.cat.view(String(from[0].table).toUpperCase())
    if (simple) return this.simpleSelect(ast, done)
    this.generalSelect(ast, sqlify(ast), (r) => done(r), (e) => done({ ok: false, error: e }))
  }

  /** One table, no grouping: the statement itself runs at each fragment and the rows are unioned. */
  private simpleSelect(ast: Ast, done: (r: GlobalResult) => void): void {
    const target = this.resolve(String(ast.from[0].table))
    this.loc.target = target.relation.name
    if (target.fragment?.kind === 'copy') throw new EngineError('UNSUPPORTED', `reading ${target.fragment.name}, a scheduled copy of ${target.fragment.copyOf}, inside a transaction (it is not locked with its source): read ${target.relation.name} instead`)
    unqualify(ast.columns); unqualify(ast.where)
    for (const c of ast.columns) if (c.expr?.type === 'column_ref' && c.expr.column !== '*' && !target.columns.includes(String(c.expr.column).toUpperCase())) throw new EngineError('SQL_ERROR', `${target.display} has no column ${String(c.expr.column).toUpperCase()}`)
    const { live, pruned } = prune(this.cat.pieces(target), ast.where)
    this.loc.pruned.push(...pruned)
    const rows: Row[] = []
    const cols = ast.columns.map((c: Ast) => (c.expr?.type === 'column_ref' && c.expr.column === '*' ? '*' : `${exprSql(c.expr)}${c.as ? ` AS ${qid(String(c.as))}` : ''}`)).join(', ')
    const ops = live.map((p) => {
      const c = copyFor(this.cat, target, p, false, this.host)
      return { site: c.site, fragment: c.table, sql: `SELECT ${cols} FROM ${qid(c.table)}${ast.where ? ` WHERE ${exprSql(ast.where)}` : ''}`, then: (r: { rows?: Row[] }) => { for (const x of r.rows ?? []) rows.push(x) } }
    })
    this.seq(ops, () => done({ ok: true, rows }), (e) => done({ ok: false, error: e }))
  }

  /**
   * Any SELECT the query processor accepts: every base reference's fragments are read (S locks, pushed
   * single-table filters), then the statement runs over those rows in a scratch database.
   */
  private generalSelect(ast: Ast, text: string, done: (r: { ok: true; rows: Row[]; columns: string[] }) => void, fail: (e: ErrorInfo) => void): void {
    const SQL = loadedSqlJs()
    if (!SQL) throw new EngineError('UNSUPPORTED', 'joins, subqueries and aggregates inside a transaction need the site databases (sql.js) loaded')
    const a = analyzeSelect(ast, this.cat, this.atRefs)
    if (!this.loc.target) this.loc.target = a.refs.map((r) => r.target.relation.name).join(', ')
    // one table per name in the scratch database: the union of the rows every reference to it needs
    const byName = new Map<string, { target: NameTarget; filters: Ast[] | null }>()
    for (const r of a.refs) {
      const e = byName.get(r.name)
      if (r.target.fragment?.kind === 'copy') throw new EngineError('UNSUPPORTED', `reading ${r.target.fragment.name}, a scheduled copy, inside a transaction: read ${r.target.relation.name} instead`)
      if (!e) byName.set(r.name, { target: r.target, filters: r.filters.filter((f) => !hasSubquery(f)) })
      else e.filters = null // several references: every row (their filters differ)
    }
    const fetched = new Map<string, Row[]>()
    const ops: Parameters<Run['seq']>[0] = []
    for (const [name, { target, filters }] of byName) {
      const list: Row[] = []
      fetched.set(name, list)
      const where = filters?.length ? filters.map((f) => `(${exprSql(f)})`).join(' AND ') : ''
      const { live, pruned } = prune(this.cat.pieces(target), filters?.length ? filters.reduce((x: Ast, y: Ast) => ({ type: 'binary_expr', operator: 'AND', left: x, right: y })) : null)
      this.loc.pruned.push(...pruned)
      for (const p of live) {
        const c = copyFor(this.cat, target, p, false, this.host)
        ops.push({ site: c.site, fragment: c.table, sql: `SELECT * FROM ${qid(c.table)}${where ? ` WHERE ${where}` : ''}`, then: (r) => { for (const x of r.rows ?? []) list.push(x) } })
      }
    }
    this.seq(ops, () => {
      let out: { columns: string[]; rows: Row[] }
      try { out = assemble(SQL, this.cat, byName, fetched, a.viewsUsed, text) } catch (e) { return fail(toErrorInfo(e)) }
      done({ ok: true, ...out })
    }, fail)
  }

  /** Values of every uncorrelated subquery in `n`, inlined in place (a transactional read each). */
  private inlineSubqueries(n: Ast, end: () => void, fail: (e: ErrorInfo) => void): void {
    const subs: { parent: Ast; key: string | number; sel: Ast; list: boolean }[] = []
    walk({ root: n }, (x, parent, key) => {
      if (!isSubquery(x)) return
      const list = parent?.type === 'expr_list' && Array.isArray(parent.value)
      subs.push({ parent, key, sel: x.ast, list })
      return 'skip'
    })
    const step = (i: number): void => {
      if (i === subs.length) return end()
      const s = subs[i]
      let text: string
      let sel: Ast
      try {
        text = sqlify(s.sel)
        sel = parseSql(text).statements[0]
      } catch (e) { return fail(toErrorInfo(e)) }
      try {
        this.generalSelect(sel, text, (r) => {
          if (r.columns.length !== 1) return fail({ code: 'SQL_ERROR', message: `a subquery in a write must return one column (it returns ${r.columns.length})` })
          const vals = r.rows.map((x) => x[r.columns[0]] as Val)
          if (s.list) {
            // x IN (SELECT …): the expression list becomes the subquery's values (an empty list matches nothing)
            const lst = s.parent as Ast[]
            lst.splice(Number(s.key), 1, ...(vals.length ? vals.map(litNode) : [{ type: 'null', value: null }]))
          } else s.parent[s.key] = litNode(vals[0] ?? null)
          step(i + 1)
        }, (e) => fail(/no such column/i.test(e.message) ? { code: 'UNSUPPORTED', message: `correlated subqueries in a write inside a transaction (${e.message}); rewrite with an uncorrelated subquery or a join in a SELECT first` } : e))
      } catch (e) { fail(toErrorInfo(e)) }
    }
    step(0)
  }

  // ---- writes -----------------------------------------------------------------------------------
  write(ast: Ast, done: (r: GlobalResult) => void): void {
    const fail = (e: ErrorInfo) => done({ ok: false, error: e })
    const kind = ast.type as 'insert' | 'update' | 'delete'
    const tables = kind === 'delete' ? ast.from : ast.table
    if (!Array.isArray(tables) || tables.length !== 1) throw new EngineError('UNSUPPORTED', `${kind.toUpperCase()} over several tables inside a transaction`)
    if (ast.orderby || ast.limit?.value?.length) throw new EngineError('UNSUPPORTED', `${kind.toUpperCase()} … ORDER BY / LIMIT inside a transaction`)
    const target = this.resolve(String(tables[0].table))
    writable(target)
    this.loc.target = target.relation.name
    const cols = target.columns
    if (kind === 'insert') return this.insert(ast, target, done)
    const sets: { col: string; value: Ast }[] = kind === 'update' ? ast.set.map((s: Ast) => ({ col: String(s.column).toUpperCase(), value: s.value })) : []
    for (const s of sets) if (!cols.includes(s.col)) throw new EngineError('SQL_ERROR', `${target.display} has no column ${s.col}`)
    const rel = target.relation
    const key = rel.key.length === 1 ? rel.key[0] : undefined
    if (key && sets.some((x) => x.col === key)) throw new EngineError('UNSUPPORTED', `UPDATE … SET ${key} (the key of ${rel.name}) inside a transaction: delete the row and insert it again instead`)
    const holder = { where: ast.where, sets }
    unqualify(holder)
    this.inlineSubqueries(holder, () => {
      try { this.writeLocalized(kind, target, holder.where, holder.sets, done) } catch (e) { fail(toErrorInfo(e)) }
    }, fail)
  }

  private writeLocalized(kind: 'update' | 'delete', target: NameTarget, where: Ast, sets: { col: string; value: Ast }[], done: (r: GlobalResult) => void): void {
    const fail = (e: ErrorInfo) => done({ ok: false, error: e })
    for (const c of columnsIn(where)) if (!target.columns.includes(c)) throw new EngineError('SQL_ERROR', `${target.display} has no column ${c}`)
    for (const s of sets) for (const c of columnsIn(s.value)) if (!target.columns.includes(c)) throw new EngineError('SQL_ERROR', `${target.display} has no column ${c}`)
    const pieces = this.cat.pieces(target)
    const { live, pruned } = prune(pieces, where)
    this.loc.pruned.push(...pruned)
    const routing = pieces.length > 1 ? pieces[0].predicateColumn : undefined
    const moves = kind === 'update' && !!routing && sets.some((s) => s.col === routing)
    const w = where ? ` WHERE ${exprSql(where)}` : ''
    const setSql = sets.map((s) => `${qid(s.col)} = ${exprSql(s.value)}`).join(', ')
    let affected = 0
    const after: Parameters<Run['seq']>[0] = []
    const ops = live.map((p) => {
      const c = copyFor(this.cat, target, p, true, this.host)
      if (kind === 'delete' && target.kind === 'relation' && target.relation.distribution === 'replicated') {
        // an eager delete (docs/INTEGRITY.md): the rows leave every copy in this transaction — the primary copy first
        // (its X locks keep the rows from changing there meanwhile), then every replica, each a participant that
        // X-locks the rows and deletes them in its own commit. So the DIM may trust a row it finds in a local replica.
        // A replica that cannot be reached refuses the delete (nothing of it is done).
        const reps = p.copies.filter((x) => x.server === 'primary' && x.role === 'replica' && x.site !== c.site)
        const down = reps.filter((x) => !this.host.isUp(x.site))
        if (down.length) throw new EngineError('UNREACHABLE', `DELETE FROM ${target.relation.name} is eager — it removes the rows at every copy in one transaction, so that each site's replica can be trusted by the integrity checks — and the ${target.relation.name} replica at ${down.map((x) => x.site).join(', ')} is down or unreachable from ${this.host.origin}; nothing was deleted (retry when every copy is reachable)`, { site: down[0].site })
        const sql = `DELETE FROM ${qid(c.table)}${w}`
        for (const x of reps) after.push({ site: x.site, fragment: x.table, sql: `DELETE FROM ${qid(x.table)}${w}`, opts: { fenceFrom: c.site } })
        return { site: c.site, fragment: c.table, sql, then: (r: { affected?: number }) => { affected += r.affected ?? 0 } }
      }
      if (kind === 'delete') return { site: c.site, fragment: c.table, sql: `DELETE FROM ${qid(c.table)}${w}`, then: (r: { affected?: number }) => { affected += r.affected ?? 0 } }
      return {
        site: c.site, fragment: c.table, sql: `UPDATE ${qid(c.table)} SET ${setSql}${w}${moves ? ' RETURNING *' : ''}`,
        then: (r: { rows?: Row[]; affected?: number }) => {
          affected += r.affected ?? 0
          if (!moves) return
          // rows whose fragmentation value changed move: deleted here, inserted in their new fragment
          const key = target.relation.key[0]
          for (const row of r.rows ?? []) {
            const v = row[routing!]
            if (String(v) === p.predicateValue) continue
            const dest = pieces.find((x) => x.predicateValue === String(v))
            if (!dest) throw new EngineError('BAD_INPUT', `${routing} ${lit(v as Val)} matches no fragment of ${target.relation.name} (${pieces.map((x) => `${x.name} ${x.predicate}`).join(', ')}); nothing was changed`)
            const dc = copyFor(this.cat, target, dest, true, this.host)
            after.push({ site: c.site, fragment: c.table, sql: `DELETE FROM ${qid(c.table)} WHERE ${qid(key)} = ${lit(row[key] as Val)}` })
            const names = dc.columns.filter((x) => x.toUpperCase() in row || x in row)
            after.push({ site: dc.site, fragment: dc.table, sql: `INSERT INTO ${qid(dc.table)} (${names.map(qid).join(', ')}) VALUES (${names.map((x) => lit((row[x.toUpperCase()] ?? row[x] ?? null) as Val)).join(', ')})` })
          }
        },
      }
    })
    this.seq(ops, () => this.seq(after, () => done({ ok: true, affected }), fail), fail)
  }

  private insert(ast: Ast, target: NameTarget, done: (r: GlobalResult) => void): void {
    const fail = (e: ErrorInfo) => done({ ok: false, error: e })
    const cols = target.columns
    const given: string[] = ast.columns ? ast.columns.map((c: Ast) => String(typeof c === 'string' ? c : c?.value ?? c).toUpperCase()) : cols
    for (const g of given) if (!cols.includes(g)) throw new EngineError('SQL_ERROR', `${target.display} has no column ${g}`)
    const withRows = (rows: Val[][]) => {
      try { this.insertRows(target, given, rows, done) } catch (e) { fail(toErrorInfo(e)) }
    }
    if (ast.values?.type === 'values') {
      if (hasSubquery(ast.values)) throw new EngineError('UNSUPPORTED', 'subqueries in INSERT … VALUES inside a transaction (use INSERT … SELECT)')
      const rows = (ast.values.values as Ast[]).map((t) => {
        const exprs = t.value as Ast[]
        if (exprs.length !== given.length) throw new EngineError('SQL_ERROR', `${exprs.length} values for ${given.length} columns`)
        return exprs.map(constValue)
      })
      return withRows(rows)
    }
    // INSERT … SELECT: the SELECT is a read of this transaction
    const sel = ast.values?.type === 'select' ? ast.values : ast.values?.ast
    if (!sel) throw new EngineError('UNSUPPORTED', 'this form of INSERT inside a transaction')
    const text = sqlify(sel)
    this.generalSelect(parseSql(text).statements[0], text, (r) => {
      if (r.columns.length !== given.length) return fail({ code: 'SQL_ERROR', message: `the SELECT gives ${r.columns.length} columns for ${given.length}` })
      withRows(r.rows.map((x) => r.columns.map((c) => x[c] as Val)))
    }, fail)
  }

  private insertRows(target: NameTarget, given: string[], rows: Val[][], done: (r: GlobalResult) => void): void {
    const pieces = this.cat.pieces(target)
    const rel = target.relation
    const groups = new Map<Piece, Val[][]>()
    const pc = pieces[0]?.predicateColumn
    for (const row of rows) {
      let piece: Piece
      if (pieces.length === 1) piece = pieces[0]
      else {
        if (!pc) throw new EngineError('UNSUPPORTED', `INSERT into ${rel.name}: its fragments have no routing column`)
        const i = given.indexOf(pc)
        if (i < 0) throw new EngineError('BAD_INPUT', `INSERT into ${rel.name} must give ${pc}: it decides the fragment (${pieces.map((p) => `${p.name} ${p.predicate}`).join(', ')})`)
        const hit = pieces.find((p) => p.predicateValue === String(row[i]))
        if (!hit) throw new EngineError('BAD_INPUT', `${pc} ${lit(row[i])} matches no fragment of ${rel.name} (${pieces.map((p) => `${p.name} ${p.predicate}`).join(', ')})`)
        piece = hit
      }
      if (pieces.length === 1 && piece.predicateColumn) {
        const i = given.indexOf(piece.predicateColumn)
        if (i >= 0 && row[i] !== null && String(row[i]) !== piece.predicateValue) {
          // the DIM's fragment-predicate constraint (engine/integrity/constraints.ts names it FRAG_<fragment>)
          const at = piece.copies.find((c) => c.role === 'authoritative')?.site
          throw new EngineError('CONSTRAINT_VIOLATION', `FRAG_${piece.name} violated by row (${given.map((c, j) => `${c}=${lit(row[j])}`).join(', ')})${at ? ` at ${at}` : ''}: ${piece.predicateColumn} ${lit(row[i])} does not satisfy the fragment's predicate ${piece.predicate} (write ${rel.name} to have it routed)`, at ? { site: at } : {})
        }
      }
      let g = groups.get(piece)
      if (!g) { g = []; groups.set(piece, g) }
      g.push(row)
    }
    let affected = 0
    const ops = [...groups].map(([piece, list]) => {
      const c = copyFor(this.cat, target, piece, true, this.host)
      for (const col of given) if (!c.columns.includes(col)) throw new EngineError('SQL_ERROR', `${c.table} at ${c.site} has no column ${col}`)
      // a fragment's own predicate column is filled in when the row leaves it out (Employees_KDY: BRCODE 'KDY')
      const names = [...given]
      const fill = piece.predicateColumn && !names.includes(piece.predicateColumn) && c.columns.includes(piece.predicateColumn) ? piece.predicateValue : undefined
      if (fill !== undefined) names.push(piece.predicateColumn!)
      const tuples = list.map((r) => `(${[...r, ...(fill !== undefined ? [fill] : [])].map(lit).join(', ')})`)
      return { site: c.site, fragment: c.table, sql: `INSERT INTO ${qid(c.table)} (${names.map(qid).join(', ')}) VALUES ${tuples.join(', ')}`, then: (r: { affected?: number }) => { affected += r.affected ?? 0 } }
    })
    this.seq(ops, () => done({ ok: true, affected }), (e) => done({ ok: false, error: e }))
  }
}

function columnsIn(n: Ast): string[] {
  const out = new Set<string>()
  walk({ root: n }, (x) => { if (x.type === 'column_ref' && x.column !== '*') out.add(String(x.column).toUpperCase()) })
  return [...out]
}

/** A constant expression of INSERT … VALUES, evaluated with the fragment-level evaluator. */
function constValue(e: Ast): Val {
  if (columnsIn(e).length) throw new EngineError('SQL_ERROR', `VALUES must be constants (${exprSql(e)} names a column)`)
  return constExpr(e)
}

/** Runs a SELECT over the rows read for it, in a scratch sql.js database with the relations' declared types. */
function assemble(SQL: SqlJsStatic, cat: QueryCatalog, byName: Map<string, { target: NameTarget }>, fetched: Map<string, Row[]>, views: string[], text: string): { columns: string[]; rows: Row[] } {
  const db = new SQL.Database()
  try {
    for (const [name, { target }] of byName) {
      const rel = target.relation
      const cols = target.columns
      db.run(`CREATE TABLE ${qid(name)} (${cols.map((c) => `${qid(c)} ${cat.colType(rel, c)}`).join(', ')})`)
      const ins = db.prepare(`INSERT INTO ${qid(name)} VALUES (${cols.map(() => '?').join(', ')})`)
      try {
        for (const r of fetched.get(name) ?? []) ins.run(cols.map((c) => (r[c.toUpperCase()] ?? r[c] ?? null) as Val))
      } finally { ins.free() }
    }
    for (const v of views) { const d = cat.view(v); if (d && !byName.has(v.toUpperCase())) db.run(`CREATE VIEW ${qid(d.name)} AS ${d.sql}`) }
    const st = db.prepare(text)
    try {
      const columns = st.getColumnNames()
      const rows: Row[] = []
      while (st.step()) {
        const vals = st.get()
        const o: Row = {}
        columns.forEach((c, i) => { o[c] = vals[i] })
        rows.push(o)
      }
      return { columns, rows }
    } finally { st.free() }
  } catch (e) {
    if (e instanceof EngineError) throw e
    throw new EngineError('SQL_ERROR', e instanceof Error ? e.message : String(e))
  } finally { db.close() }
}
