/** Long-running engine jobs (generation, checks, backups…): progress pushed on job/progress, cancel. */
import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import type { JobView } from '../../../engine/api/views'
import { ipc, toIpcError } from '../ipc/client'
import { useAction } from '../composables/useAction'

const KEEP_FINISHED = 20

export const useJobsStore = defineStore('jobs', () => {
  const byId = ref<Record<string, JobView>>({})
  const action = useAction()
  const error = action.error
  let off: (() => void) | null = null

  const all = computed(() => Object.values(byId.value).sort((a, b) => b.startedAt - a.startedAt || (a.id < b.id ? 1 : -1)))
  const running = computed(() => all.value.filter((j) => j.status === 'running'))
  /** Mean progress of running jobs, 0..1 (null when idle). */
  const progress = computed(() => (running.value.length === 0 ? null : running.value.reduce((s, j) => s + j.progress, 0) / running.value.length))

  function upsert(j: JobView): void {
    const next = { ...byId.value, [j.id]: j }
    const finished = Object.values(next).filter((x) => x.status !== 'running').sort((a, b) => (b.finishedAt ?? 0) - (a.finishedAt ?? 0))
    for (const old of finished.slice(KEEP_FINISHED)) delete next[old.id]
    byId.value = next
  }

  async function load(): Promise<void> {
    await action.run('load', async () => { for (const j of await ipc().call('jobs/list', {})) upsert(j) })
  }

  function start(): Promise<void> {
    if (!off) off = ipc().on('job/progress', (j) => upsert(j))
    return load()
  }

  function stop(): void { off?.(); off = null }

  async function cancel(id: string): Promise<void> {
    await action.run(`cancel ${id}`, async () => { upsert(await ipc().call('jobs/cancel', { id })) })
  }

  /** Resolves when the job leaves 'running' (via pushes, with a polling fallback). */
  function waitFor(id: string, pollMs = 500): Promise<JobView> {
    return new Promise((resolve, reject) => {
      let finished = false
      const stop = () => { finished = true; clearInterval(timer); unsub() }
      const done = (j: JobView) => { if (!finished) { stop(); resolve(j) } }
      const unsub = ipc().on('job/progress', (j) => { if (j.id === id && j.status !== 'running') done(j) })
      const poll = async () => {
        try {
          const j = await ipc().call('jobs/get', { id })
          upsert(j)
          if (j.status !== 'running') done(j)
        } catch (e) { if (!finished) { stop(); reject(toIpcError(e)) } }
      }
      const timer = setInterval(() => void poll(), pollMs)
      void poll()
    })
  }

  return { byId, error, all, running, progress, upsert, load, start, stop, cancel, waitFor }
})
