/** Connection to the console host (Electron bridge or browser host WebSocket) and the host's info. */
import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import type { CallOutput, EventPayload } from '../../../src-main/ipc/contract'
import { ipc, type ConnectionState } from '../ipc/client'
import { useAction } from '../composables/useAction'

export type HostInfo = CallOutput<'system/info'>

export const useConnectionStore = defineStore('connection', () => {
  const state = ref<ConnectionState>('connecting')
  const transport = ref<string>('')
  const info = ref<HostInfo | null>(null)
  /** Live mode: the PostgreSQL servers the sites are (null: the embedded simulation, or not known yet). */
  const live = computed(() => info.value?.live ?? null)
  const action = useAction()
  const error = action.error
  /** Round-trip of the latest ping, ms. */
  const pingMs = ref<number | null>(null)
  /** The last restart of a hung engine by the host's watchdog (shown as a banner until dismissed). */
  const restarted = ref<EventPayload<'engine/restarted'> | null>(null)
  const reconnectHandlers: (() => void)[] = []
  let off: (() => void) | null = null
  let offRestart: (() => void) | null = null

  async function loadInfo(): Promise<void> {
    await action.run('info', async () => { info.value = await ipc().call('system/info', {}) })
  }

  async function ping(): Promise<number | null> {
    const t0 = performance.now()
    const ok = await action.run('ping', () => ipc().call('system/ping', { sentAt: t0 }))
    pingMs.value = ok === undefined ? null : performance.now() - t0
    return pingMs.value
  }

  /** Runs `fn` every time the connection comes back after a loss (stores reload what they missed). */
  function onReconnect(fn: () => void): void { reconnectHandlers.push(fn) }

  function start(): Promise<void> {
    const c = ipc()
    transport.value = c.kind
    state.value = c.state()
    // a restarted engine is a fresh one: the stores reload as after a reconnect
    offRestart ??= c.on('engine/restarted', (r) => {
      restarted.value = r
      void loadInfo()
      for (const fn of reconnectHandlers) fn()
    })
    if (!off) {
      let wasLost = false
      off = c.onState((s) => {
        state.value = s
        if (s !== 'open') wasLost = true
        else if (wasLost) {
          wasLost = false
          void loadInfo()
          for (const fn of reconnectHandlers) fn()
        }
      })
    }
    return loadInfo()
  }

  return { state, transport, info, live, error, pingMs, restarted, loadInfo, ping, onReconnect, start }
})
