/**
 * Scenario expectations on the last `query` (engine/security/scenario.ts runs it through the distributed query
 * processor and advances the clock by its virtual response time):
 *   expect class remote request|remote transaction|distributed transaction|distributed request
 *   expect plan strategy single-site|ship-to-assembly|partial-aggregation|write
 *   expect plan uses FRAGMENT[@SITE]        expect plan pruned FRAGMENT        expect plan note TEXT
 *   expect plan sites CMB,KDY               (every site the request involved)
 *   expect staleness FRAGMENT < 6h | none   (how stale the copy the plan read is; none: no copy that lags)
 *   expect response < 2s                    (virtual response time; < <= > >= =)
 */
import { registerExpectation, parseDuration, type ScenarioContext } from './runner'
import { EngineError } from '../errors'
import type { PlanView, RequestClass } from '../api/query'

interface QueryValue { plan: PlanView; requestClass: RequestClass; virtualMs: number }

function lastQuery(ctx: ScenarioContext): QueryValue {
  const v = ctx.last?.value as Partial<QueryValue> | undefined
  if (ctx.last?.error) throw new EngineError('EXPECTATION_FAILED', `${ctx.last.source} failed: ${ctx.last.error.code} ${ctx.last.error.message}`)
  if (!v?.plan) throw new EngineError('BAD_INPUT', 'no query to check (run query SITE SQL first)')
  return v as QueryValue
}

function compare(got: number, op: string, want: number): boolean {
  switch (op) {
    case '<': return got < want
    case '<=': return got <= want
    case '>': return got > want
    case '>=': return got >= want
    case '=': case '==': return got === want
    default: throw new EngineError('BAD_INPUT', `unknown comparison ${op} (use < <= > >= =)`)
  }
}

const ms = (x: number) => (x >= 1000 ? `${(x / 1000).toFixed(3).replace(/\.?0+$/, '')} s` : `${Math.round(x * 1000) / 1000} ms`)

registerExpectation({
  name: 'class', usage: 'expect class remote request|remote transaction|distributed transaction|distributed request',
  check: (ctx, _a, rest) => {
    const q = lastQuery(ctx)
    return q.requestClass === rest.trim().toLowerCase() ? undefined : `request class is ${q.requestClass}, not ${rest.trim()}`
  },
})

registerExpectation({
  name: 'plan', usage: 'expect plan strategy S | uses FRAGMENT[@SITE] | pruned FRAGMENT | note TEXT | sites A,B',
  check: (ctx, a, rest) => {
    const p = lastQuery(ctx).plan
    const what = (a[0] ?? '').toLowerCase()
    const arg = rest.replace(/^\S+\s*/, '').trim()
    const used = p.fragments.filter((f) => f.status === 'used')
    switch (what) {
      case 'strategy': return p.strategy === arg ? undefined : `plan strategy is ${p.strategy}, not ${arg}`
      case 'uses': {
        const [frag, site] = arg.split('@')
        const hit = used.find((f) => f.fragment.toUpperCase() === frag.toUpperCase() && (!site || f.site === site.toUpperCase() || `${f.site}.${f.server}` === site))
        return hit ? undefined : `the plan does not use ${arg}; it uses ${used.map((f) => `${f.fragment}@${f.site}${f.server === 'repository' ? '.repository' : ''}`).join(', ') || 'nothing'}`
      }
      case 'pruned': {
        const hit = p.fragments.find((f) => f.status === 'pruned' && f.fragment.toUpperCase() === arg.toUpperCase())
        return hit ? undefined : `${arg} was not pruned (pruned: ${p.fragments.filter((f) => f.status === 'pruned').map((f) => f.fragment).join(', ') || 'none'})`
      }
      case 'note': return p.notes.some((n) => n.toLowerCase().includes(arg.toLowerCase())) ? undefined : `no plan note contains "${arg}"; notes: ${p.notes.join(' | ') || 'none'}`
      case 'sites': {
        const want = arg.split(',').map((x) => x.trim().toUpperCase()).filter(Boolean).sort().join(',')
        const got = [...p.sitesInvolved].sort().join(',')
        return got === want ? undefined : `sites involved: ${got}, not ${want}`
      }
      default: throw new EngineError('BAD_INPUT', 'usage: expect plan strategy partial-aggregation | uses Sales_KDY@KDY | pruned Sales_CMB | note "main repository" | sites CMB,KDY')
    }
  },
})

registerExpectation({
  name: 'staleness', usage: 'expect staleness FRAGMENT OP DURATION | expect staleness none',
  check: (ctx, a) => {
    const p = lastQuery(ctx).plan
    const stale = p.fragments.filter((f) => f.status === 'used' && f.stalenessMs !== undefined)
    if ((a[0] ?? '').toLowerCase() === 'none') return stale.length ? `the plan read ${stale.map((f) => `${f.fragment} (${ms(f.stalenessMs!)} stale)`).join(', ')}` : undefined
    if (a.length < 3) throw new EngineError('BAD_INPUT', 'usage: expect staleness Stock_MBI < 6h   or   expect staleness none')
    const f = stale.find((x) => x.fragment.toUpperCase() === a[0].toUpperCase())
    if (!f) return `the plan read no lagging copy named ${a[0]} (${stale.map((x) => x.fragment).join(', ') || 'none read'})`
    return compare(f.stalenessMs!, a[1], parseDuration(a[2])) ? undefined : `${f.fragment} is ${ms(f.stalenessMs!)} stale, not ${a[1]} ${a[2]}`
  },
})

registerExpectation({
  name: 'response', usage: 'expect response OP DURATION   (the last query\'s virtual response time)',
  check: (ctx, a) => {
    const q = lastQuery(ctx)
    if (a.length < 2) throw new EngineError('BAD_INPUT', 'usage: expect response < 2s')
    return compare(q.virtualMs, a[0], parseDuration(a[1])) ? undefined : `virtual response time ${ms(q.virtualMs)}, not ${a[0]} ${a[1]}`
  },
})
