/**
 * The console's mode (system/setMode): the embedded simulation, or live over the PostgreSQL servers of an
 * `iddb pg up` deployment directory. The switch is an engine job; the console sessions end with it (the new mode's
 * cluster does not know this tab's session), so once it is done the page starts again at the login screen, every
 * store loading the new mode's state.
 */
import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import type { JobView } from '../../../engine/api/views'
import { ipc } from '../ipc/client'
import { useActions } from '../composables/useAction'
import { useConnectionStore } from './connection'
import { useJobsStore } from './jobs'

export type ConsoleMode = 'simulation' | 'live'

export const useModeStore = defineStore('mode', () => {
  const connection = useConnectionStore()
  const jobs = useJobsStore()
  const actions = useActions(['switch'] as const)
  const mode = computed<ConsoleMode>(() => (connection.live ? 'live' : 'simulation'))
  /** The deployment directory typed for live mode (its pg.json names the servers). */
  const deployment = ref('')
  const switching = ref<JobView | null>(null)
  /** What starts the page again after a switch (a test replaces it). */
  let restart: () => void = () => window.location.reload()

  /** Switches to `to` (confirmed by typing its name); true once the switch is done (the page then starts again). */
  async function setMode(to: ConsoleMode, confirm: string): Promise<boolean> {
    const r = await actions.run('switch', async () => {
      const j = await ipc().call('system/setMode', { mode: to, confirm, ...(to === 'live' ? { deployment: deployment.value.trim() } : {}) })
      switching.value = j
      jobs.upsert(j)
      const end = await jobs.waitFor(j.id)
      if (end.status !== 'done') throw end.error ?? { code: 'CANCELLED', message: `the switch to ${to} ${end.status}` }
      return end
    }, `switch to ${to}`)
    switching.value = null
    // the session ends only when the new mode's cluster took over: a refused session means the switch is done
    const done = !!r || actions.errors.switch?.code === 'AUTH_FAILED'
    if (done) { actions.clear('switch'); restart() }
    return done
  }

  return { mode, deployment, switching, errors: actions.errors, pending: actions.pending, setMode, setRestart: (fn: () => void) => { restart = fn } }
})
