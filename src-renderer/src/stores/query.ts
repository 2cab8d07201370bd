/**
 * The Query console's state: the SQL text, the site it is issued at and who it runs as (the console's
 * operator, trusted, or one of the sessions this console opened in the Security console), the last result
 * (rows, plan, per-link bytes, virtual time, the columns the session's level hid), the error with its
 * position, the searchable history and the global names for autocompletion. Calls: query/start (the query
 * runs as a cancellable job; progress arrives on job/progress), query/result, query/cancel, query/catalog.
 *
 * "Run as" keeps only the session's id; its token is taken from the security store when the query is issued
 * (it is never kept here, in the history or in localStorage).
 */
import { defineStore } from 'pinia'
import { computed, ref, shallowRef, watch } from 'vue'
import type { ErrorInfo } from '../../../engine/errors'
import type { QueryCatalogView, QueryRunView } from '../../../src-main/ipc/contract/query'
import { ipc, toIpcError } from '../ipc/client'
import { useSecurityStore } from './security'
import { useClockStore } from './clock'

export type { QueryCatalogView, QueryRunView } from '../../../src-main/ipc/contract/query'

export interface HistoryEntry {
  id: number
  sql: string
  site: string
  /** Who it ran as, for display: the session's user name, or 'operator'. */
  user: string
  /** The session's level (absent for the operator). */
  level?: string
  at: number
  ok: boolean
  rows?: number
  virtualMs?: number
  requestClass?: string
  error?: string
}

const HISTORY_KEY = 'iddb.query.history'
/** The editor's text, the chosen site and the open tab, kept across a reload (never a session or its token). */
const STATE_KEY = 'iddb.query.state'
export type QueryTab = 'results' | 'plan' | 'explain' | 'history'
interface SavedState { sql?: string; site?: string; tab?: QueryTab }
function loadState(): SavedState {
  try { return JSON.parse(globalThis.localStorage?.getItem(STATE_KEY) ?? '{}') as SavedState } catch { return {} }
}
const HISTORY_MAX = 200
export const MAX_ROWS = 100_000
/** The display name of the console's own (trusted, unrestricted) subject. */
export const OPERATOR = 'operator'

function loadHistory(): HistoryEntry[] {
  try {
    const raw = globalThis.localStorage?.getItem(HISTORY_KEY)
    return raw ? (JSON.parse(raw) as HistoryEntry[]).slice(0, HISTORY_MAX) : []
  } catch { return [] }
}

