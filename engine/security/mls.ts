/**
 * Multi-level security on what a statement READS (Bell–LaPadula, spec §8): no read up, no write down.
 *
 * A SELECT is walked on node-sql-parser's AST, block by block (every branch of a UNION / INTERSECT / EXCEPT,
 * derived tables, subqueries in any clause, global views expanded through their definition), with every FROM
 * source resolved to a global relation or fragment:
 *  - a relation labelled above the session level is refused outright (even COUNT(*) over it reads it);
 *  - every column reference (select list, WHERE, ON, GROUP BY, HAVING, ORDER BY, LIMIT, correlated references
 *    to outer blocks, aliases) is resolved to every base column it could denote; if any is above the session
 *    level the statement is refused (ACCESS_DENIED naming the column and the levels);
 *  - a `*` or `t.*` is expanded, in the statement itself, into the columns at or below the level: the hidden
 *    ones are never selected, so their values never leave the sites, and positional ORDER BY / GROUP BY
 *    resolve against what the session sees (its columns, in order);
 *  - what cannot be resolved with certainty (unknown tables or columns, USING / NATURAL joins, WITH, a `*`
 *    over an unnamed subquery next to a table with hidden columns) is refused, never passed through.
 * The statement the session runs is the rewritten one (`sql`); nothing is rewritten when nothing is hidden.
 * Writes keep the column-list check (a written column from the session level up to the clearance).
 */
import { EngineError } from '../errors'
import { levelRank, type Level } from '../api/security'
import { AT_MARK, astifySql, colName, isSelect, preprocess, sqlParser, sqlify, type Ast } from '../query/parse'
import { parseViewAst } from '../query/analyze'
import type { SecurityPolicy } from './policy'

/** Who reads: the session's user, its level and the user's clearance. */
export interface MlsSubject { user: string; level: Level; clearance: Level; site: string }

export interface ReadCheck {
  /** The statement to run for the session: the one given, or its rewrite with `*` restricted. */
  sql: string
  /** Column names a `*` left out (above the session's level), in order of first appearance. */
  hidden: string[]
}

/** Catalog tables a session's SQL may not name: they carry statistics labelled like what they describe (read them with the catalog calls). */
const LABELLED_CATALOG = new Set(['LCAT_COLUMNS', 'LCAT_TABLES', 'LCAT_INDEXES', 'FRAGMENT_TABLES'])

const JOIN_WORDS = new Set(['NATURAL', 'LEFT', 'RIGHT', 'FULL', 'CROSS', 'INNER', 'OUTER', 'JOIN'])

type Source =
  | { kind: 'base'; alias: string; written: string; relation: string; columns: string[] }
  | { kind: 'derived'; alias: string; columns: string[] | null }
  | { kind: 'public'; alias: string }

interface Scope { sources: Source[]; aliases: Set<string>; parent?: Scope }

const up = (s: unknown) => String(s).toUpperCase()
const bare = (n: string) => { const i = n.toUpperCase().indexOf(AT_MARK.toUpperCase()); return i >= 0 ? n.slice(0, i) : n }

class ReadChecker {
  readonly hidden: string[] = []
  changed = false

  constructor(private policy: SecurityPolicy, private s: MlsSubject) {}

  private above(l: Level): boolean { return levelRank(l) > levelRank(this.s.level) }

  deny(msg: string): never { throw new EngineError('ACCESS_DENIED', msg, { site: this.s.site }) }

  private checkColumn(relation: string, col: string, via?: string): void {
    const label = this.policy.columnLevel(relation, col)
    if (this.above(label)) this.deny(`no read up: ${relation}.${col} is ${label}; ${this.s.user}'s session runs at ${this.s.level}${via ? ` (read by view ${via})` : ''}`)
  }

