/**
 * INSERT / UPDATE / DELETE on global names, routed to the fragments that hold the rows.
 * A statement touching several sites (e.g. an UPDATE that changes BRCODE and so moves a row from one
 * horizontal fragment to another) is applied all-or-nothing: each site's part runs in one local
 * transaction, and if a later part fails the parts already committed are undone (compensated from the
 * before-images captured first). This is an explicit atomic apply with undo, not the DTM's 2PC.
 * Replicas (ITEMS, the vertical fragment Stocks_CMB_FRG) are kept in step by the replication channels;
 * the write returns once they have applied it (bounded wait in virtual time).
 */
import { EngineError } from '../errors'
import type { SiteCode } from '../topology/types'
import type { SqlValue } from '../site/sqljs'
import type { SiteStore } from '../site/site'
import { conjuncts, colName, sqlify, type Ast, type ParsedText } from './parse'
import type { Dqp, RunOptions } from './dqp'
import { ExecCtx } from './exec'
import type { Copy, NameTarget, Piece } from './catalog'
import type { TableRef } from './analyze'
import { exprSql, qid, rowsBytes, andSql } from './sqltext'
import type { FragmentDecision, PlanView, QueryRunResult } from './types'
import { siteStoreOf } from './stores'
import type { QueryGen } from './coop'
import { checkQueryWrite, Dim } from '../integrity'
import { fragmentViolation, needsImages, rowOf } from '../integrity/dim'

interface SitePart {
  site: SiteCode
  table: string
  piece: Piece
  copy: Copy
  /** Rows to delete (full old images, relation column order of the fragment). */
  del: SqlValue[][]
  /** Rows to insert (full images). */
  ins: SqlValue[][]
  /** For a plain in-place statement. */
  sql?: string
  params?: SqlValue[]
}

function hasSubquery(n: Ast): boolean {
  return JSON.stringify(n ?? null).includes('"ast":')
}

function writable(t: NameTarget): void {
  const f = t.fragment
  if (!f) return
  if (f.kind === 'vertical') throw new EngineError('UNSUPPORTED', `${f.name} is a vertical fragment maintained from ${f.copyOf}; write ${t.relation.name} instead`)
  if (f.kind === 'copy') throw new EngineError('UNSUPPORTED', `${f.name} is a scheduled copy of ${f.copyOf} (refreshed at 12:00 and 18:00); write ${t.relation.name} instead`)
}

export type WriteResult = QueryRunResult & { undo?: () => void; sites?: SiteCode[] }

/**
 * One INSERT/UPDATE/DELETE as a generator (see coop.ts). Checkpoints: while the before-images are read
 * (cancelling there changes nothing) and between the parts applied at the sites (cancelling there undoes
 * the parts already applied, like any other failure of the all-or-nothing apply). They are HOLD checkpoints:
 * a write never lets another call run between reading its before-images and applying them.
 */
