/**
 * Planning in the distributed query processor (Özsu & Valduriez): decomposition (parse + analysis against the
 * global schema), data localization (reconstruction of global relations from fragments, pruning by predicate
 * contradiction and LKEY/HKEY statistics, unneeded vertical fragments dropped) and global optimization (copy
 * choice by availability and cost, the assembly site, semijoin vs ship-whole, partial aggregation). The result
 * is a `SelectPlan` value: execute.ts runs it, explain.ts renders it without running anything. Planning reads
 * the catalogs' statistics (StatsCache) and the network's state; it sends no message and runs no query at a site.
 */
import type { Database, SqlJsStatic } from 'sql.js'
import type { CombineColumn, CombineSpec } from './combine'
import { EngineError } from '../errors'
import type { Cluster } from '../cluster'
import type { SiteCode } from '../topology/types'
import type { SqlValue } from '../site/sqljs'
import { cmpSql } from '../catalog/catalog'
import { parseSql, conjuncts, colName, sqlify, astSome, type Ast, type ParsedText } from './parse'
import { analyzeSelect, type Analysis, type TableRef } from './analyze'
import { QueryCatalog, type Copy, type Piece } from './catalog'
import { StatsCache, type TableStats } from './stats'
import { andSql, exprColumns, exprSql, literal, qid } from './sqltext'
import type { FragmentDecision, JoinDecision, PlanView, RequestClass } from './types'
import { guardSelect, guardTerm, type QueryBudget } from './guard'

export interface RunOptions {
  user?: string
  /** Force the join strategy (benchmarks compare against ship-whole). */
  strategy?: 'auto' | 'ship-whole' | 'semijoin'
  /** Disable pushing partial aggregates to the sites. */
  noPartialAggregation?: boolean
  /** Cap on rows returned (the total is still reported). */
  maxRows?: number
  /**
   * The session's budget (rows examined, wall time): a SELECT whose estimated work exceeds it is refused before
   * it runs, and the statement guard stops one that goes over it while running (BUDGET_EXCEEDED). None: no limit.
   */
  budget?: QueryBudget
}

/** SQLite aggregate functions that node-sql-parser reads as ordinary functions. */
const OTHER_AGGREGATES = new Set(['TOTAL', 'JSON_GROUP_ARRAY', 'JSON_GROUP_OBJECT', 'STRING_AGG', 'GROUP_CONCAT', 'COUNT', 'SUM', 'AVG', 'MIN', 'MAX'])

// ---- prepared (cached) query ------------------------------------------------------------------
export interface AggSpec {
  groupCols: string[] // upper-case column names
  aggs: { node: Ast; fn: string; star: boolean; argSql?: string; slot: number }[]
}

/** A statement parsed, checked against the global schema and analysed (cached per SQL text). */
export interface Prepared {
  parsed: ParsedText
  kind: 'select' | 'insert' | 'update' | 'delete' | 'script'
  ast: Ast
  analysis?: Analysis
  columns?: string[]
  agg?: AggSpec | null
  filterSql: Map<TableRef, string[]>
  singleSiteSql: Map<string, string>
  /** The same with the statement guard (what runs at the site). */
  guardedSiteSql?: Map<string, string>
  /** The final statement at the assembly site with the statement guard. */
  guardedFinal?: string
  /** The final statement over the partial aggregates (p.agg's), as shown and with the statement guard: the same for every plan of the statement. */
  aggFinal?: { sql: string; runSql: string }
  /** The plain form's assembly in JavaScript (combine.ts), or null when the final statement must run (cached with aggFinal). */
  aggCombine?: CombineSpec | null
}

// ---- per-run plan ----------------------------------------------------------------------------
/** One piece (fragment) of a global name in a plan: pruned (why) or read from a chosen copy, with estimates. */
export interface PiecePlan {
  piece: Piece
  pruned?: string
  copy?: Copy
  estRows: number
  estBytes: number
  failedSites: Set<string>
  note?: string
  stalenessMs?: number
}

/** The references to one global name in a query, with the pieces that reconstruct it. */
export interface GroupPlan {
  name: string
  refs: TableRef[]
  columns: string[] // needed, in relation order
  whereSql: string | null // combined filter over the group's refs
  pieces: PiecePlan[]
  reduceBy?: {
    reducer: GroupPlan; col: string; reducerCol: string
    /** Forced by the caller; otherwise the choice is confirmed with the actual number of keys once the reducer has arrived. */
    forced: boolean
    dec: JoinDecision
    costs: (keys: number) => { semiMs: number; wholeMs: number; semiBytes: number; wholeBytes: number; reducedRows: Map<PiecePlan, number> }
    /** Estimated distinct join keys the reducer ships, and the bytes per key (for EXPLAIN's planned steps). */
    estKeys: number
    keyLen: number
  }
  isReducer?: boolean
  rowWidth: number
}

/**
 * A distributed SELECT, planned: the pieces read (and pruned), the copy of each, the assembly site, the join
 * strategy and the SQL shipped. Execution (execute.ts) refines a plan it runs — another copy when one fails
 * during the query, the semijoin confirmed with the actual join keys — and reports the plan as it ran.
 */
export interface SelectPlan {
  kind: 'select'
  prepared: Prepared
  querySite: SiteCode
  assembly: SiteCode
  strategy: PlanView['strategy']
  requestClass: RequestClass
  groups: GroupPlan[]
  /** The pieces read (not pruned), each with its copy. */
  used: PiecePlan[]
  /** Partial aggregation pushed to the sites (ship strategies only). */
  agg: AggSpec | null
  joins: JoinDecision[]
  /** The statement shown (single-site: the one shipped to the site; otherwise the final one at the assembly site). */
  finalSql: string
  /** The statement executed with the statement guard (same roles). */
  finalRunSql: string
  /** Partial aggregation of the plain form: the assembly combines the partial rows itself (combine.ts), as finalSql would. */
  combine?: CombineSpec
  estRows?: number
  /** Notes of the planning (copies read instead of the authoritative fragment). */
  notes: string[]
  sitesInvolved: SiteCode[]
}

/** What the write path (dml.ts) asks of the planner: global-schema checks, constants, and pruning. */
export interface Pruner {
  readonly catalog: QueryCatalog
  /** Why this piece holds no row satisfying the reference's filters (their SQL texts given), or undefined. */
  pruneFor(ref: TableRef, filters: string[], piece: Piece): string | undefined
  /** Evaluates constant expressions (INSERT … VALUES) with SQLite's semantics. */
  evalConst(exprs: Ast[]): SqlValue[]
  /** Checks an UPDATE/DELETE's columns against the global schema. */
  validateWrite(parsed: ParsedText, name: string): void
}

