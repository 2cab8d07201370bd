/**
 * The distributed query processor (Özsu & Valduriez): decomposition (parse + analysis), data
 * localization (reconstruction of global relations from fragments, pruning by predicate
 * contradiction and LKEY/HKEY statistics, unneeded vertical fragments dropped), global optimization
 * (copy choice by availability and cost, semijoin vs ship-whole, assembly site, partial aggregation),
 * and distributed execution through the simulated network: sub-queries run on each site's sql.js
 * store, intermediate results travel as sized messages, the assembly site combines them in a scratch
 * sql.js database. The virtual response time is what the simulation says.
 */
import type { Database, SqlJsStatic } from 'sql.js'
import { EngineError } from '../errors'
import type { Cluster } from '../cluster'
import type { SiteCode } from '../topology/types'
import { loadSqlJs, type SqlValue } from '../site/sqljs'
import { cmpSql } from '../catalog/catalog'
import { ExecCtx } from './exec'
import { parseSql, conjuncts, colName, sqlify, type Ast, type ParsedText } from './parse'
import { analyzeSelect, type Analysis, type TableRef } from './analyze'
import { QueryCatalog, type Copy, type Piece } from './catalog'
import { StatsCache, type TableStats } from './stats'
import { siteStoreOf } from './stores'
import { andSql, exprColumns, exprSql, literal, qid } from './sqltext'
import type { FragmentDecision, JoinDecision, PlanView, QueryRunResult, RequestClass } from './types'
import { runScript, runWrite } from './dml'
import { ROWS_PER_CHECK, SLICE_MS, drive, runGuarded, runToEnd, type Cooperation, type QueryGen } from './coop'
import { guardError, guardSelect, guardTerm, installGuard, type QueryBudget } from './guard'

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
interface AggSpec {
  groupCols: string[] // upper-case column names
  aggs: { node: Ast; fn: string; star: boolean; argSql?: string; slot: number }[]
}

interface Prepared {
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
}

// ---- per-run plan ----------------------------------------------------------------------------
interface PiecePlan {
  piece: Piece
  pruned?: string
  copy?: Copy
  estRows: number
  estBytes: number
  failedSites: Set<string>
  note?: string
  stalenessMs?: number
}

interface GroupPlan {
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
  }
  isReducer?: boolean
  rowWidth: number
}

export class Dqp {
  readonly catalog: QueryCatalog
  readonly stats: StatsCache
  private prepared = new Map<string, Prepared>()
  private shape: Database
  private probe: Database
  private probeCache = new Map<string, boolean>()

