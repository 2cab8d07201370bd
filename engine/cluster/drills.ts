/**
 * Failure drills, one per failure category of the spec (§6): transaction, system, media, communication
 * (engine/api/drills.ts describes each). A drill runs a workload of distributed transfers between the branches'
 * stock fragments through the DTM (two-phase commit on the real sites), injects its fault (nemesis.ts,
 * faults.ts), and — when finished — repairs it, lets the protocol and replication settle, and checks with the
 * engine's own checks whether anything committed was lost:
 *   - every committed transfer's effect is at the primaries, and nothing of an aborted one (the quantities);
 *   - atomicity: no transaction logged COMMIT at one site and ABORT at another, none half committed, every
 *     answer the client got matches the logs (Dtm.loggedDecisions);
 *   - the backup servers hold the same rows as their primaries;
 *   - the committed history is conflict-serializable (txn/history.ts);
 *   - fragmentation (data/checks.ts) and integrity (integrity/check.ts) hold;
 *   - no transaction is left in doubt, no lock held.
 */
import type { Cluster } from '../cluster'
import type { SiteCode } from '../topology/types'
import { EngineError } from '../errors'
import { fragments } from '../data/schema'
import { Dtm } from '../txn/dtm'
import { checkSerializable, type Op } from '../txn/history'
import { checkIntegrity } from '../integrity/check'
import { DRILLS, DRILL_CATEGORIES, type DrillCategory, type DrillCheck, type DrillReport, type DrillView } from '../api/drills'

export { DRILLS, DRILL_CATEGORIES }
export type { DrillCategory, DrillReport, DrillView }

/** Transfers per drill, the virtual ms between two starts, and when the fault strikes (ms after the start). */
const TRANSFERS = 16
const SPACING_MS = 150
const FAULT_AT_MS = 600
const ROWS_PER_SITE = 4

interface Row { site: SiteCode; table: string; code: string }
interface Outcome { gid?: string; from: Row; to: Row; outcome: 'COMMIT' | 'ABORT' | 'NOT_STARTED'; reason?: string }

class DrillRun {
  readonly view: DrillView
  readonly rows: Row[] = []
  readonly initial = new Map<string, number>()
  readonly results: Outcome[] = []
  readonly history: Op[] = []
  constructor(readonly c: Cluster, readonly dtm: Dtm, id: number, category: DrillCategory, site: SiteCode) {
    this.view = { id, category, site, startedAt: c.sim.now, phase: 'running', steps: [], transfers: { started: 0, committed: 0, aborted: 0, planned: TRANSFERS } }
  }
  step(text: string): void { this.view.steps.push({ at: this.c.sim.now, text }); this.c.log('drill', `${this.view.category} drill: ${text}`, this.view.site) }
}

const runs = new WeakMap<Cluster, { current?: DrillRun; last?: DrillRun; seq: number }>()
const stateOf = (c: Cluster) => { let s = runs.get(c); if (!s) runs.set(c, s = { seq: 0 }); return s }

const key = (r: Row) => `${r.site}:${r.code}`
const qtyAt = (c: Cluster, r: Row, where: 'primary' | 'backup') => {
  const sql = `SELECT QTY FROM "${r.table}" WHERE STOCKCODE = ?`
  const res = where === 'primary' ? c.siteStore(r.site).query(sql, [r.code]) : c.siteStore(r.site).backup.query(sql, [r.code])
  return Number(res.rows[0]?.[0])
}

/** The drill in progress or the last one (its report), or null. */
export function drillView(c: Cluster): DrillView | null {
  const s = stateOf(c)
  const r = s.current ?? s.last
  return r ? structuredClone(r.view) : null
}

/** The default target: the last branch that is not the HQ (Kandy in the default topology). */
export function defaultDrillSite(c: Cluster): SiteCode {
  const branches = c.topology.sites.filter((s) => !s.hq)
  return (branches.at(-1) ?? c.topology.sites.at(-1)!).code
}

/**
 * Starts a drill at `site`: the workload begins now and the fault strikes FAULT_AT_MS later (virtual time; it
 * runs as the clock runs). A media drill needs `confirmed` (the console asks for the site's code, scenarios --yes).
 */
