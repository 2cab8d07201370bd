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
 * No input from a socket ends the process: request targets are parsed defensively (request-target.ts; an
 * unparsable or non-origin-form target is 400, on a page request and on an upgrade alike), malformed request
 * lines/headers are answered on 'clientError' (400 / 431), and the request, upgrade and frame handlers each
 * catch at the socket boundary (500 / INTERNAL for that one request, the host keeps serving).
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
import { join, normalize, resolve, sep } from 'node:path'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import { WebSocketServer, type RawData, type WebSocket } from 'ws'
import { MAX_PAYLOAD_BYTES } from '../ipc/contract/define'
import { EngineClient, type EngineClientOptions, type RawResult } from '../engine-host/client'
import { ConnectionIdentity } from '../engine-host/binding'
import { contentSecurityPolicy, injectNonce, mimeType, newNonce } from './csp'
import { cookieValue, parseRequestTarget } from './request-target'

export { contentSecurityPolicy }

/** Largest WebSocket frame accepted; bigger frames close the socket. Call inputs are capped lower (MAX_PAYLOAD_BYTES). */
export const MAX_FRAME_BYTES = 4 * MAX_PAYLOAD_BYTES
const HOST = '127.0.0.1'

export interface BrowserHostOptions {
  /** 0 or undefined: a random free port. */
  port?: number
  dataDir?: string | null
  seed?: number
  /** Live mode: the `iddb pg up` deployment directory (the engine's sites are its PostgreSQL servers). */
  pg?: string | null
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

function defaultRendererDir(): string {
  const here = typeof __dirname === 'string' ? __dirname : undefined
  const candidates = [...(here ? [join(here, '..', 'renderer')] : []), resolve('out/renderer')]
  return candidates.find((d) => existsSync(join(d, 'index.html'))) ?? candidates[candidates.length - 1]
}

const ASSET_COOKIE = 'iddb_asset'

function sameToken(given: string | null, token: string): boolean {
  if (!given) return false
  const a = Buffer.from(given), b = Buffer.from(token)
  return a.length === b.length && timingSafeEqual(a, b)
}

/** Answers a raw socket (upgrade attempts, client errors) with a short HTTP error and closes it; never throws. */
function refuse(socket: Duplex, status: number, text: string): void {
  try {
    if (socket.writable) socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`)
  } catch { /* the peer is gone */ }
  socket.destroy()
}

/** Last line of defence at the socket boundary: a handler that throws answers 500 (or drops the socket), never ends the process. */
function failRequest(res: ServerResponse, e: unknown): void {
  console.error('[browser-host] request handler failed:', e)
  try {
    if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' }).end('internal error\n')
    else res.destroy()
  } catch { res.destroy() }
}

/** Status for a parse error Node reports on 'clientError' (431 for oversized headers, 408 for a timeout, else 400). */
export function clientErrorStatus(code: unknown): [number, string] {
  if (code === 'HPE_HEADER_OVERFLOW') return [431, 'Request Header Fields Too Large']
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return [408, 'Request Timeout']
  return [400, 'Bad Request']
}

export async function startBrowserHost(opts: BrowserHostOptions = {}): Promise<BrowserHost> {
  const token = opts.token ?? randomBytes(24).toString('base64url')
  /** The page's assets (scripts, styles) need this cookie, which only the token-checked page response sets. */
  const assetKey = randomBytes(24).toString('base64url')
  const rendererDir = resolve(opts.rendererDir ?? defaultRendererDir())
  const engineOpts: EngineClientOptions = { seed: opts.seed, dataDir: opts.dataDir ?? null, host: 'browser', pg: opts.pg ?? null, workerPath: opts.workerPath }
  const engine = EngineClient.launch(engineOpts) // boots (sql.js, data) while the page loads

  let origin = ''
  let wsUrl = ''
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

  const serve = (req: IncomingMessage, res: ServerResponse) => {
    securityHeaders(res)
    if (req.method !== 'GET' && req.method !== 'HEAD') { res.writeHead(405, { Allow: 'GET, HEAD' }).end('method not allowed'); return }
    const target = parseRequestTarget(req.url)
    if (!target) { res.writeHead(400, { 'Content-Type': 'text/plain; charset=utf-8' }).end('bad request target\n'); return }
    let path = target.path
    if (path === '/' || path === '/index.html') {
      if (!sameToken(target.query.get('token'), token)) {
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
    const headers: Record<string, string> = { 'Content-Type': mimeType(file) }
    headers['Cache-Control'] = path === '/index.html' ? 'no-store' : 'no-cache'
    let body: Buffer | string = readFileSync(file)
    if (path === '/index.html') {
      // a fresh style nonce per page (CodeMirror's and Vite's <style> elements carry it; no 'unsafe-inline')
      const nonce = newNonce()
      body = injectNonce(body.toString('utf8'), nonce)
      headers['Content-Security-Policy'] = contentSecurityPolicy([wsUrl], { styleNonce: nonce })
    }
    res.writeHead(200, headers)
    if (req.method === 'HEAD') { res.end(); return }
    res.end(body)
  }
  const server = createServer((req, res) => {
    res.on('error', () => res.destroy())
    try { serve(req, res) } catch (e) { failRequest(res, e) }
  })
  // Malformed request lines / headers (bad method, header overflow, NUL bytes, …): answer and close.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    const [status, text] = clientErrorStatus(err.code)
    if (err.code === 'ECONNRESET' || !socket.writable) { socket.destroy(); return }
    refuse(socket, status, text)
  })
  server.on('error', (e) => console.error('[browser-host] server error:', e))

  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES })
  const upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const target = parseRequestTarget(req.url)
    if (!target) return refuse(socket, 400, 'Bad Request')
    if (target.path !== '/ipc') return refuse(socket, 404, 'Not Found')
    if (!sameToken(target.query.get('token'), token)) return refuse(socket, 401, 'Unauthorized')
    if (req.headers.origin !== origin) return refuse(socket, 403, 'Forbidden')
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req))
  }
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy())
    try { upgrade(req, socket, head) } catch (e) {
      console.error('[browser-host] upgrade handler failed:', e)
      refuse(socket, 500, 'Internal Server Error')
    }
  })

  wss.on('connection', (ws: WebSocket) => {
    sockets.add(ws)
    const identity = new ConnectionIdentity() // the console identity bound to this socket (engine-host/binding.ts)
    identities.set(ws, identity)
    ws.on('close', () => sockets.delete(ws))
    ws.on('error', () => sockets.delete(ws))
    ws.on('message', (data, isBinary) => {
      void answerFrame({ request: (name, input) => identity.request(engine, name, input) }, data, isBinary).then(
        (frame) => send(ws, frame),
        (e: unknown) => {
          console.error('[browser-host] a frame failed:', e)
          send(ws, { t: 'result', id: null, ok: false, error: { code: 'INTERNAL', message: 'the host could not process that frame' } })
        },
      )
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
  wsUrl = `ws://${HOST}:${port}/ipc`
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

type ResultFrame = { t: 'result'; id: number | string | null } & RawResult

/** Largest client id echoed back (longer string ids are answered with id null). */
const MAX_ID_LENGTH = 128

/** One WebSocket frame in, its result frame out. Everything a client can send is answered, nothing throws. */
export async function answerFrame(engine: { request(name: unknown, input: unknown): Promise<RawResult> }, data: RawData, isBinary: boolean): Promise<ResultFrame> {
  const bad = (id: number | string | null, message: string): ResultFrame => ({ t: 'result', id, ok: false, error: { code: 'BAD_INPUT', message } })
  let msg: unknown
  try {
    if (isBinary) throw new Error('binary frame')
    msg = JSON.parse(rawText(data))
  } catch {
    return bad(null, 'a frame must be a JSON text message {t:"call", id, name, input}')
  }
  if (!msg || typeof msg !== 'object' || Array.isArray(msg)) return bad(null, 'a frame must be a JSON object {t:"call", id, name, input}')
  const m = msg as { t?: unknown; id?: unknown; name?: unknown; input?: unknown }
  const id = (typeof m.id === 'number' && Number.isFinite(m.id)) || (typeof m.id === 'string' && m.id.length <= MAX_ID_LENGTH) ? m.id : null
  if (m.t !== 'call') return bad(id, `unknown frame type ${String(JSON.stringify(m.t) ?? 'undefined').slice(0, 40)}; expected "call"`)
  const r = await engine.request(m.name, m.input)
  return { t: 'result', id, ...r }
}

function rawText(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8')
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8')
  return Buffer.from(data).toString('utf8')
}

function send(ws: WebSocket, frame: unknown): void {
  try {
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(frame))
  } catch (e) {
    console.error('[browser-host] could not send a frame:', e)
    ws.terminate()
  }
}