/** The planner of one cluster: the global schema, cached prepared statements and statistics live in it. */
export class Planner implements Pruner {
  readonly catalog: QueryCatalog
  readonly stats: StatsCache
  private prepared = new Map<string, Prepared>()
  private shape: Database
  private probe: Database
  private probeCache = new Map<string, boolean>()

  constructor(readonly cluster: Cluster, readonly SQL: SqlJsStatic) {
    this.catalog = new QueryCatalog(cluster.topology)
    this.stats = new StatsCache(cluster)
    this.shape = new SQL.Database()
    this.probe = new SQL.Database()
    const made = new Set<string>()
    for (const r of this.catalog.relations) {
      const ddl = (name: string, cols: string[]) => `CREATE TABLE IF NOT EXISTS ${qid(name)} (${cols.map((c) => `${qid(c)} ${this.catalog.colType(r, c)}`).join(', ')})`
      this.shape.run(ddl(r.name, r.columns.map((c) => c.name)))
      this.probe.run(ddl(`probe_${r.name}`, r.columns.map((c) => c.name)))
      made.add(r.name.toUpperCase())
      for (const f of this.catalog.fragments.filter((x) => x.relation === r.name)) {
        if (made.has(f.name.toUpperCase())) continue
        made.add(f.name.toUpperCase())
        this.shape.run(ddl(f.name, f.columns))
      }
    }
    for (const v of this.catalog.views) this.shape.run(`CREATE VIEW ${qid(v.name)} AS ${v.sql}`)
  }

  // ---- preparation -----------------------------------------------------------------------
  prepare(sql: string): Prepared {
    const hit = this.prepared.get(sql)
    if (hit) return hit
    const parsed = parseSql(sql)
    if (parsed.statements.length > 1 || parsed.transaction) {
      const kinds = parsed.statements.map((s) => String(s.type))
      const bad = kinds.find((k) => !['insert', 'update', 'delete'].includes(k))
      if (bad) throw new EngineError('UNSUPPORTED', `a transaction of several statements may hold INSERT, UPDATE and DELETE only (found ${bad.toUpperCase()}); run queries separately`)
      if (parsed.explain) throw new EngineError('UNSUPPORTED', 'EXPLAIN of a transaction is not supported')
      const p: Prepared = { parsed, kind: 'script', ast: parsed.statements, filterSql: new Map(), singleSiteSql: new Map() }
      this.prepared.set(sql, p)
      return p
    }
    const ast = parsed.statements[0]
    const kind = ast.type as Prepared['kind']
    if (!['select', 'insert', 'update', 'delete'].includes(kind)) {
      throw new EngineError('UNSUPPORTED', `${String(ast.type).toUpperCase()} statements are not supported by the distributed query processor (SELECT, INSERT, UPDATE and DELETE on global names are)`)
    }
    const p: Prepared = { parsed, kind, ast, filterSql: new Map(), singleSiteSql: new Map() }
    if (kind === 'select') {
      // validate against the global schema first (SQLite's own semantic checks), and learn the output names
      this.ensureShapeNames(parsed)
      let stmt
      try {
        stmt = this.shape.prepare(parsed.text)
        p.columns = stmt.getColumnNames()
      } catch (e) {
        throw this.semanticError(e, sql)
      } finally {
        stmt?.free()
      }
      p.analysis = analyzeSelect(ast, this.catalog, parsed.atRefs)
      for (const r of p.analysis.refs) p.filterSql.set(r, r.filters.map((f) => exprSql(f)))
      p.agg = this.aggSpec(p.analysis)
    }
    if (this.prepared.size > 500) this.prepared.clear()
    this.prepared.set(sql, p)
    return p
  }

  private ensureShapeNames(parsed: ParsedText): void {
    for (const [ph, at] of parsed.atRefs) {
      const f = this.catalog.fragmentsNamed(at.fragment).find((x) => x.site === at.site)
      if (!f) {
        const where = this.catalog.fragmentsNamed(at.fragment).map((x) => x.site)
        throw new EngineError('UNKNOWN_TABLE', where.length ? `fragment ${at.fragment} is not allocated at ${at.site} (it is at ${where.join(', ')})` : `no fragment named ${at.fragment}`)
      }
      const r = this.catalog.relation(f.relation)!
      this.shape.run(`CREATE TABLE IF NOT EXISTS ${qid(ph)} (${f.columns.map((c) => `${qid(c)} ${this.catalog.colType(r, c)}`).join(', ')})`)
    }
  }

