/**
 * The Deadlocks console over live PostgreSQL servers (calls liveDeadlock/*): the live mode's global wait-for graph
 * merged from every server (polled while the console shows, once a second), its cycles and the detector's victims,
 * and the cross-server deadlock demo (an engine job, followed through the jobs store).
 */
import { defineStore } from 'pinia'
import { ref, shallowRef } from 'vue'
import type { LiveDeadlockDemoResult, LiveWfgView } from '../../../src-main/ipc/contract/liveDeadlock'
import { ipc } from '../ipc/client'
import { useAction } from '../composables/useAction'
import { useJobsStore } from './jobs'

export type { LiveDeadlockDemoResult, LiveWfgView, LiveDeadlockRecord, LiveWfgGraph } from '../../../src-main/ipc/contract/liveDeadlock'

const POLL_MS = 1000

export const useLiveDeadlockStore = defineStore('liveDeadlock', () => {
  const view = shallowRef<LiveWfgView | null>(null)
  const demo = shallowRef<LiveDeadlockDemoResult | null>(null)
  /** The demo's action (its error stays until the next run); the refresh keeps its own. */
  const action = useAction()
  const refresher = useAction()
  const running = ref(false)
  let timer: ReturnType<typeof setInterval> | null = null
  let users = 0

  async function refresh(): Promise<void> {
    await refresher.run('refresh', async () => { view.value = await ipc().call('liveDeadlock/graph', { history: 50 }) })
  }

  /** Polls while a panel shows it; returns the stop. */
  function watch(): () => void {
    users++
    void refresh()
    if (!timer) timer = setInterval(() => { void refresh() }, POLL_MS)
    return () => { if (--users <= 0 && timer) { clearInterval(timer); timer = null; users = 0 } }
  }

  async function runDemo(a = 'CMB', b = 'KDY'): Promise<LiveDeadlockDemoResult | null> {
    const jobs = useJobsStore()
    running.value = true
    try {
      const r = await action.run('run the cross-server deadlock demo', async () => {
        const j = await ipc().call('liveDeadlock/demo', { a, b })
        jobs.upsert(j)
        const end = await jobs.waitFor(j.id)
        if (end.status !== 'done') throw end.error ?? { code: 'CANCELLED', message: `the deadlock demo ${end.status}` }
        return end.result as LiveDeadlockDemoResult
      })
      if (r) demo.value = r
      await refresh()
      return r ?? null
    } finally { running.value = false }
  }

  return { view, demo, running, error: action.error, refreshError: refresher.error, refresh, watch, runDemo }
})
