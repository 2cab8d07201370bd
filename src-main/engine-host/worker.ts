/**
 * The engine worker (worker_threads entry, bundled to out/cli/engine-worker.cjs). Owns the Cluster,
 * drives its virtual clock in real time (RealtimeDriver), dispatches calls by name to the handlers and
 * posts results `{t:'result', id, ok, value|error}` and events `{t:'event', name, payload}`.
 * The host never runs engine code on its own thread.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { existsSync, readdirSync } from 'node:fs'
import { Cluster } from '../../engine/cluster'
import { RealtimeDriver } from '../../engine/sim/realtime'
import { toErrorInfo } from '../../engine/errors'
import { calls, type CallName, type EventName, type EventPayload } from '../ipc/contract'
import { handlers } from '../handlers'
import { tickPayload } from '../handlers/system'
import type { HandlerContext } from '../handlers/context'
import { JobRunner } from './jobs'
import type { FromWorker, ToWorker, WorkerInit } from './protocol'

/** How often 'engine/tick' is pushed while the clock runs. */
const TICK_EVERY_MS = 250

/** A data directory that already holds files is reopened (clock included); otherwise a new cluster is generated there (or in memory). */
async function createCluster(init: WorkerInit): Promise<Cluster> {
  if (init.dataDir && existsSync(init.dataDir) && readdirSync(init.dataDir).length > 0) return Cluster.open(init.dataDir)
  return Cluster.create({ seed: init.seed, ...(init.dataDir ? { dataDir: init.dataDir } : {}) })
}

async function main(): Promise<void> {
  const port = parentPort
  if (!port) throw new Error('engine worker must run in a worker thread')
  const init: WorkerInit = {
    seed: Number((workerData as Partial<WorkerInit> | undefined)?.seed ?? process.env.IDDB_SEED ?? 1) >>> 0,
    dataDir: (workerData as Partial<WorkerInit> | undefined)?.dataDir ?? null,
    host: (workerData as Partial<WorkerInit> | undefined)?.host ?? 'cli',
  }
  const post = (m: FromWorker) => port.postMessage(m)
  const emit = <E extends EventName>(name: E, payload: EventPayload<E>) => post({ t: 'event', name, payload })

  let cluster: Cluster
  try {
    cluster = await createCluster(init)
  } catch (e) {
    post({ t: 'fatal', error: toErrorInfo(e) })
    return
  }

  let lastTick = 0
  const driver = new RealtimeDriver(cluster.sim, () => {
    const t = performance.now()
    if (t - lastTick >= TICK_EVERY_MS) { lastTick = t; emit('engine/tick', tickPayload(ctx)) }
  })
  const jobs = new JobRunner((job) => emit('job/progress', job))
  const ctx: HandlerContext = {
    cluster, jobs, host: init.host, dataDir: init.dataDir, emit,
    clock: {
      get speed() { return driver.speed },
      setSpeed: (speed: number) => { driver.setSpeed(speed); lastTick = performance.now() },
    },
  }
  cluster.onLog((e) => emit('engine/event', e))

  port.on('message', async (m: ToWorker) => {
    if (m.t === 'shutdown') {
      driver.stop()
      try { cluster.close() } catch (e) { console.error('[engine] close failed:', e) }
      process.exit(0) // ends this worker thread only
    }
    if (m.t !== 'call') return
    const { id, name } = m
    try {
      if (!Object.hasOwn(calls, name) || !Object.hasOwn(handlers, name)) {
        throw Object.assign(new Error(`unknown call ${name}`), { code: 'UNKNOWN_CALL' })
      }
      // The client already validated; parsing again applies defaults and guards against any other sender.
      const parsed = calls[name as CallName].input.safeParse(m.input ?? {})
      if (!parsed.success) throw Object.assign(new Error(`bad input for ${name}: ${parsed.error.issues[0]?.message ?? 'invalid'}`), { code: 'BAD_INPUT' })
      const handler = handlers[name as CallName] as (c: HandlerContext, i: unknown) => Promise<unknown>
      const value = await handler(ctx, parsed.data)
      try {
        post({ t: 'result', id, ok: true, value })
      } catch (e) {
        post({ t: 'result', id, ok: false, error: { code: 'INTERNAL', message: `result of ${name} is not transferable: ${(e as Error).message}` } })
      }
    } catch (e) {
      const error = toErrorInfo(e)
      if (error.code === 'INTERNAL') console.error(`[engine] ${name} failed:`, e)
      post({ t: 'result', id, ok: false, error })
    }
  })

  post({ t: 'ready', seed: cluster.sim.seed, sites: cluster.siteCodes })
}

main().catch((e) => {
  parentPort?.postMessage({ t: 'fatal', error: toErrorInfo(e) } satisfies FromWorker)
})
