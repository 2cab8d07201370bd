/** The engine event log: backlog via events/list, then live engine/event pushes (deduplicated by seq). */
import { defineStore } from 'pinia'
import { computed, ref, shallowRef, triggerRef } from 'vue'
import type { EngineEventView } from '../../../engine/api/views'
import { ipc } from '../ipc/client'
import { useAction } from '../composables/useAction'

/** How many events the console keeps (the engine keeps its own ring). */
export const EVENT_CAP = 5000
const PAGE = 2000

export const useEventsStore = defineStore('events', () => {
  /** Oldest first. */
  const events = shallowRef<EngineEventView[]>([])
  const action = useAction()
  const error = action.error
  const loading = ref(false)
  const filterKind = ref('')
  const filterSite = ref('')
  const filterText = ref('')
  let off: (() => void) | null = null
  let lastSeq = 0
  let again = false

  const kinds = computed(() => [...new Set(events.value.map((e) => e.kind))].sort())
  const sites = computed(() => [...new Set(events.value.flatMap((e) => (e.site ? [e.site] : [])))].sort())
  /** Newest first, filtered. */
  const visible = computed(() => {
    const k = filterKind.value, s = filterSite.value, t = filterText.value.trim().toLowerCase()
    const out: EngineEventView[] = []
    const all = events.value
    for (let i = all.length - 1; i >= 0; i--) {
      const e = all[i]
      if (k && e.kind !== k) continue
      if (s && e.site !== s) continue
      if (t && !e.message.toLowerCase().includes(t)) continue
      out.push(e)
    }
    return out
  })

  function push(batch: EngineEventView[]): void {
    const fresh = batch.filter((e) => e.seq > lastSeq)
    if (fresh.length === 0) return
    lastSeq = fresh[fresh.length - 1].seq
    const next = events.value.concat(fresh)
    events.value = next.length > EVENT_CAP ? next.slice(next.length - EVENT_CAP) : next
    triggerRef(events)
  }

  async function loadBacklog(): Promise<void> {
    if (loading.value) return
    loading.value = true
    await action.run('backlog', async () => {
      for (;;) {
        again = false
        const page = await ipc().call('events/list', { afterSeq: lastSeq, limit: PAGE })
        push([...page].sort((a, b) => a.seq - b.seq))
        if (page.length < PAGE && !again) break
      }
    })
    loading.value = false
  }

  function start(): Promise<void> {
    if (!off) {
      off = ipc().on('engine/event', (e) => {
        if (loading.value) { again = true; return } // the fetch in progress goes round once more
        if (e.seq === lastSeq + 1) push([e])
        else if (e.seq > lastSeq) void loadBacklog() // a gap: fetch what we missed, in order
      })
    }
    return loadBacklog()
  }

  function stop(): void { off?.(); off = null }

  function clearFilters(): void { filterKind.value = ''; filterSite.value = ''; filterText.value = '' }

  return { events, error, loading, filterKind, filterSite, filterText, kinds, sites, visible, start, stop, loadBacklog, clearFilters }
})
