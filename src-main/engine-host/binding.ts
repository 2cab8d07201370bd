/**
 * Binds a console identity to one connection (a browser-host WebSocket, the Electron window). The transport keeps
 * one ConnectionIdentity per connection and sends every call through it: a successful `console/setup`,
 * `console/login` or `console/resume` binds the session token it returns; every later call carries that token to
 * the engine (EngineClient.request's `actor`), where handlers/authz.ts resolves it to the acting identity and
 * the engine's roles table decides; `console/logout` (or an ended session) unbinds it.
 * The renderer gets the token back only so it can `console/resume` after a reconnect or a reload.
 */
import type { EngineClient, RawResult } from './client'

const BINDS = new Set(['console/setup', 'console/login', 'console/resume'])

export class ConnectionIdentity {
  private token: string | null = null

  /** Whether an identity is bound (events are pushed only to such connections). */
  get bound(): boolean { return this.token !== null }

  async request(engine: Pick<EngineClient, 'request'>, name: unknown, input: unknown): Promise<RawResult> {
    const r = await engine.request(name, input, this.token) // null: this connection has no identity (never a default)
    if (typeof name !== 'string') return r
    if (r.ok && BINDS.has(name)) {
      const t = (r.value as { token?: unknown } | null)?.token
      if (typeof t === 'string') this.token = t
    } else if (name === 'console/logout' && r.ok) this.token = null
    else if (!r.ok && r.error.code === 'AUTH_FAILED' && this.token && r.error.message.startsWith('the console session has ended')) this.token = null
    return r
  }
}