export function startDrill(c: Cluster, category: DrillCategory, site?: SiteCode, opts: { confirmed?: boolean } = {}): DrillView {
  if (!(DRILL_CATEGORIES as readonly string[]).includes(category)) throw new EngineError('BAD_INPUT', `unknown drill ${String(category)}; drills are ${DRILL_CATEGORIES.join(', ')}`)
  const target = site ?? defaultDrillSite(c)
  c.site(target)
  const info = DRILLS.find((d) => d.category === category)!
  if (info.destructive && !opts.confirmed) throw new EngineError('BAD_INPUT', `the ${category} drill destroys ${target}'s primary database (it is restored afterwards): confirm it (type the site's code; --yes in scenarios and the CLI)`, { site: target })
  const st = stateOf(c)
  if (st.current) throw new EngineError('CONFLICT', `a ${st.current.view.category} drill is running; finish it first`)
  for (const code of c.siteCodes) if (!c.isSiteUp(code)) throw new EngineError('CONFLICT', `${code} is not up: a drill starts from a healthy cluster (restore it first)`, { site: code })
  const run = new DrillRun(c, Dtm.of(c), ++st.seq, category, target)
  // the workload's rows: the first few of every branch's own stock fragment (topology as data)
  for (const code of c.siteCodes) {
    const f = fragments(c.topology).find((x) => x.site === code && x.relation === `STOCK_${code}` && x.kind === 'local')
    if (!f) continue
    const codes = c.siteStore(code).query(`SELECT STOCKCODE FROM "${f.name}" ORDER BY STOCKCODE LIMIT ${ROWS_PER_SITE}`).rows.map((r) => String(r[0]))
    for (const sc of codes) run.rows.push({ site: code, table: f.name, code: sc })
  }
  const sites = [...new Set(run.rows.map((r) => r.site))]
  if (sites.length < 2 || !sites.includes(target)) throw new EngineError('CONFLICT', 'a drill needs stock rows at the target and at one more site (generate data first)', { site: target })
  for (const r of run.rows) run.initial.set(key(r), qtyAt(c, r, 'primary'))
  st.current = run
  run.step(`started at ${target}: ${TRANSFERS} transfers, one every ${SPACING_MS} ms; the fault strikes after ${FAULT_AT_MS} ms`)
  const others = sites.filter((x) => x !== target)
  const rowAt = (s: SiteCode, i: number) => { const rs = run.rows.filter((r) => r.site === s); return rs[i % rs.length] }
  for (let i = 0; i < TRANSFERS; i++) {
    const other = others[i % others.length]
    // every transfer touches the target; the transaction drill starts them in pairs locking the same rows in opposite order
    const pair = Math.floor(i / 2)
    const [a, b] = category === 'transaction' && i % 2 === 1 ? [rowAt(target, pair), rowAt(other, pair)] : [rowAt(other, pair), rowAt(target, pair)]
    const [from, to] = category === 'transaction' && i % 2 === 1 ? [b, a] : [a, b]
    const startAt = category === 'transaction' ? pair * SPACING_MS * 2 : i * SPACING_MS
    const abortAfterFirst = category === 'transaction' && i % 4 === 3
    c.sim.schedule(startAt, 'drill.transfer', () => transferOnce(run, from, to, i % 2 === 0 ? from.site : to.site, abortAfterFirst))
  }
  c.sim.schedule(FAULT_AT_MS, 'drill.fault', () => { if (st.current === run) inject(run) })
  return structuredClone(run.view)
}

function inject(run: DrillRun): void {
  const c = run.c, site = run.view.site
  switch (run.view.category) {
    case 'transaction': run.step('no injected fault: deadlocks and application aborts are the failures'); return
    case 'system': c.failSite(site); run.step(`${site} failed (router, application and database servers)`); return
    case 'media': c.failMedia(site, 'corrupt'); run.step(`${site}.primary's database medium corrupted (not yet noticed)`); return
    case 'communication': {
      for (const id of c.net.links.keys()) c.setLinkChaos(id, { duplicate: 0.2, reorder: 0.3 })
      const links = c.partition([[site]])
      run.step(`every link duplicates 20% and reorders 30% of messages; ${site} partitioned from the others (${links.join(', ')} down)`)
    }
  }
}