export function* runWrite(dqp: Dqp, querySite: SiteCode, ast: Ast, parsed: ParsedText, _opts: RunOptions, ctxIn?: ExecCtx): QueryGen<WriteResult> {
  void _opts
  const cluster = dqp.cluster
  const cat = dqp.catalog
  const kind = ast.type as 'insert' | 'update' | 'delete'
  const tables = kind === 'delete' ? ast.from : ast.table
  if (!Array.isArray(tables) || tables.length !== 1) throw new EngineError('UNSUPPORTED', `${kind.toUpperCase()} over several tables (joins) is not supported`)
  if (kind === 'delete' && Array.isArray(ast.table) && ast.table.length > 1) throw new EngineError('UNSUPPORTED', 'multi-table DELETE is not supported')
  if (ast.returning) throw new EngineError('UNSUPPORTED', 'RETURNING is not supported')
  if (ast.orderby || ast.limit?.value?.length) throw new EngineError('UNSUPPORTED', `${kind.toUpperCase()} … ORDER BY / LIMIT is not supported`)
  const name = String(tables[0].table).toUpperCase()
  if (cat.view(name)) throw new EngineError('UNSUPPORTED', `global view ${name} is read-only`)
  const target = cat.resolve(name, parsed.atRefs)
  writable(target)
  const rel = target.relation
  const cols = target.columns
  const ctx = ctxIn ?? new ExecCtx(cluster, querySite)
  // no other call may run between reading the before-images and applying them (see coop.ts)
  ctx.hold = true
  const notes: string[] = []
  const fragments: FragmentDecision[] = []

  // pieces that may hold rows, each with the copy that must take the write (the authoritative one)
  const allPieces = cat.pieces(target)
  const writeCopy = (piece: Piece): Copy => {
    let c: Copy | undefined
    if (target.kind === 'relation' && rel.distribution === 'replicated') {
      c = piece.copies.find((x) => x.server === 'primary' && x.site === querySite) ?? piece.copies.find((x) => x.server === 'primary' && cluster.isSiteUp(x.site))
    } else {
      c = piece.copies.find((x) => x.server === 'primary' && (x.role === 'authoritative' || (target.kind !== 'relation' && x.role === 'replica')))
    }
    if (!c) throw new EngineError('INTERNAL', `no writable copy of ${piece.name}`)
    if (!cluster.isServerUp(`${c.site}.primary`) || !cluster.net.route(querySite, c.site)) {
      throw new EngineError('UNREACHABLE', `fragment ${piece.name} cannot be written: its site ${c.site} is ${cluster.isServerUp(`${c.site}.primary`) ? 'unreachable from ' + querySite : 'down'} (writes go to the fragment's own site; nothing was changed)`, { site: c.site })
    }
    return c
  }
  const store = (site: SiteCode): SiteStore => {
    const s = siteStoreOf(cluster, site)
    if (!s) throw new EngineError('INTERNAL', 'site stores are not loaded')
    return s
  }

  const parts: SitePart[] = []
  let changes = 0

  if (kind === 'insert') {
    if (!ast.values || ast.values.type !== 'values') throw new EngineError('UNSUPPORTED', 'INSERT … SELECT is not supported (use INSERT … VALUES)')
    if (hasSubquery(ast.values)) throw new EngineError('UNSUPPORTED', 'subqueries in INSERT … VALUES are not supported')
    const given: string[] = ast.columns ? ast.columns.map((c: Ast) => String(typeof c === 'string' ? c : colName({ column: c })).toUpperCase()) : cols
    for (const g of given) if (!cols.includes(g)) throw new EngineError('SQL_ERROR', `table ${target.display} has no column named ${g}`)
    for (const tuple of ast.values.values) {
      const exprs = tuple.value as Ast[]
      if (exprs.length !== given.length) throw new EngineError('SQL_ERROR', `${exprs.length} values for ${given.length} columns`)
      const vals = dqp.evalConst(exprs)
      const row: SqlValue[] = cols.map((c) => { const i = given.indexOf(c); return i >= 0 ? vals[i] : null })
      let piece: Piece
      if (allPieces.length === 1) piece = allPieces[0]
      else {
        const pc = allPieces[0].predicateColumn!
        const v = row[cols.indexOf(pc)]
        const hit = allPieces.find((p) => p.predicateValue === String(v))
        if (!hit) throw new EngineError('BAD_INPUT', `${pc} ${v === null ? 'NULL' : `'${String(v)}'`} matches no fragment of ${rel.name} (fragments: ${allPieces.map((p) => `${p.name} ${p.predicate}`).join(', ')})`)
        piece = hit
      }
      if (piece.predicateColumn) {
        const i = cols.indexOf(piece.predicateColumn)
        if (i >= 0) {
          if (row[i] === null) row[i] = piece.predicateValue!
          else if (String(row[i]) !== piece.predicateValue) throw fragmentViolation(cluster.topology, piece.name, rowOf(cols, row), piece.copies[0]?.site ?? querySite)
        }
      }
      const copy = writeCopy(piece)
      let part = parts.find((p) => p.copy === copy)
      if (!part) { part = { site: copy.site, table: copy.table, piece, copy, del: [], ins: [] }; parts.push(part) }
      part.ins.push(row)
    }
  } else {
    if (hasSubquery(ast.where) || (kind === 'update' && hasSubquery(ast.set))) throw new EngineError('UNSUPPORTED', `subqueries in ${kind.toUpperCase()} are not supported by the distributed query processor`)
    // validate column names through the schema DB (SQLite's own checks)
    dqp.validateWrite(parsed, name)
    const filters = conjuncts(ast.where).map((c) => { const x = structuredClone(c); unqualify(x); return x })
    const fsql = filters.map((f) => exprSql(f))
    const pseudo = { target, filters } as unknown as TableRef
    const live: Piece[] = []
    for (const piece of allPieces) {
      const why = dqp.pruneFor(pseudo, fsql, piece)
      if (why) fragments.push({ ref: rel.name, fragment: piece.name, status: 'pruned', reason: why })
      else live.push(piece)
    }
    const where = fsql.length ? ` WHERE ${andSql(fsql)}` : ''
    const sets: { col: string; sql: string }[] = kind === 'update' ? ast.set.map((s: Ast) => {
      const col = String(s.column).toUpperCase()
      if (!cols.includes(col)) throw new EngineError('SQL_ERROR', `no such column: ${s.column}`)
      const v = structuredClone(s.value); unqualify(v)
      return { col, sql: exprSql(v) }
    }) : []
    const moves = kind === 'update' && !!allPieces[0]?.predicateColumn && allPieces.length > 1 && sets.some((s) => s.col === allPieces[0].predicateColumn)
    const copies = live.map((p) => ({ piece: p, copy: writeCopy(p) }))
    ctx.plan(copies.length)
    // inside a transaction every statement keeps before-images, so a later failure can undo it
    const dim = Dim.of(cluster)
    const multi = copies.length > 1 || moves || !!ctxIn || (dim.enabled && needsImages(cluster.topology, rel.name, kind, sets.map((x) => x.col)))
    for (const { piece, copy } of copies) {
      const part: SitePart = { site: copy.site, table: copy.table, piece, copy, del: [], ins: [] }
      if (!multi) {
        part.sql = kind === 'delete'
          ? `DELETE FROM ${qid(copy.table)}${where}`
          : `UPDATE ${qid(copy.table)} SET ${sets.map((s) => `${qid(s.col)} = ${s.sql}`).join(', ')}${where}`
      } else {
        // read the before-images (and the after-images for an UPDATE) at the site
        const fcols = copy.columns
        const newExprs = fcols.map((c) => sets.find((s) => s.col === c)?.sql ?? qid(c))
        const sql = `SELECT ${fcols.map(qid).join(', ')}${kind === 'update' ? `, ${newExprs.join(', ')}` : ''} FROM ${qid(copy.table)}${where}`
        const r = yield* ctx.remoteQueryGen(copy.site, sql, 'primary', `${piece.name}@${copy.site}`, 0, () => new EngineError('UNREACHABLE', `fragment ${piece.name} at ${copy.site} could not be read for the ${kind.toUpperCase()}; nothing was changed`, { site: copy.site }))
        for (const row of r.rows) {
          part.del.push(row.slice(0, fcols.length))
          if (kind === 'update') {
            const img = row.slice(fcols.length)
            if (moves) {
              const pc = piece.predicateColumn!
              const v = img[fcols.indexOf(pc)]
              const dest = allPieces.find((p) => p.predicateValue === String(v))
              if (!dest) throw new EngineError('BAD_INPUT', `${pc} ${v === null ? 'NULL' : `'${String(v)}'`} matches no fragment of ${rel.name}; nothing was changed`)
              if (dest !== piece) {
                const dc = writeCopy(dest)
                let dpart = parts.find((p) => p.copy === dc)
                if (!dpart) { dpart = { site: dc.site, table: dc.table, piece: dest, copy: dc, del: [], ins: [] }; parts.push(dpart) }
                dpart.ins.push(img)
                continue
              }
            }
            part.ins.push(img)
          }
        }
      }
      if (!parts.includes(part)) parts.push(part)
    }
  }

  // ---- apply, all or nothing --------------------------------------------------------------
  const done: { part: SitePart; inserted: SqlValue[][]; deleted: SqlValue[][] }[] = []
  const keyIdx = (copy: Copy) => rel.key.map((k) => copy.columns.indexOf(k))
  const applyPart = (part: SitePart): number => {
    const st = store(part.site)
    const fcols = part.copy.columns
    const ins = `INSERT INTO ${qid(part.table)} (${fcols.map(qid).join(', ')}) VALUES (${fcols.map(() => '?').join(', ')})`
    const ki = keyIdx(part.copy)
    const del = `DELETE FROM ${qid(part.table)} WHERE ${rel.key.map((k) => `${qid(k)} = ?`).join(' AND ')}`
    return st.withTransaction((tx) => {
      if (part.sql) return tx.exec(part.sql, part.params).changes
      let n = 0
      for (const r of part.del) n += tx.exec(del, ki.map((i) => r[i])).changes
      for (const r of part.ins) { tx.exec(ins, r); n++ }
      return n
    })
  }
  const undo = () => {
    for (const d of done.reverse()) {
      try {
        const st = store(d.part.site)
        const fcols = d.part.copy.columns
        const ki = keyIdx(d.part.copy)
        st.withTransaction((tx) => {
          for (const r of d.inserted) tx.exec(`DELETE FROM ${qid(d.part.table)} WHERE ${rel.key.map((k) => `${qid(k)} = ?`).join(' AND ')}`, ki.map((i) => r[i]))
          for (const r of d.deleted) tx.exec(`INSERT OR REPLACE INTO ${qid(d.part.table)} (${fcols.map(qid).join(', ')}) VALUES (${fcols.map(() => '?').join(', ')})`, r)
        })
        notes.push(`undid the part already applied at ${d.part.site}`)
      } catch (e) {
        notes.push(`UNDO FAILED at ${d.part.site}: ${e instanceof Error ? e.message : String(e)}`)
      }
    }
  }
  // plain statements with a multi-part write never happen (multi ⇒ images); parts touching the same site merge naturally
  const multiSite = new Set(parts.map((p) => p.site)).size > 1 || parts.length > 1
  // a site whose read found no matching row takes no part in the write
  for (let i = parts.length - 1; i >= 0; i--) if (!parts[i].sql && !parts[i].del.length && !parts[i].ins.length) parts.splice(i, 1)
  // deletions first, and each origin's changes reach the main repository before another site re-inserts the
  // same key (the repository keys rows by the global key, so a moved row must not be re-inserted before its delete)
  parts.sort((a, b) => (b.del.length ? 1 : 0) - (a.del.length ? 1 : 0))
  ctx.plan(parts.length)
  // the DIM judges the rows before any part is applied, and holds the keys' locks until they are (see engine/integrity)
  const releaseChecks = checkQueryWrite(cluster, querySite, parts.filter((p) => !p.sql).map((p) => ({ site: p.site, table: p.table, columns: p.copy.columns, del: p.del, ins: p.ins })), {
    ship: (jobs) => ctx.parallel(jobs.map((j) => ({ from: querySite, site: j.site, server: 'primary' as const, to: querySite, sql: j.sql, params: j.params, extraBytes: 0, label: j.label, estRows: 1, estBytes: 8 })))
      .map((r) => (r.ok ? { rows: r.rows } : null)),
  })
  try {
    for (const [pi, part] of parts.entries()) {
      // a cancellation requested so far stops here: before the first part nothing has changed, after it the catch undoes
      yield ctx.tick(`${kind.toUpperCase()}: ${done.length} of ${parts.length} site parts applied`)
      if (pi > 0 && part.ins.length && parts[pi - 1].del.length) waitRepository(dqp, [...new Set(parts.slice(0, pi).map((p) => p.site))])
      const bytes = part.sql ? part.sql.length : rowsBytes(part.copy.columns, part.ins) + rowsBytes(part.copy.columns, part.del)
      ctx.message(querySite, part.site, `dqp.${kind}`, bytes, 'write', `${kind.toUpperCase()} ${part.piece.name}@${part.site}${part.sql ? '' : ` (−${part.del.length} / +${part.ins.length} rows)`}`)
      if (!cluster.isServerUp(`${part.site}.primary`)) throw new EngineError('SITE_DOWN', `${part.site}.primary failed before applying its part of the ${kind.toUpperCase()} on ${part.piece.name}`, { site: part.site })
      const n = applyPart(part)
      changes += part.sql ? n : Math.max(part.del.length, part.ins.length)
      done.push({ part, inserted: part.ins, deleted: part.del })
      ctx.message(part.site, querySite, `dqp.${kind}.ack`, 16, 'write', `${part.site} applied ${n} row changes`)
      fragments.push({ ref: rel.name, fragment: part.piece.name, status: 'used', site: part.site, server: 'primary', role: part.copy.role, note: part.sql ? part.sql : `−${part.del.length} / +${part.ins.length} rows` })
      yield ctx.done(`${kind.toUpperCase()} applied at ${part.site} (${done.length} of ${parts.length} site parts)`)
    }
  } catch (e) {
    if (multiSite && done.length) undo()
    if (e instanceof EngineError) throw new EngineError(e.code, `${e.message}${done.length ? ' — the parts already applied were undone; nothing changed' : ''}`, e.site ? { site: e.site } : {})
    throw e
  } finally {
    releaseChecks()
  }
  if (kind !== 'insert' && parts.some((p) => !p.sql)) {
    // counted rows: a moved row is one change
    changes = parts.reduce((s, p) => s + p.del.length, 0)
  }
  // replicas of what we wrote (ITEMS everywhere, Stocks_CMB_FRG at MBI) catch up before we return
  waitReplicas(dqp, [...new Set(parts.map((p) => p.site))])

  const sites = [...new Set(parts.map((p) => p.site))]
  const requestClass = sites.length > 1 ? 'distributed request' as const : 'remote transaction' as const
  if (sites.length > 1) notes.push(`one statement over ${sites.join(', ')}, applied atomically (all-or-nothing apply with undo of the parts already committed)`)
  const plan: PlanView = {
    statement: kind, querySite, assemblySite: querySite, strategy: 'write', requestClass, fragments, joins: [], steps: ctx.steps,
    notes, sitesInvolved: [...new Set([querySite, ...sites])], actualRows: changes,
  }
  void sqlify
  const applied = done.slice()
  const undoAll = () => { done.splice(0, done.length, ...applied); undo() }
  return { columns: ['changes'], rows: [[changes]], rowCount: 1, requestClass, plan, perLinkBytes: ctx.perLink, virtualMs: ctx.elapsed(), wallMs: 0, changes, undo: undoAll, sites }
}