  private semanticError(e: unknown, sql: string): EngineError {
    const msg = e instanceof Error ? e.message : String(e)
    let position: number | undefined
    const m = /no such (?:column|table): (?:\w+\.)?([\w$]+)|near "([^"]+)"/.exec(msg)
    const tok = m?.[1] ?? m?.[2]
    if (tok) { const i = sql.toUpperCase().indexOf(tok.toUpperCase()); if (i >= 0) position = i }
    const code = /no such table/.test(msg) ? 'UNKNOWN_TABLE' : 'SQL_ERROR'
    return new EngineError(code, msg.replace(/__at__/g, '@'), position === undefined ? {} : { position })
  }

  /** Partial aggregation applies to one-table aggregate queries with plain GROUP BY columns. */
  private aggSpec(a: Analysis): AggSpec | null {
    const sel = a.root
    if (a.refs.length !== 1 || a.hasSubquery || sel._next || (sel.from ?? []).length !== 1) return null
    const ref = a.refs[0]
    if (ref.filters.length !== conjuncts(sel.where).length) return null
    const groupCols: string[] = []
    for (const g of sel.groupby?.columns ?? []) {
      if (g.type !== 'column_ref') return null
      const c = colName(g)?.toUpperCase()
      if (!c || !ref.target.columns.includes(c)) return null
      groupCols.push(c)
    }
    const aggs: AggSpec['aggs'] = []
    const aliases = new Set((sel.columns ?? []).map((c: Ast) => (c.as ? String(c.as).toUpperCase() : '')).filter(Boolean))
    let ok = true
    const visit = (n: Ast, inOrderBy: boolean) => {
      if (!ok || !n || typeof n !== 'object') return
      if (Array.isArray(n)) { n.forEach((x) => visit(x, inOrderBy)); return }
      if (n.type === 'aggr_func') {
        const fn = String(n.name).toUpperCase()
        if (!['SUM', 'COUNT', 'MIN', 'MAX', 'AVG'].includes(fn) || n.args?.distinct) { ok = false; return }
        const arg = n.args?.expr
        const star = arg?.type === 'star'
        if (!star && (!arg || astSome(arg, (x) => x.type === 'aggr_func'))) { ok = false; return }
        aggs.push({ node: n, fn, star, ...(star ? {} : { argSql: exprSql(unqualified(arg)) }), slot: aggs.length })
        return
      }
      // aggregates the grammar reads as plain functions (TOTAL, json_group_array, …): no partial form here
      if (n.type === 'function' && OTHER_AGGREGATES.has(String(n.name?.name?.map?.((x: Ast) => x.value).join('.') ?? n.name).toUpperCase())) { ok = false; return }
      if (n.type === 'column_ref') {
        const c = colName(n)?.toUpperCase()
        if (!c || c === '*') { ok = false; return }
        if (groupCols.includes(c)) return
        if (inOrderBy && aliases.has(c) && !ref.target.columns.includes(c)) return
        ok = false
        return
      }
      if (n.ast) { ok = false; return }
      for (const k of Object.keys(n)) if (k !== 'tableList' && k !== 'columnList') visit(n[k], inOrderBy)
    }
    for (const c of sel.columns ?? []) visit(c.expr, false)
    visit(sel.having, true)
    for (const o of sel.orderby ?? []) visit(o.expr, true)
    if (!ok || (!aggs.length && !groupCols.length)) return null
    return { groupCols, aggs }
  }

  /** Evaluates constant expressions (INSERT … VALUES) with SQLite's semantics. */
  evalConst(exprs: Ast[]): SqlValue[] {
    const sql = `SELECT ${exprs.map((e) => exprSql(e)).join(', ')}`
    try {
      const r = this.probe.exec(sql)
      return r[0].values[0]
    } catch (e) {
      throw new EngineError('SQL_ERROR', `VALUES must be constants: ${e instanceof Error ? e.message : String(e)}`)
    }
  }

  /** Checks an UPDATE/DELETE's columns against the global schema (SQLite's own checks). */
  validateWrite(parsed: ParsedText, _name: string): void {
    void _name
    this.ensureShapeNames(parsed)
    this.shape.run('SAVEPOINT v')
    try {
      const st = this.shape.prepare(parsed.text)
      st.free()
    } catch (e) {
      throw this.semanticError(e, parsed.text)
    } finally {
      this.shape.run('ROLLBACK TO v'); this.shape.run('RELEASE v')
    }
  }

  pruneFor(ref: TableRef, filters: string[], piece: Piece): string | undefined { return this.pruneReason(ref, filters, piece) }

  /** A replica or repository copy that still has replication batches to apply is lagging. */
  lagging(c: Copy): boolean {
    if (c.role === 'authoritative' || c.role === 'scheduled-copy') return false
    const repl = (this.cluster as unknown as { replication?: { channels: Map<string, { targetSite: string; role: string; pending: unknown[] }[]> } }).replication
    if (!repl) return false
    for (const list of repl.channels.values()) for (const ch of list) {
      if (ch.targetSite === c.site && ch.role === c.server && ch.pending.length) return true
    }
    return false
  }

  // ---- localization ----------------------------------------------------------------------
  private tableStats(copy: Copy): TableStats | undefined {
    return copy.server === 'primary' ? this.stats.table(copy.site, copy.table) : undefined
  }

  /** Why a piece can be dropped for this reference, or undefined. */
  private pruneReason(ref: TableRef, filters: string[], piece: Piece): string | undefined {
    const rel = ref.target.relation
    // 1. contradiction with the fragment's predicate (evaluated on a probe row holding the fragment value)
    if (piece.predicateColumn && piece.predicateValue !== undefined) {
      for (let i = 0; i < ref.filters.length; i++) {
        const cols = exprColumns(ref.filters[i])
        if (cols.size !== 1 || !cols.has(piece.predicateColumn)) continue
        const key = `${rel.name}|${piece.predicateColumn}|${piece.predicateValue}|${filters[i]}`
        let sat = this.probeCache.get(key)
        if (sat === undefined) {
          const t = qid(`probe_${rel.name}`)
          this.probe.run(`DELETE FROM ${t}`)
          this.probe.run(`INSERT INTO ${t} (${qid(piece.predicateColumn)}) VALUES (?)`, [piece.predicateValue])
          try {
            const r = this.probe.exec(`SELECT 1 FROM ${t} WHERE ${filters[i]}`)
            sat = r.length > 0 && r[0].values.length > 0
          } catch { sat = true }
          this.probeCache.set(key, sat)
        }
        if (!sat) return `predicate ${piece.predicate} contradicts ${filters[i]}`
      }
    }
    // 2. LKEY/HKEY statistics of the authoritative fragment (only when they are current)
    const auth = piece.copies.find((c) => c.role === 'authoritative' && c.server === 'primary')
    if (auth && this.stats.fresh(auth.site)) {
      const st = this.stats.table(auth.site, auth.table)
      if (st) {
        if (st.rows === 0) return `${auth.table} is empty (NROWS 0)`
        for (let i = 0; i < ref.filters.length; i++) {
          const r = statsExcludes(ref.filters[i], st, (c) => this.catalog.colType(rel, c))
          if (r) return `${filters[i]} is outside ${r} of ${auth.table}@${auth.site}`
        }
      }
    }
    return undefined
  }

  private estimate(ref: TableRef, piece: Piece, width: number): { rows: number; bytes: number } {
    const auth = piece.copies.find((c) => c.server === 'primary') ?? piece.copies[0]
    const st = this.tableStats(auth)
    const n = st?.rows ?? 1000
    let sel = 1
    for (const f of ref.filters) sel *= selectivity(f, st, n)
    const rows = Math.max(n ? 1 : 0, Math.round(n * sel))
    return { rows, bytes: 16 + rows * (width + 2) }
  }

  private routeMemo = new Map<string, SiteCode[] | undefined>()
  private estMemo = new Map<string, number>()
  /** Routes and transfer estimates are memoised for the duration of one planning pass. */
  private route(a: SiteCode, b: SiteCode): SiteCode[] | undefined {
    const k = `${a}>${b}`
    if (this.routeMemo.has(k)) return this.routeMemo.get(k)
    const r = this.cluster.net.route(a, b)
    this.routeMemo.set(k, r)
    return r
  }
  estMs(a: SiteCode, b: SiteCode, bytes: number): number {
    const k = `${a}>${b}>${bytes}`
    let v = this.estMemo.get(k)
    if (v === undefined) { v = this.cluster.net.estimateMs(a, b, bytes); this.estMemo.set(k, v) }
    return v
  }

  private available(copy: Copy, to: SiteCode, failed: Set<string>): boolean {
    if (failed.has(`${copy.site}.${copy.server}`)) return false
    if (!this.cluster.isServerUp(`${copy.site}.${copy.server}`)) return false
    if (!this.cluster.net.isSiteReachable(copy.site) && copy.site !== to) return false
    return this.route(copy.site, to) !== undefined
  }

  private copyTier(c: Copy): number {
    const base = c.role === 'repository' ? 2 : c.role === 'scheduled-copy' ? 4 : 0
    return base + (this.lagging(c) ? 1 : 0)
  }

  chooseCopy(pp: PiecePlan, needed: string[], assembly: SiteCode): Copy | undefined {
    let best: Copy | undefined
    let bestKey = Infinity
    for (const c of pp.piece.copies) {
      if (!needed.every((n) => c.columns.includes(n))) continue
      if (!this.available(c, assembly, pp.failedSites)) continue
      const tier = this.copyTier(c)
      if (tier * 1e12 > bestKey) continue
      const ms = this.estMs(c.site, assembly, pp.estBytes)
      const key = tier * 1e12 + ms
      if (key < bestKey) { bestKey = key; best = c }
    }
    return best
  }

  private groups(p: Prepared): GroupPlan[] {
    const a = p.analysis!
    const out: GroupPlan[] = []
    for (const [name, refs] of a.byName) {
      const t = refs[0].target
      const needed = new Set<string>()
      for (const r of refs) r.needed.forEach((c) => needed.add(c))
      const columns = t.columns.filter((c) => needed.has(c))
      const fs = refs.map((r) => p.filterSql.get(r) ?? [])
      const whereSql = fs.some((f) => !f.length) ? null : refs.length === 1 ? andSql(fs[0]) : fs.map((f) => `(${andSql(f)})`).join(' OR ')
      const rowWidth = columns.reduce((s, c) => s + this.catalog.colLen(t.relation, c) + 2, 0)
      const pieces: PiecePlan[] = this.catalog.pieces(t).map((piece) => {
        const reasons = refs.map((r, i) => this.pruneReason(r, fs[i], piece))
        const pruned = reasons.every((x) => x !== undefined) ? reasons.join('; ') : undefined
        const est = pruned ? { rows: 0, bytes: 0 } : refs.map((r) => this.estimate(r, piece, rowWidth)).reduce((x, y) => ({ rows: Math.max(x.rows, y.rows), bytes: Math.max(x.bytes, y.bytes) }))
        return { piece, pruned, estRows: est.rows, estBytes: est.bytes, failedSites: new Set<string>() }
      })
      out.push({ name, refs, columns, whereSql, pieces, rowWidth })
    }
    return out
  }

  private assignCopies(groups: GroupPlan[], assembly: SiteCode): number {
    let cost = 0
    for (const g of groups) for (const pp of g.pieces) {
      if (pp.pruned) continue
      pp.copy = this.chooseCopy(pp, g.columns, assembly)
      cost += pp.copy ? this.estMs(pp.copy.site, assembly, pp.estBytes) : 1e9
    }
    return cost
  }

  unreachable(g: GroupPlan, pp: PiecePlan): EngineError {
    const down = pp.piece.copies.map((c) => `${c.site}.${c.server}${this.cluster.isServerUp(`${c.site}.${c.server}`) ? (pp.failedSites.has(`${c.site}.${c.server}`) ? ' (failed during the query)' : this.cluster.net.isSiteReachable(c.site) ? ' (no route)' : ' (unreachable)') : ' (down)'}`)
    const missing = pp.piece.copies.filter((c) => !g.columns.every((n) => c.columns.includes(n))).map((c) => `${c.table}@${c.site} lacks ${g.columns.filter((n) => !c.columns.includes(n)).join(', ')}`)
    const site = pp.piece.copies[0]?.site
    return new EngineError('UNREACHABLE', `fragment ${pp.piece.name} of ${g.name} is unreachable: no usable copy (${down.join(', ')}${missing.length ? `; ${missing.join('; ')}` : ''}); no partial result is returned`, site ? { site } : {})
  }

  // ---- SELECT ----------------------------------------------------------------------------
  /**
   * Plans a prepared SELECT issued at `querySite`. Throws UNREACHABLE when a needed piece has no usable copy, and
   * BUDGET_EXCEEDED when `opts.budget` is given and the estimated work exceeds it.
   */
  planSelect(querySite: SiteCode, p: Prepared, opts: RunOptions = {}): SelectPlan {
    this.routeMemo.clear(); this.estMemo.clear()
    const groups = this.groups(p)
    if (opts.budget) this.checkBudget({ prepared: p, groups }, opts.budget)
    const notes: string[] = []

    // assembly site: the query site or a site holding data, whichever minimises estimated transfer time
    const cands = new Set<SiteCode>([querySite])
    for (const g of groups) for (const pp of g.pieces) {
      if (pp.pruned) continue
      const usable = pp.piece.copies.filter((c) => this.cluster.isServerUp(`${c.site}.${c.server}`) && this.cluster.isSiteUp(c.site) && g.columns.every((n) => c.columns.includes(n)))
      const best = Math.min(...usable.map((c) => this.copyTier(c)))
      for (const c of usable) if (this.copyTier(c) === best) cands.add(c.site)
    }
    let assembly = querySite
    let bestCost = Infinity
    for (const a of cands) {
      if (!this.cluster.isSiteUp(a) || this.route(a, querySite) === undefined) continue
      const c = this.assignCopies(groups, a) + (a === querySite ? 0 : this.estMs(a, querySite, RESULT_BYTES_GUESS))
      if (c < bestCost - 1e-9 || (Math.abs(c - bestCost) < 1e-9 && a === querySite)) { bestCost = c; assembly = a }
    }
    this.assignCopies(groups, assembly)
    for (const g of groups) for (const pp of g.pieces) if (!pp.pruned && !pp.copy) throw this.unreachable(g, pp)

    // single site: every reference is one piece whose copy sits at the same site → ship the query there
    const used = groups.flatMap((g) => g.pieces.filter((pp) => !pp.pruned))
    const usedSites = new Set(used.map((pp) => pp.copy!.site))
    const single = used.length > 0 && usedSites.size === 1 && groups.every((g) => g.pieces.filter((pp) => !pp.pruned).length === 1)
      && used.every((pp) => pp.copy!.server === 'primary' && !pp.copy!.restrict)
    const requestClass: RequestClass = usedSites.size <= 1 ? 'remote request' : 'distributed request'
    const joins: JoinDecision[] = []
    for (const pp of used) this.annotateCopy(pp, notes)
    const base = { kind: 'select' as const, prepared: p, querySite, requestClass, groups, used, joins, notes }

    if (single) {
      const site = [...usedSites][0]
      const key = groups.map((g) => `${g.name}=${g.pieces.find((pp) => !pp.pruned)!.copy!.table}`).join(',')
      let siteSql = p.singleSiteSql.get(key)
      let runSql = p.guardedSiteSql?.get(key)
      if (!siteSql || !runSql) {
        siteSql = this.rewriteForSite(p, groups)
        runSql = this.rewriteForSite(p, groups, true)
        p.singleSiteSql.set(key, siteSql)
        ;(p.guardedSiteSql ??= new Map()).set(key, runSql)
      }
      return {
        ...base, assembly: site, strategy: 'single-site', agg: null, finalSql: siteSql, finalRunSql: runSql,
        estRows: used.reduce((s, pp) => Math.max(s, pp.estRows), 0), sitesInvolved: [...new Set([querySite, site])],
      }
    }
    const agg = p.agg && !opts.noPartialAggregation ? p.agg : null
    if (agg) {
      for (const g of groups) for (const pp of g.pieces) if (!pp.pruned) {
        let n = 1
        for (const col of agg.groupCols) n *= this.ndv(g, col, pp.estRows, pp)
        pp.estRows = Math.max(pp.estRows ? 1 : 0, Math.min(pp.estRows, Math.round(n)))
        // a site ships its partial aggregates: the group columns and one or two values per aggregate
        const width = agg.groupCols.reduce((w, c) => w + this.catalog.colLen(g.refs[0].target.relation, c) + 2, 0) + agg.aggs.length * 10
        pp.estBytes = Math.min(pp.estBytes, 16 + pp.estRows * width)
      }
    }
    // semijoin decisions
    if (!agg && opts.strategy !== 'ship-whole') this.planSemijoins(groups, assembly, joins, opts.strategy === 'semijoin')
    else if (!agg) this.planSemijoins(groups, assembly, joins, false, true)
    let finalSql: string, finalRunSql: string
    if (agg) {
      // agg is p.agg here: the rewrite depends on the statement alone
      const f = p.aggFinal ??= { sql: this.finalAggSql(p, agg), runSql: this.finalAggSql(p, agg, true) }
      finalSql = f.sql
      finalRunSql = f.runSql
      if (p.aggCombine === undefined) p.aggCombine = combineSpec(p, agg)
    } else {
      finalSql = p.parsed.text
      finalRunSql = p.guardedFinal ??= sqlify(guardSelect(structuredClone(p.analysis!.root), this.derivedColumns))
    }
    return {
      ...base, assembly, strategy: agg ? 'partial-aggregation' : 'ship-to-assembly', agg, finalSql, finalRunSql,
      ...(agg && p.aggCombine ? { combine: p.aggCombine } : {}),
      ...(agg ? { estRows: sum(used, (pp) => pp.estRows) } : {}),
      sitesInvolved: [...new Set([querySite, assembly, ...usedSites])],
    }
  }

  /**
   * First line of the budget: a SELECT whose estimated work exceeds the session's row budget is refused before
   * anything runs. Per SELECT block, references linked by equi-joins count as one input (the larger one), and
   * unlinked inputs multiply (a cross product); blocks add up. Estimates can be defeated (expressions the
   * estimator cannot see), so the statement guard still counts the rows actually examined.
   */
  checkBudget(plan: Pick<SelectPlan, 'prepared' | 'groups'>, budget: QueryBudget): void {
    const p = plan.prepared, groups = plan.groups
    const rowsOf = new Map<TableRef, number>()
    for (const g of groups) {
      const n = sum(g.pieces, (pp) => (pp.pruned ? 0 : pp.estRows))
      for (const r of g.refs) rowsOf.set(r, n)
    }
    let total = 0
    const parts: string[] = []
    for (const scope of p.analysis!.scopes) {
      const comp = new Map<TableRef, TableRef>()
      const find = (r: TableRef): TableRef => { let x = r; while (comp.get(x) && comp.get(x) !== x) x = comp.get(x)!; return x }
      for (const r of scope.refs) comp.set(r, r)
      for (const r of scope.refs) for (const ej of r.equiJoins) if (comp.has(ej.other)) comp.set(find(r), find(ej.other))
      const size = new Map<TableRef, number>()
      for (const r of scope.refs) { const root = find(r); size.set(root, Math.max(size.get(root) ?? 0, rowsOf.get(r) ?? 0)) }
      const work = [...size.values()].reduce((a, b) => a * Math.max(1, b), 1)
      if (size.size) { total += work; if (size.size > 1) parts.push(`${[...size.values()].map((n) => n.toLocaleString('en')).join(' × ')} rows`) }
    }
    if (total > budget.maxRows) {
      throw new EngineError('BUDGET_EXCEEDED', `the query would examine about ${total.toExponential(2)} rows${parts.length ? ` (${parts.join('; ')}: a cross product)` : ''}, more than the session's budget of ${budget.maxRows.toLocaleString('en')} rows; it was not run (add join conditions or filters)`)
    }
  }

  /** Output names of a derived table's SELECT, from the schema-only database (for the statement guard's reference to it). */
  private derivedColumns = (sub: Ast): string[] | undefined => {
    let st
    try {
      st = this.shape.prepare(sqlify(sub))
      return st.getColumnNames()
    } catch { return undefined } finally { st?.free() }
  }

  private rewriteForSite(p: Prepared, groups: GroupPlan[], guarded = false): string {
    const a = p.analysis!
    const saved: { item: Ast; table: string; as: string | null }[] = []
    try {
      for (const g of groups) {
        const table = g.pieces.find((pp) => !pp.pruned)!.copy!.table
        for (const r of g.refs) {
          saved.push({ item: r.fromItem, table: r.fromItem.table, as: r.fromItem.as })
          r.fromItem.as = r.fromItem.as ?? r.fromItem.table
          r.fromItem.table = table
        }
      }
      const cols = p.columns!
      const root = a.root
      const savedAs = root.columns.map((c: Ast) => c.as)
      const star = root.columns.some((c: Ast) => c.expr?.type === 'column_ref' && colName(c.expr) === '*')
      if (!star && root.columns.length === cols.length) root.columns.forEach((c: Ast, i: number) => { c.as = cols[i] })
      try { return sqlify(guarded ? guardSelect(structuredClone(root), this.derivedColumns) : root) } finally { root.columns.forEach((c: Ast, i: number) => { c.as = savedAs[i] }) }
    } finally {
      for (const s of saved.reverse()) { s.item.table = s.table; s.item.as = s.as }
    }
  }

  private planSemijoins(groups: GroupPlan[], assembly: SiteCode, out: JoinDecision[], force: boolean, reportOnly = false): void {
    const byRef = new Map<TableRef, GroupPlan>()
    for (const g of groups) for (const r of g.refs) byRef.set(r, g)
    const order = [...groups].sort((x, y) => sum(y.pieces, (pp) => pp.estBytes) - sum(x.pieces, (pp) => pp.estBytes))
    // one decision per join: its other direction, looked at later, replaces it when that one reduces (or, when
    // neither does, when it is the one that ships bytes over the network)
    const decided = new Map<string, { at: number; reduces: boolean }>()
    const pairKey = (a: GroupPlan, b: GroupPlan) => [groups.indexOf(a), groups.indexOf(b)].sort((x, y) => x - y).join('~')
    for (const g of order) {
      if (g.refs.length !== 1 || g.isReducer) continue
      const ref = g.refs[0]
      type Cand = { dec: JoinDecision; reducer: GroupPlan; col: string; rcol: string; gain: number; costs: NonNullable<GroupPlan['reduceBy']>['costs']; plausible: boolean; estKeys: number; keyLen: number }
      let best: Cand | undefined
      for (const ej of ref.equiJoins) {
        const rg = byRef.get(ej.other)
        if (!rg || rg === g || rg.reduceBy) continue
        const tS = this.catalog.colType(ref.target.relation, ej.col), tR = this.catalog.colType(ej.other.target.relation, ej.otherCol)
        if (tS !== tR || tS === 'REAL') continue
        if (!g.columns.includes(ej.col) || !rg.columns.includes(ej.otherCol)) continue
        const keyLen = this.catalog.colLen(ej.other.target.relation, ej.otherCol) + 2
        const costs = (keys: number) => {
          const keyBytes = 16 + keys * keyLen
          let semiMs = 0, wholeMs = 0, semiBytes = 0, wholeBytes = 0
          const reducedRows = new Map<PiecePlan, number>()
          for (const pp of g.pieces) {
            if (pp.pruned || !pp.copy) continue
            const sRows = pp.estRows
            const sNdv = Math.max(1, this.ndv(g, ej.col, sRows, pp))
            const rows = Math.round(sRows * Math.min(1, keys / sNdv))
            reducedRows.set(pp, rows)
            const redBytes = 16 + rows * (g.rowWidth + 2)
            wholeMs += this.estMs(pp.copy.site, assembly, pp.estBytes)
            semiMs += this.estMs(assembly, pp.copy.site, keyBytes) + this.estMs(pp.copy.site, assembly, redBytes)
            if (pp.copy.site !== assembly) { wholeBytes += pp.estBytes; semiBytes += keyBytes + redBytes }
          }
          return { semiMs, wholeMs, semiBytes, wholeBytes, reducedRows }
        }
        const rRows = sum(rg.pieces, (pp) => pp.estRows)
        const estKeys = Math.min(rRows, this.ndv(rg, ej.otherCol, rRows))
        const c = costs(estKeys)
        const chosen: JoinDecision['chosen'] = !reportOnly && (force || c.semiMs < c.wholeMs * 0.9) ? 'semijoin' : 'ship-whole'
        const dec: JoinDecision = {
          ref: `${ref.target.display}${ref.alias !== ref.name ? ` ${ref.alias}` : ''}`, reducer: ej.other.target.display, on: `${ref.alias}.${ej.col} = ${ej.other.alias}.${ej.otherCol}`, chosen,
          estMsChosen: chosen === 'semijoin' ? c.semiMs : c.wholeMs, estMsAlternative: chosen === 'semijoin' ? c.wholeMs : c.semiMs,
          estBytesSemijoin: c.semiBytes, estBytesShipWhole: c.wholeBytes,
        }
        // worth confirming at run time when the reduced side is much bigger than the reducer
        const plausible = !reportOnly && sum(g.pieces, (pp) => (pp.copy && pp.copy.site !== assembly ? pp.estBytes : 0)) > 4 * sum(rg.pieces, (pp) => pp.estBytes)
        const gain = c.wholeMs - c.semiMs
        if (!best || gain > best.gain) best = { dec, reducer: rg, col: ej.col, rcol: ej.otherCol, gain, costs, plausible, estKeys, keyLen }
      }
      if (!best) continue
      const reduces = best.dec.chosen === 'semijoin' || best.plausible
      const key = pairKey(g, best.reducer)
      const seen = decided.get(key)
      if (seen === undefined) { decided.set(key, { at: out.length, reduces }); out.push(best.dec) }
      else if (reduces || (!seen.reduces && best.dec.estBytesShipWhole > out[seen.at].estBytesShipWhole)) { out[seen.at] = best.dec; seen.reduces = reduces }
      if (reduces) {
        g.reduceBy = { reducer: best.reducer, col: best.col, reducerCol: best.rcol, forced: force, dec: best.dec, costs: best.costs, estKeys: best.estKeys, keyLen: best.keyLen }
        best.reducer.isReducer = true
      }
    }
  }

  /** Number of distinct values of a column (PCT_UNIQUE, else key range, else rows). */
  ndv(g: GroupPlan, col: string, rows: number, pp?: PiecePlan): number {
    const rel = g.refs[0].target.relation
    if (rel.key.length === 1 && rel.key[0] === col) return rows
    const list = pp ? [pp] : g.pieces.filter((x) => !x.pruned)
    let best = 0
    for (const x of list) {
      const auth = x.piece.copies.find((c) => c.server === 'primary')
      const st = auth ? this.tableStats(auth) : undefined
      const cs = st?.cols.get(col)
      if (cs?.pctUnique !== undefined) best += Math.max(1, (cs.pctUnique / 100) * (st!.rows || 1))
      else if (cs && typeof cs.lkey === 'number' && typeof cs.hkey === 'number' && this.catalog.colType(rel, col) === 'INTEGER') best += Math.min(st!.rows || 1, cs.hkey - cs.lkey + 1)
      else if (cs && cs.lkey !== null && cs.lkey === cs.hkey) best += 1
      else best += Math.max(1, Math.sqrt(x.estRows || 1))
    }
    return Math.max(1, Math.min(best, rows || best))
  }


  siteSql(g: GroupPlan, copy: Copy, agg: AggSpec | null, semi: boolean, guarded = false): string {
    const where: string[] = []
    if (g.whereSql) where.push(g.whereSql)
    if (copy.restrict) where.push(copy.restrict)
    if (semi && g.reduceBy) where.push(`${qid(g.reduceBy.col)} IN (SELECT value FROM json_each(?))`)
    if (guarded) where.push(guardTerm())
    const w = where.length ? ` WHERE ${where.map((x) => `(${x})`).join(' AND ')}` : ''
    if (agg) {
      const sel = [...agg.groupCols.map((c, i) => `${qid(c)} AS ${qid(`__g${i}`)}`), ...agg.aggs.flatMap((a) => {
        const arg = a.star ? '*' : a.argSql!
        if (a.fn === 'AVG') return [`SUM(${arg}) AS ${qid(`__a${a.slot}`)}`, `COUNT(${arg}) AS ${qid(`__c${a.slot}`)}`]
        if (a.fn === 'COUNT') return [`COUNT(${arg}) AS ${qid(`__a${a.slot}`)}`]
        // the storage class travels with the value (a JS number loses it: sql.js binds 21.0 as an integer)
        return [`${a.fn}(${arg}) AS ${qid(`__a${a.slot}`)}`, `typeof(${a.fn}(${arg})) = 'real' AS ${qid(`__t${a.slot}`)}`]
      })]
      return `SELECT ${sel.join(', ')} FROM ${qid(copy.table)}${w}${agg.groupCols.length ? ` GROUP BY ${agg.groupCols.map(qid).join(', ')}` : ''}`
    }
    return `SELECT ${g.columns.map(qid).join(', ')} FROM ${qid(copy.table)}${w}`
  }

  /** Notes on the copy a piece is read from when it is not the authoritative, current one (and its staleness). */
  annotateCopy(pp: PiecePlan, notes: string[]): void {
    const c = pp.copy
    if (!c) return
    if (c.role === 'scheduled-copy') {
      const stale = this.copyStaleness(c)
      if (stale !== undefined) pp.stalenessMs = stale
      notes.push(`${pp.piece.name} read from the scheduled copy ${c.table}@${c.site} (refreshed on its schedule)${stale !== undefined ? `, stale by ${Math.round(stale / 60000)} min` : ''}: the authoritative copy is unavailable`)
    }
    if (c.role === 'repository') notes.push(`${pp.piece.name} read from the main repository at ${c.site} (its own site is unavailable); it reflects the changes delivered so far`)
    if (this.lagging(c)) notes.push(`${pp.piece.name} read from ${c.table}@${c.site}, which still has replication batches to apply`)
  }

  /** How long the copy has not been current (engine/cluster/copies.ts: since the first source change after its data). */
  private copyStaleness(c: Copy): number | undefined {
    try { return this.cluster.copyStaleness(c.table).stalenessMs } catch { return undefined }
  }

  /** The final statement at the assembly site: the query over "__P", the sites' partial aggregates, combined. */
  private finalAggSql(p: Prepared, agg: AggSpec, guarded = false): string {
    const src = p.analysis!.root
    // the aggregate nodes of the analysed tree (by identity) to their slots; the rewrite builds a new tree
    const slotOf = new Map<Ast, number>(agg.aggs.map((a) => [a.node, a.slot]))
    const col = (name: string): Ast => ({ type: 'column_ref', table: null, column: name })
    const fn = (name: string, arg: Ast): Ast => ({ type: 'function', name: { name: [{ type: 'default', value: name }] }, args: { type: 'expr_list', value: [arg] }, over: null })
    const aggr = (name: string, arg: Ast): Ast => ({ type: 'aggr_func', name, args: { expr: arg }, over: null })
    const rewrite = (n: Ast): Ast => {
      if (!n || typeof n !== 'object') return n
      if (Array.isArray(n)) return n.map(rewrite)
      if (n.type === 'aggr_func') {
        const a = agg.aggs.find((x) => x.slot === slotOf.get(n))!
        const A = col(`__a${a.slot}`)
        if (a.fn === 'SUM') return aggr('SUM', A)
        if (a.fn === 'COUNT') return { ...fn('COALESCE', aggr('SUM', A)), args: { type: 'expr_list', value: [aggr('SUM', A), { type: 'number', value: 0 }] } }
        if (a.fn === 'MIN' || a.fn === 'MAX') return aggr(a.fn, A)
        return { type: 'binary_expr', operator: '/', parentheses: true, left: fn('TOTAL', A), right: aggr('SUM', col(`__c${a.slot}`)) }
      }
      if (n.type === 'column_ref') {
        const c = colName(n)?.toUpperCase()
        const i = c ? agg.groupCols.indexOf(c) : -1
        return i >= 0 ? col(`__g${i}`) : n
      }
      const out: Ast = {}
      for (const k of Object.keys(n)) out[k] = k === 'tableList' || k === 'columnList' ? n[k] : rewrite(n[k])
      return out
    }
    const root = structuredClone({
      ...src,
      columns: src.columns.map((c: Ast, i: number) => ({ ...c, expr: rewrite(c.expr), as: p.columns![i] })),
      having: rewrite(src.having),
      orderby: src.orderby ? rewrite(src.orderby) : src.orderby,
      where: null,
      groupby: src.groupby ? { ...src.groupby, columns: agg.groupCols.map((_, i) => col(`__g${i}`)) } : src.groupby,
      from: [{ db: null, table: '__P', as: null }],
    })
    return sqlify(guarded ? guardSelect(root, this.derivedColumns) : root)
  }
}

