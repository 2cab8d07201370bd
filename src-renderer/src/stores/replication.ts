/**
 * Administrator recovery actions (spec §7): recover a site's primary from its backup server, restore a
 * branch from the Colombo main repository, refresh a scheduled copy now. Calls: replication/recover,
 * replication/refreshCopy. The last outcome (or error) is kept for the console to show.
 */
import { defineStore } from 'pinia'
import { ref } from 'vue'
import type { ErrorInfo } from '../../../engine/errors'
import type { CopyRefreshResult, RecoveryResult } from '../../../src-main/ipc/contract/replication'
import { ipc, toIpcError } from '../ipc/client'

export const useReplicationStore = defineStore('replication', () => {
  const pending = ref<string | null>(null)
  const error = ref<ErrorInfo | null>(null)
  const last = ref<string | null>(null)

  async function act<T>(label: string, fn: () => Promise<T>, describe: (r: T) => string): Promise<T | null> {
    pending.value = label
    try {
      const r = await fn()
      error.value = null
      last.value = describe(r)
      return r
    } catch (e) {
      error.value = toIpcError(e).info
      last.value = null
      return null
    } finally { pending.value = null }
  }

  const recover = (site: string, from: 'backup' | 'repository') =>
    act<RecoveryResult>(`recover ${site} from ${from}`, () => ipc().call('replication/recover', { site, from }),
      (r) => `${r.message} (${r.virtualMs.toFixed(0)} ms virtual)`)
  const refreshCopy = (copy: string) =>
    act<CopyRefreshResult>(`refresh ${copy}`, () => ipc().call('replication/refreshCopy', { copy }),
      (r) => `${r.copy}@${r.site} refreshed: ${r.rows} rows (${r.virtualMs.toFixed(0)} ms virtual)`)

  return { pending, error, last, recover, refreshCopy }
})
