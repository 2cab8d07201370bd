/**
 * A store's view kept current while its console is open: `refresh()` loads it (one load at a time: a call while
 * one runs shares it), `start()` subscribes to topology changes (reload at once) and to engine ticks (reload at
 * most every `tickMs` of wall time, so a running drill's counters or a feed's lag move) and loads; `stop()`
 * unsubscribes. The load itself reports its errors (the store's useAction); a thrown error ends the load.
 */
import { ipc } from '../ipc/client'

export interface LiveRefresh {
  refresh(): Promise<void>
  start(): Promise<void>
  stop(): void
}

export function useLiveRefresh(load: () => Promise<void>, opts: { tickMs?: number } = {}): LiveRefresh {
  const tickMs = opts.tickMs ?? 1000
  let offs: (() => void)[] = []
  let last = 0
  let inflight: Promise<void> | null = null

  function refresh(): Promise<void> {
    if (inflight) return inflight
    inflight = load().then(() => { last = Date.now() }).finally(() => { inflight = null })
    return inflight
  }
  function start(): Promise<void> {
    if (!offs.length) {
      offs = [
        ipc().on('topology/changed', () => { void refresh() }),
        ipc().on('engine/tick', () => { if (Date.now() - last >= tickMs) void refresh() }),
      ]
    }
    return refresh()
  }
  function stop(): void { for (const off of offs) off(); offs = [] }
  return { refresh, start, stop }
}