/**
 * The plain form of a partial aggregation (combine.ts): every output column a GROUP BY column or a COUNT / SUM, with
 * no HAVING, ORDER BY, LIMIT, DISTINCT or window; its columns located in a site's partial row as siteSql writes it
 * (GROUP BY columns, then per aggregate: COUNT one column, AVG two, SUM / MIN / MAX the value and its REAL flag).
 * Null for any other query (the final statement runs in the scratch database).
 */
function combineSpec(p: Prepared, agg: AggSpec): CombineSpec | null {
  const src = p.analysis!.root
  if (src.having || (src.orderby ?? []).length || src.limit?.value?.length || src.distinct || src.window) return null
  const at = new Map<number, number>()
  let col = agg.groupCols.length
  for (const a of agg.aggs) { at.set(a.slot, col); col += a.fn === 'COUNT' ? 1 : 2 }
  const out: CombineColumn[] = []
  for (const c of src.columns ?? []) {
    const e = c.expr
    if (e?.type === 'column_ref') {
      const i = agg.groupCols.indexOf(colName(e)?.toUpperCase() ?? '')
      if (i < 0) return null
      out.push({ group: i })
      continue
    }
    const a = e?.type === 'aggr_func' && !e.over ? agg.aggs.find((x) => x.node === e) : undefined
    if (!a || (a.fn !== 'COUNT' && a.fn !== 'SUM')) return null
    const k = at.get(a.slot)!
    out.push(a.fn === 'COUNT' ? { fn: 'COUNT', col: k } : { fn: 'SUM', col: k, flag: k + 1 })
  }
  return { groups: agg.groupCols.length, out }
}