  /** Checks one SELECT block and its compound branches; returns the output column names of the first (null: unknown). */
  select(sel: Ast, parent: Scope | undefined, depth: number, via?: string): string[] | null {
    if (depth > 16) throw new EngineError('UNSUPPORTED', 'subqueries nested deeper than 16 levels are not supported')
    const branches: Ast[] = []
    for (let b: Ast = sel; b; b = b._next) {
      if (!isSelect(b)) throw new EngineError('UNSUPPORTED', `a ${up(b.type)} inside a set operation is not supported`)
      branches.push(b)
    }
    const compound = branches.length > 1
    const results = branches.map((b, i) => this.block(b, parent, depth, via, compound && i === branches.length - 1))
    if (compound) {
      // the compound's ORDER BY / LIMIT (on its last branch): result columns of any branch by name or position
      const last = results[results.length - 1].scope
      for (const r of results) for (const a of r.scope.aliases) last.aliases.add(a)
      for (const r of results) if (r.names) for (const n of r.names) if (n) last.aliases.add(up(n))
      const tail = branches[branches.length - 1]
      this.walk([tail.orderby, tail.limit], last, depth, via)
      if (results.some((r) => r.hid)) {
        const known = results.map((r) => (r.names ? r.names.length : null))
        if (known.every((n) => n !== null) && new Set(known).size > 1) {
          this.deny(`a * in a branch of ${up(sel.set_op ?? 'UNION')} leaves out ${this.hidden.join(', ')} (above ${this.s.user}'s ${this.s.level} session), so the branches no longer have the same columns (${known.join(' vs ')}): name the columns`)
        }
      }
    }
    return results[0].names
  }

  private source(item: Ast, parent: Scope | undefined, depth: number, via: string | undefined): Source {
    const j = up(item.join ?? '')
    if (j.includes('NATURAL')) throw new EngineError('UNSUPPORTED', 'NATURAL JOIN is not supported (use JOIN … ON)')
    if (item.using) throw new EngineError('UNSUPPORTED', 'JOIN … USING is not supported (use JOIN … ON)')
    // node-sql-parser reads `A NATURAL JOIN B` as A aliased NATURAL, cross-joined with B: refuse join words as aliases
    if (item.as && JOIN_WORDS.has(up(item.as))) throw new EngineError('UNSUPPORTED', `${up(item.as)} JOIN is not supported (use JOIN … ON)`)
    if (item.expr?.ast) {
      const cols = this.select(item.expr.ast, parent, depth + 1, via)
      return { kind: 'derived', alias: item.as ? up(item.as) : '', columns: cols?.map(up) ?? null }
    }
    if (typeof item.table !== 'string' || item.expr) throw new EngineError('UNSUPPORTED', 'this kind of FROM item (table-valued expression) is not supported')
    if (item.db) throw new EngineError('UNSUPPORTED', `schema-qualified table ${item.db}.${item.table} is not supported; use fragment@SITE for local mapping`)
    const written = String(item.table)
    const name = bare(written)
    const alias = up(item.as ?? written)
    const ref = this.policy.resolve(name)
    if (ref.kind === 'relation') {
      const label = this.policy.relationLevel(ref.relation)
      if (this.above(label)) this.deny(`no read up: ${ref.relation} is ${label}; ${this.s.user}'s session runs at ${this.s.level}`)
      return { kind: 'base', alias, written: String(item.as ?? written), relation: ref.relation, columns: ref.columns.map(up) }
    }
    if (ref.kind === 'view') {
      const v = parseViewAst(name, ref.sql)
      const before = this.changed
      this.changed = false
      const cols = this.select(v, undefined, depth + 1, via ?? up(name))
      if (this.changed) {
        // the view's own `*` lost columns: the session reads the restricted definition in its place
        delete item.table; delete item.db
        item.expr = { ast: v, parentheses: true }
        item.as = item.as ?? name
      }
      this.changed ||= before
      return { kind: 'derived', alias, columns: cols?.map(up) ?? null }
    }
    if (ref.kind === 'public') {
      if (LABELLED_CATALOG.has(up(name))) this.deny(`${up(name)} holds statistics labelled like what they describe: read it with the catalog calls, which show ${this.s.user} only what the ${this.s.level} session may see`)
      return { kind: 'public', alias }
    }
    throw new EngineError('UNKNOWN_TABLE', `no global relation, view or fragment named ${up(name)}`, { site: this.s.site })
  }

