/**
 * Security over live servers (live mode only): every site's user roles as its PostgreSQL server reports them
 * (security/liveRoles): whether each can log in, the kind of verifier it holds, what it may read. Loaded when the
 * Security console's live panel shows and again on security/changed (a user added, removed or given a password).
 */
import { defineStore } from 'pinia'
import { ref } from 'vue'
import type { LiveRolesView } from '../../../src-main/ipc/contract/liveSecurity'
import { ipc } from '../ipc/client'
import { useAction } from '../composables/useAction'

export const useLiveSecurityStore = defineStore('liveSecurity', () => {
  const view = ref<LiveRolesView | null>(null)
  const action = useAction()
  let off: (() => void) | null = null
  let inflight: Promise<void> | null = null
  let again = false

  /** Reads the roles; a change announced while a read runs makes one more read after it (never two at once). */
  function load(): Promise<void> {
    if (inflight) { again = true; return inflight }
    inflight = (async () => {
      try {
        do {
          again = false
          const v = await action.run('load', () => ipc().call('security/liveRoles', {}))
          if (v) view.value = v
        } while (again)
      } finally { inflight = null }
    })()
    return inflight
  }

  /** Subscribes to security/changed (once) and loads the roles. */
  async function start(): Promise<void> {
    if (!off) off = ipc().on('security/changed', () => { void load() })
    await load()
  }

  function stop(): void { off?.(); off = null }

  return { view, error: action.error, pending: action.pending, load, start, stop }
})
