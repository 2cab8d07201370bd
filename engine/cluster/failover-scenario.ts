/**
 * Scenario commands for failover (docs/FAILOVER.md). Destructive ones take --yes (a script is not interactive):
 *   feed KDY sync|async                      the backup feed's mode
 *   failover KDY --yes                       promote KDY's backup server (waits until it accepts writes)
 *   failback KDY --yes                       promote the original primary host again
 *   autofailover on|off [checks=3] [interval=1s]
 *   expect rpo KDY = 0       expect rto KDY < 1s       expect lag KDY = 0      (the last promotion / the feed now)
 *   expect roles KDY KDY-db2/KDY-db1         (primary host / backup host)
 */
import { registerCommand, registerExpectation, parseDuration, type ScenarioContext } from '../scenario/runner'
import { EngineError } from '../errors'
import { Failover } from './failover'
import type { PromotionReport } from '../api/failover'
import type { FeedSchedule } from '../api/schedules'

const WAIT_MS = 600_000

function confirmed(a: string[], what: string): string {
  const site = a.find((x) => !x.startsWith('--'))
  if (!site) throw new EngineError('BAD_INPUT', `usage: ${what} KDY --yes`)
  if (!a.includes('--yes')) throw new EngineError('BAD_INPUT', `${what} ${site} is destructive (the site's primary changes host): add --yes to confirm`)
  return site.toUpperCase()
}

async function promoteAndWait(ctx: ScenarioContext, site: string, failback: boolean): Promise<void> {
  const f = Failover.of(ctx.cluster)
  const done = failback ? f.failback(site) : f.promote(site)
  const until = ctx.cluster.sim.now + WAIT_MS
  ctx.cluster.sim.runUntilTrue(() => !f.feedView(site).promoting || ctx.cluster.sim.now >= until, 5_000_000)
  const r = await done
  ctx.last = { value: r, ok: true, source: `${failback ? 'failback' : 'failover'} ${site}` }
  ctx.out.push(`${site}: ${r.promotedHost} is primary: RTO ${r.rtoMs} ms, RPO ${r.rpoTxns} transaction(s) (${r.rpoRows} rows)`)
}

for (const failback of [false, true]) {
  const name = failback ? 'failback' : 'failover'
  registerCommand({
    name, usage: `${name} SITE --yes`,
    summary: failback ? 'fail back: the original primary host (rejoined, caught up) is primary again' : "promote a site's backup server to primary; reports RPO and RTO",
    action: (a) => ({ action: `failover/${failback ? 'failback' : 'promote'}`, input: { site: (a.find((x) => !x.startsWith('--')) ?? '').toUpperCase(), confirm: a.includes('--yes') ? (a.find((x) => !x.startsWith('--')) ?? '').toUpperCase() : '' } }),
    run: (ctx, a) => promoteAndWait(ctx, confirmed(a, name), failback),
  })
}

registerCommand({
  name: 'feed', usage: 'feed SITE sync|async | feed schedule continuous | feed schedule every MINUTES | feed schedule at HH:MM…',
  summary: "the backup feed's mode (synchronous: a commit waits for the backup; or asynchronous), or the main repository's feed schedule",
  action: (a) => a[0] === 'schedule' ? { action: 'replication/setFeedSchedule', input: {} } : { action: 'failover/setFeed', input: { site: (a[0] ?? '').toUpperCase(), mode: a[1] } },
  run: (ctx, a) => {
    if (a[0] === 'schedule') {
      let s: FeedSchedule | undefined
      if (a[1] === 'continuous') s = { mode: 'continuous' }
      else if (a[1] === 'every') s = { mode: 'every', minutes: Number(a[2]) }
      else if (a[1] === 'at') s = { mode: 'times', times: a.slice(2) }
      if (!s) throw new EngineError('BAD_INPUT', 'usage: feed schedule continuous | every MINUTES | at HH:MM…')
      ctx.cluster.setFeedSchedule(s)
      return
    }
    if (a.length < 2 || (a[1] !== 'sync' && a[1] !== 'async')) throw new EngineError('BAD_INPUT', 'usage: feed KDY sync|async')
    Failover.of(ctx.cluster).setFeedMode(a[0].toUpperCase(), a[1])
  },
})

