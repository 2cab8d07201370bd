/** The simulated clock: current virtual time (pushed on every engine tick) and the speed control. */
import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import type { ClockView } from '../../../engine/api/views'
import { ipc } from '../ipc/client'
import { useAction } from '../composables/useAction'

export const SPEEDS = [0, 1, 60, 3600] as const
export type Speed = (typeof SPEEDS)[number]

export const useClockStore = defineStore('clock', () => {
  const clock = ref<ClockView | null>(null)
  const action = useAction()
  const error = action.error
  const busy = computed(() => action.pending.value !== null && action.pending.value !== 'load')
  let off: (() => void) | null = null

  const speed = computed<number>(() => clock.value?.speed ?? 0)
  const running = computed(() => (clock.value?.running ?? false) && speed.value > 0)

  async function load(): Promise<void> {
    await action.run('load', async () => { clock.value = await ipc().call('clock/get', {}) })
  }

  /** Subscribes to engine ticks (idempotent) and loads the current clock. */
  function start(): Promise<void> {
    if (!off) off = ipc().on('engine/tick', (p) => { clock.value = p.clock })
    return load()
  }

  function stop(): void { off?.(); off = null }

  async function setSpeed(s: Speed): Promise<void> {
    await action.run('speed', async () => { clock.value = await ipc().call('clock/setSpeed', { speed: s }) })
  }

  /** Moves virtual time forward by hand (the clock may be paused). */
  async function advance(ms: number): Promise<void> {
    await action.run('advance', async () => { clock.value = await ipc().call('clock/advance', { ms }) })
  }

  return { clock, error, busy, speed, running, load, start, stop, setSpeed, advance }
})