/** What the assembly site's result is guessed to weigh when the assembly site is chosen (bytes). */
export const RESULT_BYTES_GUESS = 4096

export function sum<T>(xs: T[], f: (x: T) => number): number { let s = 0; for (const x of xs) s += f(x); return s }

/** A piece as steps name it: the fragment, the copy's table when it differs, and where it is read. */
export function pieceLabel(pp: PiecePlan): string {
  const copy = pp.copy!
  return `${pp.piece.name}${copy.table !== pp.piece.name ? ` as ${copy.table}` : ''}@${copy.site}${copy.server === 'repository' ? ' (main repository)' : ''}`
}

/** The plan view's line for one piece: used (where) or pruned (why). */
export function decision(g: GroupPlan, pp: PiecePlan): FragmentDecision {
  const d: FragmentDecision = { ref: g.name, fragment: pp.piece.name, status: pp.pruned ? 'pruned' : 'used' }
  if (pp.pruned) d.reason = pp.pruned
  if (pp.copy && !pp.pruned) { d.site = pp.copy.site; d.server = pp.copy.server; d.role = pp.copy.role }
  if (pp.stalenessMs !== undefined) d.stalenessMs = pp.stalenessMs
  return d
}

// ---- statistics helpers -------------------------------------------------------------------
type Cmp = { col: string; op: string; vals: SqlValue[] }
function comparison(e: Ast): Cmp | undefined {
  if (e?.type !== 'binary_expr') return undefined
  const op = String(e.operator).toUpperCase()
  const flip: Record<string, string> = { '=': '=', '<': '>', '>': '<', '<=': '>=', '>=': '<=' }
  if (op in flip) {
    if (e.left?.type === 'column_ref') { const v = literal(e.right); if (v && v.v !== null) return { col: colName(e.left)!.toUpperCase(), op, vals: [v.v] } }
    if (e.right?.type === 'column_ref') { const v = literal(e.left); if (v && v.v !== null) return { col: colName(e.right)!.toUpperCase(), op: flip[op], vals: [v.v] } }
    return undefined
  }
  if ((op === 'IN' || op === 'BETWEEN') && e.left?.type === 'column_ref' && e.right?.type === 'expr_list') {
    const vals = (e.right.value ?? []).map(literal)
    if (!vals.length || vals.some((v: { v: SqlValue } | undefined) => !v || v.v === null)) return undefined
    return { col: colName(e.left)!.toUpperCase(), op, vals: vals.map((v: { v: SqlValue }) => v.v) }
  }
  return undefined
}

