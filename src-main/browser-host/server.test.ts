import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'node:http'
import { startBrowserHost, type BrowserHost } from './server'
import { connectIpc } from './ws-client'
import { buildTestWorker } from '../testing/worker-bundle'
import { MAX_PAYLOAD_BYTES } from '../ipc/contract/define'

function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    request(url, { headers }, (res) => {
      let body = ''
      res.on('data', (c) => (body += c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
    }).on('error', reject).end()
  })
}

describe('browser host', () => {
  let host: BrowserHost
  let dir: string
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'iddb-renderer-'))
    writeFileSync(join(dir, 'index.html'), '<!doctype html><title>t</title>')
    writeFileSync(join(dir, 'app.js'), 'console.log(1)')
    host = await startBrowserHost({ rendererDir: dir, workerPath: await buildTestWorker(), seed: 5 })
  })
  afterAll(async () => {
    await host?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('listens on 127.0.0.1 with a random token in the URL', () => {
    expect(host.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]{20,}$/)
    expect(host.url).toContain(host.token)
  })

  it('serves the page only with the token, with the CSP allowing exactly its ws URL', async () => {
    expect((await get(host.origin + '/')).status).toBe(401)
    expect((await get(host.origin + '/?token=wrong')).status).toBe(401)
    const ok = await get(host.url)
    expect(ok.status).toBe(200)
    const csp = String(ok.headers['content-security-policy'])
    expect(csp).toContain("script-src 'self'")
    expect(csp).toContain(`connect-src 'self' ${host.wsUrl}`)
    // the page's files need the cookie its token-checked response set
    const cookie = String(ok.headers['set-cookie']).split(';')[0]
    expect(String(ok.headers['set-cookie'])).toMatch(/HttpOnly; SameSite=Strict/)
    expect((await get(host.origin + '/app.js')).status).toBe(401)
    expect((await get(host.origin + '/app.js', { cookie: 'iddb_asset=guess' })).status).toBe(401)
    expect((await get(host.origin + '/app.js', { cookie })).status).toBe(200)
    expect((await get(host.origin + '/missing.js', { cookie })).status).toBe(404)
    expect((await get(host.origin + '/..%2f..%2fetc%2fpasswd', { cookie })).status).toBe(403)
  })

  it('refuses a WebSocket without the token (401) or from another origin (403)', async () => {
    await expect(connectIpc(host.wsUrl, '', host.origin)).rejects.toMatchObject({ statusCode: 401 })
    await expect(connectIpc(host.wsUrl, 'x' + host.token.slice(1), host.origin)).rejects.toMatchObject({ statusCode: 401 })
    await expect(connectIpc(host.wsUrl, host.token, 'http://evil.example')).rejects.toMatchObject({ statusCode: 403 })
    await expect(connectIpc(host.wsUrl, host.token, 'http://localhost:' + host.port)).rejects.toMatchObject({ statusCode: 403 })
  })

  it('speaks the wire protocol and rejects malformed calls with ErrorInfo while still serving', async () => {
    const sock = await connectIpc(host.wsUrl, host.token, host.origin)
    try {
      expect(await sock.call('system/info')).toMatchObject({ ok: true, value: { host: 'browser', seed: 5 } })
      expect(await sock.call('topology/get')).toMatchObject({ ok: false, error: { code: 'AUTH_FAILED' } }) // before login
      expect(await sock.call('console/setup', { password: 'test-pass-1' })).toMatchObject({ ok: true, value: { role: 'hq-dba' } })
      expect(await sock.call('no/such')).toMatchObject({ ok: false, error: { code: 'UNKNOWN_CALL' } })
      expect(await sock.call('clock/setSpeed', { speed: 'fast' })).toMatchObject({ ok: false, error: { code: 'BAD_INPUT' } })
      expect(await sock.call('system/ping', { sentAt: 1, pad: 'z'.repeat(MAX_PAYLOAD_BYTES) })).toMatchObject({ ok: false, error: { code: 'PAYLOAD_TOO_LARGE' } })
      expect(await sock.raw('not json')).toMatchObject({ ok: false, error: { code: 'BAD_INPUT' } })
      expect(await sock.raw(JSON.stringify({ t: 'hello', id: 77 }), 77)).toMatchObject({ id: 77, ok: false, error: { code: 'BAD_INPUT' } })
      const events: string[] = []
      sock.onEvent((name) => events.push(name))
      const r = await sock.call('topology/failLink', { link: 'MBI-KDY' })
      expect(r.ok).toBe(true)
      expect(events).toContain('topology/changed')
      expect(await sock.call('system/ping', { sentAt: 3 })).toMatchObject({ ok: true, value: { sentAt: 3 } })
    } finally {
      sock.close()
    }
  })
})
