/**
 * Scenario-language commands for transactions (registered in engine/scenario's command table):
 *   protocol centralized|linear|distributed          deadlocks detect|wound-wait [youngest|oldest|fewest-locks]
 *   begin T1 at CMB [protocol linear]                exec T1 KDY UPDATE Stock_KDY SET QTY = QTY - 5 WHERE STOCKCODE = 'S001' [&]
 *   exec T1 UPDATE EMPLOYEES SET SALARY = SALARY * 1.1 WHERE BRCODE = 'KDY'   (global SQL: no site, localized by the DTM)
 *   commit T1 [&]     abort T1                       crash KDY at prepare [restart after 2s]
 *   resolve T1 at KDY commit|abort                   locks KDY     wfg     indoubt
 *   expect outcome T1 COMMIT|ABORT|UNKNOWN|PENDING   expect indoubt N    expect deadlocks N    expect locks SITE N
 *   expect txnstate T1 KDY READY|COMMIT|ABORT|INITIAL|RO
 *   expect heuristic T1 [at KDY] damage|consistent|pending|none   (hand resolutions compared with the coordinator's decision)
 * A trailing `&` sends the statement (or commit) without waiting for its answer (to build deadlocks).
 */
import { registerCommand, registerExpectation, parseDuration, type ScenarioContext } from '../scenario/runner'
import { EngineError, toErrorInfo } from '../errors'
import { Dtm, STEPS, type CommitResult, type Step } from './dtm'

const WAIT_MS = 120_000
const dtmOf = (ctx: ScenarioContext) => Dtm.of(ctx.cluster)
const gidOf = (ctx: ScenarioContext, name: string): string => {
  const g = ctx.state.get(`txn:${name}`)
  if (typeof g !== 'string') throw new EngineError('BAD_INPUT', `no transaction named ${name} (begin ${name} at CMB)`)
  return g
}
const outcomes = (ctx: ScenarioContext): Map<string, CommitResult> => {
  let m = ctx.state.get('txn:outcomes') as Map<string, CommitResult> | undefined
  if (!m) { m = new Map(); ctx.state.set('txn:outcomes', m) }
  return m
}
const waitFor = (ctx: ScenarioContext, pred: () => boolean, ms = WAIT_MS) => {
  const until = ctx.cluster.sim.now + ms
  ctx.cluster.sim.runUntilTrue(() => pred() || ctx.cluster.sim.now >= until, 5_000_000)
}

