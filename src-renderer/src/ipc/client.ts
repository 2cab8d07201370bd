/**
 * The renderer's one typed IPC client. Stores use it; components never do.
 *
 * - Electron: the preload exposes `window.iddb: IddbApi` (contextBridge, one method per call).
 * - Browser host (`iddb serve`): a WebSocket to `/ipc?token=T` on the page's own origin, speaking
 *   `{t:'call',id,name,input}` → `{t:'result',id,ok,value|error}` plus pushed `{t:'event',name,payload}`.
 *
 * Both are wrapped so every failure reaches the caller as an `IpcError` carrying `ErrorInfo`.
 */
import type { CallInput, CallName, CallOutput, EventName, EventPayload, IddbApi } from '../../../src-main/ipc/contract'
import type { ErrorCode, ErrorInfo } from '../../../engine/errors'

export class IpcError extends Error {
  readonly code: ErrorCode
  readonly site?: string
  readonly position?: number
  constructor(readonly info: ErrorInfo) {
    super(info.message)
    this.name = 'IpcError'
    this.code = info.code
    if (info.site !== undefined) this.site = info.site
    if (info.position !== undefined) this.position = info.position
  }
}

const CODE_RE = /^[A-Z][A-Z_]+$/

/** Turns whatever a transport rejected with into an IpcError (Electron may only keep `message`). */
export function toIpcError(e: unknown): IpcError {
  if (e instanceof IpcError) return e
  if (e && typeof e === 'object') {
    const o = e as Partial<ErrorInfo> & { message?: unknown }
    if (typeof o.code === 'string' && CODE_RE.test(o.code) && typeof o.message === 'string') {
      return new IpcError({ code: o.code as ErrorCode, message: o.message, ...(o.site ? { site: o.site } : {}), ...(typeof o.position === 'number' ? { position: o.position } : {}) })
    }
    if (typeof o.message === 'string') {
      // Electron's ipcRenderer.invoke wraps: "Error invoking remote method 'x': Error: CODE: message"
      const m = /(?:^|: )([A-Z][A-Z_]+): (.*)$/s.exec(o.message)
      if (m) return new IpcError({ code: m[1] as ErrorCode, message: m[2] })
      // A JSON-encoded ErrorInfo in the message (a common way to cross contextBridge).
      const j = /\{.*"code".*\}/s.exec(o.message)
      if (j) {
        try { return toIpcError(JSON.parse(j[0])) } catch { /* fall through */ }
      }
      return new IpcError({ code: 'INTERNAL', message: o.message })
    }
  }
  return new IpcError({ code: 'INTERNAL', message: String(e) })
}

export type ConnectionState = 'connecting' | 'open' | 'closed'

/** What the rest of the renderer gets: the typed API plus connection state. */
export interface IpcClient extends IddbApi {
  readonly kind: 'electron' | 'websocket' | 'fake'
  state(): ConnectionState
  onState(listener: (s: ConnectionState) => void): () => void
  close(): void
}

/** Wraps an IddbApi (Electron preload, or a test fake) so rejections become IpcError. */
export function wrapApi(api: IddbApi, kind: IpcClient['kind'] = 'electron'): IpcClient {
  return {
    kind,
    async call<N extends CallName>(name: N, input: CallInput<N>): Promise<CallOutput<N>> {
      try { return await api.call(name, input) } catch (e) { throw toIpcError(e) }
    },
    on: (event, listener) => api.on(event, listener),
    state: () => 'open',
    onState: () => () => {},
    close: () => {},
  }
}

// ---------------------------------------------------------------------------------------------
// WebSocket transport (browser host)

interface Pending { name: string; resolve: (v: unknown) => void; reject: (e: IpcError) => void; timer: ReturnType<typeof setTimeout> }

type WireIn =
  | { t: 'result'; id: number; ok: true; value: unknown }
  | { t: 'result'; id: number; ok: false; error: ErrorInfo }
  | { t: 'event'; name: string; payload: unknown }

/** Minimal WebSocket surface we use (so tests can hand in a fake). */
export interface WsLike {
  readyState: number
  send(data: string): void
  close(): void
  onopen: ((ev: unknown) => void) | null
  onclose: ((ev: unknown) => void) | null
  onerror: ((ev: unknown) => void) | null
  onmessage: ((ev: { data: unknown }) => void) | null
}

export interface WsOptions {
  url: string
  /** Per-call timeout, ms. */
  timeoutMs?: number
  /** Reconnect backoff: first delay and cap, ms. */
  reconnectMs?: number
  reconnectMaxMs?: number
  /** Calls made before the first connection opened wait this long for it before failing (after a loss they fail at once). */
  connectWaitMs?: number
  createSocket?: (url: string) => WsLike
}

const WS_OPEN = 1

export class WsTransport implements IpcClient {
  readonly kind = 'websocket' as const
  private ws: WsLike | null = null
  private nextId = 1
  private pending = new Map<number, Pending>()
  private queue: { frame: () => string; id: number }[] = []
  private listeners = new Map<string, Set<(p: unknown) => void>>()
  private stateListeners = new Set<(s: ConnectionState) => void>()
  private current: ConnectionState = 'connecting'
  private backoff: number
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined
  private closed = false
  /** Set once the first connection opened: from then on a call made while disconnected fails at once. */
  private everOpen = false
  private readonly opts: Required<Omit<WsOptions, 'createSocket'>> & Pick<WsOptions, 'createSocket'>

  constructor(opts: WsOptions) {
    this.opts = { timeoutMs: 60_000, reconnectMs: 250, reconnectMaxMs: 5_000, connectWaitMs: 15_000, ...opts }
    this.backoff = this.opts.reconnectMs
    this.connect()
  }

