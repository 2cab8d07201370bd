/**
 * Scenario-language commands for security (registered in engine/scenario's command table):
 *   user add clerk at KDY clearance INTERNAL password "clerk-pass-1"     user remove clerk at KDY
 *   login clerk at KDY [home KDY] [level PUBLIC] password "clerk-pass-1"  (then acts as clerk; `as operator` to stop)
 *   logout clerk
 *   sql KDY SELECT * FROM Employees_KDY   a site-local statement, as the current session (when one is logged in)
 *   query KDY SELECT * FROM EMPLOYEES      global SQL through the query processor, as the current session
 *   expect hidden SALARY                   the last query's `*` left SALARY out (above the session's level)
 *   expect columns EMPNO,NAME              the last query's result columns, in order
 * A failing `login` or `query` followed by `expect error CODE` is the expected outcome.
 */
import { registerCommand, registerExpectation, sqlCommand, type ScenarioContext } from '../scenario/runner'
import { EngineError, toErrorInfo } from '../errors'
import { SecurityManager, visibleResult } from './dsm'
import { dqpFor } from '../query/dqp'

const sessions = (ctx: ScenarioContext): Map<string, string> => {
  let m = ctx.state.get('sec:sessions') as Map<string, string> | undefined
  if (!m) { m = new Map(); ctx.state.set('sec:sessions', m) }
  return m
}

/** Words after `key` (e.g. opt(a, 'password')). */
const opt = (a: string[], key: string): string | undefined => {
  const i = a.findIndex((w) => w.toLowerCase() === key)
  return i >= 0 ? a[i + 1] : undefined
}

/** Runs `fn`; a failure is recorded as the last result and is the expected outcome when `expect error` follows. */
async function attempt(ctx: ScenarioContext, source: string, fn: () => unknown): Promise<void> {
  try {
    await fn()
  } catch (e) {
    ctx.last = { error: toErrorInfo(e), source }
    if (!/^\s*expect\s+error\b/i.test(ctx.nextLine ?? '')) throw e
  }
}

registerCommand({
  name: 'user', usage: 'user add NAME at SITE clearance LEVEL password PW | user remove NAME at SITE', summary: 'add or remove a user at their home site',
  run: (ctx, a) => {
    const dsm = SecurityManager.of(ctx.cluster)
    const verb = a[0]?.toLowerCase()
    const site = opt(a, 'at')
    if (!a[1] || !site || (verb !== 'add' && verb !== 'remove')) throw new EngineError('BAD_INPUT', 'usage: user add clerk at KDY clearance INTERNAL password "clerk-pass-1"')
    if (verb === 'remove') { dsm.removeUser(site, a[1]); return }
    const clearance = opt(a, 'clearance'), password = opt(a, 'password')
    if (!clearance || !password) throw new EngineError('BAD_INPUT', 'usage: user add clerk at KDY clearance INTERNAL password "clerk-pass-1"')
    dsm.addUser(site, a[1], password, clearance.toUpperCase())
  },
})

registerCommand({
  name: 'login', usage: 'login NAME at SITE [home SITE] [level LEVEL] password PW', summary: 'log a user in at a site (checked at the home site) and act as that session',
  run: (ctx, a) => attempt(ctx, `login ${a[0] ?? ''}`, () => {
    const site = opt(a, 'at'), password = opt(a, 'password')
    if (!a[0] || !site || password === undefined) throw new EngineError('BAD_INPUT', 'usage: login clerk at KDY password "clerk-pass-1"')
    const s = SecurityManager.of(ctx.cluster).login(site, a[0], password, { home: opt(a, 'home'), level: opt(a, 'level')?.toUpperCase() })
    sessions(ctx).set(a[0], s.token)
    ctx.user = a[0]
    ctx.out.push(`${s.user} logged in at ${s.site} (${s.level}; ${s.via})`)
    ctx.last = { ok: true, value: { ...s, token: undefined }, source: `login ${a[0]}` }
  }),
})

