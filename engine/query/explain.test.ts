/**
 * EXPLAIN plans and runs nothing: no site's database runs a statement, no message crosses the network and the
 * virtual clock stands still, for a join, an aggregate and a set operation. The same counters move when the
 * same queries run, so the test sees what it counts. A cold planner reads the sites' catalog statistics (LCAT_*
 * tables, cached per commit sequence) and nothing else.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import type { Database, Statement } from 'sql.js'
import { Cluster } from '../cluster'
import { Dqp } from './dqp'
import type { Cooperation } from './coop'

const QUERIES = {
  join: 'SELECT s.INVNO, e.NAME FROM SALES s JOIN EMPLOYEES e ON s.EMPNO = e.EMPNO WHERE e.SALARY > 5500',
  aggregate: 'SELECT BRCODE, SUM(AMOUNT), COUNT(*) FROM SALES GROUP BY BRCODE',
  setOperation: "SELECT BRCODE FROM EMPLOYEES UNION SELECT BRCODE FROM SALES WHERE BRCODE <> 'CMB'",
}

let cluster: Cluster
let dqp: Dqp
/** SQL texts run by each site's databases (primary, backup, repository) since the last reset. */
const ran = new Map<string, string[]>()
let messages = 0
const restore: (() => void)[] = []

function siteOf(db: unknown): string | undefined {
  for (const code of cluster.siteCodes) {
    const s = cluster.siteInternals(code)
    if (db === s.primary.db || db === s.backup.db || db === s.repository?.db) return code
  }
  return undefined
}

/** Counts every statement a site's sql.js databases execute (prepare, exec, run, step) and every message sent. */
function instrument(): void {
  const any = cluster.siteInternals(cluster.siteCodes[0]).primary.db
  const dbProto = Object.getPrototypeOf(any) as Database
  const probe = any.prepare('SELECT 1')
  const stProto = Object.getPrototypeOf(probe) as Statement
  probe.free()
  const textOf = new WeakMap<object, string>()
  const note = (site: string | undefined, sql: string) => { if (site) ran.set(site, [...(ran.get(site) ?? []), sql]) }
  const wrap = <T extends object>(proto: T, name: keyof T & string, record: (self: unknown, args: unknown[], out: unknown) => void) => {
    const orig = proto[name] as unknown as (...a: unknown[]) => unknown
    ;(proto as Record<string, unknown>)[name] = function (this: unknown, ...args: unknown[]) { const out = orig.apply(this, args); record(this, args, out); return out }
    restore.push(() => { (proto as Record<string, unknown>)[name] = orig })
  }
  wrap(dbProto, 'prepare', (self, args, out) => { textOf.set(out as object, String(args[0])); note(siteOf(self), String(args[0])) })
  wrap(dbProto, 'exec', (self, args) => note(siteOf(self), String(args[0])))
  wrap(dbProto, 'run', (self, args) => note(siteOf(self), String(args[0])))
  wrap(stProto, 'step', (self) => note(siteOf((self as { db: unknown }).db), textOf.get(self as object) ?? '(a cached statement)'))
  restore.push(cluster.net.onEvent((e) => { if (e.type === 'sent') messages++ }))
}

function counters() { return { statements: [...ran.values()].flat(), messages, now: cluster.sim.now } }
function reset() { ran.clear(); messages = 0 }

const coop: Cooperation = { cancelled: false, progress: () => {}, yieldNow: () => new Promise((r) => setImmediate(r)) }

beforeAll(async () => {
  cluster = await Cluster.create({ seed: 5, sales: 400 })
  dqp = await Dqp.create(cluster)
  instrument()
})
afterAll(() => { for (const f of restore.reverse()) f() })

