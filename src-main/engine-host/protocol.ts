/** Messages between EngineClient (host thread) and the engine worker (worker_threads). Plain data only. */
import type { ErrorInfo } from '../../engine/errors'

export interface WorkerInit {
  seed: number
  dataDir: string | null
  host: 'electron' | 'browser' | 'cli'
}

export type ToWorker =
  | { t: 'call'; id: number; name: string; input: unknown; /** console session token bound to the caller's connection */ actor?: string }
  | { t: 'shutdown' }

export type FromWorker =
  | { t: 'ready'; seed: number; sites: string[] }
  | { t: 'result'; id: number; ok: true; value: unknown }
  | { t: 'result'; id: number; ok: false; error: ErrorInfo }
  | { t: 'event'; name: string; payload: unknown }
  | { t: 'fatal'; error: ErrorInfo }
