/**
 * One way to call the engine and keep what went wrong: `run(label, fn)` clears the last error, marks the
 * action pending (its label, for a "Restoring KDY…" line), awaits `fn`, and on a failure keeps the error as
 * `{code, message, site?}` (any thrown value goes through toIpcError) and returns undefined.
 * Stores use it instead of their own try/catch → toIpcError blocks; an action's error is not cleared by a
 * background refresh (give refreshes an action of their own).
 * `useActions(keys)` is the same for a store whose forms each show their own error (`errors[key]`), with one
 * pending label shared by them (a console runs one of its actions at a time).
 */
import { reactive, ref, type Ref } from 'vue'
import type { ErrorInfo } from '../../../engine/errors'
import { toIpcError } from '../ipc/client'

async function attempt<T>(pending: Ref<string | null>, label: string, setError: (e: ErrorInfo | null) => void, fn: () => Promise<T>): Promise<T | undefined> {
  pending.value = label
  setError(null)
  try { return await fn() } catch (e) { setError(toIpcError(e).info); return undefined } finally { if (pending.value === label) pending.value = null }
}

export function useAction() {
  const error = ref<ErrorInfo | null>(null)
  const pending = ref<string | null>(null)
  const set = (e: ErrorInfo | null) => { error.value = e }
  function run<T>(label: string, fn: () => Promise<T>): Promise<T | undefined> { return attempt(pending, label, set, fn) }
  function fail(e: unknown): ErrorInfo { const info = toIpcError(e).info; error.value = info; return info }
  function clear(): void { error.value = null }
  return { error, pending, run, fail, clear }
}

export function useActions<K extends string>(keys: readonly K[]) {
  const errors = reactive(Object.fromEntries(keys.map((k) => [k, null]))) as Record<K, ErrorInfo | null>
  const pending = ref<string | null>(null)
  /** Runs `fn` as action `key` (pending shows `label`, by default the key). */
  function run<T>(key: K, fn: () => Promise<T>, label: string = key): Promise<T | undefined> {
    return attempt(pending, label, (e) => { errors[key] = e }, fn)
  }
  function fail(key: K, e: unknown): ErrorInfo { const info = toIpcError(e).info; errors[key] = info; return info }
  function clear(key: K): void { errors[key] = null }
  return { errors, pending, run, fail, clear }
}