/**
 * BEGIN; w1; w2; …; COMMIT — several writes applied all-or-nothing: each statement as above; if one
 * fails, the statements already applied are compensated in reverse order. Classified as a remote
 * transaction (all at one site), a distributed transaction (several sites, each statement at one site)
 * or a distributed request (some statement spans sites).
 */
export function* runScript(dqp: Dqp, querySite: SiteCode, stmts: Ast[], parsed: ParsedText, opts: RunOptions): QueryGen<QueryRunResult> {
  const ctx = new ExecCtx(dqp.cluster, querySite)
  ctx.hold = true
  const results: WriteResult[] = []
  try {
    for (const [i, st] of stmts.entries()) {
      try {
        if (i > 0) yield ctx.tick(`transaction: ${i} of ${stmts.length} statements applied`)
        results.push(yield* runWrite(dqp, querySite, st, parsed, opts, ctx))
      } catch (e) {
        for (const r of [...results].reverse()) r.undo?.()
        const msg = e instanceof Error ? e.message : String(e)
        const code = e instanceof EngineError ? e.code : 'INTERNAL'
        throw new EngineError(code, `statement ${i + 1} of the transaction failed: ${msg}${results.length ? ` — statements 1–${results.length} were undone; nothing changed` : ''}`, e instanceof EngineError && e.site ? { site: e.site } : {})
      }
    }
  } finally { /* nothing to release: each statement committed locally or was undone */ }
  const perStmt = results.map((r) => r.sites ?? [])
  const all = [...new Set(perStmt.flat())]
  const requestClass = perStmt.some((s) => s.length > 1) ? 'distributed request' as const : all.length <= 1 ? 'remote transaction' as const : 'distributed transaction' as const
  const changes = results.reduce((s, r) => s + (r.changes ?? 0), 0)
  const plan: PlanView = {
    statement: 'update', querySite, assemblySite: querySite, strategy: 'write', requestClass,
    fragments: results.flatMap((r) => r.plan.fragments), joins: [], steps: ctx.steps,
    notes: [`transaction of ${results.length} statements over ${all.join(', ') || 'no site'}: ${perStmt.map((s, i) => `#${i + 1} at ${s.join('+') || '—'}`).join(', ')}; applied all-or-nothing (compensation of the statements already applied on failure, not 2PC)`, ...results.flatMap((r) => r.plan.notes)],
    sitesInvolved: [...new Set([querySite, ...all])], actualRows: changes,
  }
  return { columns: ['changes'], rows: [[changes]], rowCount: 1, requestClass, plan, perLinkBytes: ctx.perLink, virtualMs: ctx.elapsed(), wallMs: 0, changes }
}

function unqualify(n: Ast): void {
  if (!n || typeof n !== 'object') return
  if (Array.isArray(n)) { n.forEach(unqualify); return }
  if (n.type === 'column_ref') { n.table = null; return }
  for (const k of Object.keys(n)) if (k !== 'tableList' && k !== 'columnList') unqualify(n[k])
}

/** Runs the simulation until the replication channels from these sites to other primaries are drained (≤ 30 s virtual). */
function waitReplicas(dqp: Dqp, sites: SiteCode[]): void {
  const cluster = dqp.cluster
  const repl = (cluster as unknown as { replication?: { channels: Map<string, { targetSite: string; role: string; pending: unknown[] }[]> } }).replication
  if (!repl) return
  const deadline = cluster.sim.now + 30_000
  const pending = () => sites.some((s) => (repl.channels.get(s) ?? []).some((ch) => ch.role === 'primary' && ch.targetSite !== s && ch.pending.length > 0 && cluster.isServerUp(`${ch.targetSite}.primary`) && cluster.net.route(s, ch.targetSite)))
  cluster.sim.runUntilTrue(() => !pending() || cluster.sim.now > deadline)
}

/** Runs the simulation until these sites' changes have reached the main repository (≤ 30 s virtual). */
function waitRepository(dqp: Dqp, sites: SiteCode[]): void {
  const cluster = dqp.cluster
  const repl = (cluster as unknown as { replication?: { channels: Map<string, { targetSite: string; role: string; pending: unknown[] }[]> } }).replication
  if (!repl) return
  const deadline = cluster.sim.now + 30_000
  const pending = () => sites.some((s) => (repl.channels.get(s) ?? []).some((ch) => ch.role === 'repository' && ch.pending.length > 0 && cluster.isServerUp(`${ch.targetSite}.repository`) && cluster.net.route(s, ch.targetSite)))
  cluster.sim.runUntilTrue(() => !pending() || cluster.sim.now > deadline)
}