  private block(sel: Ast, parent: Scope | undefined, depth: number, via: string | undefined, deferTail: boolean): { names: string[] | null; hid: boolean; scope: Scope } {
    if (sel.with) throw new EngineError('UNSUPPORTED', 'WITH (common table expressions) is not supported by the distributed query processor')
    const scope: Scope = { sources: [], aliases: new Set(), parent }
    for (const item of sel.from ?? []) scope.sources.push(this.source(item, parent, depth, via))
    if (!Array.isArray(sel.columns)) throw new EngineError('UNSUPPORTED', 'this select list is not supported')
    // expand stars into what the session may read
    let hid = false
    let names: string[] | null = []
    const cols: Ast[] = []
    for (const c of sel.columns) {
      const e = c.expr
      if (e?.type === 'column_ref' && colName(e) === '*') {
        const r = this.star(scope, e.table ?? null)
        if (r.hid) { hid = true; this.changed = true; cols.push(...r.items) } else cols.push(c)
        names = names && r.names ? [...names, ...r.names] : null
        continue
      }
      cols.push(c)
      if (c.as) scope.aliases.add(up(c.as))
      const n = c.as ?? (e?.type === 'column_ref' ? colName(e) : undefined)
      if (names) names.push(n === undefined ? '' : String(n))
    }
    sel.columns = cols
    // every column reference anywhere in the block
    const parts = [sel.columns, sel.where, sel.groupby, sel.having, ...(deferTail ? [] : [sel.orderby, sel.limit]), ...(sel.from ?? []).map((f: Ast) => f.on)]
    this.walk(parts, scope, depth, via)
    return { names, hid, scope }
  }

  /** The columns a `*` (or `t.*`) may bring: explicit references when something is left out. */
  private star(scope: Scope, table: string | null): { items: Ast[]; names: string[] | null; hid: boolean } {
    const targets = table === null ? scope.sources : scope.sources.filter((s) => s.alias === up(table))
    if (table !== null && !targets.length) throw new EngineError('SQL_ERROR', `no such table: ${table}`, { site: this.s.site })
    if (!targets.length) throw new EngineError('SQL_ERROR', 'a * needs a FROM clause', { site: this.s.site })
    const items: Ast[] = []
    let names: string[] | null = []
    let hid = false
    const qualify = table !== null || targets.length > 1
    for (const t of targets) {
      if (t.kind !== 'base') {
        names = names && t.kind === 'derived' && t.columns ? [...names, ...t.columns] : null
        items.push({ expr: { type: 'column_ref', table: t.alias ? (t.kind === 'derived' || t.kind === 'public' ? t.alias : null) : null, column: '*' }, as: null })
        continue
      }
      const keep = t.columns.filter((c) => !this.above(this.policy.columnLevel(t.relation, c)))
      for (const c of t.columns) if (!keep.includes(c)) { hid = true; if (!this.hidden.includes(c)) this.hidden.push(c) }
      if (!keep.length) this.deny(`no read up: every column of ${t.relation} is above ${this.s.user}'s ${this.s.level} session`)
      if (names) names.push(...keep)
      for (const c of keep) items.push({ expr: { type: 'column_ref', table: qualify ? t.written : null, column: c }, as: null })
    }
    if (hid && items.some((i) => i.expr.column === '*' && !i.expr.table)) {
      throw new EngineError('UNSUPPORTED', 'a * over an unnamed subquery next to a table with columns above the session level cannot be restricted: give the subquery an alias or name the columns')
    }
    return { items, names, hid }
  }

