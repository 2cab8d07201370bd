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
import { useLiveRefresh } from '../composables/useLiveRefresh'
import { useTopologyStore } from './topology'

export const useNemesisStore = defineStore('nemesis', () => {
  const view = ref<NemesisView | null>(null)
  const drill = ref<DrillView | null>(null)
  const action = useAction()
  const error = action.error
  const pending = action.pending
  // refreshed on topology changes and (throttled) on ticks while the console is open
  const { refresh, start, stop } = useLiveRefresh(async () => {
    try {
      const [v, d] = await Promise.all([ipc().call('nemesis/get', {}), ipc().call('drill/get', {})])
      view.value = v
      drill.value = d
    } catch (e) { action.fail(e) }
  })

  async function act<T>(label: string, fn: () => Promise<T>): Promise<T | undefined> {
    const r = await action.run(label, fn)
    await Promise.all([refresh(), useTopologyStore().refresh()])
    return r
  }

  const failMedia = (site: string, confirm: string, kind: 'corrupt' | 'lost' = 'corrupt') => act(`destroy ${site}'s medium`, () => ipc().call('nemesis/failMedia', { site, kind, confirm }))
  const recover = (site: string, confirm: string) => act(`recover ${site} from its backup`, () => ipc().call('replication/recover', { site, from: 'backup', confirm }))
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
