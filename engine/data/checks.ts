/**
 * Fragmentation correctness, on demand (spec §3), against the global relations held in the Colombo
 * main repository:
 *  - completeness: every tuple of the relation is in some fragment (and every column in some vertical fragment);
 *  - reconstruction: the union of the horizontal fragments (join of the vertical ones on the key) equals the relation;
 *  - disjointness: no tuple in two horizontal fragments, and each fragment satisfies its predicate;
 *    vertical fragments share only the key.
 * Rows are compared by streaming both sides in key order (memory stays flat at 1M rows).
 * Failing rows (up to 20 per check) are returned with the reason.
 * This is an administrator's diagnostic that reads every site's database directly.
 */
import type { Statement } from 'sql.js'
import type { Site } from '../site/site'
import type { SiteDb } from '../site/db'
import type { SqlValue } from '../site/sqljs'
import { quoteId } from '../site/sqljs'
import { fragments, globalRelations, type FragmentDef } from './schema'
import type { SiteCode, TopologySpec } from '../topology/types'

import type { FailingRow, CheckResult, FragmentationReport } from '../api/checks'
export type { FailingRow, CheckResult, FragmentationReport } from '../api/checks'

const MAX_FAILING = 20

function iterate(db: SiteDb, sql: string): { next(): SqlValue[] | undefined; close(): void } {
  const st: Statement = db.db.prepare(sql)
  let done = false
  return {
    next() { if (done) return undefined; if (st.step()) return st.get(); done = true; return undefined },
    close() { st.free() },
  }
}

const cmpKey = (a: SqlValue, b: SqlValue) => (a === b ? 0 : (a as number | string) < (b as number | string) ? -1 : 1)
const same = (a: SqlValue[], b: SqlValue[]) => a.length === b.length && a.every((v, i) => v === b[i])

class Collector {
  failing: FailingRow[] = []
  count = 0
  add(f: FailingRow) { this.count++; if (this.failing.length < MAX_FAILING) this.failing.push(f) }
}

/**
 * Merges relation rows (from the repository) against one ordered fragment stream; reports rows missing
 * from either side or differing. `cols` are the compared columns (key first).
 */
/** Checks yield every YIELD_ROWS rows so an async caller can keep its host responsive. */
const YIELD_ROWS = 20_000

function* mergeCompare(rel: SiteDb, relSql: string, frag: SiteDb, fragSql: string, onMissingInFrag: (r: SqlValue[]) => void, onExtraInFrag: (r: SqlValue[]) => void, onDiff: (a: SqlValue[], b: SqlValue[]) => void): Generator<void, number> {
  const A = iterate(rel, relSql), B = iterate(frag, fragSql)
  let n = 0
  let steps = 0
  try {
    let a = A.next(), b = B.next()
    while (a || b) {
      if (++steps % YIELD_ROWS === 0) yield
      const c = !a ? 1 : !b ? -1 : cmpKey(a[0], b[0])
      if (c === 0) { if (!same(a!, b!)) onDiff(a!, b!); n++; a = A.next(); b = B.next() }
      else if (c < 0) { onMissingInFrag(a!); a = A.next() }
      else { onExtraInFrag(b!); b = B.next() }
    }
  } finally { A.close(); B.close() }
  return n
}

/** Runs the checks to completion (synchronously). */
export function checkFragmentation(topo: TopologySpec, site: (c: SiteCode) => Site, isUp: (id: string) => boolean, only?: string): FragmentationReport {
  const g = checkFragmentationSteps(topo, site, isUp, only)
  for (;;) { const r = g.next(); if (r.done) return r.value }
}

/** Runs the checks, yielding to the event loop every few thousand rows (hosts stay responsive at 1M rows). */
export async function checkFragmentationAsync(topo: TopologySpec, site: (c: SiteCode) => Site, isUp: (id: string) => boolean, only?: string): Promise<FragmentationReport> {
  const g = checkFragmentationSteps(topo, site, isUp, only)
  for (;;) {
    const r = g.next()
    if (r.done) return r.value
    await new Promise<void>((res) => setImmediate(res))
  }
}

