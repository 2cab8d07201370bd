/**
 * The browser host: the same console served over http://127.0.0.1:PORT with the engine behind a WebSocket.
 *
 * Access: every launch makes a random token. The page is served at `/?token=T` (its response sets an HttpOnly,
 * SameSite=Strict cookie without which no other file is served); the WebSocket is at
 * `/ipc?token=T` and is accepted only when BOTH the token matches and the `Origin` header equals the
 * served origin (`http://127.0.0.1:PORT`). Otherwise the upgrade is refused with HTTP 401 (no/bad token)
 * or 403 (bad origin) and no socket is opened. A frame larger than MAX_FRAME_BYTES closes the socket (1009);
 * call inputs larger than MAX_PAYLOAD_BYTES get a PAYLOAD_TOO_LARGE result (the socket stays open).
 *
 * Wire protocol (JSON text frames; the same contract the Electron preload exposes as window.iddb):
 *   client → host   {t:'call', id, name, input}              id: number or string chosen by the client
 *   host → client   {t:'result', id, ok:true, value}
 *                   {t:'result', id, ok:false, error:{code, message, site?, position?}}   (ErrorInfo)
 *   host → client   {t:'event', name, payload}                every engine event (EVENT_NAMES), to every socket
 * A frame that is not JSON or has no `t:'call'` gets {t:'result', id:null|id, ok:false, error:{code:'BAD_INPUT',…}}.
 * Calls run in the engine worker through EngineClient (validated there: UNKNOWN_CALL, BAD_INPUT, PAYLOAD_TOO_LARGE).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { randomBytes, timingSafeEqual } from 'node:crypto'
import { existsSync, readFileSync, statSync } from 'node:fs'
import { extname, join, normalize, resolve, sep } from 'node:path'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import { WebSocketServer, type WebSocket } from 'ws'
import { MAX_PAYLOAD_BYTES } from '../ipc/contract/define'
import { EngineClient, type EngineClientOptions } from '../engine-host/client'
import { ConnectionIdentity } from '../engine-host/binding'
import { contentSecurityPolicy } from './csp'

export { contentSecurityPolicy }

/** Largest WebSocket frame accepted; bigger frames close the socket. Call inputs are capped lower (MAX_PAYLOAD_BYTES). */
export const MAX_FRAME_BYTES = 4 * MAX_PAYLOAD_BYTES
const HOST = '127.0.0.1'

export interface BrowserHostOptions {
  /** 0 or undefined: a random free port. */
  port?: number
  dataDir?: string | null
  seed?: number
  /** Built renderer directory (default: out/renderer next to the bundle, else ./out/renderer). */
  rendererDir?: string
  workerPath?: string
  /** Use this token instead of a random one (tests only). */
  token?: string
}

export interface BrowserHost {
  /** Full URL including the token: open this. */
  url: string
  origin: string
  port: number
  token: string
  wsUrl: string
  engine: EngineClient
  /** Resolves once the engine is ready (calls made earlier simply wait); rejects if it failed to start. */
  ready: Promise<void>
  close(): Promise<void>
}

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.json': 'application/json', '.svg': 'image/svg+xml', '.png': 'image/png',
  '.ico': 'image/x-icon', '.woff2': 'font/woff2', '.woff': 'font/woff', '.ttf': 'font/ttf', '.map': 'application/json', '.wasm': 'application/wasm',
}

function defaultRendererDir(): string {
  const here = typeof __dirname === 'string' ? __dirname : undefined
  const candidates = [...(here ? [join(here, '..', 'renderer')] : []), resolve('out/renderer')]
  return candidates.find((d) => existsSync(join(d, 'index.html'))) ?? candidates[candidates.length - 1]
}

const ASSET_COOKIE = 'iddb_asset'

function cookieValue(header: string | undefined, name: string): string | null {
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=')
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim()
  }
  return null
}

function sameToken(given: string | null, token: string): boolean {
  if (!given) return false
  const a = Buffer.from(given), b = Buffer.from(token)
  return a.length === b.length && timingSafeEqual(a, b)
}