  state(): ConnectionState { return this.current }

  onState(listener: (s: ConnectionState) => void): () => void {
    this.stateListeners.add(listener)
    return () => this.stateListeners.delete(listener)
  }

  private setState(s: ConnectionState): void {
    if (s === this.current) return
    this.current = s
    for (const fn of this.stateListeners) fn(s)
  }

  private connect(): void {
    if (this.closed) return
    this.setState('connecting')
    const ws = this.opts.createSocket ? this.opts.createSocket(this.opts.url) : (new WebSocket(this.opts.url) as unknown as WsLike)
    this.ws = ws
    ws.onopen = () => {
      this.backoff = this.opts.reconnectMs
      this.everOpen = true
      this.setState('open')
      const q = this.queue
      this.queue = []
      for (const item of q) if (this.pending.has(item.id)) ws.send(item.frame())
    }
    ws.onmessage = (ev) => this.onMessage(ev.data)
    ws.onerror = () => { /* onclose follows */ }
    ws.onclose = () => {
      if (this.ws !== ws) return
      this.ws = null
      // In-flight calls may or may not have run: fail them rather than re-send.
      const queued = new Set(this.queue.map((q) => q.id))
      for (const [id, p] of this.pending) {
        if (queued.has(id)) continue
        clearTimeout(p.timer)
        this.pending.delete(id)
        p.reject(new IpcError({ code: 'UNREACHABLE', message: `connection to the console host was lost during ${p.name}` }))
      }
      this.setState('closed')
      if (!this.closed) {
        this.reconnectTimer = setTimeout(() => this.connect(), this.backoff)
        this.backoff = Math.min(this.opts.reconnectMaxMs, this.backoff * 2)
      }
    }
  }

  private onMessage(data: unknown): void {
    let msg: WireIn
    try { msg = JSON.parse(typeof data === 'string' ? data : String(data)) as WireIn } catch { return }
    if (!msg || typeof msg !== 'object') return
    if (msg.t === 'result') {
      const p = this.pending.get(msg.id)
      if (!p) return
      this.pending.delete(msg.id)
      clearTimeout(p.timer)
      if (msg.ok) p.resolve(msg.value)
      else p.reject(toIpcError(msg.error))
    } else if (msg.t === 'event') {
      const set = this.listeners.get(msg.name)
      if (set) for (const fn of [...set]) {
        try { fn(msg.payload) } catch (e) { console.error(`listener for ${msg.name} failed`, e) }
      }
    }
  }

  call<N extends CallName>(name: N, input: CallInput<N>): Promise<CallOutput<N>> {
    if (this.closed) return Promise.reject(new IpcError({ code: 'UNREACHABLE', message: 'IPC client closed' }))
    const id = this.nextId++
    const open = this.ws !== null && this.ws.readyState === WS_OPEN
    // the host was reachable and is not now: say so at once rather than leave the caller spinning
    if (!open && this.everOpen) return Promise.reject(new IpcError({ code: 'UNREACHABLE', message: `the console host is not reachable (reconnecting…): ${name} was not sent` }))
    return new Promise<CallOutput<N>>((resolve, reject) => {
      const ms = open ? this.opts.timeoutMs : this.opts.timeoutMs + this.opts.connectWaitMs
      const timer = setTimeout(() => {
        this.pending.delete(id)
        this.queue = this.queue.filter((q) => q.id !== id)
        reject(new IpcError({ code: 'TIMEOUT', message: `${name} got no answer within ${Math.round(ms / 1000)} s` }))
      }, ms)
      this.pending.set(id, { name, resolve: resolve as (v: unknown) => void, reject, timer })
      const frame = () => JSON.stringify({ t: 'call', id, name, input: input ?? {} })
      if (open) this.ws!.send(frame())
      else this.queue.push({ id, frame })
    })
  }

  on<E extends EventName>(event: E, listener: (payload: EventPayload<E>) => void): () => void {
    let set = this.listeners.get(event)
    if (!set) this.listeners.set(event, (set = new Set()))
    const fn = listener as (p: unknown) => void
    set.add(fn)
    return () => { set.delete(fn) }
  }

  close(): void {
    this.closed = true
    clearTimeout(this.reconnectTimer)
    for (const [, p] of this.pending) { clearTimeout(p.timer); p.reject(new IpcError({ code: 'UNREACHABLE', message: 'IPC client closed' })) }
    this.pending.clear()
    this.queue = []
    this.ws?.close()
    this.ws = null
    this.setState('closed')
  }
}

/** The WebSocket URL of the browser host for the page at `loc` (token from the page's query string). */
export function wsUrlFor(loc: Pick<Location, 'protocol' | 'host' | 'search'>): string {
  const token = new URLSearchParams(loc.search).get('token') ?? ''
  const scheme = loc.protocol === 'https:' ? 'wss' : 'ws'
  return `${scheme}://${loc.host}/ipc?token=${encodeURIComponent(token)}`
}

// ---------------------------------------------------------------------------------------------
// The process-wide client

let client: IpcClient | null = null

/** The client stores use: Electron's preload bridge when present, else the browser host's WebSocket. */
export function ipc(): IpcClient {
  if (client) return client
  const bridged = (globalThis as { iddb?: IddbApi }).iddb
  if (bridged) client = wrapApi(bridged, 'electron')
  else client = new WsTransport({ url: wsUrlFor(location) })
  return client
}

/** Tests (and the shell, for diagnostics) install a client explicitly. */
export function setIpc(c: IpcClient | IddbApi | null): IpcClient | null {
  if (c === null) { client = null; return null }
  client = 'kind' in c ? (c as IpcClient) : wrapApi(c, 'fake')
  return client
}