registerCommand({
  name: 'autofailover', usage: 'autofailover on|off [checks=N] [interval=DURATION]', summary: 'automatic failover on health checks (off by default)',
  action: (a) => ({ action: 'failover/setAuto', input: { enabled: a[0] === 'on' } }),
  run: (ctx, a) => {
    if (a[0] !== 'on' && a[0] !== 'off') throw new EngineError('BAD_INPUT', 'usage: autofailover on checks=3 interval=1s')
    const kv = Object.fromEntries(a.slice(1).map((x) => x.split('=')))
    Failover.of(ctx.cluster).setAuto({ enabled: a[0] === 'on', ...(kv.checks ? { checks: Number(kv.checks) } : {}), ...(kv.interval ? { intervalMs: parseDuration(kv.interval) } : {}) })
  },
})

function cmp(got: number, op: string, want: number): boolean {
  if (op === '<') return got < want
  if (op === '<=') return got <= want
  if (op === '>') return got > want
  if (op === '>=') return got >= want
  if (op === '=' || op === '==') return got === want
  throw new EngineError('BAD_INPUT', `unknown comparison ${op} (use < <= > >= =)`)
}

function lastPromotion(ctx: ScenarioContext, site: string): PromotionReport {
  const r = Failover.of(ctx.cluster).feedView(site.toUpperCase()).last
  if (!r) throw new EngineError('BAD_INPUT', `no promotion at ${site} yet (failover ${site} --yes first)`)
  return r
}

registerExpectation({
  name: 'rpo', usage: 'expect rpo SITE OP N   (committed transactions lost at the last promotion)',
  check: (ctx, a) => {
    if (a.length < 3) throw new EngineError('BAD_INPUT', 'usage: expect rpo KDY = 0')
    const r = lastPromotion(ctx, a[0])
    return cmp(r.rpoTxns, a[1], Number(a[2])) ? undefined : `RPO at ${r.site} was ${r.rpoTxns} transaction(s), not ${a[1]} ${a[2]}`
  },
})
registerExpectation({
  name: 'rto', usage: 'expect rto SITE OP DURATION   (virtual time from the command to accepting writes)',
  check: (ctx, a) => {
    if (a.length < 3) throw new EngineError('BAD_INPUT', 'usage: expect rto KDY < 1s')
    const r = lastPromotion(ctx, a[0])
    return cmp(r.rtoMs, a[1], parseDuration(a[2])) ? undefined : `RTO at ${r.site} was ${r.rtoMs} ms, not ${a[1]} ${a[2]}`
  },
})
registerExpectation({
  name: 'lag', usage: 'expect lag SITE OP N   (batches committed at the site not yet on its backup)',
  check: (ctx, a) => {
    if (a.length < 3) throw new EngineError('BAD_INPUT', 'usage: expect lag KDY = 0')
    const v = Failover.of(ctx.cluster).feedView(a[0].toUpperCase())
    return cmp(v.lagBatches, a[1], Number(a[2])) ? undefined : `${v.site}.backup is ${v.lagBatches} batch(es) behind, not ${a[1]} ${a[2]}`
  },
})
registerExpectation({
  name: 'roles', usage: 'expect roles SITE PRIMARYHOST/BACKUPHOST',
  check: (ctx, a) => {
    const v = Failover.of(ctx.cluster).feedView((a[0] ?? '').toUpperCase())
    const got = `${v.primaryHost}/${v.backupHost}`
    return got === a[1] ? undefined : `roles at ${v.site} are ${got} (primary/backup), not ${a[1]}`
  },
})
