/** Messages between EngineClient (host thread) and the engine worker (worker_threads). Plain data only. */
import type { MessagePort } from 'node:worker_threads'
import type { ErrorInfo } from '../../engine/errors'

export interface WorkerInit {
  seed: number
  dataDir: string | null
  host: 'electron' | 'browser' | 'cli'
  /**
   * Live mode: the `iddb pg up` deployment directory whose PostgreSQL servers serve the sites' queries and
   * transactions (src-main/pg/live.ts); null: the embedded simulation. The embedded cluster is then built
   * from the deployment's design (its seed and sales, not `seed`) and kept in memory (`dataDir` must be null).
   */
  pg?: string | null
  /**
   * The urgent channel: pings and cancellations travel on it, so the worker can take them synchronously
   * from inside a running statement (engine/query/guard.ts poll hook) as well as from its event loop.
   */
  urgent?: MessagePort
}

/** Calls sent on the urgent channel (answered even while a statement is stepping). */
export const URGENT_CALLS: ReadonlySet<string> = new Set(['system/ping', 'jobs/get', 'jobs/list', 'query/cancel', 'jobs/cancel'])
/** The urgent calls that cancel: the watchdog expects their answer within its cancel deadline. */
export const CANCEL_CALLS: ReadonlySet<string> = new Set(['query/cancel', 'jobs/cancel'])

/** How often the worker tells the host it is alive (from its event loop and from inside guarded statements). */
export const HEARTBEAT_MS = 500

export type ToWorker =
  | { t: 'call'; id: number; name: string; input: unknown; /** console session token bound to the caller's connection */ actor?: string }
  | { t: 'shutdown' }

export type FromWorker =
  | { t: 'ready'; seed: number; sites: string[] }
  | { t: 'result'; id: number; ok: true; value: unknown }
  | { t: 'result'; id: number; ok: false; error: ErrorInfo }
  | { t: 'event'; name: string; payload: unknown }
  | { t: 'fatal'; error: ErrorInfo }
  | { t: 'beat' }
  /** The console switched mode (system/setMode): a worker the host starts again opens this mode (pg: null = the simulation). */
  | { t: 'mode'; pg: string | null }