  private walk(n: Ast, scope: Scope, depth: number, via: string | undefined): void {
    if (!n || typeof n !== 'object') return
    if (Array.isArray(n)) { for (const x of n) this.walk(x, scope, depth, via); return }
    if (n.ast && typeof n.ast === 'object') {
      if (!isSelect(n.ast)) throw new EngineError('UNSUPPORTED', `a ${up(n.ast.type)} inside an expression is not supported`)
      this.select(n.ast, scope, depth + 1, via)
      return
    }
    if (n.type === 'column_ref') { this.ref(scope, n.table ?? null, colName(n), via, false); return }
    // SQLite reads "X" as the column X when there is one (else as a string): check it as a column
    if (n.type === 'double_quote_string' || n.type === 'backticks_quote_string') { this.ref(scope, null, String(n.value), via, true); return }
    for (const k of Object.keys(n)) {
      if (k === 'tableList' || k === 'columnList' || k === 'loc') continue
      this.walk(n[k], scope, depth, via)
    }
  }

  /** Checks every base column a reference could denote (conservatively, when SQLite's binding is not certain). */
  private ref(scope: Scope, table: string | null, col: string | undefined, via: string | undefined, maybe: boolean): void {
    if (col === undefined) throw new EngineError('UNSUPPORTED', 'a column reference of an unknown form', { site: this.s.site })
    if (col === '*') return // a select list's * or t.* was expanded by block(); COUNT(*) reads no column
    const c = up(col)
    if (table !== null) {
      const t = up(table)
      for (let s: Scope | undefined = scope; s; s = s.parent) {
        const src = s.sources.find((x) => x.alias === t || (x.kind === 'base' && up(bare(x.written)) === t))
        if (!src) continue
        if (src.kind === 'base') {
          if (!src.columns.includes(c)) throw new EngineError('SQL_ERROR', `no such column: ${table}.${col}`, { site: this.s.site })
          this.checkColumn(src.relation, c, via)
        }
        return
      }
      throw new EngineError('SQL_ERROR', `no such column: ${table}.${col}`, { site: this.s.site })
    }
    let certain = false
    for (let s: Scope | undefined = scope; s && !certain; s = s.parent) {
      let found = false
      for (const src of s.sources) {
        if (src.kind === 'base' && src.columns.includes(c)) { this.checkColumn(src.relation, c, via); found = true }
        if (src.kind === 'derived' && src.columns?.includes(c)) found = true
      }
      if (s.aliases.has(c)) found = true
      // a source of unknown columns may bind it here, or not: keep checking the outer blocks too
      if (found) certain = true
    }
    if (!certain && !maybe && !hasUnknown(scope)) throw new EngineError('SQL_ERROR', `no such column: ${col}`, { site: this.s.site })
  }
}

function hasUnknown(scope: Scope): boolean {
  for (let s: Scope | undefined = scope; s; s = s.parent) if (s.sources.some((x) => x.kind === 'public' || (x.kind === 'derived' && !x.columns))) return true
  return false
}

const SIMPLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/

/**
 * Identifiers in expressions written so that the query processor reads them back as column references: bare
 * when a plain name, else in backticks (sqlify's sqlite output double-quotes them, which node-sql-parser's
 * sqlite grammar reads back as string literals).
 */
function plainIdentifiers(n: Ast): void {
  if (!n || typeof n !== 'object') return
  if (Array.isArray(n)) { n.forEach(plainIdentifiers); return }
  if (n.type === 'column_ref') {
    const name = (v: string) => {
      if (v.includes('`')) throw new EngineError('UNSUPPORTED', `a name with a backtick (${v}) is not supported`)
      return { type: SIMPLE_NAME.test(v) ? 'default' : 'backticks_quote_string', value: v }
    }
    if (typeof n.column === 'string' && n.column !== '*') n.column = { expr: name(n.column) }
    if (typeof n.table === 'string') n.table = name(n.table)
    return
  }
  for (const k of Object.keys(n)) plainIdentifiers(n[k])
}