  constructor(readonly cluster: Cluster, private SQL: SqlJsStatic) {
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

  static async create(cluster: Cluster): Promise<Dqp> { return new Dqp(cluster, await loadSqlJs()) }

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
        if (!star && (!arg || JSON.stringify(arg).includes('"aggr_func"'))) { ok = false; return }
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

  // ---- entry points ----------------------------------------------------------------------
  async run(site: SiteCode, sql: string, opts: RunOptions = {}): Promise<QueryRunResult> {
    return this.runSync(site, sql, opts)
  }

  /** Runs a query to completion synchronously (the fast path: no yields to the event loop, not cancellable). */
  runSync(site: SiteCode, sql: string, opts: RunOptions = {}): QueryRunResult {
    return opts.budget ? runGuarded(this.runGen(site, sql, opts), opts.budget) : runToEnd(this.runGen(site, sql, opts))
  }

  /**
   * Runs a query cooperatively (see coop.ts): yields to the event loop every ~10 ms of work, reports progress
   * (steps done / planned) and stops at the next checkpoint once `coop.cancelled` is set, with EngineError
   * CANCELLED: a read returns nothing, a write is not started or its applied parts are undone. A write does not
   * yield to the event loop once it has started (see coop.ts).
   */
  runCooperative(site: SiteCode, sql: string, opts: RunOptions, coop: Cooperation, sliceMs = SLICE_MS): Promise<QueryRunResult> {
    return drive(this.runGen(site, sql, opts), coop, sliceMs, opts.budget)
  }

  /** The execution of one request as a generator that yields at safe checkpoints. */
  *runGen(site: SiteCode, sql: string, opts: RunOptions = {}): QueryGen<QueryRunResult> {
    const t0 = performance.now()
    this.cluster.site(site)
    if (!this.cluster.isSiteUp(site)) throw this.cluster.siteDownError(site, 'the query cannot be issued there')
    const p = this.prepare(sql)
    let res: QueryRunResult
    if (p.kind === 'script') {
      const res = yield* runScript(this, site, p.ast as Ast[], p.parsed, opts)
      res.wallMs = performance.now() - t0
      return res
    }
    if (p.kind !== 'select' && p.parsed.explain) throw new EngineError('UNSUPPORTED', `EXPLAIN ${p.kind.toUpperCase()} is not supported: EXPLAIN runs the statement to report actual rows, bytes and times, and a write would be applied`)
    if (p.kind === 'select') res = yield* this.runSelect(site, p, opts)
    else { const w = yield* runWrite(this, site, p.ast, p.parsed, opts); delete w.undo; res = w }
    res.wallMs = performance.now() - t0
    if (p.parsed.explain) {
      res.explain = formatExplain(res)
      res.columns = ['plan']
      res.rows = res.explain.split('\n').map((l) => [l])
      res.rowCount = res.rows.length
    } else if (opts.maxRows !== undefined && res.rows.length > opts.maxRows) {
      res.rows = res.rows.slice(0, opts.maxRows)
    }
    return res
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
  private lagging(c: Copy): boolean {
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
  private estMs(a: SiteCode, b: SiteCode, bytes: number): number {
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

  private chooseCopy(pp: PiecePlan, needed: string[], assembly: SiteCode): Copy | undefined {
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

  private unreachable(g: GroupPlan, pp: PiecePlan): EngineError {
    const down = pp.piece.copies.map((c) => `${c.site}.${c.server}${this.cluster.isServerUp(`${c.site}.${c.server}`) ? (pp.failedSites.has(`${c.site}.${c.server}`) ? ' (failed during the query)' : this.cluster.net.isSiteReachable(c.site) ? ' (no route)' : ' (unreachable)') : ' (down)'}`)
    const missing = pp.piece.copies.filter((c) => !g.columns.every((n) => c.columns.includes(n))).map((c) => `${c.table}@${c.site} lacks ${g.columns.filter((n) => !c.columns.includes(n)).join(', ')}`)
    const site = pp.piece.copies[0]?.site
    return new EngineError('UNREACHABLE', `fragment ${pp.piece.name} of ${g.name} is unreachable: no usable copy (${down.join(', ')}${missing.length ? `; ${missing.join('; ')}` : ''}); no partial result is returned`, site ? { site } : {})
  }

  // ---- SELECT ----------------------------------------------------------------------------
  private *runSelect(querySite: SiteCode, p: Prepared, opts: RunOptions): QueryGen<QueryRunResult> {
    this.routeMemo.clear(); this.estMemo.clear()
    const groups = this.groups(p)
    if (opts.budget) this.checkEstimate(p, groups, opts.budget)
    const fragments: FragmentDecision[] = []
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
      const c = this.assignCopies(groups, a) + (a === querySite ? 0 : this.estMs(a, querySite, 4096))
      if (c < bestCost - 1e-9 || (Math.abs(c - bestCost) < 1e-9 && a === querySite)) { bestCost = c; assembly = a }
    }
    this.assignCopies(groups, assembly)
    for (const g of groups) for (const pp of g.pieces) if (!pp.pruned && !pp.copy) throw this.unreachable(g, pp)

    // single site: every reference is one piece whose copy sits at the same site → ship the query there
    const used = groups.flatMap((g) => g.pieces.filter((pp) => !pp.pruned))
    const usedSites = new Set(used.map((pp) => pp.copy!.site))
    const single = used.length > 0 && usedSites.size === 1 && groups.every((g) => g.pieces.filter((pp) => !pp.pruned).length === 1)
      && used.every((pp) => pp.copy!.server === 'primary' && !pp.copy!.restrict)

    const ctx = new ExecCtx(this.cluster, querySite)
    let columns: string[]
    let rows: SqlValue[][]
    let strategy: PlanView['strategy']
    let finalSql: string | undefined
    const joins: JoinDecision[] = []
    let estRows: number | undefined

    if (single) {
      const site = [...usedSites][0]
      strategy = 'single-site'
      assembly = site
      const key = groups.map((g) => `${g.name}=${g.pieces.find((pp) => !pp.pruned)!.copy!.table}`).join(',')
      let siteSql = p.singleSiteSql.get(key)
      let runSql = p.guardedSiteSql?.get(key)
      if (!siteSql || !runSql) {
        siteSql = this.rewriteForSite(p, groups)
        runSql = this.rewriteForSite(p, groups, true)
        p.singleSiteSql.set(key, siteSql)
        ;(p.guardedSiteSql ??= new Map()).set(key, runSql)
      }
      finalSql = siteSql
      estRows = used.reduce((s, pp) => Math.max(s, pp.estRows), 0)
      ctx.plan(1)
      const r = yield* ctx.remoteQueryGen(site, siteSql, 'primary', pp0Label(used[0]), estRows, () => this.unreachable(groups[0], used[0]), runSql)
      columns = p.columns!
      rows = r.rows
    } else {
      strategy = 'ship-to-assembly'
      const agg = p.agg && !opts.noPartialAggregation ? p.agg : null
      if (agg) {
        strategy = 'partial-aggregation'
        for (const g of groups) for (const pp of g.pieces) if (!pp.pruned) {
          let n = 1
          for (const col of agg.groupCols) n *= this.ndv(g, col, pp.estRows, pp)
          pp.estRows = Math.max(pp.estRows ? 1 : 0, Math.min(pp.estRows, Math.round(n)))
        }
      }
      // semijoin decisions
      if (!agg && opts.strategy !== 'ship-whole') this.planSemijoins(groups, assembly, joins, opts.strategy === 'semijoin')
      else if (!agg) this.planSemijoins(groups, assembly, joins, false, true)
      const scratch = new this.SQL.Database()
      try {
        installGuard(this.SQL, scratch)
        if (assembly !== querySite) ctx.message(querySite, assembly, 'dqp.plan', 512, 'request', `assembly plan to ${assembly}`)
        ctx.plan(used.length + 1)
        // phase 1: the groups that are not reduced (reducers first); phase 2: the semijoin-reduced groups
        for (const list of [groups.filter((g) => !g.reduceBy), groups.filter((g) => g.reduceBy)]) {
          if (!list.length) continue
          for (const g of list) this.createScratch(scratch, g, agg)
          yield* this.shipGroups(ctx, scratch, list, assembly, agg, fragments, notes)
        }
        const t0 = ctx.clock()
        let runSql: string
        if (agg) {
          finalSql = this.finalAggSql(p, agg, groups[0])
          runSql = this.finalAggSql(p, agg, groups[0], true)
        } else {
          for (const v of p.analysis!.viewsUsed) {
            const vd = this.catalog.view(v)!
            scratch.run(`CREATE VIEW IF NOT EXISTS ${qid(vd.name)} AS ${vd.sql}`)
          }
          finalSql = p.parsed.text
          runSql = p.guardedFinal ??= sqlify(guardSelect(structuredClone(p.analysis!.root), this.derivedColumns))
        }
        rows = []
        {
          // the final statement is stepped with checkpoints (a big join streams out of the scratch database)
          let st
          try {
            st = scratch.prepare(runSql)
            let n = 0
            for (;;) {
              let more: boolean
              try { more = st.step() } catch (e) { throw guardError(e) ?? new EngineError('SQL_ERROR', `at assembly site ${assembly}: ${e instanceof Error ? e.message : String(e)}`) }
              if (!more) break
              rows.push(st.get() as SqlValue[])
              if (++n === ROWS_PER_CHECK) { n = 0; yield ctx.tick(`assembling at ${assembly}: ${rows.length} rows`) }
            }
          } catch (e) {
            if (e instanceof EngineError) throw e
            throw new EngineError('SQL_ERROR', `at assembly site ${assembly}: ${e instanceof Error ? e.message : String(e)}`)
          } finally { st?.free() }
        }
        columns = p.columns!
        yield ctx.done(`assembled ${rows.length} rows at ${assembly}`)
        ctx.step({ kind: 'assemble', site: assembly, sql: finalSql, actualRows: rows.length, startMs: t0, endMs: ctx.clock(), note: agg ? 'combine partial aggregates' : 'final join / aggregate / order' })
        if (assembly !== querySite) ctx.shipResult(assembly, querySite, columns, rows)
      } finally {
        scratch.close()
      }
    }
    if (single) {
      for (const g of groups) for (const pp of g.pieces) { const d = decision(g, pp); if (!pp.pruned) this.annotateCopy(pp, d, notes); fragments.push(d) }
    } else {
      for (const g of groups) for (const pp of g.pieces) if (pp.pruned) fragments.push(decision(g, pp))
    }
    const sites = new Set<string>(used.map((pp) => pp.copy!.site))
    const requestClass: RequestClass = sites.size <= 1 ? 'remote request' : 'distributed request'
    const plan: PlanView = {
      statement: 'select', querySite, assemblySite: assembly, strategy, requestClass, fragments, joins, steps: ctx.steps,
      finalSql, estRows, actualRows: rows.length, notes, sitesInvolved: [...new Set([querySite, assembly, ...sites])],
    }
    return { columns, rows, rowCount: rows.length, requestClass, plan, perLinkBytes: ctx.perLink, virtualMs: ctx.elapsed(), wallMs: 0 }
  }

  /**
   * First line of the budget: a SELECT whose estimated work exceeds the session's row budget is refused before
   * anything runs. Per SELECT block, references linked by equi-joins count as one input (the larger one), and
   * unlinked inputs multiply (a cross product); blocks add up. Estimates can be defeated (expressions the
   * estimator cannot see), so the statement guard still counts the rows actually examined.
   */
  private checkEstimate(p: Prepared, groups: GroupPlan[], budget: QueryBudget): void {
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
      type Cand = { dec: JoinDecision; reducer: GroupPlan; col: string; rcol: string; gain: number; costs: NonNullable<GroupPlan['reduceBy']>['costs']; plausible: boolean }
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
        const c = costs(Math.min(rRows, this.ndv(rg, ej.otherCol, rRows)))
        const chosen: JoinDecision['chosen'] = !reportOnly && (force || c.semiMs < c.wholeMs * 0.9) ? 'semijoin' : 'ship-whole'
        const dec: JoinDecision = {
          ref: `${ref.target.display}${ref.alias !== ref.name ? ` ${ref.alias}` : ''}`, reducer: ej.other.target.display, on: `${ref.alias}.${ej.col} = ${ej.other.alias}.${ej.otherCol}`, chosen,
          estMsChosen: chosen === 'semijoin' ? c.semiMs : c.wholeMs, estMsAlternative: chosen === 'semijoin' ? c.wholeMs : c.semiMs,
          estBytesSemijoin: c.semiBytes, estBytesShipWhole: c.wholeBytes,
        }
        // worth confirming at run time when the reduced side is much bigger than the reducer
        const plausible = !reportOnly && sum(g.pieces, (pp) => (pp.copy && pp.copy.site !== assembly ? pp.estBytes : 0)) > 4 * sum(rg.pieces, (pp) => pp.estBytes)
        const gain = c.wholeMs - c.semiMs
        if (!best || gain > best.gain) best = { dec, reducer: rg, col: ej.col, rcol: ej.otherCol, gain, costs, plausible }
      }
      if (!best) continue
      const reduces = best.dec.chosen === 'semijoin' || best.plausible
      const key = pairKey(g, best.reducer)
      const seen = decided.get(key)
      if (seen === undefined) { decided.set(key, { at: out.length, reduces }); out.push(best.dec) }
      else if (reduces || (!seen.reduces && best.dec.estBytesShipWhole > out[seen.at].estBytesShipWhole)) { out[seen.at] = best.dec; seen.reduces = reduces }
      if (reduces) {
        g.reduceBy = { reducer: best.reducer, col: best.col, reducerCol: best.rcol, forced: force, dec: best.dec, costs: best.costs }
        best.reducer.isReducer = true
      }
    }
  }

  /** Number of distinct values of a column (PCT_UNIQUE, else key range, else rows). */
  private ndv(g: GroupPlan, col: string, rows: number, pp?: PiecePlan): number {
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

  private createScratch(db: Database, g: GroupPlan, agg: AggSpec | null): void {
    const rel = g.refs[0].target.relation
    if (agg) {
      const cols = [...agg.groupCols.map((c, i) => `${qid(`__g${i}`)} ${this.catalog.colType(rel, c)}`), ...agg.aggs.flatMap((a) => a.fn === 'AVG' ? [qid(`__a${a.slot}`), qid(`__c${a.slot}`)] : [qid(`__a${a.slot}`)])]
      db.run(`CREATE TABLE "__P" (${cols.join(', ')})`)
      return
    }
    db.run(`CREATE TABLE ${qid(g.name)} (${g.columns.map((c) => `${qid(c)} ${this.catalog.colType(rel, c)}`).join(', ')})`)
  }

  private siteSql(g: GroupPlan, copy: Copy, agg: AggSpec | null, semi: boolean, guarded = false): string {
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

  private *shipGroups(ctx: ExecCtx, scratch: Database, list: GroupPlan[], assembly: SiteCode, agg: AggSpec | null, fragments: FragmentDecision[], notes: string[]): QueryGen<void> {
    type Job = { g: GroupPlan; pp: PiecePlan; keysJson?: string }
    let jobs: Job[] = []
    for (const g of list) {
      let keysJson: string | undefined
      if (g.reduceBy) {
        const rb = g.reduceBy
        const res = scratch.exec(`SELECT DISTINCT ${qid(rb.reducerCol)} FROM ${qid(rb.reducer.name)} WHERE ${qid(rb.reducerCol)} IS NOT NULL`)
        const keys = res.length ? res[0].values.map((r) => r[0]) : []
        // confirm the strategy with the actual number of join keys (the reducer has arrived)
        const c = rb.costs(keys.length)
        const semi = rb.forced || c.semiMs < c.wholeMs * 0.9
        Object.assign(rb.dec, {
          chosen: semi ? 'semijoin' : 'ship-whole', estMsChosen: semi ? c.semiMs : c.wholeMs, estMsAlternative: semi ? c.wholeMs : c.semiMs,
          estBytesSemijoin: c.semiBytes, estBytesShipWhole: c.wholeBytes, actualKeys: keys.length,
        })
        if (semi) {
          keysJson = JSON.stringify(keys)
          for (const [pp, rows] of c.reducedRows) pp.estRows = rows
        }
        notes.push(`${rb.dec.ref} ⋈ ${rb.dec.reducer}: ${semi ? 'semijoin' : 'ship-whole'} confirmed with ${keys.length} actual join keys from ${rb.reducer.name}`)
      }
      for (const pp of g.pieces) if (!pp.pruned) jobs.push({ g, pp, keysJson })
    }
    const recorded = new Set<PiecePlan>()
    while (jobs.length) {
      const results = yield* ctx.parallelGen(jobs.map((j) => {
        const copy = j.pp.copy!
        const sql = this.siteSql(j.g, copy, agg, !!j.keysJson)
        return {
          from: j.keysJson ? assembly : ctx.querySite, site: copy.site, server: copy.server, to: assembly, sql, runSql: this.siteSql(j.g, copy, agg, !!j.keysJson, true),
          params: j.keysJson ? [j.keysJson] : undefined, extraBytes: j.keysJson ? j.keysJson.length : 0,
          label: `${j.pp.piece.name}${copy.table !== j.pp.piece.name ? ` as ${copy.table}` : ''}@${copy.site}${copy.server === 'repository' ? ' (main repository)' : ''}`,
          estRows: j.pp.estRows, estBytes: j.pp.estBytes,
        }
      }))
      const retry: Job[] = []
      for (const [i, r] of results.entries()) {
        const j = jobs[i]
        if (!r.ok) {
          j.pp.failedSites.add(`${j.pp.copy!.site}.${j.pp.copy!.server}`)
          notes.push(`${j.pp.piece.name}: copy at ${j.pp.copy!.site} failed during the query (${r.reason}); trying another copy`)
          const next = this.chooseCopy(j.pp, j.g.columns, assembly)
          if (!next) throw this.unreachable(j.g, j.pp)
          j.pp.copy = next
          ctx.plan(1)
          retry.push(j)
          continue
        }
        const table = agg ? '__P' : j.g.name
        if (r.rows.length) {
          const ncol = r.rows[0].length
          const st = scratch.prepare(agg ? aggInsertSql(agg) : `INSERT INTO ${qid(table)} VALUES (${Array(ncol).fill('?').join(', ')})`)
          try {
            scratch.run('BEGIN')
            let n = 0
            for (const row of r.rows) {
              st.run(row)
              if (++n === ROWS_PER_CHECK * 4) { n = 0; yield undefined }
            }
            scratch.run('COMMIT')
          } finally { st.free() }
        }
        if (!recorded.has(j.pp)) {
          recorded.add(j.pp)
          const d = decision(j.g, j.pp)
          d.note = `${r.rows.length} rows${j.keysJson ? ' after semijoin reduction' : ''}`
          this.annotateCopy(j.pp, d, notes)
          fragments.push(d)
        }
      }
      jobs = retry
    }
  }

  private annotateCopy(pp: PiecePlan, d: FragmentDecision, notes: string[]): void {
    const c = pp.copy
    if (!c) return
    if (c.role === 'scheduled-copy') {
      const stale = this.copyStaleness(c)
      if (stale !== undefined) d.stalenessMs = stale
      notes.push(`${pp.piece.name} read from the scheduled copy ${c.table}@${c.site} (refreshed at 12:00 and 18:00)${stale !== undefined ? `, last refreshed ${Math.round(stale / 60000)} min ago` : ''}: the authoritative copy is unavailable`)
    }
    if (c.role === 'repository') notes.push(`${pp.piece.name} read from the main repository at ${c.site} (its own site is unavailable); it reflects the changes delivered so far`)
    if (this.lagging(c)) notes.push(`${pp.piece.name} read from ${c.table}@${c.site}, which still has replication batches to apply`)
  }

  private copyStaleness(c: Copy): number | undefined {
    const store = siteStoreOf(this.cluster, c.site)
    try {
      const at = store?.query('SELECT REFRESHED_AT FROM COPY_REFRESH WHERE COPY_NAME = ?', [c.table]).rows[0]?.[0]
      if (at !== undefined && at !== null) return Math.max(0, this.cluster.sim.now - Number(at))
    } catch { /* no refresh table */ }
    return undefined
  }

  private finalAggSql(p: Prepared, agg: AggSpec, g: GroupPlan, guarded = false): string {
    const root = structuredClone(p.analysis!.root)
    // map original aggregate nodes (by identity, via a JSON signature) to slots
    const sig = new Map<string, number>()
    for (const a of agg.aggs) sig.set(JSON.stringify(a.node), a.slot)
    const col = (name: string): Ast => ({ type: 'column_ref', table: null, column: name })
    const fn = (name: string, arg: Ast): Ast => ({ type: 'function', name: { name: [{ type: 'default', value: name }] }, args: { type: 'expr_list', value: [arg] }, over: null })
    const aggr = (name: string, arg: Ast): Ast => ({ type: 'aggr_func', name, args: { expr: arg }, over: null })
    const rewrite = (n: Ast): Ast => {
      if (!n || typeof n !== 'object') return n
      if (Array.isArray(n)) return n.map(rewrite)
      if (n.type === 'aggr_func') {
        const slot = sig.get(JSON.stringify(n))
        const a = agg.aggs.find((x) => x.slot === slot)!
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
    root.columns = root.columns.map((c: Ast, i: number) => ({ ...c, expr: rewrite(c.expr), as: p.columns![i] }))
    root.having = rewrite(root.having)
    root.orderby = root.orderby ? rewrite(root.orderby) : root.orderby
    root.where = null
    root.groupby = root.groupby ? { ...root.groupby, columns: agg.groupCols.map((_, i) => col(`__g${i}`)) } : root.groupby
    root.from = [{ db: null, table: '__P', as: null }]
    void g
    return sqlify(guarded ? guardSelect(root, this.derivedColumns) : root)
  }
}

/**
 * The INSERT of a site's partial aggregates into __P: a SUM/MIN/MAX value comes with a flag telling whether it
 * was REAL at the site, and is stored with that storage class (sql.js binds an integral JS number as an
 * INTEGER and a large integer as a REAL), so the combined aggregate has SQLite's type.
 */
function aggInsertSql(agg: AggSpec): string {
  let n = 0
  const vals = agg.groupCols.map(() => `?${++n}`)
  for (const a of agg.aggs) {
    if (a.fn === 'AVG') { vals.push(`?${++n}`, `?${++n}`); continue }
    if (a.fn === 'COUNT') { vals.push(`?${++n}`); continue }
    const v = `?${++n}`, t = `?${++n}`
    vals.push(`CASE WHEN ${t} THEN CAST(${v} AS REAL) WHEN typeof(${v}) = 'real' AND ${v} = CAST(${v} AS INTEGER) THEN CAST(${v} AS INTEGER) ELSE ${v} END`)
  }
  return `INSERT INTO "__P" VALUES (${vals.join(', ')})`
}

function pp0Label(pp: PiecePlan): string { return `${pp.piece.name}@${pp.copy!.site}` }
function sum<T>(xs: T[], f: (x: T) => number): number { let s = 0; for (const x of xs) s += f(x); return s }

function decision(g: GroupPlan, pp: PiecePlan): FragmentDecision {
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

export function formatExplain(r: QueryRunResult): string {
  const p = r.plan
  const L: string[] = []
  const ms = (x: number) => `${x.toFixed(2)} ms`
  L.push(`${p.statement.toUpperCase()} at ${p.querySite} — ${p.requestClass}; strategy ${p.strategy}; assembly site ${p.assemblySite}`)
  L.push(`virtual response time ${ms(r.virtualMs)}; rows ${r.rowCount}`)
  const used = p.fragments.filter((f) => f.status === 'used'), pruned = p.fragments.filter((f) => f.status === 'pruned')
  L.push('fragments used:')
  for (const f of used) L.push(`  ${f.ref}: ${f.fragment} at ${f.site}${f.server === 'repository' ? ' (main repository)' : ''}${f.role && f.role !== 'authoritative' ? ` [${f.role}]` : ''}${f.note ? ` — ${f.note}` : ''}${f.stalenessMs !== undefined ? ` (stale by ${Math.round(f.stalenessMs / 60000)} min)` : ''}`)
  if (pruned.length) {
    L.push('fragments pruned:')
    for (const f of pruned) L.push(`  ${f.ref}: ${f.fragment} — ${f.reason}`)
  }
  if (p.joins.length) {
    L.push('joins:')
    for (const j of p.joins) L.push(`  ${j.ref} ⋈ ${j.reducer} on ${j.on}: ${j.chosen} (est ${ms(j.estMsChosen)}; alternative ${j.chosen === 'semijoin' ? 'ship-whole' : 'semijoin'} est ${ms(j.estMsAlternative)}; est bytes semijoin ${j.estBytesSemijoin} vs ship-whole ${j.estBytesShipWhole})`)
  }
  L.push('steps:')
  for (const s of p.steps) {
    const rows = s.actualRows !== undefined ? ` rows est ${s.estRows ?? '?'} / actual ${s.actualRows}` : ''
    const bytes = s.actualBytes !== undefined ? ` bytes est ${s.estBytes ?? '?'} / actual ${s.actualBytes}` : ''
    const route = s.route && s.route.length > 1 ? ` via ${s.route.join('→')}` : ''
    L.push(`  ${s.id}. [${ms(s.startMs)} → ${ms(s.endMs)}] ${s.kind} ${s.site}${s.to ? `→${s.to}` : ''}${route}${s.fragment ? ` ${s.fragment}` : ''}${rows}${bytes}${s.note ? ` (${s.note})` : ''}`)
    if (s.sql) L.push(`       ${s.sql}`)
  }
  if (p.finalSql && p.strategy !== 'single-site') L.push(`final at ${p.assemblySite}: ${p.finalSql}`)
  L.push('bytes per link: ' + (Object.entries(r.perLinkBytes).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'))
  for (const n of p.notes) L.push(`note: ${n}`)
  return L.join('\n')
}

/** The cluster's DQP (one per cluster, built by its subsystem registry; cached plans and statistics live in it). */
export function dqpFor(cluster: Cluster): Promise<Dqp> { return cluster.subsystems.dqp() }

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