function typeFits(v: SqlValue, t: string): boolean {
  return (typeof v === 'number' && (t === 'INTEGER' || t === 'REAL')) || (typeof v === 'string' && t === 'TEXT')
}

/** "[LKEY x, HKEY y]" when the statistics prove no row satisfies the conjunct. */
function statsExcludes(e: Ast, st: TableStats, typeOf: (c: string) => string): string | undefined {
  const c = comparison(e)
  if (!c) return undefined
  const cs = st.cols.get(c.col)
  if (!cs || cs.lkey === null || cs.hkey === null || cs.lkey === undefined) return undefined
  const t = typeOf(c.col)
  if (!c.vals.every((v) => typeFits(v, t)) || !typeFits(cs.lkey, t) || !typeFits(cs.hkey, t)) return undefined
  const lo = cs.lkey, hi = cs.hkey
  const out = (v: SqlValue) => cmpSql(v, lo) < 0 || cmpSql(v, hi) > 0
  let excluded = false
  switch (c.op) {
    case '=': excluded = out(c.vals[0]); break
    case 'IN': excluded = c.vals.every(out); break
    case '<': excluded = cmpSql(lo, c.vals[0]) >= 0; break
    case '<=': excluded = cmpSql(lo, c.vals[0]) > 0; break
    case '>': excluded = cmpSql(hi, c.vals[0]) <= 0; break
    case '>=': excluded = cmpSql(hi, c.vals[0]) < 0; break
    case 'BETWEEN': excluded = c.vals.length === 2 && (cmpSql(c.vals[1], lo) < 0 || cmpSql(c.vals[0], hi) > 0); break
  }
  return excluded ? `[LKEY ${JSON.stringify(lo)}, HKEY ${JSON.stringify(hi)}] of ${c.col}` : undefined
}

