/**
 * The Deadlocks console over live PostgreSQL servers (src-main/pg/livedeadlock.ts): the live mode's global
 * wait-for graph, its cycles and victims, and the cross-server deadlock demo as a job. In the simulation
 * (ctx.live null) both are refused: the embedded calls deadlock/* serve the console there.
 */
import { EngineError } from '../../engine/errors'
import { liveDeadlockWatch, runDeadlockDemo } from '../pg/livedeadlock'
import type { HandlerContext, HandlerMap } from './context'
import type { LiveDeadlockDemoResult } from '../ipc/contract/liveDeadlock'

type LiveDeadlockCall = 'liveDeadlock/graph' | 'liveDeadlock/demo'

function liveOf(ctx: HandlerContext, what: string) {
  if (!ctx.live) throw new EngineError('UNSUPPORTED', `${what} is the live mode's (PostgreSQL servers): in the simulation the Deadlocks console uses the embedded detector (deadlock/graph, deadlock/demo)`)
  return ctx.live
}

export const liveDeadlockHandlers: HandlerMap<LiveDeadlockCall> = {
  'liveDeadlock/graph': async (ctx, { history }) => liveDeadlockWatch(liveOf(ctx, 'the live wait-for graph')).view(history),
  'liveDeadlock/demo': async (ctx, { a, b }) => {
    const live = liveOf(ctx, 'the live deadlock demo')
    const watch = liveDeadlockWatch(live)
    // refused before any job starts: the same sites, an unknown site, a demo already running
    if (a === b) throw new EngineError('BAD_INPUT', `the demo needs two different sites (got ${a} twice): a deadlock across servers`)
    for (const s of [a, b]) if (!live.deployment.sites.some((x) => x.code === s)) throw new EngineError('UNKNOWN_SITE', `no site ${s} in the deployment (sites: ${live.deployment.sites.map((x) => x.code).join(', ')})`, { site: s })
    if (watch.demoRunning) throw new EngineError('CONFLICT', 'a deadlock demo is already running: wait for its result')
    return ctx.jobs.start('deadlock-demo', `cross-server deadlock demo (${a}, ${b})`, async (job): Promise<LiveDeadlockDemoResult> => {
      const r = await runDeadlockDemo(watch, { a, b, progress: (p, detail) => job.progress(p, detail), cancelled: () => job.cancelled })
      job.progress(1, `victim ${r.victim} rolled back at ${r.victimRolledBack.join(', ')}; ${r.survivor} committed at ${r.survivorCommitted.join(', ')} (detected in ${r.detectionMs} ms)`)
      return r
    })
  },
}
