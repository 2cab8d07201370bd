/**
 * The Query console's state: the SQL text, the site and user it is issued as, the last result (rows,
 * plan, per-link bytes, virtual time), the error with its position, the searchable history and the global
 * names for autocompletion. Calls: query/run, query/explain, query/catalog.
 */
import { defineStore } from 'pinia'
import { computed, ref, shallowRef } from 'vue'
import type { ErrorInfo } from '../../../engine/errors'
import type { QueryCatalogView, QueryRunView } from '../../../src-main/ipc/contract/query'
import { ipc, toIpcError } from '../ipc/client'

export type { QueryCatalogView, QueryRunView } from '../../../src-main/ipc/contract/query'

export interface HistoryEntry {
  id: number
  sql: string
  site: string
  user: string
  at: number
  ok: boolean
  rows?: number
  virtualMs?: number
  requestClass?: string
  error?: string
}

const HISTORY_KEY = 'iddb.query.history'
const HISTORY_MAX = 200
export const MAX_ROWS = 100_000

function loadHistory(): HistoryEntry[] {
  try {
    const raw = globalThis.localStorage?.getItem(HISTORY_KEY)
    return raw ? (JSON.parse(raw) as HistoryEntry[]).slice(0, HISTORY_MAX) : []
  } catch { return [] }
}

export const useQueryStore = defineStore('query', () => {
  const sql = ref("SELECT BRCODE, COUNT(*) AS NSALES, SUM(AMOUNT) AS REVENUE\nFROM SALES\nWHERE QTY >= 2\nGROUP BY BRCODE\nORDER BY BRCODE")
  const site = ref('KDY')
  const user = ref('admin')
  const running = ref(false)
  const result = shallowRef<QueryRunView | null>(null)
  const error = ref<ErrorInfo | null>(null)
  const catalog = shallowRef<QueryCatalogView | null>(null)
  const history = ref<HistoryEntry[]>(loadHistory())
  const historyFilter = ref('')
  let seq = history.value.reduce((m, h) => Math.max(m, h.id), 0)

  const filteredHistory = computed(() => {
    const f = historyFilter.value.trim().toLowerCase()
    return f ? history.value.filter((h) => h.sql.toLowerCase().includes(f) || h.site.toLowerCase() === f || (h.requestClass ?? '').includes(f)) : history.value
  })

  /** Table name → columns, for the editor's completion (global relations, views, fragment names). */
  const schema = computed<Record<string, string[]>>(() => {
    const c = catalog.value
    if (!c) return {}
    const out: Record<string, string[]> = {}
    for (const r of c.relations) out[r.name] = r.columns.map((x) => x.name)
    for (const v of c.views) out[v.name] = []
    for (const f of c.fragments) if (!out[f.name]) out[f.name] = f.columns
    return out
  })

  function remember(e: Omit<HistoryEntry, 'id' | 'at'>): void {
    history.value = [{ ...e, id: ++seq, at: Date.now() }, ...history.value.filter((h) => !(h.sql === e.sql && h.site === e.site))].slice(0, HISTORY_MAX)
    try { globalThis.localStorage?.setItem(HISTORY_KEY, JSON.stringify(history.value)) } catch { /* storage unavailable */ }
  }

  async function loadCatalog(): Promise<void> {
    try { catalog.value = await ipc().call('query/catalog', {}) } catch (e) { error.value = toIpcError(e).info }
  }

  async function run(mode: 'run' | 'explain' = 'run'): Promise<void> {
    const text = sql.value.trim()
    if (!text || running.value) return
    running.value = true
    error.value = null
    try {
      const r = await ipc().call(mode === 'explain' ? 'query/explain' : 'query/run', { site: site.value, sql: text, user: user.value || undefined, maxRows: MAX_ROWS })
      result.value = r
      remember({ sql: text, site: site.value, user: user.value, ok: true, rows: r.totalRows, virtualMs: r.virtualMs, requestClass: r.requestClass })
    } catch (e) {
      const info = toIpcError(e).info
      error.value = info
      remember({ sql: text, site: site.value, user: user.value, ok: false, error: `${info.code}: ${info.message}` })
    } finally {
      running.value = false
    }
  }

  function recall(h: HistoryEntry): void { sql.value = h.sql; site.value = h.site; user.value = h.user }
  function clearHistory(): void { history.value = []; try { globalThis.localStorage?.removeItem(HISTORY_KEY) } catch { /* ignore */ } }

  return { sql, site, user, running, result, error, catalog, history, historyFilter, filteredHistory, schema, loadCatalog, run, recall, clearHistory }
})
