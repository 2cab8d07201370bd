/**
 * One way to call the engine and keep what went wrong: `run(label, fn)` clears the last error, marks the
 * action pending (its label, for a "Restoring KDY…" line), awaits `fn`, and on a failure keeps the error as
 * `{code, message, site?}` (any thrown value goes through toIpcError) and returns undefined.
 * Stores use it instead of their own try/catch → toIpcError blocks; an action's error is not cleared by a
 * background refresh (give refreshes an action of their own).
 */
import { ref } from 'vue'
import type { ErrorInfo } from '../../../engine/errors'
import { toIpcError } from '../ipc/client'

export function useAction() {
  const error = ref<ErrorInfo | null>(null)
  const pending = ref<string | null>(null)
  async function run<T>(label: string, fn: () => Promise<T>): Promise<T | undefined> {
    pending.value = label
    error.value = null
    try { return await fn() } catch (e) { error.value = toIpcError(e).info; return undefined } finally { if (pending.value === label) pending.value = null }
  }
  function fail(e: unknown): void { error.value = toIpcError(e).info }
  function clear(): void { error.value = null }
  return { error, pending, run, fail, clear }
}
