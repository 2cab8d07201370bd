/**
 * Preload (sandboxed, CommonJS): exposes `window.iddb` (IddbApi) through contextBridge. Only names in the
 * contract's CALL_NAMES / EVENT_NAMES are accepted, checked at run time; each call goes to its own
 * ipcMain.handle channel `iddb:call:<name>`. Failures reject with a plain ErrorInfo object {code, message, site?}.
 */
import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron'
import { CALL_NAMES, EVENT_NAMES, type IddbApi, type CallName, type EventName } from '../ipc/contract'
import type { ErrorInfo } from '../../engine/errors'

const callNames = new Set<string>(CALL_NAMES)
const eventNames = new Set<string>(EVENT_NAMES)

type Wire = { ok: true; value: unknown } | { ok: false; error: ErrorInfo }

const api: IddbApi = {
  async call(name, input) {
    if (typeof name !== 'string' || !callNames.has(name)) {
      throw { code: 'UNKNOWN_CALL', message: `unknown call "${String(name).slice(0, 80)}"` } satisfies ErrorInfo
    }
    const r = (await ipcRenderer.invoke(`iddb:call:${name as CallName}`, input ?? {})) as Wire
    if (!r.ok) throw { ...r.error }
    return r.value as never
  },
  on(event, listener) {
    if (typeof event !== 'string' || !eventNames.has(event)) {
      throw { code: 'UNKNOWN_CALL', message: `unknown event "${String(event).slice(0, 80)}"` } satisfies ErrorInfo
    }
    if (typeof listener !== 'function') throw { code: 'BAD_INPUT', message: 'listener must be a function' } satisfies ErrorInfo
    const channel = `iddb:event:${event as EventName}`
    const wrapped = (_e: IpcRendererEvent, payload: unknown) => listener(payload as never)
    ipcRenderer.on(channel, wrapped)
    return () => { ipcRenderer.removeListener(channel, wrapped) }
  },
}

contextBridge.exposeInMainWorld('iddb', api)
