/**
 * EngineClient: the one way hosts (Electron main, the browser host, the CLI) talk to the engine.
 * It spawns the engine worker thread, validates every call at the boundary against the IPC contract
 * (unknown call → UNKNOWN_CALL, oversized payload → PAYLOAD_TOO_LARGE, wrong shape → BAD_INPUT naming
 * the field), posts it to the worker and relays the worker's events. Errors are always ErrorInfo.
 *
 * Watchdog: the worker beats every HEARTBEAT_MS, also from inside a running statement (the statement guard).
 * A worker that sends nothing for `hangMs`, or does not answer a cancellation within `cancelMs`, is hung
 * (work outside the guard that does not end): it is terminated and a new one started, which reopens the
 * cluster from its data directory (committed data is durable in the logs). Every waiting call gets
 * ENGINE_RESTARTED and an 'engine/restarted' event tells the user. Without a data directory (--memory)
 * the new worker regenerates the cluster from its seed and the event says the changes are lost: a hung engine
 * serves no one, so it is restarted anyway.
 */
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads'
import { existsSync, readFileSync, unlinkSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import type { z } from 'zod'
import { EngineError, toErrorInfo, type ErrorInfo } from '../../engine/errors'
import { MAX_PAYLOAD_BYTES } from '../ipc/contract/define'
import { callDefOf, EVENT_NAMES, type CallInput, type CallOutput, type EventName, type EventPayload, type HostCallName } from '../ipc/contract'
import { testCallsEnabled } from './test-calls'
import { CANCEL_CALLS, URGENT_CALLS, type FromWorker, type ToWorker, type WorkerInit } from './protocol'
import type { EngineRestartedView } from '../ipc/contract/system'

export interface EngineClientOptions {
  /** The bundled worker (out/cli/engine-worker.cjs). Default: found next to this bundle or under out/cli. */
  workerPath?: string
  seed?: number
  dataDir?: string | null
  host?: WorkerInit['host']
  /** Live mode: the PostgreSQL deployment directory (WorkerInit.pg). */
  pg?: string | null
  /** The watchdog (see above); `false` turns it off. */
  watchdog?: false | { hangMs?: number; cancelMs?: number }
}

/** Defaults: a worker silent for 20 s (IDDB_WATCHDOG_MS overrides), or a cancellation unanswered for 5 s, is hung. */
export const WATCHDOG = { hangMs: 20_000, cancelMs: 5_000 }

/** What `request` resolves with: the value (unknown until typed by `call`) or an ErrorInfo. */
export type RawResult = { ok: true; value: unknown } | { ok: false; error: ErrorInfo }
type AnyListener = (name: EventName, payload: unknown) => void
type Validated = { ok: true; name: HostCallName; input: unknown } | { ok: false; error: ErrorInfo }

/** Where the bundled worker lives, relative to the running bundle (CLI: out/cli, Electron main: out/main). */
export function defaultWorkerPath(): string {
  if (process.env.IDDB_WORKER) return resolve(process.env.IDDB_WORKER)
  const candidates: string[] = []
  const here = typeof __dirname === 'string' ? __dirname : undefined
  if (here) candidates.push(join(here, 'engine-worker.cjs'), join(here, '..', 'cli', 'engine-worker.cjs'))
  if (process.argv[1]) candidates.push(join(dirname(process.argv[1]), 'engine-worker.cjs'))
  candidates.push(resolve('out/cli/engine-worker.cjs'))
  const found = candidates.find((p) => existsSync(p))
  if (!found) throw new EngineError('INTERNAL', `engine worker bundle not found (looked in ${candidates.join(', ')}); run npm run build:cli`)
  return found
}

/** Describes zod issues in one line, naming each offending field, e.g. `site: a site code is three capital letters`. */
export function describeIssues(issues: readonly z.core.$ZodIssue[]): string {
  return issues.slice(0, 3).map((i) => {
    const field = i.path.length ? i.path.map(String).join('.') : 'input'
    if (i.code === 'unrecognized_keys') return `${field}: unexpected field${i.keys.length > 1 ? 's' : ''} ${i.keys.map((k) => `"${k}"`).join(', ')}`
    return `${field}: ${i.message}`
  }).join('; ') + (issues.length > 3 ? ` (and ${issues.length - 3} more)` : '')
}

/**
 * The terminated worker cannot release the data directory's lock (it holds this process's pid, which
 * stays alive): the host removes it so the new worker opens the directory as its only writer.
 */
function releaseOwnLock(dataDir: string): void {
  const path = join(dataDir, 'cluster.lock')
  try {
    if (readFileSync(path, 'utf8').trim() === String(process.pid)) unlinkSync(path)
  } catch { /* no lock */ }
}

/** Validates a call without touching the engine (a test-only call is unknown unless IDDB_TEST_CALLS=1). Exported for transports and tests. */
export function validateCall(name: unknown, input: unknown): Validated {
  const def = typeof name === 'string' ? callDefOf(name, testCallsEnabled()) : undefined
  if (typeof name !== 'string' || !def) {
    const shown = typeof name === 'string' ? name.slice(0, 80) : typeof name
    return { ok: false, error: { code: 'UNKNOWN_CALL', message: `unknown call "${shown}"` } }
  }
  const callName = name as HostCallName
  const value = input === undefined || input === null ? {} : input
  let json: string
  try {
    json = JSON.stringify(value)
  } catch (e) {
    return { ok: false, error: { code: 'BAD_INPUT', message: `input for ${callName} is not serializable: ${(e as Error).message}` } }
  }
  const bytes = Buffer.byteLength(json ?? '', 'utf8')
  if (bytes > MAX_PAYLOAD_BYTES) {
    return { ok: false, error: { code: 'PAYLOAD_TOO_LARGE', message: `input for ${callName} is ${bytes} bytes; the limit is ${MAX_PAYLOAD_BYTES} bytes` } }
  }
  const parsed = def.input.safeParse(value)
  if (!parsed.success) return { ok: false, error: { code: 'BAD_INPUT', message: `bad input for ${callName}: ${describeIssues(parsed.error.issues)}` } }
  return { ok: true, name: callName, input: parsed.data }
}

export class EngineClient {
  private worker!: Worker
  private urgent!: MessagePort
  private ready!: Promise<void>
  private lastSeen = 0
  private isReady = false
  private watchTimer: ReturnType<typeof setInterval> | undefined
  /** Workers the watchdog replaced: their messages and exit are ignored. */
  private retired = new WeakSet<Worker>()
  /** Restarts done by the watchdog (tests, diagnostics). */
  restarts = 0
  private nextId = 1
  private pending = new Map<number, (r: RawResult) => void>()
  private listeners = new Map<string, Set<(payload: unknown) => void>>()
  private anyListeners = new Set<AnyListener>()
  private closed = false
  private alive = false
  readonly workerPath: string
  readonly seed: number
  /** The console session token calls carry when none is given (a transport always passes its connection's own). */
  actor: string | undefined

  private constructor(private opts: EngineClientOptions) {
    this.workerPath = opts.workerPath ?? defaultWorkerPath()
    this.seed = (opts.seed ?? Number(process.env.IDDB_SEED ?? 1)) >>> 0
    this.spawn()
    const w = opts.watchdog
    if (w !== false) {
      const hangMs = w?.hangMs ?? (Number(process.env.IDDB_WATCHDOG_MS) > 0 ? Number(process.env.IDDB_WATCHDOG_MS) : WATCHDOG.hangMs)
      this.watchTimer = setInterval(() => {
        if (this.alive && this.isReady && performance.now() - this.lastSeen > hangMs) this.restart(`the engine sent nothing for ${Math.round(hangMs / 1000)} s (a statement outside the guard did not end)`)
      }, Math.min(1000, Math.max(50, hangMs / 4)))
      this.watchTimer.unref()
    }
  }

  /** Spawns the worker and resolves once the engine is ready to take calls. */
  static async start(opts: EngineClientOptions = {}): Promise<EngineClient> {
    const c = new EngineClient(opts)
    await c.ready
    return c
  }

  /** Spawns the worker and returns at once; calls made before the engine is ready wait for it. */
  static launch(opts: EngineClientOptions = {}): EngineClient {
    return new EngineClient(opts)
  }

  /** Resolves when the engine has started (rejects if it failed to start). */
  whenReady(): Promise<void> { return this.ready }

  private spawn(): void {
    const channel = new MessageChannel()
    const init: WorkerInit = { seed: this.seed, dataDir: this.opts.dataDir ?? null, host: this.opts.host ?? 'cli', pg: this.opts.pg ?? null, urgent: channel.port2 }
    const worker = new Worker(this.workerPath, { workerData: init, env: process.env, transferList: [channel.port2] })
    this.worker = worker
    this.urgent = channel.port1
    this.urgent.unref()
    this.alive = true
    this.isReady = false
    this.lastSeen = performance.now()
    let wasReady = false
    const current = () => this.worker === worker && !this.retired.has(worker)
    this.ready = new Promise<void>((resolveReady, rejectReady) => {
      worker.on('message', (m: FromWorker) => {
        if (!current()) return
        this.lastSeen = performance.now()
        if (m.t === 'beat') return
        if (m.t === 'mode') { this.opts = { ...this.opts, pg: m.pg }; return }
        if (m.t === 'ready') { wasReady = true; this.isReady = true; resolveReady() }
        else if (m.t === 'fatal') rejectReady(new EngineError(m.error.code, `engine failed to start: ${m.error.message}`))
        else if (m.t === 'result') {
          const done = this.pending.get(m.id)
          this.pending.delete(m.id)
          done?.(m.ok ? { ok: true, value: m.value } : { ok: false, error: m.error })
        } else if (m.t === 'event') this.dispatch(m.name as EventName, m.payload)
      })
      worker.on('error', (e) => {
        rejectReady(e)
        console.error('[engine] worker error:', e)
      })
      worker.on('exit', (code) => {
        if (!current()) return // a worker the watchdog replaced
        this.alive = false
        rejectReady(new EngineError('INTERNAL', `engine worker exited with code ${code} before it was ready`))
        const error: ErrorInfo = { code: 'INTERNAL', message: `engine worker stopped (exit code ${code})` }
        for (const done of this.pending.values()) done({ ok: false, error })
        this.pending.clear()
        if (!this.closed && wasReady) { // a crash after a good start: start a fresh engine (a failed start is not retried)
          console.error(`[engine] worker exited with code ${code}; starting a fresh engine`)
          this.spawn()
          this.ready.catch(() => {})
        }
      })
    })
    this.ready.catch(() => {})
  }

  /**
   * Validates and runs a call; never throws: the result carries either the value or an ErrorInfo.
   * `actor`: the console session token the transport bound to the caller's connection (engine-host/binding.ts);
   * omitted: `this.actor` (an in-process caller that logged in, e.g. a test); null: nobody is logged in.
   */
  async request(name: unknown, input: unknown, actor: string | null | undefined = this.actor): Promise<RawResult> {
    const v = validateCall(name, input)
    if (!v.ok) return v
    if (this.closed) return { ok: false, error: { code: 'INTERNAL', message: 'engine client is closed' } }
    try {
      await this.ready
    } catch (e) {
      return { ok: false, error: toErrorInfo(e) }
    }
    const id = this.nextId++
    return new Promise((resolveCall) => {
      let timer: ReturnType<typeof setTimeout> | undefined
      this.pending.set(id, (r) => { if (timer) clearTimeout(timer); resolveCall(r) })
      try {
        const msg = { t: 'call', id, name: v.name, input: v.input, ...(actor ? { actor } : {}) } satisfies ToWorker
        // pings and cancellations go on the urgent channel: the worker takes them even while a statement runs
        if (URGENT_CALLS.has(v.name)) this.urgent.postMessage(msg)
        else this.worker.postMessage(msg)
        const w = this.opts.watchdog
        if (w !== false && CANCEL_CALLS.has(v.name)) {
          const cancelMs = w?.cancelMs ?? WATCHDOG.cancelMs
          timer = setTimeout(() => { if (this.pending.has(id)) this.restart(`a cancellation (${v.name}) was not answered within ${Math.round(cancelMs / 1000)} s`) }, cancelMs)
          timer.unref()
        }
      } catch (e) {
        this.pending.delete(id)
        if (timer) clearTimeout(timer)
        resolveCall({ ok: false, error: toErrorInfo(e) })
      }
    })
  }

  /**
   * The watchdog's restart: terminates the hung worker, fails every waiting call with ENGINE_RESTARTED,
   * starts a new worker (which reopens the data directory, or regenerates an in-memory cluster) and emits
   * 'engine/restarted'.
   */
  private restart(reason: string): void {
    if (this.closed) return
    const old = this.worker
    const dataDir = this.opts.dataDir ?? null
    const dataKept = !!dataDir
    const outcome = this.opts.pg
      ? `the sites are the live PostgreSQL servers of ${this.opts.pg}: what they committed is kept; a transaction that was not committed is rolled back there (a prepared one stays in doubt at its server)`
      : dataKept
      ? `the cluster is reopened from ${dataDir}: every committed change is kept; a change that was not committed when it stopped is not applied`
      : `the cluster had no data directory (--memory): it is regenerated from seed ${this.seed} and the changes made since it started are lost`
    const error: ErrorInfo = { code: 'ENGINE_RESTARTED', message: `the engine stopped responding (${reason}) and was restarted; this call did not complete: ${outcome}` }
    const waiting = [...this.pending.values()]
    this.pending.clear()
    this.restarts++
    this.retired.add(old) // its messages and exit are ignored from here on
    this.alive = false
    this.isReady = false
    // calls made meanwhile wait for the new worker; it starts once the old one has stopped (it held the data directory)
    this.ready = old.terminate().then(() => {}, () => {}).then(() => {
      if (this.closed) throw new EngineError('INTERNAL', 'engine client is closed')
      if (dataDir) releaseOwnLock(dataDir)
      this.spawn()
      return this.ready
    })
    this.ready.catch(() => {})
    for (const done of waiting) done({ ok: false, error })
    const view: EngineRestartedView = { at: Date.now(), reason, dataKept, failedCalls: waiting.length, message: `The engine was restarted: ${reason}. ${outcome[0].toUpperCase()}${outcome.slice(1)}.` }
    console.error(`[engine] ${view.message}`)
    this.dispatch('engine/restarted', view)
  }

  /** Typed call; rejects with an EngineError (use toErrorInfo / .toInfo() for the ErrorInfo). */
  async call<N extends HostCallName>(name: N, input: CallInput<N>): Promise<CallOutput<N>> {
    const r = await this.request(name, input)
    if (!r.ok) throw new EngineError(r.error.code, r.error.message, { site: r.error.site, position: r.error.position })
    return r.value as CallOutput<N>
  }

  /** Subscribes to one engine event; returns the unsubscribe function. */
  on<E extends EventName>(event: E, fn: (payload: EventPayload<E>) => void): () => void {
    if (!EVENT_NAMES.includes(event)) throw new EngineError('UNKNOWN_CALL', `unknown event "${String(event)}"`)
    let set = this.listeners.get(event)
    if (!set) this.listeners.set(event, (set = new Set()))
    const f = fn as (payload: unknown) => void
    set.add(f)
    return () => { set.delete(f) }
  }

  /** Subscribes to every event (transports forward them all). */
  onAny(fn: AnyListener): () => void {
    this.anyListeners.add(fn)
    return () => { this.anyListeners.delete(fn) }
  }

  private dispatch(name: EventName, payload: unknown): void {
    for (const fn of this.listeners.get(name) ?? []) {
      try { fn(payload) } catch (e) { console.error(`[engine] listener for ${name} threw:`, e) }
    }
    for (const fn of this.anyListeners) {
      try { fn(name, payload) } catch (e) { console.error(`[engine] listener for ${name} threw:`, e) }
    }
  }

  /** Stops the worker (it closes the cluster, flushing persisted data; terminated after 3 s). Pending calls get INTERNAL. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    if (this.watchTimer) clearInterval(this.watchTimer)
    this.listeners.clear()
    this.anyListeners.clear()
    const worker = this.worker
    if (!this.alive || this.retired.has(worker)) return
    const exited = new Promise<void>((r) => worker.once('exit', () => r()))
    try { worker.postMessage({ t: 'shutdown' } satisfies ToWorker) } catch { /* already gone */ }
    const timer = setTimeout(() => { void worker.terminate() }, 3000)
    await exited
    clearTimeout(timer)
  }
}
