/**
 * `check integrity`: every declared constraint judged over the data already stored (rows written before a
 * constraint existed, by a DBA's bulk load, or restored from elsewhere). Reads each fragment at its own
 * site's primary; reports each constraint with its violating rows (the first `limit` of them, and how many).
 */
import type { Cluster } from '../cluster'
import { EngineError } from '../errors'
import type { SqlValue } from '../site/sqljs'
import { fragments } from '../data/schema'
import { globalConstraints, ownerFragments, type ConstraintDef } from './constraints'
import { rowOf } from './dim'

import type { IntegrityReport, IntegrityViolation } from '../api/integrity'

export type { ConstraintResult, IntegrityReport, IntegrityViolation } from '../api/integrity'

const q = (n: string) => `"${n.replace(/"/g, '""')}"`

export function checkIntegrity(cluster: Cluster, opts: { limit?: number } = {}): IntegrityReport {
  const limit = opts.limit ?? 200
  const topo = cluster.topology
  const up = (s: string) => cluster.isServerUp(`${s}.primary`)
  const skipped = new Set<string>()
  const rows = (site: string, sql: string): { columns: string[]; rows: SqlValue[][] } => cluster.siteStore(site).query(sql)
  const report: IntegrityReport = { ok: true, constraints: [], violations: [], skippedSites: [] }
  const add = (c: ConstraintDef, found: IntegrityViolation[], checked: number) => {
    report.constraints.push({ constraint: c.name, kind: c.kind, relation: c.relation, ok: found.length === 0, violations: found.length, checkedRows: checked })
    if (found.length) report.ok = false
    for (const v of found) if (report.violations.length < limit) report.violations.push(v)
  }
  const frs = fragments(topo)
  for (const c of globalConstraints(topo)) {
    const found: IntegrityViolation[] = []
    let checked = 0
    const owners = ownerFragments(topo, c.relation).filter((f) => (up(f.site) ? true : (skipped.add(f.site), false)))
    const scan = (f: { name: string; site: string; columns: string[] }, where: string, detail: (r: Record<string, SqlValue>) => string) => {
      const r = rows(f.site, `SELECT * FROM ${q(f.name)} WHERE ${where}`)
      for (const v of r.rows) { const row = rowOf(r.columns, v); found.push({ constraint: c.name, kind: c.kind, relation: c.relation, fragment: f.name, site: f.site, row, detail: detail(row) }) }
      checked += Number(rows(f.site, `SELECT COUNT(*) FROM ${q(f.name)}`).rows[0][0])
    }
    if (c.kind === 'FRAGMENT') {
      const f = frs.find((x) => x.name === c.fragment && x.site === c.site)!
      if (!up(f.site)) { skipped.add(f.site); continue }
      scan(f, `NOT (${c.predicate}) OR ${q(c.columns[0])} IS NULL`, (r) => `${c.columns[0]} ${String(r[c.columns[0]])} does not satisfy ${c.predicate}`)
    } else if (c.kind === 'CHECK') {
      for (const f of owners) scan(f, `NOT (${c.predicate})`, () => `CHECK (${c.predicate}) is false`)
    } else if (c.kind === 'PRIMARY KEY') {
      const k = c.columns[0]
      const seen = new Map<string, string>()
      const list = owners.length ? owners : frs.filter((f) => f.relation === c.relation && f.kind === 'replica' && up(f.site))
      for (const f of list) {
        const r = rows(f.site, `SELECT * FROM ${q(f.name)} ORDER BY ${q(k)}`)
        const ki = r.columns.indexOf(k)
        checked += r.rows.length
        for (const v of r.rows) {
          const key = v[ki]
          const where = `${f.name}@${f.site}`
          const prev = key === null ? undefined : seen.get(String(key))
          if (key === null || prev !== undefined) found.push({ constraint: c.name, kind: c.kind, relation: c.relation, fragment: f.name, site: f.site, row: rowOf(r.columns, v), detail: key === null ? `${k} is NULL` : `${k} ${String(key)} also in ${prev}` })
          else seen.set(String(key), where)
        }
        if (!owners.length) break // a replicated relation: one replica is the relation (each one's unique index holds)
      }
    } else {
      const col = c.columns[0], rc = c.refColumns![0]
      // the referenced keys: ITEMS from the replica at each referencing site, others from their owner fragments
      const refOwners = ownerFragments(topo, c.refRelation!)
      let global: Set<string> | undefined
      if (refOwners.length) {
        global = new Set()
        for (const f of refOwners) {
          if (!up(f.site)) { skipped.add(f.site); continue }
          for (const v of rows(f.site, `SELECT ${q(rc)} FROM ${q(f.name)}`).rows) global.add(String(v[0]))
        }
      }
      for (const f of owners) {
        const rep = frs.find((x) => x.relation === c.refRelation && x.kind === 'replica' && x.site === f.site)
        const r = rep
          ? rows(f.site, `SELECT * FROM ${q(f.name)} WHERE ${q(col)} IS NOT NULL AND ${q(col)} NOT IN (SELECT ${q(rc)} FROM ${q(rep.name)})`)
          : rows(f.site, `SELECT * FROM ${q(f.name)} WHERE ${q(col)} IS NOT NULL`)
        const ci = r.columns.indexOf(col)
        for (const v of r.rows) {
          if (!rep && global!.has(String(v[ci]))) continue
          found.push({ constraint: c.name, kind: c.kind, relation: c.relation, fragment: f.name, site: f.site, row: rowOf(r.columns, v), detail: `${c.refRelation} has no row with ${rc} ${String(v[ci])}` })
        }
        checked += Number(rows(f.site, `SELECT COUNT(*) FROM ${q(f.name)}`).rows[0][0])
      }
    }
    add(c, found, checked)
  }
  report.skippedSites = [...skipped].sort()
  if (report.constraints.length === 0) throw new EngineError('INTERNAL', 'no constraints declared')
  return report
}
