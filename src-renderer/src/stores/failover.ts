/**
 * Failover: each site's backup feed (mode, lag, hosts), promotion and fail back (confirmed by the typed site
 * code, checked again by the engine), automatic failover. Refreshed on topology changes and (throttled) on ticks.
 */
import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import type { FailoverView, FeedMode, FeedView, PromotionReport } from '../../../engine/api/failover'
import { ipc } from '../ipc/client'
import { useAction } from '../composables/useAction'
import { useLiveRefresh } from '../composables/useLiveRefresh'
import { useTopologyStore } from './topology'

export const useFailoverStore = defineStore('failover', () => {
  const view = ref<FailoverView | null>(null)
  const action = useAction()
  const refreshing = useAction()
  /** The report of the promotion this console ran last (also in each site's `last`). */
  const lastReport = ref<PromotionReport | null>(null)
  const sites = computed<FeedView[]>(() => view.value?.sites ?? [])
  const feedOf = (code: string) => sites.value.find((s) => s.site === code) ?? null

  // refreshed on topology changes and (throttled) on ticks while the console is open
  const { refresh, start, stop } = useLiveRefresh(async () => {
    const v = await refreshing.run('refresh', () => ipc().call('failover/get', {}))
    if (v) view.value = v
  })

  async function promotion(site: string, confirm: string, failback: boolean): Promise<void> {
    const r = await action.run(`${failback ? 'fail back' : 'promote'} ${site}`, () => ipc().call(failback ? 'failover/failback' : 'failover/promote', { site, confirm }))
    if (r) lastReport.value = r
    await refresh()
    void useTopologyStore().refresh()
  }
  const promote = (site: string, confirm: string) => promotion(site, confirm, false)
  const failback = (site: string, confirm: string) => promotion(site, confirm, true)

  async function setFeed(site: string, mode: FeedMode): Promise<void> {
    const v = await action.run(`feed ${site} ${mode}`, () => ipc().call('failover/setFeed', { site, mode }))
    if (v) view.value = v
  }
  async function setAuto(enabled: boolean): Promise<void> {
    const v = await action.run(`automatic failover ${enabled ? 'on' : 'off'}`, () => ipc().call('failover/setAuto', { enabled }))
    if (v) view.value = v
  }

  return { view, sites, feedOf, lastReport, error: action.error, pending: action.pending, refreshError: refreshing.error, refresh, start, stop, promote, failback, setFeed, setAuto }
})
