/**
 * Test helper: a handler context and a typed `run` that calls a handler directly (no worker, no transport) the
 * way the worker does — input parsed by the contract's schema (defaults applied), the handler's authorization
 * wrapper in force, job progress emitted as 'job/progress'. Test-only calls (contract/testing.ts) are served too.
 * Acts as the local administrator (`localAdmin('test')`) unless `actor` says otherwise (null: nobody logged in).
 * `emitted` lists the event names in order, `events` the events with their payloads.
 */
import type { Cluster } from '../../engine/cluster'
import { localAdmin } from '../../engine/security/identities'
import type { Actor } from '../../engine/security/roles'
import { JobRunner } from '../engine-host/jobs'
import { callDefOf, type CallInput, type CallOutput, type EventName, type HostCallName } from '../ipc/contract'
import { handlers } from '../handlers'
import { testHandlers } from '../handlers/testing'
import type { HandlerContext } from '../handlers/context'

type AnyHandler = (c: HandlerContext, i: unknown) => Promise<unknown>

export interface HandlerRigOptions { actor?: Actor | null; dataDir?: string | null }

export function handlerRig(cluster: Cluster, opts: HandlerRigOptions = {}) {
  const emitted: EventName[] = []
  const events: { name: EventName; payload: unknown }[] = []
  const emit = (name: EventName, payload: unknown) => { emitted.push(name); events.push({ name, payload }) }
  const jobs = new JobRunner((j) => emit('job/progress', j))
  let speed = 0
  const ctx: HandlerContext = {
    cluster, jobs, host: 'cli', dataDir: opts.dataDir ?? null, actor: opts.actor === undefined ? localAdmin('test') : opts.actor,
    emit, clock: { get speed() { return speed }, setSpeed: (s: number) => { speed = s } },
  }
  const run = <N extends HostCallName>(name: N, input: CallInput<N>): Promise<CallOutput<N>> => {
    const def = callDefOf(name, true)
    const h = ((handlers as Record<string, AnyHandler>)[name] ?? (testHandlers as Record<string, AnyHandler>)[name])
    if (!def || !h) throw new Error(`no handler for ${name}`)
    return h(ctx, def.input.parse(input)) as Promise<CallOutput<N>>
  }
  return { cluster, ctx, jobs, run, emitted, events }
}
