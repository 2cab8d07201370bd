import { z } from 'zod'
import { call, event, noInput } from './define'
import type { ClockView, EngineEventView, JobView } from '../../../engine/api/views'

export const systemCalls = {
  /** Round trip through the transport and the engine worker. */
  'system/ping': call(z.object({ sentAt: z.number() }).strict()).returns<{ sentAt: number; engineNow: number }>(),
  /** `live`: null in the embedded simulation; in live mode (--pg) the PostgreSQL servers the sites are, each probed now. */
  'system/info': call(noInput).returns<{ version: string; host: 'electron' | 'browser' | 'cli'; seed: number; dataDir: string | null; sites: string[]; live: LiveModeView | null }>(),
  'clock/get': call(noInput).returns<ClockView>(),
  'clock/setSpeed': call(z.object({ speed: z.union([z.literal(0), z.literal(1), z.literal(60), z.literal(3600)]) }).strict()).returns<ClockView>(),
  /** Advance virtual time by hand (paused clock), bounded to one simulated week per call. */
  'clock/advance': call(z.object({ ms: z.number().positive().max(7 * 86_400_000) }).strict()).returns<ClockView>(),
  'events/list': call(z.object({ afterSeq: z.number().int().min(0).default(0), limit: z.number().int().min(1).max(2000).default(500) }).strict()).returns<EngineEventView[]>(),
  'jobs/list': call(noInput).returns<JobView[]>(),
  'jobs/get': call(z.object({ id: z.string().min(1).max(64) }).strict()).returns<JobView>(),
  /**
   * The console's mode: the embedded simulation, or live over the PostgreSQL servers of an `iddb pg up` deployment
   * directory (the start screen's choice; `--pg DIR` at start). A job; console sessions end with the switch (log in
   * again). `confirm` is the mode's name typed.
   */
  'system/setMode': call(z.object({ mode: z.enum(['simulation', 'live']), deployment: z.string().min(1).max(1024).optional(), confirm: z.string().max(32) }).strict()).returns<JobView>(),
  'jobs/cancel': call(z.object({ id: z.string().min(1).max(64) }).strict()).returns<JobView>(),
}

export const systemEvents = {
  /** Pushed a few times per second: clock and per-site health. */
  'engine/tick': event<{ clock: ClockView; health: Record<string, 'ok' | 'degraded' | 'down'> }>(),
  'engine/event': event<EngineEventView>(),
  'job/progress': event<JobView>(),
  /** The host's watchdog restarted a hung engine worker (engine-host/client.ts); the console shows `message`. */
  'engine/restarted': event<EngineRestartedView>(),
}

/** One site's live PostgreSQL server (its primary) and whether it answered a trivial statement just now. */
export interface LiveServerView { site: string; id: string; host: string; port: number; database: string; up: boolean; error?: string }
/** Live mode: the deployment directory and its servers. */
export interface LiveModeView { deployment: string; servers: LiveServerView[] }

export interface EngineRestartedView {
  /** Wall-clock time of the restart (ms since the epoch; host time, not the virtual clock). */
  at: number
  reason: string
  /** Whether the cluster was reopened from its data directory (committed data kept) or regenerated in memory (changes lost). */
  dataKept: boolean
  /** Calls that were waiting and got ENGINE_RESTARTED. */
  failedCalls: number
  message: string
}