registerCommand({
  name: 'logout', usage: 'logout NAME', summary: "close the user's session",
  run: (ctx, a) => {
    const token = a[0] ? sessions(ctx).get(a[0]) : undefined
    if (!token) throw new EngineError('BAD_INPUT', `no session of ${a[0] ?? '?'} (login first)`)
    SecurityManager.of(ctx.cluster).logout(token)
    sessions(ctx).delete(a[0])
    if (ctx.user === a[0]) ctx.user = undefined
  },
})

registerCommand({
  name: 'query', usage: 'query SITE SQL', summary: 'global SQL through the distributed query processor, as the current session (`as NAME`) or the operator',
  run: async (ctx, a, rest) => {
    if (a.length < 2) throw new EngineError('BAD_INPUT', 'usage: query KDY SELECT * FROM EMPLOYEES')
    const site = a[0]
    const sql = rest.slice(rest.indexOf(site) + site.length).trim()
    await attempt(ctx, `query ${site}`, async () => {
      const token = ctx.user && ctx.user !== 'operator' ? sessions(ctx).get(ctx.user) : undefined
      if (ctx.user && ctx.user !== 'operator' && !token) throw new EngineError('AUTH_FAILED', `${ctx.user} has no session (login first)`)
      const auth = SecurityManager.of(ctx.cluster).authorize(token, site, sql)
      const sim = ctx.cluster.sim
      const t0 = sim.now
      const r = await (await dqpFor(ctx.cluster)).run(site, auth.sql, { user: auth.user ?? undefined })
      const v = visibleResult(auth, r.columns)
      // the query takes its virtual response time: the clock moves by it (what the run did not already move)
      if (r.virtualMs > sim.now - t0) sim.advance(Math.ceil(r.virtualMs - (sim.now - t0)))
      ctx.last = {
        result: { columns: v.columns, rows: r.rows.map((row) => v.pick(row)), changes: r.changes ?? 0 },
        value: { hidden: v.hidden, plan: r.plan, requestClass: r.requestClass, virtualMs: r.virtualMs },
        source: `query ${site}`,
      }
    })
  },
})

registerExpectation({
  name: 'hidden', usage: 'expect hidden COL[,COL…]   (columns the last query\'s * left out)',
  check: (ctx, a) => {
    const got = ((ctx.last?.value as { hidden?: string[] } | undefined)?.hidden ?? []).join(',')
    const want = (a[0] ?? '').toUpperCase()
    return got.toUpperCase() === want ? undefined : `hidden columns: ${got || 'none'}, expected ${want}`
  },
})

registerExpectation({
  name: 'columns', usage: 'expect columns COL[,COL…]',
  check: (ctx, a) => {
    const got = (ctx.last?.result?.columns ?? []).join(',')
    return got.toUpperCase() === (a[0] ?? '').toUpperCase() ? undefined : `columns: ${got}, expected ${a[0]}`
  },
})

// `sql SITE …` as the current session: the statement is checked by the security manager (no read up, no write
// down, columns above the session's level left out) exactly like a query; with no session, the operator's.
registerCommand({
  ...sqlCommand,
  summary: "run a statement at one site's primary (local tables and catalogs), as the current session (`login …`) if any",
  run: async (ctx, a, rest) => {
    if (!ctx.user || ctx.user === 'operator') return sqlCommand.run(ctx, a, rest)
    if (a.length < 2) throw new EngineError('BAD_INPUT', 'usage: sql KDY SELECT * FROM Employees_KDY')
    const site = a[0]
    const sql = rest.slice(rest.indexOf(site) + site.length).trim()
    await attempt(ctx, `sql ${site}`, () => {
      const token = sessions(ctx).get(ctx.user!)
      if (!token) throw new EngineError('AUTH_FAILED', `${ctx.user} has no session (login first)`)
      const auth = SecurityManager.of(ctx.cluster).authorize(token, site, sql)
      const r = ctx.cluster.siteStore(site).exec(auth.sql)
      const v = visibleResult(auth, r.columns)
      ctx.last = { result: { columns: v.columns, rows: r.rows.map((row) => v.pick(row)), changes: r.changes }, value: { hidden: v.hidden }, source: `sql ${site} as ${ctx.user}` }
    })
  },
}, { replace: true })