describe('EXPLAIN runs no query', () => {
  it('a cold planner reads only the sites\' catalog statistics, sends nothing and leaves the clock', async () => {
    reset()
    const t0 = cluster.sim.now
    const r = await dqp.run('KDY', `EXPLAIN ${QUERIES.join}`)
    const c = counters()
    expect(c.messages).toBe(0)
    expect(c.now).toBe(t0)
    expect(c.statements.length).toBeGreaterThan(0) // the statistics were read: the counter sees site statements
    expect(c.statements.filter((s) => !/\bLCAT_(TABLES|COLUMNS|INDEXES)\b/.test(s))).toEqual([])
    expect(r.plan.estimated).toBe(true)
  })

  for (const [kind, sql] of Object.entries(QUERIES)) {
    it(`EXPLAIN of ${kind === 'setOperation' ? 'a set operation' : `a ${kind}`}: no statement at any site, no message, no virtual time; running it moves all three`, async () => {
      await dqp.run('KDY', sql) // warm statistics: what follows is the EXPLAIN alone
      for (const run of [() => dqp.run('KDY', `EXPLAIN ${sql}`), () => dqp.runCooperative('KDY', `EXPLAIN ${sql}`, {}, coop)]) {
        reset()
        const t0 = cluster.sim.now
        const e = await run()
        expect(counters()).toEqual({ statements: [], messages: 0, now: t0 })
        // the plan is there, with estimates and no actual figure
        expect(e.plan.estimated).toBe(true)
        expect(e.columns).toEqual(['plan'])
        expect(e.explain).toMatch(/estimates \(EXPLAIN does not run the query\)/)
        expect(e.plan.steps.some((s) => s.kind === 'subquery' && s.estRows !== undefined)).toBe(true)
        expect(e.plan.steps.every((s) => s.actualRows === undefined && s.actualBytes === undefined)).toBe(true)
        expect(e.virtualMs).toBeGreaterThan(0)
      }
      reset()
      const t0 = cluster.sim.now
      const r = await dqp.run('KDY', sql)
      const c = counters()
      expect(new Set(ran.keys()).size).toBeGreaterThan(1)
      expect(c.statements.length).toBeGreaterThan(0)
      expect(c.messages).toBeGreaterThan(0)
      expect(c.now).toBeGreaterThan(t0)
      expect(r.plan.estimated).toBeUndefined()
    })
  }

  it('the EXPLAIN of a join shows the planned semijoin, its keys step and the fragments it would read', async () => {
    const e = await dqp.run('KDY', `EXPLAIN ${QUERIES.join}`)
    expect(e.plan.joins).toHaveLength(1)
    const used = e.plan.fragments.filter((f) => f.status === 'used')
    expect(used.length).toBeGreaterThan(1)
    expect(used.every((f) => /^est \d+ rows/.test(f.note ?? ''))).toBe(true)
    if (e.plan.joins[0].chosen === 'semijoin') expect(e.plan.steps.some((s) => s.kind === 'semijoin-keys')).toBe(true)
    expect(Object.keys(e.perLinkBytes).length).toBeGreaterThan(0)
    expect(e.explain).toMatch(/estimated bytes per link/)
  })

  it('dqp.plan gives the plan value itself, without running it', () => {
    reset()
    const t0 = cluster.sim.now
    const plan = dqp.plan('KDY', QUERIES.aggregate)
    expect(counters()).toEqual({ statements: [], messages: 0, now: t0 })
    expect(plan.strategy).toBe('partial-aggregation')
    expect(plan.used.map((pp) => pp.piece.name).sort()).toEqual(['Sales_CMB', 'Sales_KDY', 'Sales_MBI'])
    expect(() => dqp.plan('KDY', 'DELETE FROM SALES')).toThrow(/only a SELECT has a query plan/)
  })

  it('a query over the session\'s budget is explained with a note, not refused; running it is refused', async () => {
    const budget = { maxRows: 10, maxMs: 60_000 }
    const e = await dqp.run('KDY', `EXPLAIN ${QUERIES.join}`, { budget })
    expect(e.plan.notes.join(' ')).toMatch(/a run would be refused: .*budget/)
    await expect(dqp.run('KDY', QUERIES.join, { budget })).rejects.toMatchObject({ code: 'BUDGET_EXCEEDED' })
  })
})
