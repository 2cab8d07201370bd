/**
 * Topology: the engine's sites, servers and WAN links with their live state; failure/recovery actions.
 * Refreshed when the engine pushes topology/changed, and (throttled) on ticks so link counters stay live.
 */
import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import type { Health, LinkView, SiteView, TopologyView } from '../../../engine/api/views'
import { ipc } from '../ipc/client'
import { useConnectionStore } from './connection'
import { useAction } from '../composables/useAction'

export type Selection = { kind: 'site'; id: string } | { kind: 'link'; id: string } | null

export interface Degrade { extraDelayMs: number; bandwidthFactor: number; lossRate: number }

/** Minimum wall time between tick-driven refreshes, ms. */
export const TICK_REFRESH_MS = 1000

export const useTopologyStore = defineStore('topology', () => {
  const view = ref<TopologyView | null>(null)
  /** Per-site health as of the latest engine tick (fresher than `view`). */
  const tickHealth = ref<Record<string, Health>>({})
  const selection = ref<Selection>(null)
  /** Failure and recovery actions (and the refreshes, which share their error line). */
  const action = useAction()
  const error = action.error
  const pending = action.pending
  const loading = ref(false)
  let offs: (() => void)[] = []
  let lastRefresh = 0
  let inflight: Promise<void> | null = null
  /** Counts engine ticks, so a view fetched before the latest tick does not overwrite fresher health. */
  let tickNo = 0
  let refreshAgain = false

  const sites = computed<SiteView[]>(() => view.value?.sites ?? [])
  const links = computed<LinkView[]>(() => view.value?.links ?? [])
  const selectedSite = computed(() => (selection.value?.kind === 'site' ? sites.value.find((s) => s.code === selection.value!.id) ?? null : null))
  const selectedLink = computed(() => (selection.value?.kind === 'link' ? links.value.find((l) => l.id === selection.value!.id) ?? null : null))

  const connection = useConnectionStore()
  /** A site's health as last known; 'unknown' while the console host cannot be reached (nothing is known then). */
  function healthOf(code: string): Health | 'unknown' {
    if (connection.state !== 'open' && connection.transport === 'websocket') return 'unknown'
    return tickHealth.value[code] ?? sites.value.find((s) => s.code === code)?.health ?? 'unknown'
  }

  /** `sinceTick`: the tick number when the view was requested (undefined: pushed/returned just now). */
  function apply(v: TopologyView, sinceTick?: number): void {
    view.value = v
    lastRefresh = Date.now()
    if (sinceTick !== undefined && sinceTick !== tickNo) return // a tick came in meanwhile: its health is fresher
    const h: Record<string, Health> = { ...tickHealth.value }
    for (const s of v.sites) h[s.code] = s.health
    tickHealth.value = h
  }

  function refresh(): Promise<void> {
    if (inflight) { refreshAgain = true; return inflight }
    loading.value = true
    inflight = (async () => {
      try {
        do {
          refreshAgain = false
          const at = tickNo
          apply(await ipc().call('topology/get', {}), at)
        } while (refreshAgain)
        error.value = null
      } catch (e) { action.fail(e) } finally { loading.value = false; inflight = null }
    })()
    return inflight
  }

  function start(): Promise<void> {
    if (offs.length === 0) {
      offs = [
        ipc().on('topology/changed', (v) => apply(v)),
        ipc().on('engine/tick', (p) => {
          tickNo++
          tickHealth.value = p.health
          const known = view.value?.sites.map((s) => s.code) ?? []
          const changed = Object.keys(p.health).some((c) => !known.includes(c) || view.value!.sites.find((s) => s.code === c)!.health !== p.health[c])
          if (changed) void refresh()
          else if (!inflight && Date.now() - lastRefresh >= TICK_REFRESH_MS) void refresh()
        }),
      ]
    }
    return refresh()
  }

  function stop(): void { for (const off of offs) off(); offs = [] }

  function select(s: Selection): void { selection.value = s }

  async function act(label: string, fn: () => Promise<TopologyView>): Promise<boolean> {
    const v = await action.run(label, fn)
    if (v) apply(v)
    return v !== undefined
  }

  const failSite = (site: string) => act(`fail ${site}`, () => ipc().call('topology/failSite', { site }))
  const restoreSite = (site: string) => act(`restore ${site}`, () => ipc().call('topology/restoreSite', { site }))
  const failServer = (server: string) => act(`fail ${server}`, () => ipc().call('topology/failServer', { server }))
  const restoreServer = (server: string) => act(`restore ${server}`, () => ipc().call('topology/restoreServer', { server }))
  const failLink = (link: string) => act(`fail ${link}`, () => ipc().call('topology/failLink', { link }))
  const restoreLink = (link: string) => act(`restore ${link}`, () => ipc().call('topology/restoreLink', { link }))
  const degradeLink = (link: string, d: Degrade) => act(`degrade ${link}`, () => ipc().call('topology/degradeLink', { link, ...d }))

  return {
    view, tickHealth, selection, error, pending, loading, sites, links, selectedSite, selectedLink,
    healthOf, refresh, start, stop, select, failSite, restoreSite, failServer, restoreServer, failLink, restoreLink, degradeLink,
  }
})
