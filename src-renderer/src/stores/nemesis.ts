/**
 * Nemesis faults and failure drills (Topology console's Drills panel): the faults in force, the drill running
 * or last checked, and the actions. Refreshed when the topology changes and (throttled) on engine ticks, so a
 * running drill's counters and a media failure found by an access show up.
 */
import { defineStore } from 'pinia'
import { ref } from 'vue'
import type { NemesisView } from '../../../engine/api/nemesis'
import type { DrillCategory, DrillView } from '../../../engine/api/drills'
import { ipc } from '../ipc/client'
import { useAction } from '../composables/useAction'
import { useTopologyStore } from './topology'

const TICK_REFRESH_MS = 1000

export const useNemesisStore = defineStore('nemesis', () => {
  const view = ref<NemesisView | null>(null)
  const drill = ref<DrillView | null>(null)
  const action = useAction()
  const error = action.error
  const pending = action.pending
  let offs: (() => void)[] = []
  let last = 0
  let inflight: Promise<void> | null = null

  function refresh(): Promise<void> {
    if (inflight) return inflight
    inflight = (async () => {
      try {
        const [v, d] = await Promise.all([ipc().call('nemesis/get', {}), ipc().call('drill/get', {})])
        view.value = v
        drill.value = d
        last = Date.now()
      } catch (e) { action.fail(e) } finally { inflight = null }
    })()
    return inflight
  }

  function start(): Promise<void> {
    if (!offs.length) {
      offs = [
        ipc().on('topology/changed', () => { void refresh() }),
        ipc().on('engine/tick', () => { if (Date.now() - last >= TICK_REFRESH_MS) void refresh() }),
      ]
    }
    return refresh()
  }
  function stop(): void { for (const off of offs) off(); offs = [] }

  async function act<T>(label: string, fn: () => Promise<T>): Promise<T | undefined> {
    const r = await action.run(label, fn)
    await Promise.all([refresh(), useTopologyStore().refresh()])
    return r
  }

  const failMedia = (site: string, confirm: string, kind: 'corrupt' | 'lost' = 'corrupt') => act(`destroy ${site}'s medium`, () => ipc().call('nemesis/failMedia', { site, kind, confirm }))
  const recover = (site: string) => act(`recover ${site} from its backup`, () => ipc().call('replication/recover', { site, from: 'backup' }))
  const lan = (site: string, state: 'up' | 'down' | 'degraded', extraDelayMs = 0, lossRate = 0) => act(`LAN ${state} at ${site}`, () => ipc().call('nemesis/lan', { site, state, extraDelayMs, lossRate }))
  const partition = (groups: string[][]) => act('partition', () => ipc().call('nemesis/partition', { groups }))
  const heal = () => act('heal', () => ipc().call('nemesis/heal', {}))
  const chaos = (link: string, duplicate: number, reorder: number) => act(`chaos on ${link}`, () => ipc().call('nemesis/linkChaos', { link, duplicate, reorder }))
  const skew = (site: string, offsetMs: number) => act(`skew ${site}`, () => ipc().call('nemesis/skew', { site, offsetMs }))
  async function startDrill(category: DrillCategory, site: string, confirm?: string): Promise<void> {
    const d = await act(`start the ${category} drill`, () => ipc().call('drill/start', { category, site, ...(confirm ? { confirm } : {}) }))
    if (d) drill.value = d
  }
  async function finishDrill(): Promise<void> {
    const d = await act('repair and check', () => ipc().call('drill/finish', {}))
    if (d) drill.value = d
  }

  return { view, drill, error, pending, refresh, start, stop, failMedia, recover, lan, partition, heal, chaos, skew, startDrill, finishDrill }
})
