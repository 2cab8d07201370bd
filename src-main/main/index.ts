/**
 * Electron main process: one hardened window, the engine in a worker thread (never on this thread),
 * one ipcMain.handle channel per contract call (`iddb:call:<name>`), engine events forwarded with
 * webContents.send(`iddb:event:<name>`, payload).
 * Hardening: contextIsolation, sandbox, no nodeIntegration, webSecurity, strict CSP (session header and
 * <meta>), navigation / new windows / webviews / permission requests denied, no remote content.
 */
import { app, BrowserWindow, ipcMain, session, shell, type WebContents } from 'electron'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { CALL_NAMES, type CallName } from '../ipc/contract'
import { EngineClient } from '../engine-host/client'
import { ConnectionIdentity } from '../engine-host/binding'
import { contentSecurityPolicy } from '../browser-host/csp'

const here = fileURLToPath(new URL('.', import.meta.url))
const devUrl = process.env.ELECTRON_RENDERER_URL // set by `electron-vite dev` only
const rendererIndex = join(here, '../renderer/index.html')
const appOrigin = devUrl ? new URL(devUrl).origin : 'file://'

function argValue(flag: string): string | undefined {
  const i = process.argv.indexOf(flag)
  return i >= 0 ? process.argv[i + 1] : undefined
}

/** Only our own pages (the built renderer file, or the electron-vite dev server) may use the IPC. */
function isAppUrl(url: string | undefined): boolean {
  if (!url) return false
  if (devUrl) return url.startsWith(new URL(devUrl).origin + '/')
  return url.startsWith(pathToFileURL(rendererIndex).href)
}

function harden(contents: WebContents): void {
  contents.setWindowOpenHandler(({ url }) => {
    if (/^https?:\/\//.test(url)) void shell.openExternal(url).catch(() => {})
    return { action: 'deny' }
  })
  contents.on('will-navigate', (e, url) => { if (!isAppUrl(url)) e.preventDefault() })
  contents.on('will-redirect', (e, url) => { if (!isAppUrl(url)) e.preventDefault() })
  contents.on('will-attach-webview', (e) => e.preventDefault())
}

async function main(): Promise<void> {
  app.enableSandbox()
  app.on('web-contents-created', (_e, contents) => harden(contents))
  await app.whenReady()

  const ses = session.defaultSession
  const csp = contentSecurityPolicy(devUrl ? [devUrl.replace(/^http/, 'ws')] : [])
  ses.webRequest.onHeadersReceived((details, cb) => {
    cb({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [csp] } })
  })
  // No remote content: only the app's own files (or the dev server) and devtools.
  ses.webRequest.onBeforeRequest((details, cb) => {
    const u = details.url
    const ok = u.startsWith('file://') || u.startsWith('devtools://') || u.startsWith('data:') || u.startsWith('blob:') || (devUrl !== undefined && (u.startsWith(appOrigin) || u.startsWith(appOrigin.replace(/^http/, 'ws'))))
    cb({ cancel: !ok })
  })
  ses.setPermissionRequestHandler((_wc, _perm, cb) => cb(false))
  ses.setPermissionCheckHandler(() => false)

  const seedArg = argValue('--seed') ?? process.env.IDDB_SEED
  const engine = await EngineClient.start({
    workerPath: process.env.IDDB_WORKER ?? join(app.getAppPath(), 'out/cli/engine-worker.cjs'),
    host: 'electron',
    seed: seedArg !== undefined ? Number(seedArg) : undefined,
    // Committed data survives restarts: the cluster lives in the user-data folder unless --memory is given.
    dataDir: argValue('--data') ?? process.env.IDDB_DATA ?? (process.argv.includes('--memory') ? null : join(app.getPath('userData'), 'cluster')),
  })

  const identity = new ConnectionIdentity() // the console identity bound to the one window (engine-host/binding.ts)
  for (const name of CALL_NAMES) {
    ipcMain.handle(`iddb:call:${name}`, async (event, input: unknown) => {
      if (!isAppUrl(event.senderFrame?.url)) return { ok: false, error: { code: 'ACCESS_DENIED', message: 'IPC from an untrusted frame' } }
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

  if (devUrl) await win.loadURL(devUrl)
  else await win.loadFile(rendererIndex)

  app.on('window-all-closed', () => {
    void engine.close().finally(() => app.quit())
  })
}

main().catch((e) => {
  console.error('iddb: failed to start the console:', e)
  app.exit(1)
})
