/**
 * Electron main process: one hardened window, the engine in a worker thread (never on this thread),
 * one ipcMain.handle channel per contract call (`iddb:call:<name>`), engine events forwarded with
 * webContents.send(`iddb:event:<name>`, payload).
 * Hardening: contextIsolation, sandbox, no nodeIntegration, webSecurity; the renderer is served from the
 * privileged custom scheme app://console (protocol.handle, traversal refused), never file://; a strict CSP
 * with a per-page style nonce and no 'unsafe-inline' (response header and <meta>); navigation, frame
 * navigation, redirects, new windows, webviews and permission requests denied; shell.openExternal only for
 * an allow-list; no remote content; IPC accepted only from a frame whose origin is exactly the app's.
 * ELECTRON_RENDERER_URL (electron-vite dev) is honoured only in an unpackaged build. The decisions are pure
 * functions in security.ts (unit-tested); fuses are flipped at package time (scripts/electron-fuses.mjs).
 */
import { app, BrowserWindow, ipcMain, protocol, session, shell, type WebContents } from 'electron'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { CALL_NAMES, type CallName } from '../ipc/contract'
import { EngineClient } from '../engine-host/client'
import { ConnectionIdentity } from '../engine-host/binding'
import { contentSecurityPolicy } from '../browser-host/csp'
import { APP_INDEX_URL, APP_SCHEME, appOriginFor, appResponse, devRendererUrl, isAllowedExternal, isAllowedRequest, isAppUrl } from './security'

const here = fileURLToPath(new URL('.', import.meta.url))
const devUrl = devRendererUrl(process.env, app.isPackaged) // `electron-vite dev` only; ignored when packaged
const rendererDir = join(here, '../renderer')
const appOrigin = appOriginFor(devUrl)

// Before `ready`: app:// behaves like https (standard, secure: origin, storage, fetch), without CSP bypass.
protocol.registerSchemesAsPrivileged([{ scheme: APP_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true, codeCache: true } }])

function argValue(flag: string): string | undefined {
  const i = process.argv.indexOf(flag)
  return i >= 0 ? process.argv[i + 1] : undefined
}

function harden(contents: WebContents): void {
  contents.setWindowOpenHandler(({ url }) => {
    if (isAllowedExternal(url)) void shell.openExternal(url).catch(() => {})
    return { action: 'deny' }
  })
  contents.on('will-navigate', (e, url) => { if (!isAppUrl(url, appOrigin)) e.preventDefault() })
  contents.on('will-frame-navigate', (e) => { if (!e.isMainFrame || !isAppUrl(e.url, appOrigin)) e.preventDefault() })
  contents.on('will-redirect', (e, url) => { if (!isAppUrl(url, appOrigin)) e.preventDefault() })
  contents.on('will-attach-webview', (e) => e.preventDefault())
}

async function main(): Promise<void> {
  app.enableSandbox()
  app.on('web-contents-created', (_e, contents) => harden(contents))
  await app.whenReady()

  const ses = session.defaultSession
  // The renderer files, from the app scheme only (index.html gets a fresh style nonce and its CSP header).
  ses.protocol.handle(APP_SCHEME, async (req) => {
    const r = await appResponse(rendererDir, req.url, (f) => readFile(f).catch(() => null))
    return new Response(typeof r.body === 'string' ? r.body : new Uint8Array(r.body), { status: r.status, headers: r.headers })
  })
  if (devUrl) {
    // development only: the Vite dev server's pages get the CSP as a header (Vite injects <style> for hot reload)
    const csp = contentSecurityPolicy([devUrl.replace(/^http/, 'ws')], { devInlineStyles: true })
    ses.webRequest.onHeadersReceived((details, cb) => {
      if (!details.url.startsWith(appOrigin + '/')) { cb({}); return }
      cb({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [csp] } })
    })
  }
  // No remote content: only the app scheme (or the dev server in development), devtools, data: and blob:.
  ses.webRequest.onBeforeRequest((details, cb) => { cb({ cancel: !isAllowedRequest(details.url, devUrl) }) })
  ses.setPermissionRequestHandler((_wc, _perm, cb) => cb(false))
  ses.setPermissionCheckHandler(() => false)

  const seedArg = argValue('--seed') ?? process.env.IDDB_SEED
  const engine = await EngineClient.start({
    workerPath: process.env.IDDB_WORKER ?? join(app.getAppPath(), 'out/cli/engine-worker.cjs'),
    host: 'electron',
    seed: seedArg !== undefined ? Number(seedArg) : undefined,
    // Committed data survives restarts: the cluster lives in the user-data folder unless --memory is given;
    // in live mode (--pg DIR) the data is at the PostgreSQL servers and the console's own cluster is in memory.
    dataDir: argValue('--pg') ? null : argValue('--data') ?? process.env.IDDB_DATA ?? (process.argv.includes('--memory') ? null : join(app.getPath('userData'), 'cluster')),
    pg: argValue('--pg') ?? null,
  })

  const identity = new ConnectionIdentity() // the console identity bound to the one window (engine-host/binding.ts)
  for (const name of CALL_NAMES) {
    ipcMain.handle(`iddb:call:${name}`, async (event, input: unknown) => {
      const frame = event.senderFrame
      if (!frame || frame.parent !== null || !isAppUrl(frame.url, appOrigin)) return { ok: false, error: { code: 'ACCESS_DENIED', message: 'IPC from an untrusted frame' } }
      return identity.request(engine, name satisfies CallName, input)
    })
  }

  const win = new BrowserWindow({
    width: 1400,
    height: 900,
    minWidth: 960,
    minHeight: 600,
    title: 'Infinity DDB Console',
    show: false,
    backgroundColor: '#0f172a',
    webPreferences: {
      preload: join(here, '../preload/index.cjs'),
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      spellcheck: false,
    },
  })
  win.once('ready-to-show', () => win.show())

  const offEvents = engine.onAny((name, payload) => {
    if (!win.isDestroyed() && identity.bound) win.webContents.send(`iddb:event:${name}`, payload)
  })
  win.on('closed', () => offEvents())

  await win.loadURL(devUrl ?? APP_INDEX_URL)

  app.on('window-all-closed', () => {
    void engine.close().finally(() => app.quit())
  })
}

main().catch((e) => {
  console.error('iddb: failed to start the console:', e)
  app.exit(1)
})
