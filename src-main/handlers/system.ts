import { EngineError } from '../../engine/errors'
import type { EventPayload } from '../ipc/contract'
import type { HandlerContext, HandlerMap } from './context'
import pkg from '../../package.json'
import { resolve } from 'node:path'
import { liveDesign } from '../pg/live'

type SystemCall = 'system/ping' | 'system/info' | 'system/setMode' | 'clock/get' | 'clock/setSpeed' | 'clock/advance' | 'events/list' | 'jobs/list' | 'jobs/get' | 'jobs/cancel'

/** The 'engine/tick' payload: clock plus one health light per site. */
export function tickPayload(ctx: HandlerContext): EventPayload<'engine/tick'> {
  const c = ctx.cluster
  return {
    clock: c.clockView(ctx.clock.speed, ctx.clock.speed > 0),
    health: Object.fromEntries(c.siteCodes.map((code) => [code, c.siteHealth(code)])),
  }
}

/** Virtual-time control is the simulation's: refused in live mode (the servers run in real time). */
function simulationOnly(ctx: HandlerContext, what: string): void {
  if (ctx.live) throw new EngineError('UNSUPPORTED', `${what} applies only to the simulation: in live mode the sites are PostgreSQL servers running in real time (the console's clock runs at 1×)`)
}

export const systemHandlers: HandlerMap<SystemCall> = {
  'system/ping': async (ctx, { sentAt }) => ({ sentAt, engineNow: ctx.cluster.sim.now }),
  'system/info': async (ctx) => ({
    version: pkg.version, host: ctx.host, seed: ctx.cluster.sim.seed, dataDir: ctx.dataDir, sites: ctx.cluster.siteCodes,
    live: ctx.live ? { deployment: ctx.live.dataDir, servers: ctx.live.servers() } : null,
  }),
  'system/setMode': async (ctx, { mode, deployment, confirm }) => {
    if (confirm !== mode) throw new EngineError('BAD_INPUT', `type the mode's name "${mode}" to confirm the switch (got "${confirm}")`)
    if (mode === 'live' && !deployment) throw new EngineError('BAD_INPUT', 'live mode needs the deployment directory of `iddb pg up` (it holds pg.json)')
    if (mode === 'simulation' && !ctx.live) throw new EngineError('CONFLICT', 'the console is already the simulation')
    if (mode === 'live' && ctx.live && resolve(deployment!) === ctx.live.dataDir) throw new EngineError('CONFLICT', `the console is already live over ${ctx.live.dataDir}`)
    if (!ctx.switchMode) throw new EngineError('UNSUPPORTED', 'this host cannot switch its mode')
    const busy = ctx.jobs.list().filter((j) => j.status === 'running')
    if (busy.length) throw new EngineError('CONFLICT', `jobs are running (${busy.map((j) => `${j.id} ${j.kind}`).join(', ')}): wait for them or cancel them before switching the mode`)
    const to = mode === 'live' ? resolve(deployment!) : null
    // a directory that is not a deployment is refused before anything changes (the job checks the servers)
    if (to) liveDesign(to)
    const sw = ctx.switchMode
    return ctx.jobs.start('mode', to ? `open the live servers of ${to}` : 'return to the simulation', (job) => sw({ live: to }, job).then(() => ({ mode, deployment: to })))
  },
  'clock/get': async (ctx) => ctx.cluster.clockView(ctx.clock.speed, ctx.clock.speed > 0),
  'clock/setSpeed': async (ctx, { speed }) => {
    simulationOnly(ctx, 'the virtual clock\'s speed')
    ctx.clock.setSpeed(speed)
    ctx.emit('engine/tick', tickPayload(ctx))
    return ctx.cluster.clockView(ctx.clock.speed, ctx.clock.speed > 0)
  },
  'clock/advance': async (ctx, { ms }) => {
    simulationOnly(ctx, 'advancing the virtual clock')
    ctx.cluster.sim.advance(ms)
    ctx.emit('engine/tick', tickPayload(ctx))
    return ctx.cluster.clockView(ctx.clock.speed, ctx.clock.speed > 0)
  },
  'events/list': async (ctx, { afterSeq, limit }) => ctx.cluster.events.filter((e) => e.seq > afterSeq).slice(0, limit),
  'jobs/list': async (ctx) => ctx.jobs.list(),
  'jobs/get': async (ctx, { id }) => ctx.jobs.get(id),
  'jobs/cancel': async (ctx, { id }) => {
    const job = ctx.jobs.cancel(id)
    if (!job) throw new EngineError('NOT_FOUND', `no job ${id}`)
    return job
  },
}
