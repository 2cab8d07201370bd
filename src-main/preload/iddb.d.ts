/**
 * What the renderer sees of the preload: `window.iddb` (Electron only; absent in the browser host,
 * where src-renderer/src/ipc/client.ts falls back to the WebSocket transport).
 * Rejections are plain ErrorInfo objects {code, message, site?, position?}.
 */
import type { IddbApi } from '../ipc/contract'

declare global {
  interface Window {
    iddb?: IddbApi
  }
}

export {}