/** One transfer of 1 unit from → to as a distributed transaction started at `origin` (abortAfterFirst: the application gives up after its first write). */
function transferOnce(run: DrillRun, from: Row, to: Row, origin: SiteCode, abortAfterFirst: boolean): void {
  const { dtm } = run
  const done = (o: Outcome) => {
    run.results.push(o)
    if (o.outcome === 'COMMIT') run.view.transfers.committed++; else run.view.transfers.aborted++
  }
  let gid: string
  try { gid = dtm.begin(origin) } catch (e) { done({ from, to, outcome: 'NOT_STARTED', reason: e instanceof Error ? e.message : String(e) }); return }
  run.view.transfers.started++
  const fail = (reason: string) => done({ gid, from, to, outcome: 'ABORT', reason })
  const steps: [Row, string][] = [[from, `UPDATE "${from.table}" SET QTY = QTY - 1 WHERE STOCKCODE = ?`], [to, `UPDATE "${to.table}" SET QTY = QTY + 1 WHERE STOCKCODE = ?`]]
  const next = (i: number) => {
    if (i === 1 && abortAfterFirst) {
      try { dtm.abort(gid, 'the drill\'s application gives up after its first write') } catch { /* already aborted */ }
      return fail('aborted by the application')
    }
    if (i === steps.length) {
      try { dtm.commit(gid, (r) => done({ gid, from, to, outcome: r.outcome === 'COMMIT' ? 'COMMIT' : 'ABORT', reason: r.reason })) } catch (e) { fail(e instanceof Error ? e.message : String(e)) }
      return
    }
    const [row, sql] = steps[i]
    dtm.exec(gid, row.site, sql, [row.code], (r) => {
      if (!r.ok) return fail(r.error?.message ?? 'error')
      run.history.push({ gid, item: key(row), op: 'w' })
      next(i + 1)
    })
  }
  next(0)
}

/** Repairs the drill's fault (a media failure: recovery from the backup server). */
function repair(run: DrillRun): void {
  const c = run.c, site = run.view.site
  switch (run.view.category) {
    case 'system': c.restoreSite(site); run.step(`${site} restarted: its recovery manager redoes the log and resolves in-doubt transactions`); return
    case 'media': {
      const found = c.needsRestore().get(`${site}.primary`)
      run.step(found ? `the damage was found on access: ${found}` : 'no access touched the damaged medium before the repair')
      const r = c.recoverFromBackup(site)
      run.step(`${site}.primary recovered from ${site}.backup (image at record ${r.fromSeq}, ${r.redone} batch(es) redone from the log)`)
      return
    }
    case 'communication': {
      const links = c.heal()
      for (const id of c.net.links.keys()) c.setLinkChaos(id, { duplicate: 0, reorder: 0 })
      run.step(`partition healed (${links.join(', ')} up); links deliver in order again`)
      return
    }
    default: run.step('nothing to repair')
  }
}

/**
 * Finishes the drill: lets every planned transfer start, repairs the fault, lets the protocol and replication
 * settle (virtual time moves on), and checks that nothing committed was lost.
 */
export function finishDrill(c: Cluster): DrillView {
  const st = stateOf(c)
  const run = st.current
  if (!run) throw new EngineError('CONFLICT', 'no drill is running (start one first)')
  const lastStart = run.view.startedAt + Math.max(FAULT_AT_MS, TRANSFERS * SPACING_MS)
  if (c.sim.now < lastStart) c.sim.runUntil(lastStart)
  try { repair(run) } catch (e) { run.step(`the repair failed: ${e instanceof Error ? e.message : String(e)}`) }
  const dtm = run.dtm
  const settled = () => { const m = dtm.summary(); return run.results.length === TRANSFERS && m.inDoubt === 0 && m.active === 0 && m.locks === 0 && m.coordinators === 0 }
  const until = c.sim.now + 180_000
  c.sim.runUntilTrue(() => settled() || c.sim.now > until)
  c.settle(120_000)
  run.view.report = check(run)
  run.view.phase = 'checked'
  run.step(run.view.report.ok ? 'check passed: nothing committed was lost' : `check FAILED: ${run.view.report.checks.filter((x) => !x.ok).map((x) => x.name).join(', ')}`)
  st.last = run
  st.current = undefined
  return structuredClone(run.view)
}

