/**
 * Administrator recovery actions (spec §7): recover a site's primary from its backup server, restore a
 * branch from the Colombo main repository, refresh a scheduled copy now. Calls: replication/recover,
 * replication/refreshCopy. The last outcome (or error) is kept for the console to show, with the step a
 * recovery left to do (the site it concerns), which `finish` does (restores the site to service).
 */
import { defineStore } from 'pinia'
import { ref } from 'vue'
import type { CopyRefreshResult, RecoveryResult } from '../../../src-main/ipc/contract/replication'
import { ipc } from '../ipc/client'
import { useAction } from '../composables/useAction'
import { useTopologyStore } from './topology'

export const useReplicationStore = defineStore('replication', () => {
  const action = useAction()
  const last = ref<string | null>(null)
  /** The site a recovery left not serving yet, and what is left to do. */
  const left = ref<{ site: string; step: string } | null>(null)

  async function act<T>(label: string, fn: () => Promise<T>, describe: (r: T) => string): Promise<T | null> {
    last.value = null
    const r = await action.run(label, fn)
    if (r === undefined) return null
    last.value = describe(r)
    return r
  }

  /** A recovery replaces the site's data: `confirm` is the site's code as the administrator typed it (the engine checks it again). */
  async function recover(site: string, from: 'backup' | 'repository', confirm: string): Promise<RecoveryResult | null> {
    const r = await act<RecoveryResult>(`recover ${site} from ${from}`, () => ipc().call('replication/recover', { site, from, confirm }),
      (x) => `${x.message} (${x.virtualMs.toFixed(0)} ms virtual)`)
    if (r) left.value = r.stepLeft ? { site, step: r.stepLeft } : null
    await useTopologyStore().refresh()
    return r
  }

  /** Does the step a recovery left: restores the site's servers to service. */
  async function finish(site: string): Promise<void> {
    const ok = await useTopologyStore().restoreSite(site)
    if (ok) { left.value = null; last.value = `${site} restored to service: serving again` }
  }

  const refreshCopy = (copy: string) =>
    act<CopyRefreshResult>(`refresh ${copy}`, () => ipc().call('replication/refreshCopy', { copy }),
      (r) => `${r.copy}@${r.site} refreshed: ${r.rows} rows (${r.mode}: ${r.changed} shipped, ${r.bytes.toLocaleString('en')} bytes, ${r.virtualMs.toFixed(0)} ms virtual)`)

  return { pending: action.pending, error: action.error, last, left, recover, finish, refreshCopy }
})