function* checkFragmentationSteps(topo: TopologySpec, site: (c: SiteCode) => Site, isUp: (id: string) => boolean, only?: string): Generator<void, FragmentationReport> {
  const results: CheckResult[] = []
  const frs = fragments(topo)
  const hq = topo.sites.find((s) => s.repository)!.code
  const repo = site(hq).repository!
  const rels = globalRelations(topo).filter((r) => !only || r.name === only.toUpperCase())
  const down = (f: FragmentDef) => !isUp(`${f.site}.primary`)
  const skip = (relation: string, check: CheckResult['check'], why: string) => results.push({ relation, check, ok: true, skipped: why, detail: `skipped: ${why}`, failing: [], failingCount: 0 })

  for (const rel of rels) {
    const key = rel.key[0]
    const cols = rel.columns.map((c) => c.name)
    const sel = (cs: string[], t: string, where = '') => `SELECT ${cs.map(quoteId).join(', ')} FROM ${quoteId(t)} ${where} ORDER BY ${quoteId(key)}`
    const relFrags = frs.filter((f) => f.relation === rel.name)
    if (!isUp(`${hq}.repository`)) { skip(rel.name, 'reconstruction', `${hq}.repository is down`); continue }
    const dead = relFrags.filter(down)

    if (rel.distribution === 'horizontal') {
      const hs = relFrags.filter((f) => f.kind === 'horizontal')
      if (dead.length) { for (const c of ['completeness', 'reconstruction', 'disjointness'] as const) skip(rel.name, c, `${dead.map((f) => f.site).join(', ')} down`); continue }
      // completeness: every relation tuple satisfies some fragment's predicate and is present in it
      const comp = new Collector()
      const values = hs.map((f) => f.predicateValue!)
      const orphan = repo.query(`SELECT ${cols.map(quoteId).join(', ')} FROM ${quoteId(rel.name)} WHERE ${hs[0].predicateColumn} NOT IN (${values.map(() => '?').join(', ')}) OR ${hs[0].predicateColumn} IS NULL ORDER BY ${quoteId(key)}`, values)
      for (const r of orphan.rows) comp.add({ key: [r[0]], reason: `no fragment's predicate covers ${hs[0].predicateColumn} = ${String(r[cols.indexOf(hs[0].predicateColumn!)])}`, row: r })
      const recon = new Collector()
      const disj = new Collector()
      let total = 0
      for (const f of hs) {
        const db = site(f.site).primary
        total += yield* mergeCompare(repo, sel(cols, rel.name, `WHERE ${f.predicateColumn} = '${f.predicateValue}'`), db, sel(cols, f.name, `WHERE ${f.predicateColumn} = '${f.predicateValue}'`),
          (r) => comp.add({ fragment: f.name, site: f.site, key: [r[0]], reason: `tuple missing from ${f.name}`, row: r }),
          (r) => recon.add({ fragment: f.name, site: f.site, key: [r[0]], reason: `${f.name} holds a tuple the relation does not have`, row: r }),
          (a, b) => recon.add({ fragment: f.name, site: f.site, key: [a[0]], reason: `${f.name} differs from the relation: ${JSON.stringify(b)} vs ${JSON.stringify(a)}`, row: b }))
        const bad = db.query(`SELECT ${cols.map(quoteId).join(', ')} FROM ${quoteId(f.name)} WHERE NOT (${f.predicate}) OR ${f.predicateColumn} IS NULL ORDER BY 1 LIMIT ${MAX_FAILING}`).rows
        const nBad = Number(db.scalar(`SELECT COUNT(*) FROM ${quoteId(f.name)} WHERE NOT (${f.predicate}) OR ${f.predicateColumn} IS NULL`))
        for (const r of bad) disj.add({ fragment: f.name, site: f.site, key: [r[0]], reason: `violates the predicate ${f.predicate}`, row: r })
        disj.count += nBad - bad.length
        // such tuples also break reconstruction (they are outside the union of σ-fragments)
        for (const r of bad) recon.add({ fragment: f.name, site: f.site, key: [r[0]], reason: `outside ${f.name}'s predicate, so not reconstructed`, row: r })
      }
      // disjointness: a key present in two fragments
      const its = hs.map((f) => ({ f, it: iterate(site(f.site).primary, `SELECT ${quoteId(key)} FROM ${quoteId(f.name)} ORDER BY 1`) }))
      try {
        const heads = its.map((x) => x.it.next())
        let steps = 0
        for (;;) {
          if (++steps % YIELD_ROWS === 0) yield
          let min: SqlValue | undefined
          for (const h of heads) if (h && (min === undefined || cmpKey(h[0], min) < 0)) min = h[0]
          if (min === undefined) break
          const holders = its.filter((_, i) => heads[i] && heads[i]![0] === min)
          if (holders.length > 1) disj.add({ key: [min], reason: `tuple in ${holders.map((h) => h.f.name).join(' and ')}` })
          its.forEach((x, i) => { if (heads[i] && heads[i]![0] === min) heads[i] = x.it.next() })
        }
      } finally { for (const x of its) x.it.close() }
      const push = (check: CheckResult['check'], c: Collector, ok: string) => results.push({ relation: rel.name, check, ok: c.count === 0, detail: c.count === 0 ? ok : `${c.count} failing tuple(s)`, failing: c.failing, failingCount: c.count })
      push('completeness', comp, `every tuple of ${rel.name} is in a fragment (${hs.map((f) => f.name).join(', ')})`)
      push('reconstruction', recon, `${hs.map((f) => f.name).join(' ∪ ')} = ${rel.name} (${total} tuples)`)
      push('disjointness', disj, `fragments are pairwise disjoint and satisfy their predicates`)
    } else if (rel.distribution === 'replicated') {
      const c = new Collector()
      const ok = relFrags.filter((f) => !down(f))
      for (const f of ok) {
        yield* mergeCompare(repo, sel(cols, rel.name), site(f.site).primary, sel(cols, f.name),
          (r) => c.add({ fragment: f.name, site: f.site, key: [r[0]], reason: `missing from the replica at ${f.site}`, row: r }),
          (r) => c.add({ fragment: f.name, site: f.site, key: [r[0]], reason: `extra tuple in the replica at ${f.site}`, row: r }),
          (a, b) => c.add({ fragment: f.name, site: f.site, key: [a[0]], reason: `replica at ${f.site} differs: ${JSON.stringify(b)} vs ${JSON.stringify(a)}`, row: b }))
      }
      results.push({ relation: rel.name, check: 'replica-consistency', ok: c.count === 0, ...(dead.length ? { skipped: `${dead.map((f) => f.site).join(', ')} down` } : {}),
        detail: c.count === 0 ? `${ok.length} replicas equal ${rel.name}` : `${c.count} differing tuple(s)`, failing: c.failing, failingCount: c.count })
    } else {
      // per-site stock relation: the local table (plus vertical fragments / copies of it)
      const base = relFrags.find((f) => f.kind === 'local')
      if (!base) continue
      if (down(base)) { skip(rel.name, 'reconstruction', `${base.site} down`); continue }
      const verticals = relFrags.filter((f) => f.kind === 'vertical' && !down(f))
      const recon = new Collector()
      const comp = new Collector()
      const baseDb = site(base.site).primary
      if (verticals.length) {
        // π_{key, other columns}(base) ⋈ vertical fragment = relation
        for (const v of verticals) {
          const rest = cols.filter((c) => !v.columns.includes(c))
          const missingCols = cols.filter((c) => !v.columns.includes(c) && !base.columns.includes(c))
          for (const mc of missingCols) comp.add({ fragment: v.name, key: [], reason: `column ${mc} is in no fragment` })
          const vRows = new Map(site(v.site).primary.query(sel(v.columns, v.name)).rows.map((r) => [r[0], r]))
          const bRows = baseDb.query(sel([key, ...rest.filter((c) => c !== key)], base.name)).rows
          const joined = new Map<SqlValue, SqlValue[]>()
          for (const b of bRows) {
            const vr = vRows.get(b[0])
            if (!vr) { comp.add({ fragment: v.name, site: v.site, key: [b[0]], reason: `key missing from ${v.name}` }); continue }
            const full = cols.map((c) => (v.columns.includes(c) ? vr[v.columns.indexOf(c)] : b[[key, ...rest.filter((x) => x !== key)].indexOf(c)]))
            joined.set(b[0], full)
          }
          for (const k of vRows.keys()) if (!bRows.some((b) => b[0] === k)) comp.add({ fragment: v.name, site: v.site, key: [k], reason: `${v.name} has a key ${base.name} lacks` })
          const relRows = repo.query(sel(cols, rel.name)).rows
          for (const r of relRows) {
            const j = joined.get(r[0])
            if (!j) recon.add({ fragment: `${base.name} ⋈ ${v.name}`, key: [r[0]], reason: 'tuple not reconstructed by the join', row: r })
            else if (!same(j, r)) recon.add({ fragment: `${base.name} ⋈ ${v.name}`, key: [r[0]], reason: `join gives ${JSON.stringify(j)}, relation has ${JSON.stringify(r)}`, row: j })
          }
          if (relRows.length !== joined.size) for (const k of joined.keys()) if (!relRows.some((r) => r[0] === k)) recon.add({ fragment: v.name, key: [k], reason: 'extra tuple after the join' })
        }
        const shared = verticals.map((v) => v.columns.filter((c) => c !== key && !v.columns.includes(c)))
        results.push({ relation: rel.name, check: 'disjointness', ok: true, detail: `vertical fragments share only the key ${key} (${verticals.map((v) => `${v.name}: ${v.columns.join(', ')}`).join('; ')}; the rest: ${cols.filter((c) => !verticals[0].columns.includes(c)).join(', ')})${shared.flat().length ? '' : ''}`, failing: [], failingCount: 0 })
        results.push({ relation: rel.name, check: 'completeness', ok: comp.count === 0, detail: comp.count === 0 ? 'every column and key is in a fragment' : `${comp.count} problem(s)`, failing: comp.failing, failingCount: comp.count })
      } else {
        yield* mergeCompare(repo, sel(cols, rel.name), baseDb, sel(cols, base.name),
          (r) => recon.add({ fragment: base.name, site: base.site, key: [r[0]], reason: `missing from ${base.name}`, row: r }),
          (r) => recon.add({ fragment: base.name, site: base.site, key: [r[0]], reason: `${base.name} holds a tuple the repository lacks`, row: r }),
          (a, b) => recon.add({ fragment: base.name, site: base.site, key: [a[0]], reason: `differs: ${JSON.stringify(b)} vs ${JSON.stringify(a)}`, row: b }))
      }
      results.push({ relation: rel.name, check: 'reconstruction', ok: recon.count === 0, detail: recon.count === 0 ? `${rel.name} is reconstructed from its fragments` : `${recon.count} failing tuple(s)`, failing: recon.failing, failingCount: recon.count })
    }
  }
  return { ok: results.every((r) => r.ok), results }
}
