import type { Cluster } from '../../engine/cluster'
import type { CallName, CallOutput, CallParsed, EventName, EventPayload } from '../ipc/contract'
import type { JobRunner } from '../engine-host/jobs'

export interface HandlerContext {
  cluster: Cluster
  jobs: JobRunner
  host: 'electron' | 'browser' | 'cli'
  dataDir: string | null
  emit<E extends EventName>(event: E, payload: EventPayload<E>): void
  /** Current real-time speed of the virtual clock and a setter (the worker's RealtimeDriver). */
  clock: { speed: number; setSpeed(speed: number): void }
}

export type Handler<N extends CallName> = (ctx: HandlerContext, input: CallParsed<N>) => Promise<CallOutput<N>>
/** A map of handlers for a set of calls, e.g. HandlerMap<'topology/get' | 'topology/failSite'>. */
export type HandlerMap<N extends CallName> = { [K in N]: Handler<K> }