registerCommand({
  name: 'protocol', usage: 'protocol centralized|linear|distributed', summary: 'two-phase commit topology for new transactions',
  run: (ctx, a) => {
    if (!['centralized', 'linear', 'distributed'].includes(a[0])) throw new EngineError('BAD_INPUT', 'usage: protocol distributed')
    dtmOf(ctx).setProtocol(a[0] as 'distributed')
  },
})
registerCommand({
  name: 'deadlocks', usage: 'deadlocks detect|wound-wait [youngest|oldest|fewest-locks]', summary: 'deadlock handling scheme and victim policy',
  run: (ctx, a) => {
    if (a[0] !== 'detect' && a[0] !== 'wound-wait') throw new EngineError('BAD_INPUT', 'usage: deadlocks detect youngest')
    dtmOf(ctx).setScheme(a[0], a[1] as 'youngest' | undefined)
  },
})
registerCommand({
  name: 'begin', usage: 'begin T1 at CMB [protocol linear]', summary: 'start a distributed transaction coordinated at a site',
  run: (ctx, a) => {
    if (a.length < 3 || a[1].toLowerCase() !== 'at') throw new EngineError('BAD_INPUT', 'usage: begin T1 at CMB')
    const p = a[3]?.toLowerCase() === 'protocol' ? (a[4] as 'linear') : undefined
    ctx.state.set(`txn:${a[0]}`, dtmOf(ctx).begin(a[2], p ? { protocol: p } : {}))
  },
})
registerCommand({
  name: 'exec', usage: 'exec T1 [SITE] SQL [&]', summary: 'run a statement of T1: global SQL (localized to the fragments\' sites), or on a fragment at SITE (waits for the answer unless it ends with &)',
  run: (ctx, a, rest) => {
    if (a.length < 3) throw new EngineError('BAD_INPUT', "usage: exec T1 UPDATE STOCK_KDY SET QTY = QTY - 5 WHERE STOCKCODE = 'S001'   or   exec T1 KDY UPDATE Stock_KDY …")
    const gid = gidOf(ctx, a[0])
    const global = /^(SELECT|INSERT|UPDATE|DELETE)$/i.test(a[1])
    let sql = rest.replace(global ? /^\s*\S+\s+/ : /^\s*\S+\s+\S+\s+/, '').trim()
    const noWait = sql.endsWith('&')
    if (noWait) sql = sql.slice(0, -1).trim()
    let res: import('./dtm').ExecResult | undefined
    const where = global ? 'global' : a[1]
    const cb = (r: import('./dtm').ExecResult) => { res = r; if (noWait) ctx.out.push(`${a[0]} at ${where}: ${r.ok ? 'ok' : r.error?.message}`) }
    if (global) dtmOf(ctx).execGlobal(gid, sql, [], cb)
    else dtmOf(ctx).exec(gid, a[1], sql, [], cb)
    if (noWait) { ctx.cluster.sim.runUntilTrue(() => res !== undefined || ctx.cluster.sim.pending === 0, 50); return }
    waitFor(ctx, () => res !== undefined)
    if (!res) { ctx.last = { error: { code: 'TIMEOUT', message: `${a[0]} at ${where}: no answer yet` }, source: `exec ${a[0]}` }; return }
    const rows = res.rows ?? []
    const columns = rows.length ? Object.keys(rows[0]) : []
    ctx.last = res.ok
      ? { result: { columns, rows: rows.map((r) => columns.map((c) => r[c] as string | number | null)), changes: res.affected }, source: `exec ${a[0]}` }
      : { error: res.error, source: `exec ${a[0]}` }
  },
})
registerCommand({
  name: 'commit', usage: 'commit T1 [&]', summary: 'two-phase commit of T1 (waits for the outcome unless &)',
  run: (ctx, a) => {
    const gid = gidOf(ctx, a[0])
    let done = false
    try {
      dtmOf(ctx).commit(gid, (r) => { outcomes(ctx).set(a[0], r); done = true })
    } catch (e) { ctx.last = { error: toErrorInfo(e), source: `commit ${a[0]}` }; return }
    if (a[1] !== '&') waitFor(ctx, () => done)
    const r = outcomes(ctx).get(a[0])
    ctx.last = { value: r?.outcome ?? 'PENDING', ok: r?.outcome === 'COMMIT', source: `commit ${a[0]}` }
  },
})
registerCommand({
  name: 'abort', usage: 'abort T1', summary: 'abort T1 (rolls back at every site)',
  run: (ctx, a) => { dtmOf(ctx).abort(gidOf(ctx, a[0]), 'aborted by the scenario'); outcomes(ctx).set(a[0], { gid: gidOf(ctx, a[0]), outcome: 'ABORT', latencyMs: 0 }) },
})
registerCommand({
  name: 'crash', usage: `crash SITE at ${STEPS.join('|')} [restart after 2s]`, summary: 'crash a site when it reaches a named 2PC step',
  run: (ctx, a) => {
    if (a.length < 3 || a[1] !== 'at' || !STEPS.includes(a[2] as Step)) throw new EngineError('BAD_INPUT', `usage: crash KDY at prepare [restart after 2s]; steps: ${STEPS.join(', ')}`)
    const restart = a[3] === 'restart' && a[4] === 'after' ? parseDuration(a[5] ?? '') : undefined
    dtmOf(ctx).crashAt(a[0], a[2] as Step, restart === undefined ? {} : { restartAfterMs: restart })
  },
})
registerCommand({
  name: 'resolve', usage: 'resolve T1 at KDY commit|abort', summary: 'resolve an in-doubt transaction by hand (logged as HEURISTIC)',
  run: (ctx, a) => {
    const d = a[3]?.toUpperCase()
    if (a[1] !== 'at' || (d !== 'COMMIT' && d !== 'ABORT')) throw new EngineError('BAD_INPUT', 'usage: resolve T1 at KDY commit')
    dtmOf(ctx).resolve(gidOf(ctx, a[0]), a[2], d)
  },
})
registerCommand({
  name: 'locks', usage: 'locks SITE', summary: 'print the locks held and awaited at a site',
  run: (ctx, a) => {
    const lm = dtmOf(ctx).locks(a[0])
    for (const tx of lm.transactions()) {
      const w = lm.waitingRequest(tx)
      ctx.out.push(`${tx}: ${lm.heldLocks(tx).map((l) => `${l.mode} ${l.resource}`).join(', ')}${w ? `; waits ${w.mode} ${w.resource}` : ''}`)
    }
  },
})
registerCommand({
  name: 'wfg', usage: 'wfg', summary: 'print the global and local wait-for graphs',
  run: (ctx) => {
    const v = dtmOf(ctx).wfgView()
    ctx.out.push(`global: ${v.global.map((e) => `${e.from}→${e.to}`).join(' ') || '(empty)'}; cycles: ${v.cycles.map((c) => c.join('→')).join(' | ') || 'none'}`)
    for (const [s, es] of Object.entries(v.local)) ctx.out.push(`${s}: ${es.map((e) => `${e.from}→${e.to}`).join(' ') || '(empty)'}`)
  },
})
registerCommand({
  name: 'indoubt', usage: 'indoubt', summary: 'print the in-doubt transactions',
  run: (ctx) => { for (const d of dtmOf(ctx).inDoubt()) ctx.out.push(`${d.gid} at ${d.site}: READY ${Math.round(d.ageMs)} ms, coordinator ${d.coordinator}, locks ${d.locks.join(', ')}`) },
})