function refuse(socket: Duplex, status: number, text: string): void {
  socket.write(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`)
  socket.destroy()
}

export async function startBrowserHost(opts: BrowserHostOptions = {}): Promise<BrowserHost> {
  const token = opts.token ?? randomBytes(24).toString('base64url')
  /** The page's assets (scripts, styles) need this cookie, which only the token-checked page response sets. */
  const assetKey = randomBytes(24).toString('base64url')
  const rendererDir = resolve(opts.rendererDir ?? defaultRendererDir())
  const engineOpts: EngineClientOptions = { seed: opts.seed, dataDir: opts.dataDir ?? null, host: 'browser', workerPath: opts.workerPath }
  const engine = EngineClient.launch(engineOpts) // boots (sql.js, data) while the page loads

  let origin = ''
  let csp = ''
  const sockets = new Set<WebSocket>()
  const identities = new WeakMap<WebSocket, ConnectionIdentity>()

  const securityHeaders = (res: ServerResponse) => {
    res.setHeader('Content-Security-Policy', csp)
    res.setHeader('X-Content-Type-Options', 'nosniff')
    res.setHeader('X-Frame-Options', 'DENY')
    res.setHeader('Referrer-Policy', 'no-referrer')
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin')
    res.setHeader('Cross-Origin-Resource-Policy', 'same-origin')
  }

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    securityHeaders(res)
    if (req.method !== 'GET' && req.method !== 'HEAD') { res.writeHead(405, { Allow: 'GET, HEAD' }).end('method not allowed'); return }
    const url = new URL(req.url ?? '/', origin)
    let path: string
    try { path = decodeURIComponent(url.pathname) } catch { res.writeHead(400).end('bad path'); return }
    if (path === '/' || path === '/index.html') {
      if (!sameToken(url.searchParams.get('token'), token)) {
        res.writeHead(401, { 'Content-Type': 'text/plain; charset=utf-8' }).end('401: open the URL printed by `iddb serve` / `npm start`; it carries the access token.\n')
        return
      }
      path = '/index.html'
      res.setHeader('Set-Cookie', `${ASSET_COOKIE}=${assetKey}; HttpOnly; SameSite=Strict; Path=/`)
    } else if (!sameToken(cookieValue(req.headers.cookie, ASSET_COOKIE), assetKey)) {
      res.writeHead(401, { 'Content-Type': 'text/plain; charset=utf-8' }).end('401: load the page through the URL with the access token first.\n')
      return
    }
    const file = normalize(join(rendererDir, path))
    if (!file.startsWith(rendererDir + sep)) { res.writeHead(403).end('forbidden'); return }
    if (!existsSync(file) || !statSync(file).isFile()) {
      if (path === '/index.html') { res.writeHead(503, { 'Content-Type': 'text/plain; charset=utf-8' }).end(`the renderer is not built (${rendererDir}); run npm run build\n`); return }
      res.writeHead(404).end('not found'); return
    }
    const headers: Record<string, string> = { 'Content-Type': MIME[extname(file)] ?? 'application/octet-stream' }
    headers['Cache-Control'] = path === '/index.html' ? 'no-store' : 'no-cache'
    res.writeHead(200, headers)
    if (req.method === 'HEAD') { res.end(); return }
    res.end(readFileSync(file))
  })

  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES })
  server.on('upgrade', (req, socket, head) => {
    socket.on('error', () => socket.destroy())
    const url = new URL(req.url ?? '/', origin)
    if (url.pathname !== '/ipc') return refuse(socket, 404, 'Not Found')
    if (!sameToken(url.searchParams.get('token'), token)) return refuse(socket, 401, 'Unauthorized')
    if (req.headers.origin !== origin) return refuse(socket, 403, 'Forbidden')
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req))
  })

  wss.on('connection', (ws: WebSocket) => {
    sockets.add(ws)
    const identity = new ConnectionIdentity() // the console identity bound to this socket (engine-host/binding.ts)
    identities.set(ws, identity)
    ws.on('close', () => sockets.delete(ws))
    ws.on('error', () => sockets.delete(ws))
    ws.on('message', async (data, isBinary) => {
      let msg: { t?: unknown; id?: unknown; name?: unknown; input?: unknown }
      try {
        if (isBinary) throw new Error('binary frame')
        msg = JSON.parse(data.toString())
        if (!msg || typeof msg !== 'object') throw new Error('not an object')
      } catch {
        send(ws, { t: 'result', id: null, ok: false, error: { code: 'BAD_INPUT', message: 'a frame must be a JSON text message {t:"call", id, name, input}' } })
        return
      }
      const id = typeof msg.id === 'number' || typeof msg.id === 'string' ? msg.id : null
      if (msg.t !== 'call') {
        send(ws, { t: 'result', id, ok: false, error: { code: 'BAD_INPUT', message: `unknown frame type ${JSON.stringify(msg.t)}; expected "call"` } })
        return
      }
      const r = await identity.request(engine, msg.name, msg.input)
      send(ws, { t: 'result', id, ...r })
    })
  })

  const offEvents = engine.onAny((name, payload) => {
    if (sockets.size === 0) return
    const frame = JSON.stringify({ t: 'event', name, payload })
    for (const ws of sockets) if (ws.readyState === ws.OPEN && identities.get(ws)?.bound) ws.send(frame)
  })

  await new Promise<void>((resolveListen, rejectListen) => {
    server.once('error', rejectListen)
    server.listen(opts.port ?? 0, HOST, () => { server.off('error', rejectListen); resolveListen() })
  }).catch(async (e) => { await engine.close(); throw e })

  const port = (server.address() as AddressInfo).port
  origin = `http://${HOST}:${port}`
  const wsUrl = `ws://${HOST}:${port}/ipc`
  csp = contentSecurityPolicy([wsUrl])

  let closing: Promise<void> | undefined
  return {
    url: `${origin}/?token=${token}`,
    origin, port, token, wsUrl, engine, ready: engine.whenReady(),
    close: () => closing ??= (async () => {
      offEvents()
      for (const ws of sockets) ws.terminate()
      wss.close()
      server.closeAllConnections()
      await new Promise<void>((r) => server.close(() => r()))
      await engine.close()
    })(),
  }
}

function send(ws: WebSocket, frame: unknown): void {
  if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(frame))
}