/** The session's SQL after the read check (only built when a `*` was restricted). */
function restrictedText(statement: Ast, pre: ReturnType<typeof preprocess>): string {
  const ast = structuredClone(statement)
  plainIdentifiers(ast)
  let text = sqlify(ast)
  // the local-mapping notation fragment@SITE goes back to what the query processor reads
  // (placeholders are [A-Za-z0-9_] identifiers that sqlify writes quoted)
  for (const [ph, at] of pre.atRefs) text = text.replace(new RegExp(`"${ph}"`, 'gi'), `${at.fragment}@${at.site}`)
  return `${pre.explain ? 'EXPLAIN ' : ''}${text}`
}

/**
 * Checks a statement for a subject (a session) and returns what it runs. SELECT: read check on the AST (see the
 * top of the file); INSERT/UPDATE/DELETE and transactions of several: the columns written and read (a `*` there
 * is refused when it would reach a column above the level).
 */
export function checkStatement(policy: SecurityPolicy, s: MlsSubject, sql: string): ReadCheck {
  const pre = preprocess(sql)
  let statements: Ast[]
  try {
    const ast = astifySql(pre.text)
    statements = (Array.isArray(ast) ? ast : [ast]).filter((x) => x && typeof x === 'object')
  } catch (e) {
    if (e instanceof EngineError) throw e
    throw new EngineError('SQL_ERROR', `cannot read the statement: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`)
  }
  if (statements.length === 1 && isSelect(statements[0]) && !pre.transaction) {
    const st = statements[0]
    const rc = new ReadChecker(policy, s)
    rc.select(st, undefined, 0)
    return { sql: rc.changed ? restrictedText(st, pre) : sql, hidden: rc.hidden }
  }
  if (statements.some((x) => isSelect(x))) throw new EngineError('UNSUPPORTED', 'a query runs alone: one SELECT per request (INSERT, UPDATE and DELETE may be grouped in a transaction)')
  checkWrites(policy, s, pre.text, 0)
  return { sql, hidden: [] }
}

/** INSERT / UPDATE / DELETE: columns written lie from the session level up to the clearance; columns read at most at the level. */
function checkWrites(policy: SecurityPolicy, s: MlsSubject, text: string, depth: number): void {
  let tables: string[], columns: string[]
  try {
    const r = sqlParser().parse(text, { database: 'sqlite' })
    tables = r.tableList
    columns = r.columnList
  } catch (e) {
    throw new EngineError('SQL_ERROR', `cannot read the statement: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`)
  }
  const rels = new Map<string, { relation: string; columns: string[] }>()
  const deny = (msg: string): never => { throw new EngineError('ACCESS_DENIED', msg, { site: s.site }) }
  for (const t of tables) {
    const name = bare(t.split('::')[2])
    const ref = policy.resolve(name)
    if (ref.kind === 'view') {
      if (depth < 4) checkWrites(policy, s, ref.sql, depth + 1)
    } else if (ref.kind === 'relation') rels.set(up(name), { relation: ref.relation, columns: ref.columns })
    else if (ref.kind === 'public' && LABELLED_CATALOG.has(up(name))) deny(`${up(name)} is read with the catalog calls`)
  }
  for (const c of columns) {
    const [op, table, col] = c.split('::')
    const targets = table === 'null' ? [...rels.values()] : [rels.get(up(bare(table)))].filter((x) => x !== undefined)
    const star = col === '(.*)'
    for (const r of targets) {
      const cols = star ? r.columns : r.columns.filter((x) => up(x) === up(col))
      for (const name of cols) {
        const label = policy.columnLevel(r.relation, name)
        if (op === 'select') {
          if (levelRank(label) <= levelRank(s.level)) continue
          deny(star ? `a * in a write reads ${r.relation}.${name} (${label}), above ${s.user}'s ${s.level} session: name the columns` : `no read up: ${r.relation}.${name} is ${label}; ${s.user}'s session runs at ${s.level}`)
        } else {
          if (levelRank(label) < levelRank(s.level)) deny(`no write down: ${r.relation}.${name} is ${label}, below ${s.user}'s ${s.level} session (information would flow down)`)
          if (levelRank(label) > levelRank(s.clearance)) deny(`${s.user} is cleared to ${s.clearance}; ${r.relation}.${name} is ${label}`)
        }
      }
    }
  }
}
