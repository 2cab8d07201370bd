/**
 * A Node WebSocket client for the browser host's /ipc protocol (see server.ts): used by the bench,
 * the e2e IPC spec and unit tests. The renderer has its own client (src-renderer/src/ipc/client.ts).
 */
import WebSocket from 'ws'
import type { ErrorInfo } from '../../engine/errors'

export type WireResult = { t: 'result'; id: number | string | null; ok: true; value: unknown } | { t: 'result'; id: number | string | null; ok: false; error: ErrorInfo }

export interface IpcSocket {
  ws: WebSocket
  /** Sends {t:'call'} and resolves with the raw result frame. */
  call(name: string, input?: unknown): Promise<WireResult>
  /** Sends any text frame; resolves with the next result frame carrying `id` (or id null). */
  raw(frame: string, id?: number | string | null): Promise<WireResult>
  onEvent(fn: (name: string, payload: unknown) => void): () => void
  close(): void
}

export function connectIpc(wsUrl: string, token: string, origin: string): Promise<IpcSocket> {
  const ws = new WebSocket(`${wsUrl}?token=${encodeURIComponent(token)}`, { origin })
  const waiting = new Map<number | string | null, (r: WireResult) => void>()
  const listeners = new Set<(name: string, payload: unknown) => void>()
  let next = 1
  ws.on('message', (data) => {
    const m = JSON.parse(data.toString())
    if (m.t === 'result') {
      const done = waiting.get(m.id)
      waiting.delete(m.id)
      done?.(m)
    } else if (m.t === 'event') for (const fn of listeners) fn(m.name, m.payload)
  })
  const failAll = (why: string) => {
    for (const done of waiting.values()) done({ t: 'result', id: null, ok: false, error: { code: 'INTERNAL', message: why } })
    waiting.clear()
  }
  ws.on('close', (code) => failAll(`socket closed (${code})`))
  const api: IpcSocket = {
    ws,
    call(name, input = {}) {
      const id = next++
      return api.raw(JSON.stringify({ t: 'call', id, name, input }), id)
    },
    raw(frame, id = null) {
      return new Promise((resolve) => {
        waiting.set(id, resolve)
        ws.send(frame)
      })
    },
    onEvent(fn) { listeners.add(fn); return () => { listeners.delete(fn) } },
    close() { ws.close() },
  }
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(api))
    ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`refused: HTTP ${res.statusCode}`), { statusCode: res.statusCode })))
    ws.once('error', reject)
  })
}

/** p-th percentile (0..100) of a sample, nearest-rank. */
export function percentile(xs: number[], p: number): number {
  if (!xs.length) return NaN
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]
}
