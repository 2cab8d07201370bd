/**
 * The engine worker (worker_threads entry, bundled to out/cli/engine-worker.cjs). Owns the Cluster,
 * drives its virtual clock in real time (RealtimeDriver), dispatches calls by name to the handlers and
 * posts results `{t:'result', id, ok, value|error}` and events `{t:'event', name, payload}`.
 * The host never runs engine code on its own thread.
 */
import { ConsoleIdentities } from '../../engine/security/identities'
import { authorizeAction } from '../../engine/security/roles'
import { parentPort, receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads'
import { existsSync, readdirSync } from 'node:fs'
import { Cluster } from '../../engine/cluster'
import { jobLog } from '../../engine/cluster/joblog'
import { RealtimeDriver } from '../../engine/sim/realtime'
import { EngineError, toErrorInfo } from '../../engine/errors'
import { DEFAULT_SALES } from '../../engine/data/generator'
import { calls, callDefOf, type CallName, type EventName, type EventPayload } from '../ipc/contract'
import { testCallsEnabled } from './test-calls'
import { handlers } from '../handlers'
import { testHandlers } from '../handlers/testing'
import { tickPayload } from '../handlers/system'
import type { HandlerContext } from '../handlers/context'
import { JobRunner, type JobHandle } from './jobs'
import { HEARTBEAT_MS, type FromWorker, type ToWorker, type WorkerInit } from './protocol'
import { setInterruptPoll } from '../../engine/query/guard'
import { cancelQueryJob } from '../handlers/query'
import { LiveSites, liveDesign } from '../pg/live'
import { identityRows, restoreIdentities } from '../handlers/compare-design'
import { liveDeadlockWatch, stopLiveDeadlockWatch } from '../pg/livedeadlock'
import { LiveRoles } from '../pg/roles'
import { followLiveRefreshSchedule } from '../handlers/liveRepl'

/** How often 'engine/tick' is pushed while the clock runs. */
const TICK_EVERY_MS = 250

/** Calls answered as soon as the topology exists, while the initial data is still being generated. */
const BEFORE_DATA = new Set<string>([
  'system/ping', 'system/info', 'clock/get', 'clock/setSpeed', 'topology/get',
  'events/list', 'jobs/list', 'jobs/get', 'jobs/cancel', 'jobs/busy',
  'console/status', // the first-run screen shows while the data loads (identities.ts: a cluster still loading is a new one)
])

async function main(): Promise<void> {
  const port = parentPort
  if (!port) throw new Error('engine worker must run in a worker thread')
  const init: WorkerInit = {
    seed: Number((workerData as Partial<WorkerInit> | undefined)?.seed ?? process.env.IDDB_SEED ?? 1) >>> 0,
    dataDir: (workerData as Partial<WorkerInit> | undefined)?.dataDir ?? null,
    host: (workerData as Partial<WorkerInit> | undefined)?.host ?? 'cli',
    pg: (workerData as Partial<WorkerInit> | undefined)?.pg ?? null,
  }
  const urgent = (workerData as Partial<WorkerInit> | undefined)?.urgent
  const post = (m: FromWorker) => port.postMessage(m)
  const emit = <E extends EventName>(name: E, payload: EventPayload<E>) => post({ t: 'event', name, payload })
  const jobs = new JobRunner((job) => emit('job/progress', job))

  /*
   * A data directory that already holds files is reopened (clock included) before answering anything.
   * Otherwise the cluster (topology, network, clock) exists at once and the worker reports ready; sql.js
   * loading and the initial data generation run as a visible job ('data/generate', progress on
   * job/progress); calls that need the data wait for it (the topology, clock and jobs answer at once).
   */
  let cluster: Cluster
  let dataReady: Promise<void> = Promise.resolve()
  let hasData = true
  let dataFailed = false
  /*
   * Live mode (src-main/pg/live.ts): the cluster is built from the deployment's design, in memory, and its sites'
   * queries and transactions go to the PostgreSQL servers; every server is checked before the worker is ready.
   */
  let live: LiveSites | null = null
  let roles: LiveRoles | null = null
  let design: { seed: number; sales?: number } = { seed: init.seed }
  try {
    if (init.pg) {
      if (init.dataDir) throw new EngineError('BAD_INPUT', 'live mode (pg) keeps the console\'s cluster in memory: no data directory goes with it')
      const d = liveDesign(init.pg)
      design = { seed: d.seed, sales: d.sales }
    }
    if (init.dataDir && existsSync(init.dataDir) && readdirSync(init.dataDir).length > 0) {
      cluster = await Cluster.open(init.dataDir)
    } else {
      let job: JobHandle | undefined
      const started = Cluster.start({
        ...design, ...(init.dataDir ? { dataDir: init.dataDir } : {}), emptyOnCancel: true,
        onProgress: (p, d) => job?.progress(p, d), isCancelled: () => !!job?.cancelled,
      })
      cluster = started.cluster
      hasData = false
      let failed: unknown
      dataReady = new Promise<void>((resolve) => {
        jobs.start('data/generate', `generate initial data (${(design.sales ?? DEFAULT_SALES).toLocaleString('en')} sales)`, async (h) => {
          job = h
          try {
            await started.ready
            emit('catalog/changed', { reason: 'initial data generated' })
            return cluster.lastGenerate
          } catch (e) {
            failed = e
            throw e
          } finally {
            hasData = true
            resolve()
          }
        })
      }).then(() => {
        if (failed !== undefined) {
          dataFailed = true
          const info = toErrorInfo(failed)
          console.error('[engine] initial data generation failed:', failed)
          throw new EngineError('NOT_READY', `the engine could not load its data: ${info.message}`)
        }
      })
      dataReady.catch(() => {})
    }
    if (init.pg) {
      const l = LiveSites.open(cluster, init.pg)
      live = l
      // the DTM's stores need the cluster's catalog (its fragments); calls that need the data wait for this too
      // then every user is a role at their home server, which checks their passwords (pg/roles.ts)
      dataReady = dataReady.then(() => { l.useForTransactions(cluster); roles = LiveRoles.attach(cluster, l) })
      dataReady.catch(() => {})
      liveDeadlockWatch(l) // the global deadlock detector over the servers, on its timer while live mode lasts
    }
  } catch (e) {
    live?.close()
    post({ t: 'fatal', error: toErrorInfo(e) })
    return
  }

  let lastTick = 0
  const driverFor = (c: Cluster) => new RealtimeDriver(c.sim, () => {
    const t = performance.now()
    if (t - lastTick >= TICK_EVERY_MS) { lastTick = t; emit('engine/tick', tickPayload(ctx)) }
  })
  let driver = driverFor(cluster)
  // the virtual clock starts moving only once the sites hold their data; in live mode it keeps the servers' real time (1×)
  let wantedSpeed = live ? 1 : 0
  const ctx: HandlerContext = {
    cluster, jobs, host: init.host, dataDir: init.dataDir, emit, live,
    clock: {
      get speed() { return hasData ? driver.speed : wantedSpeed },
      setSpeed: (speed: number) => {
        wantedSpeed = speed
        if (hasData) { driver.setSpeed(speed); lastTick = performance.now() }
      },
    },
  }
  void dataReady.then(() => { if (wantedSpeed !== driver.speed) ctx.clock.setSpeed(wantedSpeed) }, () => {})
  // live mode: the Stock_MBI refresh group runs between the real servers on the console's schedule (handlers/liveRepl.ts)
  if (live) followLiveRefreshSchedule(ctx)
  let offJobs = jobLog(cluster).onChange((j) => emit('jobs/changed', j))
  let offLog = cluster.onLog((e) => emit('engine/event', e))
  /* system/setDesign and system/setMode: the new cluster (built and loaded first) replaces the old one for every
     later call; the handlers refuse setDesign in live mode (the servers hold the deployment's design) */
  const swapCluster = (next: Cluster, speed: number) => {
    driver.stop()
    offLog()
    offJobs()
    const old = cluster
    cluster = next
    ctx.cluster = next
    driver = driverFor(next)
    offLog = next.onLog((e) => emit('engine/event', e))
    offJobs = jobLog(next).onChange((j) => emit('jobs/changed', j))
    if (old !== next) { try { old.close() } catch (e) { console.error('[engine] close of the replaced cluster failed:', e) } }
    driver.setSpeed(speed)
    emit('engine/tick', tickPayload(ctx))
  }
  ctx.replaceCluster = (next: Cluster) => swapCluster(next, driver.speed)
  ctx.switchMode = async (to, job) => {
    const ids = identityRows(cluster)
    const progress = (p: number, d?: string) => job.progress(p * 0.9, d)
    let next: Cluster
    let nextLive: LiveSites | null = null
    if (to.live) {
      const d = liveDesign(to.live)
      next = await Cluster.start({ seed: d.seed, sales: d.sales, onProgress: progress, isCancelled: () => job.cancelled }).ready
      try {
        nextLive = LiveSites.open(next, to.live)
        nextLive.useForTransactions(next)
      } catch (e) {
        nextLive?.close()
        next.close()
        throw e
      }
    } else if (init.dataDir) {
      next = existsSync(init.dataDir) && readdirSync(init.dataDir).length > 0
        ? await Cluster.open(init.dataDir)
        : await Cluster.start({ seed: init.seed, dataDir: init.dataDir, onProgress: progress, isCancelled: () => job.cancelled }).ready
    } else {
      next = await Cluster.start({ seed: init.seed, onProgress: progress, isCancelled: () => job.cancelled }).ready
    }
    restoreIdentities(next, ids)
    // live: every carried identity a role at its home server, which checks its password from now on (pg/roles.ts)
    let nextRoles: LiveRoles | null = null
    if (nextLive) {
      try { nextRoles = LiveRoles.attach(next, nextLive) } catch (e) { nextLive.close(); next.close(); throw e }
    }
    if (live) await stopLiveDeadlockWatch(live).catch((e) => console.error('[engine] stopping the deadlock detector failed:', e))
    // from here on nothing awaits: no call sees the old mode's bridge closed under its cluster
    const oldLive = live
    try { roles?.close() } catch (e) { console.error('[engine] closing the live roles\' bridge failed:', e) }
    roles = nextRoles
    try { oldLive?.close() } catch (e) { console.error('[engine] closing the live servers\' bridge failed:', e) }
    live = nextLive
    ctx.live = nextLive
    if (to.live && init.dataDir) { try { cluster.checkpoint() } catch (e) { console.error('[engine] checkpoint before leaving the simulation failed:', e) } }
    swapCluster(next, nextLive ? 1 : 0)
    if (nextLive) liveDeadlockWatch(nextLive)
    hasData = true
    dataFailed = false
    post({ t: 'mode', pg: to.live })
    emit('catalog/changed', { reason: to.live ? `the console switched to the live servers of ${to.live}` : 'the console switched to the simulation' })
    job.progress(1, to.live ? `live: the servers of ${to.live}` : 'the simulation')
  }

  const onMessage = async (m: ToWorker) => {
    if (m.t === 'shutdown') {
      driver.stop()
      if (live) await stopLiveDeadlockWatch(live).catch((e) => console.error('[engine] stopping the deadlock detector failed:', e))
      try { roles?.close(); live?.close() } catch (e) { console.error('[engine] closing the live servers\' bridge failed:', e) }
      try { cluster.close() } catch (e) { console.error('[engine] close failed:', e) }
      process.exit(0) // ends this worker thread only
    }
    if (m.t !== 'call') return
    const { id, name } = m
    try {
      const def = callDefOf(name, testCallsEnabled())
      const handler = handlerOf(name)
      if (!def || !handler) throw Object.assign(new Error(`unknown call ${name}`), { code: 'UNKNOWN_CALL' })
      // The client already validated; parsing again applies defaults and guards against any other sender.
      const parsed = def.input.safeParse(m.input ?? {})
      if (!parsed.success) throw Object.assign(new Error(`bad input for ${name}: ${parsed.error.issues[0]?.message ?? 'invalid'}`), { code: 'BAD_INPUT' })
      if ((!hasData || dataFailed) && !BEFORE_DATA.has(name)) await dataReady // rejects NOT_READY if the load failed
      const value = await handler(m.actor ? { ...ctx, actorToken: m.actor } : ctx, parsed.data) // the identity: handlers/authz.ts
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
  }
  port.on('message', onMessage)

  /*
   * Liveness and the urgent channel. The worker beats every HEARTBEAT_MS from its event loop; while a
   * statement is stepping inside sql.js the statement guard runs the poll hook below, which beats too and
   * answers the urgent calls (pings, cancellations) synchronously — a cancellation sets the job's flag
   * that the same guard checks, so the statement stops. The host's watchdog restarts a worker that does
   * neither (work outside the guard that never ends).
   */
  let lastBeat = 0
  const beat = () => { lastBeat = performance.now(); post({ t: 'beat' }) }
  setInterval(beat, HEARTBEAT_MS).unref()
  if (urgent) {
    urgent.on('message', (m: ToWorker) => { void onMessage(m) })
    setInterruptPoll(() => {
      if (performance.now() - lastBeat >= HEARTBEAT_MS) beat()
      drainUrgent(urgent, (m) => {
        if (m.t !== 'call') return false
        try {
          // the same roles table as every other call: only the open calls (ping) answer without an identity
          let actor = null
          if (m.actor) { try { actor = ConsoleIdentities.of(ctx.cluster).actorOf(m.actor) } catch { actor = null } }
          const d = authorizeAction(actor, m.name, (m.input ?? {}) as Record<string, unknown>)
          if (!d.ok) throw new EngineError(d.code, d.message)
          post({ t: 'result', id: m.id, ok: true, value: urgentAnswer(ctx, m.name, m.input) })
        } catch (e) {
          post({ t: 'result', id: m.id, ok: false, error: toErrorInfo(e) })
        }
        return true
      }, (m) => { setImmediate(() => { void onMessage(m) }) })
    })
  }

  post({ t: 'ready', seed: cluster.sim.seed, sites: cluster.siteCodes })
}

type AnyHandler = (c: HandlerContext, i: unknown) => Promise<unknown>

/** A call's handler: a shipped one, or a test-only one (handlers/testing.ts) when test calls are on; looked up per call. */
function handlerOf(name: string): AnyHandler | undefined {
  if (Object.hasOwn(handlers, name)) return handlers[name as CallName] as AnyHandler
  if (testCallsEnabled() && Object.hasOwn(testHandlers, name)) return (testHandlers as Record<string, AnyHandler>)[name]
  return undefined
}

/** Takes every message waiting on the urgent port now; `answer` handles it synchronously, or it is re-dispatched later. */
function drainUrgent(port: MessagePort, answer: (m: ToWorker) => boolean, later: (m: ToWorker) => void): void {
  for (let i = 0; i < 64; i++) {
    const got = receiveMessageOnPort(port)
    if (!got) return
    const m = got.message as ToWorker
    if (!answer(m)) later(m)
  }
}

/** The urgent calls answered from inside a running statement (no database is touched). */
function urgentAnswer(ctx: HandlerContext, name: string, input: unknown): unknown {
  const parsed = Object.hasOwn(calls, name) ? calls[name as CallName].input.safeParse(input ?? {}) : undefined
  if (!parsed?.success) throw new EngineError('BAD_INPUT', `bad input for ${name}`)
  const v = parsed.data as { sentAt?: number; id?: string; jobId?: string }
  if (name === 'system/ping') return { sentAt: v.sentAt, engineNow: ctx.cluster.sim.now }
  if (name === 'jobs/get') return ctx.jobs.get(String(v.id))
  if (name === 'jobs/list') return ctx.jobs.list()
  if (name === 'jobs/cancel') return ctx.jobs.cancel(String(v.id))
  if (name === 'query/cancel') return cancelQueryJob(ctx, String(v.jobId))
  throw new EngineError('UNKNOWN_CALL', `${name} is not an urgent call`)
}

main().catch((e) => {
  parentPort?.postMessage({ t: 'fatal', error: toErrorInfo(e) } satisfies FromWorker)
})