export const useQueryStore = defineStore('query', () => {
  const saved = loadState()
  const sql = ref(typeof saved.sql === 'string' ? saved.sql : "SELECT BRCODE, COUNT(*) AS NSALES, SUM(AMOUNT) AS REVENUE\nFROM SALES\nWHERE QTY >= 2\nGROUP BY BRCODE\nORDER BY BRCODE")
  const site = ref(typeof saved.site === 'string' && /^[A-Z]{3}$/.test(saved.site) ? saved.site : 'KDY')
  const tab = ref<QueryTab>(saved.tab && ['results', 'plan', 'explain', 'history'].includes(saved.tab) ? saved.tab : 'results')
  watch([sql, site, tab], () => {
    try { globalThis.localStorage?.setItem(STATE_KEY, JSON.stringify({ sql: sql.value.slice(0, 20_000), site: site.value, tab: tab.value } satisfies SavedState)) } catch { /* storage unavailable */ }
  })
  /** The id of the session (opened in this console) the query runs as; null: the operator. */
  const session = ref<string | null>(null)
  const running = ref(false)
  /** The running query's job, its progress (0..1, steps done / planned) and detail line. */
  const jobId = ref<string | null>(null)
  const progress = ref(0)
  const progressDetail = ref('')
  const cancelling = ref(false)
  /** Set when the last query was cancelled (the message says how far it got; nothing was returned or changed). */
  const cancelled = ref<string | null>(null)
  const result = shallowRef<QueryRunView | null>(null)
  /** The last result is an EXPLAIN: its rows are the plan's lines, not data. */
  const explained = ref(false)
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
    // site time, like every other console (the virtual clock), not the browser's
    history.value = [{ ...e, id: ++seq, at: useClockStore().clock?.now ?? 0 }, ...history.value.filter((h) => !(h.sql === e.sql && h.site === e.site))].slice(0, HISTORY_MAX)
    try { globalThis.localStorage?.setItem(HISTORY_KEY, JSON.stringify(history.value)) } catch { /* storage unavailable */ }
  }

  /** The session the query runs as (null: the operator, or a session that is no longer open). */
  const runAs = computed(() => (session.value ? useSecurityStore().session(session.value) : null))
  /** Who the next query runs as, for display. */
  const runAsName = computed(() => runAs.value?.user ?? OPERATOR)

  /** Picks who queries run as; a session also moves the site to where it was opened (it issues requests only there). */
  function setRunAs(id: string | null): void {
    session.value = id
    const s = id ? useSecurityStore().session(id) : null
    if (s) site.value = s.site
  }

  async function loadCatalog(): Promise<void> {
    try { catalog.value = await ipc().call('query/catalog', {}) } catch (e) { error.value = toIpcError(e).info }
  }

  async function run(mode: 'run' | 'explain' = 'run'): Promise<void> {
    const text = sql.value.trim()
    if (!text || running.value) return
    running.value = true
    cancelling.value = false
    error.value = null
    cancelled.value = null
    // a new run replaces the old result: it never stays under a new error
    result.value = null
    explained.value = false
    progress.value = 0
    progressDetail.value = ''
    const api = ipc()
    let off: (() => void) | undefined
    const as = runAs.value
    const who = { user: as?.user ?? (session.value ? `session ${session.value} (closed)` : OPERATOR), ...(as ? { level: as.level } : {}) }
    try {
      let token: string | null = null
      if (session.value) {
        token = useSecurityStore().tokenOf(session.value)
        // never fall back to the operator silently: that would run with more rights than asked for
        if (!token) throw { code: 'AUTH_FAILED', message: `session ${session.value} is no longer open in this console: log in again or run as the operator` } satisfies ErrorInfo
      }
      const issued = mode === 'explain' && !/^\s*explain\b/i.test(text) ? `EXPLAIN ${text}` : text
      const job = await api.call('query/start', { site: site.value, sql: issued, ...(token ? { session: token } : {}), maxRows: MAX_ROWS })
      jobId.value = job.id
      off = api.on('job/progress', (j) => {
        if (j.id !== job.id) return
        progress.value = j.progress
        if (j.detail !== undefined) progressDetail.value = j.detail
      })
      const r = await api.call('query/result', { jobId: job.id })
      result.value = r
      explained.value = /^\s*explain\b/i.test(issued)
      remember({ sql: text, site: site.value, ...who, ok: true, rows: r.totalRows, virtualMs: r.virtualMs, requestClass: r.requestClass })
    } catch (e) {
      const info = toIpcError(e).info
      if (info.code === 'CANCELLED') cancelled.value = info.message
      else error.value = info
      remember({ sql: text, site: site.value, ...who, ok: false, error: `${info.code}: ${info.message}` })
    } finally {
      off?.()
      jobId.value = null
      running.value = false
      cancelling.value = false
    }
  }

  /** An export in progress: its format, job and progress (0..1). */
  const exporting = ref<{ format: 'csv' | 'json'; jobId: string | null; progress: number; detail: string } | null>(null)
  const exportError = ref<ErrorInfo | null>(null)

  /**
   * Exports every row of the last result's query (not only the grid's first 100,000) as CSV or JSON: the
   * engine runs it as a job and writes it out in chunks, fetched here one by one into a Blob (the window
   * stays responsive). Returns the file's content and row count, or null (the error is kept).
   */
  async function exportAll(format: 'csv' | 'json'): Promise<{ blob: Blob; rows: number } | null> {
    const r = result.value
    if (!r || exporting.value) return null
    exporting.value = { format, jobId: null, progress: 0, detail: '' }
    exportError.value = null
    const api = ipc()
    let off: (() => void) | undefined
    try {
      const token = session.value ? useSecurityStore().tokenOf(session.value) : null
      if (session.value && !token) throw { code: 'AUTH_FAILED', message: `session ${session.value} is no longer open in this console` } satisfies ErrorInfo
      const job = await api.call('query/export', { site: r.site, sql: r.sql, format, ...(token ? { session: token } : {}) })
      exporting.value = { ...exporting.value, jobId: job.id }
      off = api.on('job/progress', (j) => { if (j.id === job.id && exporting.value) exporting.value = { ...exporting.value, progress: j.progress, detail: j.detail ?? '' } })
      const parts: string[] = []
      const first = await api.call('query/exportChunk', { jobId: job.id, index: 0 })
      parts.push(first.data)
      for (let i = 1; i < first.chunks; i++) parts.push((await api.call('query/exportChunk', { jobId: job.id, index: i })).data)
      return { blob: new Blob(parts, { type: format === 'csv' ? 'text/csv' : 'application/json' }), rows: first.rows }
    } catch (e) {
      exportError.value = toIpcError(e).info
      return null
    } finally { off?.(); exporting.value = null }
  }

  /** Cancels the running query; it stops at its next checkpoint (within milliseconds) and run() reports it. */
  async function cancel(): Promise<void> {
    const id = jobId.value
    if (!id || cancelling.value) return
    cancelling.value = true
    try { await ipc().call('query/cancel', { jobId: id }) } catch (e) {
      // the job may have finished meanwhile; anything else is shown
      const info = toIpcError(e).info
      if (info.code !== 'NOT_FOUND') error.value = info
      cancelling.value = false
    }
  }

  /** Puts a history entry back in the editor (who it runs as stays as picked: sessions do not outlive the page). */
  function recall(h: HistoryEntry): void { sql.value = h.sql; site.value = h.site }
  function clearHistory(): void { history.value = []; try { globalThis.localStorage?.removeItem(HISTORY_KEY) } catch { /* ignore */ } }

  return { exporting, exportError, exportAll, sql, site, tab, session, runAs, runAsName, setRunAs, running, jobId, progress, progressDetail, cancelling, cancelled, result, explained, error, catalog, history, historyFilter, filteredHistory, schema, loadCatalog, run, cancel, recall, clearHistory }
})
