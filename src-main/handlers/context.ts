import type { Cluster } from '../../engine/cluster'
import type { CallOutput, CallParsed, EventName, EventPayload, HostCallName } from '../ipc/contract'
import type { JobHandle, JobRunner } from '../engine-host/jobs'
import type { Actor } from '../../engine/security/roles'
import type { LiveSites } from '../pg/live'

export interface HandlerContext {
  cluster: Cluster
  jobs: JobRunner
  host: 'electron' | 'browser' | 'cli'
  dataDir: string | null
  /**
   * Live mode (src-main/pg/live.ts): the sites are PostgreSQL servers (their deployment, its directory, the bridge
   * the DQP and DTM use); null or absent in the embedded simulation.
   */
  live?: LiveSites | null
  emit<E extends EventName>(event: E, payload: EventPayload<E>): void
  /** Current real-time speed of the virtual clock and a setter (the worker's RealtimeDriver). */
  clock: { speed: number; setSpeed(speed: number): void }
  /**
   * The console session token the transport bound to this call's connection (browser-host WebSocket, Electron
   * window; see src-main/engine-host/binding.ts). Set per call by the worker; the authz wrapper resolves it.
   */
  actorToken?: string
  /** The acting identity, resolved from actorToken by the authz wrapper (authz.ts) before any handler runs. */
  actor?: Actor | null
  /**
   * Makes `next` the cluster every later call sees (system/setDesign): the host closes the old one, drives the new
   * one's clock at the same speed and forwards its events. Absent where a host cannot swap (then the call is refused).
   */
  replaceCluster?(next: Cluster): void
  /**
   * Switches the console between the simulation (`live: null`) and the live servers of a deployment directory
   * (system/setMode): builds the other mode's cluster, carries the console identities into it, and only then makes
   * it the one every call sees; a failure leaves the current mode as it was. Absent where a host cannot switch.
   */
  switchMode?(to: { live: string | null }, job: JobHandle): Promise<void>
}

export type Handler<N extends HostCallName> = (ctx: HandlerContext, input: CallParsed<N>) => Promise<CallOutput<N>>
/** A map of handlers for a set of calls, e.g. HandlerMap<'topology/get' | 'topology/failSite'>. */
export type HandlerMap<N extends HostCallName> = { [K in N]: Handler<K> }
