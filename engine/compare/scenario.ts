/**
 * Scenario-language verbs for the business day (engine/compare/workload.ts), run on the scenario's own cluster —
 * whichever design its `design legacy|distributed` directive chose:
 *   business-day [from=H] [to=H] [rate=X] [seed=N] [hq-outage=H-H|none] [link-outage=H-H|none]
 *       issues the day's requests (hours are local; `from` defaults to the next whole hour, `to` to 18)
 *   expect day served BRANCH OP FRACTION          share of the branch's requests served
 *   expect day outage hq|link BRANCH OP FRACTION  share served during the HQ / slowest branch's link outage
 *   expect day p50 BRANCH KIND OP DURATION        median response time of a request kind at a branch
 *   expect day sales BRANCH OP N                  today's sales the branch's fragment holds
 * OP is one of < <= = >= >.
 */
import { registerCommand, registerExpectation, parseDuration, type ScenarioContext } from '../scenario/runner'
import { EngineError } from '../errors'
import { siteLocalTime } from '../sim/kernel'
import { topologyFor, runDayOnCluster } from '.'
import { planDay } from './workload'
import type { CompareOptions, DesignResult, RequestKind } from '../api/compare'
import { REQUEST_KINDS } from '../api/compare'

const KEY = 'compare:day'

function dayOf(ctx: ScenarioContext): DesignResult {
  const r = ctx.state.get(KEY) as DesignResult | undefined
  if (!r) throw new EngineError('BAD_INPUT', 'no business day has run yet (business-day from=9 to=12)')
  return r
}

function window(name: string, v: string): { fromHour: number; toHour: number } | null {
  if (v === 'none') return null
  const m = /^(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)$/.exec(v)
  if (!m) throw new EngineError('BAD_INPUT', `${name} must be FROM-TO in local hours (e.g. 14-15) or none, got ${v}`)
  return { fromHour: Number(m[1]), toHour: Number(m[2]) }
}

function compare(op: string, actual: number, want: number): boolean {
  switch (op) {
    case '<': return actual < want
    case '<=': return actual <= want
    case '=': case '==': return Math.abs(actual - want) < 1e-9
    case '>=': return actual >= want
    case '>': return actual > want
    default: throw new EngineError('BAD_INPUT', `comparison must be one of < <= = >= >, got ${op}`)
  }
}

registerCommand({
  name: 'business-day', usage: 'business-day [from=H] [to=H] [rate=X] [seed=N] [hq-outage=H-H|none] [link-outage=H-H|none]',
  summary: "run the business day's requests (POS sales, look-ups, reports, refreshes, outages) on this cluster's design",
  run: async (ctx, args) => {
    const c = ctx.cluster
    const kv = new Map(args.map((a) => { const i = a.indexOf('='); if (i < 1) throw new EngineError('BAD_INPUT', `business-day takes key=value arguments, got ${a}`); return [a.slice(0, i), a.slice(i + 1)] as const }))
    const now = siteLocalTime(c.sim.now)
    const nextHour = now.mi === 0 && now.s === 0 ? now.h : now.h + 1
    const opts: CompareOptions = { seed: ctx.seed, fromHour: Math.max(8, nextHour), toHour: 18 }
    for (const [k, v] of kv) {
      if (k === 'from') opts.fromHour = Number(v)
      else if (k === 'to') opts.toHour = Number(v)
      else if (k === 'rate') opts.rateScale = Number(v)
      else if (k === 'seed') opts.seed = Number(v)
      else if (k === 'hq-outage') opts.hqOutage = window(k, v)
      else if (k === 'link-outage') opts.kdyLinkOutage = window(k, v)
      else throw new EngineError('BAD_INPUT', `unknown business-day argument ${k} (from, to, rate, seed, hq-outage, link-outage)`)
    }
    if (opts.toHour! <= opts.fromHour!) throw new EngineError('BAD_INPUT', `business-day: to=${opts.toHour} must be after from=${opts.fromHour} (the clock is at ${now.h}:${String(now.mi).padStart(2, '0')})`)
    const plan = planDay(topologyFor('distributed'), topologyFor('legacy'), opts, c.sim.seed, c.createdAtMs, c.sim.now)
    const r = await runDayOnCluster(c, plan)
    ctx.state.set(KEY, r)
    ctx.out.push(`business day ${plan.fromHour}:00–${plan.toHour}:00 on the ${r.design} design: ${r.served}/${r.requests} requests served, ${r.wanBytesTotal} WAN bytes`)
    for (const [s, kinds] of Object.entries(r.response)) {
      ctx.out.push(`  ${s}: ${Object.entries(kinds).map(([k, p]) => `${k} p50 ${p!.p50} ms (n=${p!.count})`).join(', ')}`)
    }
  },
})

registerExpectation({
  name: 'day', usage: 'expect day served BRANCH OP F | outage hq|link BRANCH OP F | p50 BRANCH KIND OP DURATION | sales BRANCH OP N',
  check: (ctx, a) => {
    const r = dayOf(ctx)
    const what = (a[0] ?? '').toLowerCase()
    if (what === 'served') {
      const xs = r.traces.filter((t) => t.branch === a[1] && t.kind !== 'refresh')
      const f = xs.length ? xs.filter((t) => t.ok).length / xs.length : 0
      return compare(a[2], f, Number(a[3])) ? undefined : `${a[1]} served ${(f * 100).toFixed(1)}% of ${xs.length} requests, expected ${a[2]} ${a[3]}`
    }
    if (what === 'outage') {
      const av = a[1] === 'hq' ? r.availability.hqOutage : a[1] === 'link' ? r.availability.kdyLinkOutage : undefined
      if (av === undefined) throw new EngineError('BAD_INPUT', 'usage: expect day outage hq KDY >= 1')
      if (av === null) return `the day had no ${a[1]} outage`
      const f = av[a[2]]
      if (f === undefined) return `${a[2]} issued no request during the ${a[1]} outage`
      return compare(a[3], f, Number(a[4])) ? undefined : `${a[2]} served ${(f * 100).toFixed(1)}% during the ${a[1]} outage, expected ${a[3]} ${a[4]}`
    }
    if (what === 'p50') {
      if (!REQUEST_KINDS.includes(a[2] as RequestKind)) throw new EngineError('BAD_INPUT', `request kind must be one of ${REQUEST_KINDS.join(', ')}`)
      const p = r.response[a[1]]?.[a[2] as RequestKind]
      if (!p || !p.count) return `${a[1]} served no ${a[2]}`
      return compare(a[3], p.p50, parseDuration(a[4])) ? undefined : `${a[1]} ${a[2]} p50 is ${p.p50} ms, expected ${a[3]} ${a[4]}`
    }
    if (what === 'sales') {
      const n = r.totals[a[1]]?.sales ?? 0
      return compare(a[2], n, Number(a[3])) ? undefined : `${a[1]} holds ${n} of today's sales, expected ${a[2]} ${a[3]}`
    }
    throw new EngineError('BAD_INPUT', 'usage: expect day served|outage|p50|sales …')
  },
})