function selectivity(e: Ast, st: TableStats | undefined, n: number): number {
  const c = comparison(e)
  const op = String(e?.operator ?? '').toUpperCase()
  if (!c) {
    if (op === 'LIKE') return 0.25
    if (op === 'OR') return Math.min(1, selectivity(e.left, st, n) + selectivity(e.right, st, n))
    if (op === '<>' || op === '!=' || op === 'NOT IN' || op === 'IS NOT') return 0.9
    return 1 / 3
  }
  const cs = st?.cols.get(c.col)
  const eq = () => {
    if (cs?.pctUnique !== undefined && n) return 1 / Math.max(1, (cs.pctUnique / 100) * n)
    if (cs && typeof cs.lkey === 'number' && typeof cs.hkey === 'number') return 1 / Math.max(1, Math.min(n || 1, cs.hkey - cs.lkey + 1))
    if (cs && typeof cs.lkey === 'string' && cs.lkey === cs.hkey) return 1
    return 1 / 10
  }
  if (c.op === '=') return eq()
  if (c.op === 'IN') return Math.min(1, c.vals.length * eq())
  if (cs && typeof cs.lkey === 'number' && typeof cs.hkey === 'number' && c.vals.every((v) => typeof v === 'number')) {
    const lo = cs.lkey, hi = cs.hkey, span = Math.max(1e-9, hi - lo)
    const v = c.vals as number[]
    let f = 1 / 3
    if (c.op === '<' || c.op === '<=') f = (v[0] - lo) / span
    if (c.op === '>' || c.op === '>=') f = (hi - v[0]) / span
    if (c.op === 'BETWEEN') f = (Math.min(hi, v[1]) - Math.max(lo, v[0])) / span
    return Math.max(n ? 1 / n : 0, Math.min(1, f))
  }
  return 1 / 3
}

function unqualified(e: Ast): Ast {
  const c = structuredClone(e)
  const walk = (n: Ast) => {
    if (!n || typeof n !== 'object') return
    if (Array.isArray(n)) { n.forEach(walk); return }
    if (n.type === 'column_ref') { n.table = null; return }
    for (const k of Object.keys(n)) walk(n[k])
  }
  walk(c)
  return c
}
