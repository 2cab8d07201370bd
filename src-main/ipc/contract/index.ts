/**
 * THE IPC contract: every request/response call and every engine→renderer event, declared once.
 * Main-process handlers, the preload bridge, the browser-host transport and the renderer client are typed from it.
 * Domain files add their calls here with one spread line each.
 */
import type { z } from 'zod'
import type { CallDef, EventDef } from './define'
import type { ErrorInfo } from '../../../engine/errors'
import { systemCalls, systemEvents } from './system'
import { topologyCalls, topologyEvents } from './topology'
import { catalogCalls, catalogEvents } from './catalog'
import { replicationCalls } from './replication'
import { queryCalls, queryEvents } from './query'
import { txnCalls, txnEvents } from './txn'
import { ticketCalls, ticketEvents } from './ticket'
import { securityCalls, securityEvents } from './security'
import { consoleCalls } from './console'
import { testCalls } from './testing'
import { backupCalls } from './backup'
import { failoverCalls } from './failover'
import { nemesisCalls } from './nemesis'
import { scheduleCalls, scheduleEvents } from './schedule'
import { compareCalls } from './compare'
import { liveOpsCalls } from './liveops'
import { liveDeadlockCalls } from './liveDeadlock'
import { liveSecurityCalls } from './liveSecurity'
import { liveReplCalls } from './liveRepl'

export const calls = {
  ...systemCalls,
  ...topologyCalls,
  ...catalogCalls,
  ...replicationCalls,
  ...queryCalls,
  ...txnCalls,
  ...ticketCalls,
  ...securityCalls,
  ...consoleCalls,
  ...backupCalls,
  ...failoverCalls,
  ...nemesisCalls,
  ...scheduleCalls,
  ...compareCalls,
  ...liveOpsCalls,
  ...liveDeadlockCalls,
  ...liveSecurityCalls,
  ...liveReplCalls,
} satisfies Record<string, CallDef>

export const events = {
  ...systemEvents,
  ...topologyEvents,
  ...catalogEvents,
  ...queryEvents,
  ...txnEvents,
  ...ticketEvents,
  ...securityEvents,
  ...scheduleEvents,
} satisfies Record<string, EventDef>

export type Calls = typeof calls
/** A call of the shipped contract. */
export type CallName = keyof Calls & string
/** A test-only call (./testing.ts): served only by hosts started with IDDB_TEST_CALLS=1. */
export type TestCallName = keyof typeof testCalls & string
/** Any call a host may serve (the shipped ones, and the test-only ones in test runs). */
export type HostCallName = CallName | TestCallName
type HostCalls = Calls & typeof testCalls
/** What a caller passes (defaults may be omitted). */
export type CallInput<N extends HostCallName> = z.input<HostCalls[N]['input']>
/** What a handler receives after validation (defaults applied). */
export type CallParsed<N extends HostCallName> = z.output<HostCalls[N]['input']>
export type CallOutput<N extends HostCallName> = HostCalls[N]['output']
export type Events = typeof events
export type EventName = keyof Events & string
export type EventPayload<N extends EventName> = Events[N]['payload']

export const CALL_NAMES = Object.keys(calls) as CallName[]
export const TEST_CALL_NAMES = Object.keys(testCalls) as TestCallName[]

/** A call's definition as this process serves it: a shipped call, or a test-only one when test calls are on. */
export function callDefOf(name: string, withTestCalls: boolean): CallDef | undefined {
  if (Object.hasOwn(calls, name)) return calls[name as CallName]
  if (withTestCalls && Object.hasOwn(testCalls, name)) return testCalls[name as TestCallName]
  return undefined
}
export const EVENT_NAMES = Object.keys(events) as EventName[]

export type CallResult<N extends HostCallName> = { ok: true; value: CallOutput<N> } | { ok: false; error: ErrorInfo }

/** The typed API the renderer sees (Electron preload and browser-host transport both provide it). */
export type IddbApi = {
  call<N extends CallName>(name: N, input: CallInput<N>): Promise<CallOutput<N>>
  on<E extends EventName>(event: E, listener: (payload: EventPayload<E>) => void): () => void
}
