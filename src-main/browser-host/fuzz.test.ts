/**
 * Fuzzing the browser host's front door (issue 13), against `iddb serve` as its own process: raw request
 * lines, headers (huge, duplicated, malformed, NUL bytes), methods, paths, WebSocket upgrades with bad keys /
 * versions / origins / tokens, raw WebSocket frames (garbage, oversized, bad opcodes, RSV bits, unmasked,
 * fragmented, invalid UTF-8) and JSON frames of every wrong shape. Deterministic (fixed seed), bounded.
 * Throughout, the process must not exit; afterwards the same engine answers and the data is unchanged.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import fc from 'fast-check'
import WebSocket from 'ws'
import { startChildHost, type ChildHost } from './child-host'
import { MAX_FRAME_BYTES } from './server'
import { encodeWsFrame, rawExchange, upgradeRequest, type WsFrameSpec } from './raw-http'
import { connectIpc, type IpcSocket } from './ws-client'
import { ALL_CALLS, dataChecksum, garbageValue, HOSTILE_KEYS } from '../testing/fuzz'

const SEED = 1313
const DAY = 86_400_000
const runs = (n: number) => ({ seed: SEED, numRuns: n })

describe('front-door fuzzing of iddb serve', () => {
  let host: ChildHost
  let ipc: IpcSocket
  let before: Awaited<ReturnType<typeof dataChecksum>>
  let clockBefore = 0
  const alive = () => expect(host.exit(), `iddb serve exited; stderr:\n${host.stderr()}`).toBeNull()

  beforeAll(async () => {
    host = await startChildHost(11)
    ipc = await connectIpc(host.wsUrl, host.token, host.origin)
    expect((await ipc.call('console/setup', { password: 'fuzz-pass-1' })).ok).toBe(true) // this socket acts as the HQ DBA
    expect((await ipc.call('clock/advance', { ms: DAY })).ok).toBe(true)
    const pong = await ipc.call('system/ping', { sentAt: 0 })
    clockBefore = pong.ok ? (pong.value as { engineNow: number }).engineNow : NaN
    before = await dataChecksum((n, i) => ipc.call(n, i))
  })
  afterAll(async () => {
    ipc?.close()
    await host?.stop()
  })

  const token = () => host.token
  // Mostly well-formed parts, so most requests get past Node's parser and reach the host's own handlers.
  const methods = fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom('GET', 'HEAD') },
    fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT', 'PATCH', 'PRI', 'get', 'G\u0000T', ''),
    fc.stringMatching(/^[A-Z]{1,12}$/),
    fc.string({ unit: 'binary', maxLength: 12 }),
  )
  const targets = fc.oneof(
    { weight: 2, arbitrary: fc.constantFrom('//[', '//[/ipc', 'http://[', '//', '//a:b@[::1', '/%', '/%00') },
    fc.constantFrom('/', '//[', '//', '*', 'http://[', 'http://127.0.0.1/', '/%', '/%00', '/..%2f..%2fetc%2fpasswd', '/\\..\\x', '/index.html', '/ipc',
      '/?token=', '/?token=x&token=y', `/%2e%2e/%2e%2e/etc/passwd`, '/a?' + 'b'.repeat(20_000), '/\u00ff\u00fe', ''),
    fc.string({ unit: 'binary', maxLength: 60 }).map((s) => '/' + s),
    fc.string({ unit: 'binary', maxLength: 60 }),
  )
  const versions = fc.oneof({ weight: 6, arbitrary: fc.constant('HTTP/1.1') }, fc.constantFrom('HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/0.9', 'HTTP/1.1 extra', 'HTTP/', 'ICY', ''))
  const headerLines = fc.oneof({ weight: 1, arbitrary: fc.constant([] as string[]) }, fc.array(fc.oneof(
    fc.tuple(fc.constantFrom('Host', 'Origin', 'Cookie', 'Content-Length', 'Transfer-Encoding', 'Connection', 'Upgrade', 'Expect', 'X-A'), fc.string({ unit: 'binary', maxLength: 40 })).map(([k, v]) => `${k}: ${v}`),
    fc.constantFrom('Content-Length: 5', 'Content-Length: -1', 'Content-Length: 99999999999999999999', 'Transfer-Encoding: chunked', 'Transfer-Encoding: gzip, chunked',
      'Cookie: iddb_asset=x; iddb_asset=y', 'no colon here', ': empty name', 'Bad Name: x', 'X-Nul: a\u0000b', ' folded: line', `X-Huge: ${'h'.repeat(20_000)}`, 'Host:', 'Expect: 100-continue'),
  ), { maxLength: 4 }))

  it('answers arbitrary request lines and headers (or drops them) and never exits', async () => {
    await fc.assert(fc.asyncProperty(methods, targets, versions, headerLines, fc.constantFrom('', 'hello', '0\r\n\r\n', 'x'.repeat(70_000)), async (m, t, v, hs, body) => {
      const r = await rawExchange(host.port, [`${m} ${t} ${v}\r\n${hs.map((h) => h + '\r\n').join('')}Connection: close\r\n\r\n${body}`], { timeoutMs: 3000, settleMs: 150 })
      alive()
      if (r.status !== null) expect(r.status, `${JSON.stringify([m, t.slice(0, 60), v])}`).toBeLessThan(500)
    }), runs(250))
  })

  it('sends nothing but garbage bytes, or a request cut short, and the host lives', async () => {
    await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 4096 }), fc.boolean(), async (bytes, partial) => {
      const chunks: (string | Buffer)[] = partial ? [`GET /?token=${token()} HTTP/1.1\r\nHost: 127.0.0.1\r\n`] : []
      chunks.push(Buffer.from(bytes))
      await rawExchange(host.port, chunks, { timeoutMs: 400, settleMs: 100 })
      alive()
    }), runs(80))
  })

  it('refuses every upgrade that is not exactly right, and accepts the right one', async () => {
    const tokenArb = fc.constantFrom<'right' | 'wrong' | 'none' | 'twice' | 'empty' | 'prefix'>('right', 'wrong', 'none', 'twice', 'empty', 'prefix')
    const originArb = fc.constantFrom<'right' | 'evil' | 'none' | 'null' | 'localhost' | 'trailing' | 'twice'>('right', 'evil', 'none', 'null', 'localhost', 'trailing', 'twice')
    const keyArb = fc.oneof(fc.constantFrom('dGhlIHNhbXBsZSBub25jZQ==', '', 'short', '!!!!!!!!!!!!!!!!!!!!!!!!', 'dGhlIHNhbXBsZSBub25jZQ'), fc.string({ maxLength: 30 }))
    const versionArb = fc.constantFrom('13', '8', '14', '', 'abc', '13, 8', null)
    const pathArb = fc.constantFrom('/ipc', '/ipc/', '/IPC', '//ipc', '/ipc%00', '/')
    await fc.assert(fc.asyncProperty(tokenArb, originArb, keyArb, versionArb, pathArb, async (tk, or, key, ver, path) => {
      const t = host.token
      const q = { right: `?token=${t}`, wrong: `?token=${t.slice(1)}x`, none: '', twice: `?token=x&token=${t}`, empty: '?token=', prefix: `?token=${t}${t}` }[tk]
      const origin = { right: host.origin, evil: 'http://evil.example', none: null, null: 'null', localhost: `http://localhost:${host.port}`, trailing: host.origin + '/', twice: `${host.origin}, ${host.origin}` }[or]
      const r = await rawExchange(host.port, [upgradeRequest(host.port, path + q, { Origin: origin, 'Sec-WebSocket-Key': key, 'Sec-WebSocket-Version': ver })], { timeoutMs: 3000, settleMs: 150 })
      alive()
      const validKey = /^[+/0-9A-Za-z]{22}==$/.test(key)
      const shouldOpen = tk === 'right' && or === 'right' && path === '/ipc' && validKey && ver === '13'
      const what = JSON.stringify({ tk, or, key, ver, path, status: r.status })
      if (shouldOpen) expect(r.status, what).toBe(101)
      else expect(r.status !== null && r.status >= 400 && r.status < 500, what).toBe(true)
    }), runs(200))
  })

  const frameArb: fc.Arbitrary<WsFrameSpec> = fc.oneof(
    // any opcode, with or without FIN / RSV / mask
    fc.record({ opcode: fc.integer({ min: 0, max: 15 }), payload: fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)), fin: fc.boolean(), rsv: fc.integer({ min: 0, max: 7 }), mask: fc.boolean() }),
    // text frames holding invalid UTF-8
    fc.constantFrom(Buffer.from([0xff, 0xfe]), Buffer.from([0xc3]), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('{"t":"call","id":1,"name":"system/ping","input":{"sentAt":1}}\u0000'))
      .map((payload) => ({ opcode: 1, payload })),
    // claims far beyond the frame limit, or beyond 2^53
    fc.constantFrom(1n << 20n, 1n << 40n, (1n << 63n) + 5n).map((claimedLength) => ({ opcode: 2, payload: Buffer.from('x'), claimedLength })),
    // control frames that are too long or fragmented
    fc.constantFrom({ opcode: 9, payload: Buffer.alloc(200, 1) }, { opcode: 8, payload: Buffer.from([0x03]) }, { opcode: 8, payload: Buffer.from([0x03, 0xe8, 0xff]) }, { opcode: 10, payload: Buffer.alloc(0), fin: false }),
  )

  it('survives raw WebSocket frames of every kind of wrong', async () => {
    await fc.assert(fc.asyncProperty(fc.array(frameArb, { minLength: 1, maxLength: 4 }), fc.boolean(), async (frames, fragmentedText) => {
      const seq = frames.map((f) => encodeWsFrame(f))
      if (fragmentedText) seq.unshift(encodeWsFrame({ opcode: 1, payload: Buffer.from('{"t":"ca'), fin: false }), encodeWsFrame({ opcode: 0, payload: Buffer.from('ll"'), fin: false }))
      seq.push(encodeWsFrame({ opcode: 8, payload: Buffer.from([0x03, 0xe8]) }))
      await rawExchange(host.port, [upgradeRequest(host.port, `/ipc?token=${host.token}`, { Origin: host.origin }), ...seq], { timeoutMs: 3000, settleMs: 200 })
      alive()
    }), runs(120))
  })

  it('answers every JSON frame of the wrong shape with one result frame, and the socket keeps serving', async () => {
    const ws = new WebSocket(`${host.wsUrl}?token=${host.token}`, { origin: host.origin })
    await new Promise((r, j) => { ws.once('open', r); ws.once('error', j) })
    const results: unknown[] = []
    const waiters: (() => void)[] = []
    ws.on('message', (d) => {
      const m = JSON.parse(d.toString())
      if (m.t === 'result') { results.push(m); waiters.shift()?.() }
    })
    let closed: string | null = null
    ws.on('close', (code, reason) => { closed = `socket closed ${code} ${reason}`; for (const w of waiters.splice(0)) w() })
    const next = () => new Promise<unknown>((resolve) => {
      if (closed) return resolve({ t: closed })
      const take = () => resolve(results.length ? results.shift() : { t: closed })
      if (results.length) take(); else waiters.push(take)
    })
    const idArb = fc.oneof(fc.integer(), fc.string({ maxLength: 200 }), fc.constant(null), garbageValue)
    const frameJson = fc.oneof(
      garbageValue.map((v) => JSON.stringify(v)),
      fc.tuple(fc.oneof(fc.constant('call'), garbageValue), idArb, fc.oneof(fc.constantFrom(...ALL_CALLS, ...HOSTILE_KEYS), garbageValue), garbageValue)
        .map(([t, id, name, input]) => JSON.stringify({ t, id, name, input })),
      fc.string({ unit: 'binary', maxLength: 100 }),
      fc.constantFrom('', '[]', 'null', '"call"', '{"t":"call"}', '{"__proto__":{"t":"call"},"name":"system/ping"}', '{"t":"call","name":"system/ping","input":{"sentAt":1},"id":{"toString":1}}'),
    )
    try {
      await fc.assert(fc.asyncProperty(frameJson, async (text) => {
        fc.pre(Buffer.byteLength(text) <= MAX_FRAME_BYTES) // bigger frames close the socket (1009): the raw-frame case covers them
        ws.send(text)
        const r = (await next()) as { t: string; ok: boolean; id: unknown; error?: { code: string; message: string } }
        expect(r.t, `${text.length} chars: ${text.slice(0, 120)}`).toBe('result')
        expect(typeof r.id === 'number' || typeof r.id === 'string' || r.id === null).toBe(true)
        if (!r.ok) expect(r.error?.code, text.slice(0, 200)).not.toBe('INTERNAL')
      }), runs(300))
      alive()
      ws.send(JSON.stringify({ t: 'call', id: 'last', name: 'system/ping', input: { sentAt: 5 } }))
      expect(await next()).toMatchObject({ id: 'last', ok: true, value: { sentAt: 5 } })
    } finally { ws.close() }
  })

  it('is the same process and the same engine afterwards, with the data unchanged', async () => {
    alive()
    const pong = await ipc.call('system/ping', { sentAt: 77 })
    expect(pong).toMatchObject({ ok: true, value: { sentAt: 77 } })
    expect((pong as { value: { engineNow: number } }).value.engineNow).toBeGreaterThanOrEqual(clockBefore)
    expect(host.stderr()).not.toMatch(/worker exited/)
    expect(await dataChecksum((n, i) => ipc.call(n, i))).toEqual(before)
    const page = await rawExchange(host.port, [`GET /?token=${host.token} HTTP/1.1\r\nHost: 127.0.0.1:${host.port}\r\nConnection: close\r\n\r\n`])
    expect(page.status).toBe(200)
  })
})
