/**
 * The Electron main process's security decisions as pure functions (no `electron` import, so vitest tests
 * them; index.ts wires them to Electron):
 *
 * - the renderer is served from the privileged custom scheme `app://console/…` (APP_ORIGIN), never `file://`;
 *   appFilePath maps a request to a file inside the built renderer directory, refusing traversal;
 * - isAppUrl: an exact origin match (the app origin, or the dev server's origin in development builds only);
 * - devRendererUrl: `ELECTRON_RENDERER_URL` is honoured only when the app is not packaged, and only for a
 *   loopback http(s) URL;
 * - isAllowedExternal: the allow-list for shell.openExternal;
 * - isAllowedRequest: what the session may load at all (no remote content);
 * - the CSP and MIME types come from browser-host/csp.ts (a per-page nonce for styles, no 'unsafe-inline').
 */
import { isAbsolute, join, normalize, relative, sep } from 'node:path'
import { contentSecurityPolicy, injectNonce, mimeType, newNonce } from '../browser-host/csp'

export const APP_SCHEME = 'app'
export const APP_HOST = 'console'
export const APP_ORIGIN = `${APP_SCHEME}://${APP_HOST}`
/** The page the window loads. */
export const APP_INDEX_URL = `${APP_ORIGIN}/index.html`

/** Links the console may hand to the system browser (exact origins, https only). Nothing else opens. */
export const EXTERNAL_ALLOW_LIST: readonly string[] = ['https://www.electronjs.org', 'https://github.com']

function parse(url: unknown): URL | null {
  if (typeof url !== 'string' || url.length > 8192) return null
  try { return new URL(url) } catch { return null }
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]'])

/** The electron-vite dev server URL, honoured only in a development (unpackaged) build and only on loopback. */
export function devRendererUrl(env: Record<string, string | undefined>, isPackaged: boolean): string | undefined {
  if (isPackaged) return undefined
  const u = parse(env.ELECTRON_RENDERER_URL)
  if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:') || !LOOPBACK.has(u.hostname) || u.username || u.password) return undefined
  return u.href
}

/** The origin the app's own pages have: app://console, or the dev server's origin in development. */
export function appOriginFor(devUrl: string | undefined): string {
  return devUrl ? new URL(devUrl).origin : APP_ORIGIN
}

/** True only for a URL whose origin is exactly the app's (no prefix tricks such as app://console.evil/). */
export function isAppUrl(url: unknown, appOrigin: string): boolean {
  const u = parse(url)
  if (!u) return false
  // URL.origin is the string 'null' for non-special schemes that are not registered as standard in this
  // process (e.g. under Node): compare scheme and host for the app scheme instead.
  if (u.protocol === `${APP_SCHEME}:`) return appOrigin === APP_ORIGIN && u.host === APP_HOST && !u.username && !u.password && !u.port
  return u.origin !== 'null' && u.origin === appOrigin
}

/**
 * The file an `app://console/…` request asks for, inside `rendererDir`, or null (another host, a traversal,
 * an encoded separator or NUL, a path that does not decode). `/` is index.html.
 */
export function appFilePath(rendererDir: string, url: unknown): string | null {
  const u = parse(url)
  if (!u || u.protocol !== `${APP_SCHEME}:` || u.host !== APP_HOST || u.username || u.password || u.port) return null
  let path: string
  try { path = decodeURIComponent(u.pathname) } catch { return null }
  if (path.includes('\0') || path.includes('\\') || /(^|\/)\.\.(\/|$)/.test(path)) return null
  if (path === '' || path === '/') path = '/index.html'
  const root = normalize(rendererDir)
  const file = normalize(join(root, path))
  const rel = relative(root, file)
  if (!rel || rel.startsWith('..') || isAbsolute(rel) || rel.split(sep).includes('..')) return null
  return file
}

/** shell.openExternal is called only for https URLs on an allow-listed origin. */
export function isAllowedExternal(url: unknown, allow: readonly string[] = EXTERNAL_ALLOW_LIST): boolean {
  const u = parse(url)
  return !!u && u.protocol === 'https:' && !u.username && !u.password && allow.includes(u.origin)
}

/** What the session may load: the app scheme, devtools, data:/blob: (images, workers), and the dev server in development. */
export function isAllowedRequest(url: unknown, devUrl: string | undefined): boolean {
  const u = parse(url)
  if (!u) return false
  if (u.protocol === `${APP_SCHEME}:`) return u.host === APP_HOST
  if (u.protocol === 'devtools:' || u.protocol === 'data:' || u.protocol === 'blob:') return true
  if (!devUrl) return false
  const dev = new URL(devUrl)
  const wsOrigin = dev.origin.replace(/^http/, 'ws')
  return u.origin === dev.origin || `${u.protocol}//${u.host}` === wsOrigin
}

export interface AppResponse { status: number; headers: Record<string, string>; body: Buffer | string }

/**
 * The answer to one `app://console/…` request: the renderer file (index.html with a fresh style nonce in the
 * page and in its CSP header), 404 for anything outside the renderer directory or missing.
 */
export async function appResponse(rendererDir: string, url: string, read: (file: string) => Promise<Buffer | null>, nonce = newNonce()): Promise<AppResponse> {
  const base = { 'X-Content-Type-Options': 'nosniff', 'Cross-Origin-Resource-Policy': 'same-origin' }
  const notFound: AppResponse = { status: 404, headers: { ...base, 'Content-Type': 'text/plain; charset=utf-8' }, body: 'not found' }
  const file = appFilePath(rendererDir, url)
  if (!file) return notFound
  const data = await read(file)
  if (!data) return notFound
  const headers: Record<string, string> = { ...base, 'Content-Type': mimeType(file), 'Content-Security-Policy': contentSecurityPolicy([], { styleNonce: nonce }) }
  if (file.endsWith(`${sep}index.html`) && relative(normalize(rendererDir), file) === 'index.html') {
    return { status: 200, headers: { ...headers, 'Cache-Control': 'no-store' }, body: injectNonce(data.toString('utf8'), nonce) }
  }
  return { status: 200, headers, body: data }
}
