import { describe, expect, it } from 'vitest'
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { APP_INDEX_URL, APP_ORIGIN, appFilePath, appOriginFor, appResponse, devRendererUrl, isAllowedExternal, isAllowedRequest, isAppUrl } from './security'
import { contentSecurityPolicy, injectNonce, NONCE_PLACEHOLDER } from '../browser-host/csp'

describe('Electron main security decisions', () => {
  it('honours ELECTRON_RENDERER_URL only in an unpackaged build and only on loopback', () => {
    expect(devRendererUrl({ ELECTRON_RENDERER_URL: 'http://localhost:5173' }, false)).toBe('http://localhost:5173/')
    expect(devRendererUrl({ ELECTRON_RENDERER_URL: 'http://127.0.0.1:5173/' }, false)).toBe('http://127.0.0.1:5173/')
    expect(devRendererUrl({ ELECTRON_RENDERER_URL: 'http://localhost:5173' }, true)).toBeUndefined()
    for (const bad of ['https://evil.example', 'file:///etc/passwd', 'http://user:pw@localhost:1', 'javascript:alert(1)', 'not a url', ''])
      expect(devRendererUrl({ ELECTRON_RENDERER_URL: bad }, false), bad).toBeUndefined()
    expect(devRendererUrl({}, false)).toBeUndefined()
  })

  it('accepts a URL as the app only on an exact origin match', () => {
    expect(isAppUrl(APP_INDEX_URL, APP_ORIGIN)).toBe(true)
    expect(isAppUrl('app://console/assets/x.js', APP_ORIGIN)).toBe(true)
    for (const bad of ['app://console.evil/index.html', 'app://consolex/', 'app://user@console/', 'app://console:8080/', 'app://other/index.html', 'file:///index.html', 'https://console/', 'http://localhost:5173/', '', undefined, 42])
      expect(isAppUrl(bad, APP_ORIGIN), String(bad)).toBe(false)
    const dev = appOriginFor('http://localhost:5173/')
    expect(dev).toBe('http://localhost:5173')
    expect(isAppUrl('http://localhost:5173/src/main.ts', dev)).toBe(true)
    // the old prefix check let these through
    expect(isAppUrl('http://localhost:51730/', dev)).toBe(false)
    expect(isAppUrl('http://localhost:5173.evil.example/', dev)).toBe(false)
    expect(isAppUrl(APP_INDEX_URL, dev)).toBe(false)
  })

  it('maps app://console paths into the renderer directory and refuses traversal', () => {
    const root = '/opt/iddb/renderer'
    expect(appFilePath(root, 'app://console/')).toBe('/opt/iddb/renderer/index.html')
    expect(appFilePath(root, 'app://console/assets/index-abc.js')).toBe('/opt/iddb/renderer/assets/index-abc.js')
    expect(appFilePath(root, 'app://console/a%20b.css')).toBe('/opt/iddb/renderer/a b.css')
    // plain dot segments are removed by URL parsing itself: the result stays inside the directory
    expect(appFilePath(root, 'app://console/../../etc/passwd')).toBe('/opt/iddb/renderer/etc/passwd')
    expect(appFilePath(root, 'app://console/%2e%2e/%2e%2e/etc/passwd')).toBe('/opt/iddb/renderer/etc/passwd')
    for (const bad of [ 'app://console/..%2f..%2fetc%2fpasswd', 'app://console/assets/..%2F..%2F..%2Fetc',
      'app://console/%00', 'app://console/a%5c..%5c..%5cb', 'app://console/%E0%A4%A', 'app://other/index.html', 'app://console:1/index.html', 'file:///etc/passwd'])
      expect(appFilePath(root, bad), bad).toBeNull()
  })

  it('serves index.html with a fresh nonce in the page and the CSP header, other files as they are, 404 otherwise', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'iddb-app-'))
    try {
      mkdirSync(join(dir, 'assets'))
      writeFileSync(join(dir, 'index.html'), `<meta property="csp-nonce" nonce="${NONCE_PLACEHOLDER}"><meta http-equiv="Content-Security-Policy" content="style-src 'self' 'nonce-${NONCE_PLACEHOLDER}'">`)
      writeFileSync(join(dir, 'assets', 'a.css'), 'b{}')
      const read = async (f: string) => { try { return (await import('node:fs')).readFileSync(f) } catch { return null } }
      const page = await appResponse(dir, 'app://console/', read, 'AAAAAAAAAAAAAAAAAAAAAAAA')
      expect(page.status).toBe(200)
      expect(String(page.body)).not.toContain(NONCE_PLACEHOLDER)
      expect(String(page.body)).toContain('nonce="AAAAAAAAAAAAAAAAAAAAAAAA"')
      expect(page.headers['Content-Security-Policy']).toContain("style-src 'self' 'nonce-AAAAAAAAAAAAAAAAAAAAAAAA'")
      expect(page.headers['Content-Security-Policy']).not.toContain('unsafe-inline')
      const a = await appResponse(dir, 'app://console/assets/a.css', read)
      expect(a).toMatchObject({ status: 200, headers: { 'Content-Type': 'text/css; charset=utf-8' } })
      expect((await appResponse(dir, 'app://console/missing.js', read)).status).toBe(404)
      expect((await appResponse(dir, 'app://console/%2e%2e/%2e%2e/etc/passwd', read)).status).toBe(404)
      const two = await Promise.all([appResponse(dir, APP_INDEX_URL, read), appResponse(dir, APP_INDEX_URL, read)])
      expect(two[0].headers['Content-Security-Policy']).not.toBe(two[1].headers['Content-Security-Policy'])
    } finally { rmSync(dir, { recursive: true, force: true }) }
  })

  it('opens external links only for https on the allow-list', () => {
    expect(isAllowedExternal('https://github.com/x/y')).toBe(true)
    for (const bad of ['http://github.com/', 'https://github.com.evil.example/', 'https://evil.example/', 'file:///etc/passwd', 'smb://host/share', 'javascript:alert(1)', 'https://user@github.com/', 'app://console/'])
      expect(isAllowedExternal(bad), bad).toBe(false)
  })

  it('lets the session load only the app scheme, devtools, data: and blob: (and the dev server in development)', () => {
    expect(isAllowedRequest('app://console/assets/a.js', undefined)).toBe(true)
    expect(isAllowedRequest('app://other/a.js', undefined)).toBe(false)
    expect(isAllowedRequest('file:///etc/passwd', undefined)).toBe(false)
    expect(isAllowedRequest('https://evil.example/x.js', undefined)).toBe(false)
    expect(isAllowedRequest('http://localhost:5173/src/main.ts', undefined)).toBe(false)
    expect(isAllowedRequest('http://localhost:5173/src/main.ts', 'http://localhost:5173/')).toBe(true)
    expect(isAllowedRequest('ws://localhost:5173/', 'http://localhost:5173/')).toBe(true)
    expect(isAllowedRequest('http://localhost:5174/', 'http://localhost:5173/')).toBe(false)
    expect(isAllowedRequest('data:image/png;base64,AA', undefined)).toBe(true)
  })

  it('builds a CSP with no inline styles unless in development, nonce checked', () => {
    expect(contentSecurityPolicy()).toContain("style-src 'self';")
    expect(contentSecurityPolicy([], { styleNonce: 'QUJDREVGR0hJSktMTU5PUA==' })).toContain("style-src 'self' 'nonce-QUJDREVGR0hJSktMTU5PUA=='")
    expect(contentSecurityPolicy(['ws://127.0.0.1:1/ipc'])).not.toContain('unsafe-inline')
    expect(contentSecurityPolicy([], { devInlineStyles: true })).toContain("'unsafe-inline'")
    expect(() => contentSecurityPolicy([], { styleNonce: "x' 'unsafe-inline" })).toThrow()
    expect(() => injectNonce('x', "'; script-src *")).toThrow()
  })
})
