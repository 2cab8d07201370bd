/**
 * Break 2 of issue 13: one request line killed `iddb serve` (`new URL()` threw inside the request and the
 * upgrade handlers). The host runs as its own process here, as users run it, so "the process exited" is seen.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { startChildHost, type ChildHost } from './child-host'
import { rawExchange } from './raw-http'
import { connectIpc } from './ws-client'

const upgradeHeaders = (host: ChildHost) =>
  `Host: 127.0.0.1:${host.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: ${host.origin}\r\n\r\n`

async function stillServing(host: ChildHost): Promise<void> {
  expect(host.exit()).toBeNull()
  const page = await rawExchange(host.port, [`GET /?token=${host.token} HTTP/1.1\r\nHost: 127.0.0.1:${host.port}\r\nConnection: close\r\n\r\n`])
  expect(page.status).toBe(200)
  const sock = await connectIpc(host.wsUrl, host.token, host.origin)
  try {
    expect(await sock.call('system/ping', { sentAt: 9 })).toMatchObject({ ok: true, value: { sentAt: 9 } })
  } finally { sock.close() }
}

describe('the browser host survives request lines it cannot parse', () => {
  let host: ChildHost
  // a fresh process per case, so each case shows on its own whether it kills the host
  beforeEach(async () => { host = await startChildHost() })
  afterEach(async () => { await host?.stop() })

  it('answers `GET //[ HTTP/1.1` with 400 and keeps serving', async () => {
    const r = await rawExchange(host.port, [`GET //[ HTTP/1.1\r\nHost: 127.0.0.1:${host.port}\r\nConnection: close\r\n\r\n`])
    expect(r.status).toBe(400)
    await stillServing(host)
  })

  it('answers the same path as a WebSocket upgrade with 400 and keeps serving', async () => {
    const r = await rawExchange(host.port, [`GET //[/ipc?token=${host.token} HTTP/1.1\r\n${upgradeHeaders(host)}`])
    expect(r.status).toBe(400)
    await stillServing(host)
  })

  it('answers other unparsable targets (absolute URLs, bare authority, `*`) without dying', async () => {
    for (const target of ['http://[', '//', '//a:b@[::1', '*', 'http://evil.example/ipc', '/%', '/\u0000']) {
      const r = await rawExchange(host.port, [`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1:${host.port}\r\nConnection: close\r\n\r\n`])
      expect(r.status, target).not.toBeNull()
      expect(r.status! >= 400 && r.status! < 500, `${target} → ${r.status}`).toBe(true)
      const u = await rawExchange(host.port, [`GET ${target} HTTP/1.1\r\n${upgradeHeaders(host)}`])
      expect(u.status, `upgrade ${target}`).not.toBeNull()
      expect(u.status! >= 400 && u.status! < 500, `upgrade ${target} → ${u.status}`).toBe(true)
    }
    await stillServing(host)
  })
})
