/**
 * A fake IddbApi for store and component tests: handlers per call name, `emit` to push events,
 * and a log of calls made. Values come from the test, never from the shipped code.
 */
import type { CallInput, CallName, CallOutput, EventName, EventPayload, IddbApi } from '../../../src-main/ipc/contract'
import type { ErrorInfo } from '../../../engine/errors'

export type FakeHandlers = { [N in CallName]?: (input: CallInput<N>) => CallOutput<N> | Promise<CallOutput<N>> }

export interface FakeApi extends IddbApi {
  calls: { name: string; input: unknown }[]
  handlers: FakeHandlers
  emit<E extends EventName>(event: E, payload: EventPayload<E>): void
  listenerCount(event: string): number
}

export function createFakeApi(handlers: FakeHandlers = {}): FakeApi {
  const listeners = new Map<string, Set<(p: unknown) => void>>()
  const api: FakeApi = {
    calls: [],
    handlers,
    async call(name, input) {
      api.calls.push({ name, input })
      const h = api.handlers[name] as ((i: unknown) => unknown) | undefined
      if (!h) throw { code: 'UNKNOWN_CALL', message: `fake has no handler for ${name}` } satisfies ErrorInfo
      return (await h(input)) as never
    },
    on(event, listener) {
      let s = listeners.get(event)
      if (!s) listeners.set(event, (s = new Set()))
      const fn = listener as (p: unknown) => void
      s.add(fn)
      return () => { s.delete(fn) }
    },
    emit(event, payload) {
      for (const fn of [...(listeners.get(event) ?? [])]) fn(payload)
    },
    listenerCount: (event) => listeners.get(event)?.size ?? 0,
  }
  return api
}

/** Resolves after pending promise callbacks have run. */
export const flush = () => new Promise<void>((r) => setTimeout(r, 0))
