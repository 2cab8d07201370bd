/**
 * The console's Content-Security-Policy (Electron's app:// protocol and session headers, and the browser host),
 * and the per-page style nonce.
 *
 * Styles: no 'unsafe-inline'. The built renderer's styles are files ('self'); element styles set through
 * the CSSOM (Vue :style bindings, ECharts tooltips) are not governed by style-src; the only <style>
 * elements created at run time (CodeMirror's, Vite's) carry the page's nonce. The renderer build writes
 * NONCE_PLACEHOLDER wherever a nonce belongs (Vite `html.cspNonce`, the <meta> CSP in index.html); whoever
 * serves index.html replaces it with a fresh random nonce per response (injectNonce) and sends the same nonce
 * in the CSP header.
 */
import { randomBytes } from 'node:crypto'

/** What the renderer build leaves where the nonce goes (electron.vite.config.ts, src-renderer/index.html). */
export const NONCE_PLACEHOLDER = '__CSP_NONCE__'

export interface CspOptions {
  /** The page's style nonce (base64). */
  styleNonce?: string
  /** Development only (the Vite dev server injects plain <style> tags for hot reload). */
  devInlineStyles?: boolean
}

/** A fresh nonce for one page response. */
export function newNonce(): string {
  return randomBytes(18).toString('base64')
}

/** The page with every placeholder replaced by `nonce`. */
export function injectNonce(html: string, nonce: string): string {
  if (!/^[A-Za-z0-9+/]{16,}={0,2}$/.test(nonce)) throw new Error('a CSP nonce is base64')
  return html.split(NONCE_PLACEHOLDER).join(nonce)
}

export function contentSecurityPolicy(connectSrc: string[] = [], opts: CspOptions = {}): string {
  if (opts.styleNonce !== undefined && !/^[A-Za-z0-9+/]{16,}={0,2}$/.test(opts.styleNonce)) throw new Error('a CSP nonce is base64')
  const style = ["style-src 'self'"]
  if (opts.styleNonce) style.push(`'nonce-${opts.styleNonce}'`)
  if (opts.devInlineStyles) style.push("'unsafe-inline'")
  return [
    "default-src 'self'",
    "script-src 'self'",
    style.join(' '),
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    `connect-src 'self' ${connectSrc.join(' ')}`.trim(),
    "worker-src 'self' blob:",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ')
}

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.json': 'application/json', '.svg': 'image/svg+xml', '.png': 'image/png',
  '.ico': 'image/x-icon', '.woff2': 'font/woff2', '.woff': 'font/woff', '.ttf': 'font/ttf', '.map': 'application/json', '.wasm': 'application/wasm',
}

/** Content-Type of a renderer file (both hosts serve the same files). */
export function mimeType(file: string): string {
  const i = file.lastIndexOf('.')
  return (i >= 0 && MIME[file.slice(i).toLowerCase()]) || 'application/octet-stream'
}
