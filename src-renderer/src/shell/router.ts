/**
 * A tiny hash router: `#/<console>[/<sub>][?k=v]`. One reactive route for the whole app; no library.
 */
import { reactive, readonly } from 'vue'

export interface Route { console: string; sub: string; query: Record<string, string> }

function parse(hash: string): Route {
  const h = hash.replace(/^#\/?/, '')
  const [path, qs = ''] = h.split('?')
  const [c = '', ...rest] = path.split('/').filter(Boolean)
  return { console: decodeURIComponent(c), sub: rest.map(decodeURIComponent).join('/'), query: Object.fromEntries(new URLSearchParams(qs)) }
}

export function format(r: Partial<Route> & { console: string }): string {
  const qs = new URLSearchParams(r.query ?? {}).toString()
  return `#/${encodeURIComponent(r.console)}${r.sub ? `/${r.sub.split('/').map(encodeURIComponent).join('/')}` : ''}${qs ? `?${qs}` : ''}`
}

const state = reactive<Route>(parse(typeof location === 'undefined' ? '' : location.hash))
let installed = false

function sync(): void {
  const r = parse(location.hash)
  state.console = r.console
  state.sub = r.sub
  state.query = r.query
}

/** The current route (read-only) and navigation. */
export function useRoute() {
  if (!installed && typeof window !== 'undefined') {
    installed = true
    window.addEventListener('hashchange', sync)
    sync()
  }
  return {
    route: readonly(state) as Readonly<Route>,
    go(r: Partial<Route> & { console: string }) {
      const next = format(r)
      if (location.hash !== next) location.hash = next
      sync()
    },
  }
}