function check(run: DrillRun): DrillReport {
  const c = run.c, dtm = run.dtm
  const checks: DrillCheck[] = []
  const add = (name: string, errs: string[], okDetail: string) => checks.push({ name, ok: errs.length === 0, detail: errs.length ? errs.slice(0, 6).join('; ') + (errs.length > 6 ? ` (+${errs.length - 6} more)` : '') : okDetail })
  const logged = dtm.loggedDecisions()
  const committed = new Set<string>()
  const atom: string[] = []
  for (const [gid, ds] of logged) {
    const kinds = new Set([...ds].map((d) => d.split('@')[0]))
    if (kinds.has('COMMIT') && kinds.has('ABORT')) atom.push(`${gid} both committed and aborted (${[...ds].join(', ')})`)
    if (kinds.has('COMMIT')) committed.add(gid)
  }
  const expected = new Map(run.initial)
  for (const r of run.results) {
    if (!r.gid) continue
    const isC = committed.has(r.gid)
    if (r.outcome === 'COMMIT' && !isC) atom.push(`${r.gid} was acknowledged as committed but no site logged COMMIT`)
    if (r.outcome === 'ABORT' && isC) atom.push(`${r.gid} was reported aborted but committed`)
    if (!isC) continue
    for (const s of new Set([r.from.site, r.to.site])) if (!logged.get(r.gid)!.has(`COMMIT@${s}`)) atom.push(`${r.gid} half committed: no COMMIT at ${s}`)
    expected.set(key(r.from), expected.get(key(r.from))! - 1)
    expected.set(key(r.to), expected.get(key(r.to))! + 1)
  }
  const lostRows: string[] = []
  const backupRows: string[] = []
  for (const row of run.rows) {
    let got: number
    try { got = qtyAt(c, row, 'primary') } catch (e) { lostRows.push(`${key(row)} unreadable: ${e instanceof Error ? e.message : String(e)}`); continue }
    if (got !== expected.get(key(row))) lostRows.push(`${row.table}@${row.site} ${row.code}: QTY ${got}, the committed transfers make it ${expected.get(key(row))}`)
    try { const b = qtyAt(c, row, 'backup'); if (b !== got) backupRows.push(`${row.site}.backup ${row.code}: QTY ${b}, primary ${got}`) } catch (e) { backupRows.push(`${row.site}.backup unreadable: ${e instanceof Error ? e.message : String(e)}`) }
  }
  const nCommitted = run.results.filter((r) => r.gid && committed.has(r.gid)).length
  add('committed transfers kept', lostRows, `${nCommitted} committed transfer(s): every one of their changes is at the primaries, nothing of the ${run.results.length - nCommitted} aborted`)
  add('atomicity (2PC)', atom, 'every transaction committed everywhere or nowhere; every answer matches the logs')
  add('backups hold every commit', backupRows, 'each backup server holds the same rows as its primary')
  const ser = checkSerializable(run.history, committed)
  add('serializable history', ser.ok ? [] : [`conflict cycle ${ser.cycle!.join(' → ')}`], `the committed transfers' conflict graph (${ser.edges} edges) has no cycle`)
  let frag: string[]
  try { const f = c.checkFragmentation(); frag = f.results.filter((r) => !r.ok).map((r) => `${r.relation} ${r.check}: ${r.detail}`) } catch (e) { frag = [e instanceof Error ? e.message : String(e)] }
  add('fragmentation', frag, 'completeness, reconstruction and disjointness hold against the main repository')
  let integ: string[]
  try { const i = checkIntegrity(c); integ = i.violations.map((v) => `${v.constraint} ${v.fragment}@${v.site}: ${v.detail}`); if (!i.ok && !integ.length) integ = ['violations found'] } catch (e) { integ = [e instanceof Error ? e.message : String(e)] }
  add('integrity', integ, 'every declared constraint holds over the stored data')
  const m = dtm.summary()
  const left = [...(m.inDoubt ? [`${m.inDoubt} in doubt`] : []), ...(m.locks ? [`${m.locks} lock(s) held`] : []), ...(m.active ? [`${m.active} still active`] : [])]
  add('nothing left in doubt', left, 'no transaction in doubt, no lock held')
  return {
    ok: checks.every((x) => x.ok), lost: lostRows.length, committed: nCommitted, aborted: run.results.length - nCommitted, checks,
    durationMs: c.sim.now - run.view.startedAt,
  }
}

/** Starts and finishes a drill in one go (scenarios, the CLI): the report. */
export function runDrill(c: Cluster, category: DrillCategory, site?: SiteCode, opts: { confirmed?: boolean } = {}): DrillView {
  startDrill(c, category, site, opts)
  return finishDrill(c)
}
