/**
 * Defensive parsing of what arrives on the browser host's socket. Nothing here throws: a request target the
 * host does not serve is `null` (the caller answers 400).
 *
 * The host serves only origin-form targets (RFC 9112 §3.2.1): `/path?query`. Absolute-form
 * (`http://host/…`), authority-form (`host:port`), asterisk-form (`*`) and protocol-relative `//…` targets
 * are refused, as is any target with control characters, a path that does not percent-decode, or a decoded
 * path holding a NUL or a backslash (which `path.join` would treat as a separator on Windows).
 */
export interface RequestTarget {
  /** The percent-decoded path, always starting with one `/`. */
  path: string
  query: URLSearchParams
}

/** The longest target accepted (Node's own header limit is 16 KiB; the console's URLs are short). */
export const MAX_TARGET_LENGTH = 8 * 1024

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/

export function parseRequestTarget(raw: unknown): RequestTarget | null {
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > MAX_TARGET_LENGTH) return null
  if (raw[0] !== '/' || raw[1] === '/' || raw[1] === '\\' || CONTROL.test(raw)) return null
  let url: URL
  try {
    url = new URL(raw, 'http://127.0.0.1')
  } catch {
    return null
  }
  if (url.host !== '127.0.0.1') return null
  let path: string
  try {
    path = decodeURIComponent(url.pathname)
  } catch {
    return null
  }
  if (path.includes('\u0000') || path.includes('\\')) return null
  return { path, query: url.searchParams }
}

/** A Cookie header's value for `name`, or null (duplicated or malformed headers never throw). */
export function cookieValue(header: unknown, name: string): string | null {
  const text = Array.isArray(header) ? header.join(';') : typeof header === 'string' ? header : ''
  for (const part of text.split(';')) {
    const i = part.indexOf('=')
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim()
  }
  return null
}