registerExpectation({
  name: 'outcome', usage: 'expect outcome T1 COMMIT|ABORT|UNKNOWN|PENDING',
  check: (ctx, a) => {
    const gid = gidOf(ctx, a[0])
    const got = outcomes(ctx).get(a[0])?.outcome ?? dtmOf(ctx).info.get(gid)?.outcome ?? 'PENDING'
    return got === a[1]?.toUpperCase() ? undefined : `${a[0]} (${gid}) outcome is ${got}`
  },
})
registerExpectation({
  name: 'indoubt', usage: 'expect indoubt N',
  check: (ctx, a) => { const n = dtmOf(ctx).inDoubt().length; return n === Number(a[0]) ? undefined : `${n} in-doubt transaction(s)` },
})
registerExpectation({
  name: 'deadlocks', usage: 'expect deadlocks N',
  check: (ctx, a) => { const n = dtmOf(ctx).deadlocks.length; return n === Number(a[0]) ? undefined : `${n} deadlock(s) recorded` },
})
registerExpectation({
  name: 'locks', usage: 'expect locks SITE N',
  check: (ctx, a) => { const n = dtmOf(ctx).locks(a[0]).lockCount; return n === Number(a[1]) ? undefined : `${n} lock(s) held at ${a[0]}` },
})
registerExpectation({
  name: 'txnstate', usage: 'expect txnstate T1 SITE STATE',
  check: (ctx, a) => {
    const gid = gidOf(ctx, a[0])
    const t = dtmOf(ctx).list(100_000).find((x) => x.gid === gid)
    const st = t?.sites.find((s) => s.site === a[1])?.state ?? 'none'
    return st === a[2]?.toUpperCase() ? undefined : `${a[0]} at ${a[1]} is ${st}`
  },
})
registerExpectation({
  name: 'heuristic', usage: 'expect heuristic T1 [at SITE] damage|consistent|pending|none',
  check: (ctx, a) => {
    const gid = gidOf(ctx, a[0])
    const site = a[1]?.toLowerCase() === 'at' ? a[2] : undefined
    const want = (site ? a[3] : a[1])?.toLowerCase()
    if (!['damage', 'consistent', 'pending', 'none'].includes(want ?? '')) throw new EngineError('BAD_INPUT', 'usage: expect heuristic T1 [at KDY] damage|consistent|pending|none')
    const hs = dtmOf(ctx).heuristics.filter((h) => h.gid === gid && (!site || h.site === site))
    const got = !hs.length ? 'none' : hs.some((h) => h.damage) ? 'damage' : hs.some((h) => h.decision === undefined) ? 'pending' : 'consistent'
    return got === want ? undefined : `${a[0]} (${gid}) heuristic: ${got}${hs.length ? ` (${hs.map((h) => `${h.site} ${h.heuristic} by hand${h.decision ? `, coordinator ${h.decision}` : ''}`).join('; ')})` : ''}`
  },
})
