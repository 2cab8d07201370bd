/**
 * Transactions and deadlocks: the live list, an interactive transaction (begin / statements / commit /
 * abort), the 2PC timeline of the selected transaction, in-doubt transactions with manual resolution,
 * the wait-for graphs and the deadlock history. Calls: txn/*, deadlock/*.
 */
import { defineStore } from 'pinia'
import { computed, ref, shallowRef } from 'vue'
import type { DeadlockDemoView, DeadlockRecord, InDoubtView, TxnExecView, TxnListView, TxnTimelineView, WfgView } from '../../../src-main/ipc/contract/txn'
import { ipc, toIpcError } from '../ipc/client'
import { useAction } from '../composables/useAction'
import { useSecurityStore } from './security'

export type { DeadlockRecord, InDoubtView, TxnListView, TxnTimelineView, WfgView, TxnExecView, DeadlockDemoView } from '../../../src-main/ipc/contract/txn'

export interface SessionLine { site: string; sql: string; result: TxnExecView | null; error: string | null; code?: string }

export const useTxnStore = defineStore('txn', () => {
  const list = shallowRef<TxnListView | null>(null)
  const inDoubt = shallowRef<InDoubtView[]>([])
  const timeline = shallowRef<TxnTimelineView | null>(null)
  const selected = ref<string | null>(null)
  const graph = shallowRef<WfgView | null>(null)
  const history = shallowRef<DeadlockRecord[]>([])
  const demo = shallowRef<DeadlockDemoView | null>(null)
  /** What the last action (begin, commit, abort, resolve, …) ran into: kept until the next action. */
  const action = useAction()
  /** The live refresh's error (a lost connection): cleared by the next refresh that works. */
  /** Background refreshes keep their own error (a refresh never clears an action's). */
  const refresher = useAction()
  const refreshError = refresher.error
  const error = computed(() => action.error.value ?? refreshError.value)
  const busy = ref(false)
  // the interactive session
  const sessionGid = ref<string | null>(null)
  const sessionSite = ref('CMB')
  /** Run the next transaction as this security session (its id; '' = the console's operator). */
  const runAs = ref('')
  /** '' = global SQL (localized to the fragments' sites by the DTM); a site code = a fragment-level statement there. */
  const stmtSite = ref('')
  const stmtSql = ref("UPDATE EMPLOYEES SET SALARY = SALARY * 1.1 WHERE BRCODE = 'KDY'")
  const session = ref<SessionLine[]>([])
  const lastOutcome = ref<string | null>(null)
  let timer: ReturnType<typeof setInterval> | null = null
  let users = 0
  let off: (() => void) | null = null

  const guard = <T>(fn: () => Promise<T>): Promise<T | undefined> => action.run('txn', fn)
  async function live(fn: () => Promise<void>): Promise<void> {
    await refresher.run('refresh', fn)
  }

  async function refresh(): Promise<void> {
    await live(async () => {
      const [l, d] = await Promise.all([ipc().call('txn/list', { limit: 200 }), ipc().call('txn/inDoubt', {})])
      list.value = l
      inDoubt.value = d
      if (selected.value) timeline.value = await ipc().call('txn/timeline', { gid: selected.value })
    })
  }

  async function refreshDeadlocks(): Promise<void> {
    await live(async () => {
      const [g, h] = await Promise.all([ipc().call('deadlock/graph', {}), ipc().call('deadlock/history', { limit: 100 })])
      graph.value = g
      history.value = h
    })
  }

  /**
   * The engine ended the session's transaction on its own (a failed statement aborts it, a deadlock or a
   * timeout picks it as victim): show how it ended and why, and get ready for the next Begin.
   */
  function endedByEngine(gid: string, fallbackReason: string, code?: string): boolean {
    const v = list.value?.transactions.find((x) => x.gid === gid)
    if (v ? !v.outcome && v.coordinatorState === 'INITIAL' : code !== 'ABORTED' && code !== 'NOT_FOUND') return false
    const outcome = v?.outcome ?? 'ABORT'
    lastOutcome.value = `${gid} ${outcome}${v?.reason || fallbackReason ? `: ${v?.reason || fallbackReason}` : ''}`
    if (sessionGid.value === gid) sessionGid.value = null
    return true
  }

  /** Polls while a console is showing (and refreshes on txn/changed pushes). */
  function watchLive(kind: 'txn' | 'deadlock'): () => void {
    users++
    const tick = () => (kind === 'txn' ? refresh() : refreshDeadlocks())
    void tick()
    if (!timer) timer = setInterval(() => { void refresh(); void refreshDeadlocks() }, 1000)
    if (!off) off = ipc().on('txn/changed', () => { void refresh() })
    return () => {
      users--
      if (users <= 0 && timer) { clearInterval(timer); timer = null; off?.(); off = null; users = 0 }
    }
  }

  async function select(gid: string): Promise<void> {
    selected.value = gid
    await guard(async () => { timeline.value = await ipc().call('txn/timeline', { gid }) })
  }

  async function begin(): Promise<void> {
    const began = await guard(async () => {
      let asToken: string | undefined
      if (runAs.value) {
        // a session's statements are checked against its level; it begins at the site where it logged in
        const sec = useSecurityStore()
        const view = sec.session(runAs.value)
        const token = sec.tokenOf(runAs.value)
        if (!view || !token) throw { code: 'AUTH_FAILED', message: `session ${runAs.value} is closed: pick another or run as the operator` }
        sessionSite.value = view.site
        asToken = token
      }
      const r = await ipc().call('txn/begin', { site: sessionSite.value, ...(asToken ? { session: asToken } : {}) })
      sessionGid.value = r.gid
      session.value = []
      lastOutcome.value = null
      await select(r.gid)
      return true
    })
    // a refused begin keeps its error on screen (a refresh would clear it)
    if (began) await refresh()
  }

  async function exec(): Promise<void> {
    const gid = sessionGid.value
    if (!gid || busy.value) return
    busy.value = true
    const line: SessionLine = { site: stmtSite.value || 'global', sql: stmtSql.value, result: null, error: null }
    try {
      line.result = await ipc().call('txn/exec', { gid, ...(stmtSite.value ? { site: stmtSite.value } : {}), sql: stmtSql.value })
      if (line.result.error) line.error = line.result.error
    } catch (e) { const info = toIpcError(e).info; line.error = info.message; line.code = info.code } finally { busy.value = false }
    session.value = [...session.value, line]
    await refresh()
    if (line.error) endedByEngine(gid, line.error, line.result?.errorCode ?? line.code)
  }

  async function commit(): Promise<void> {
    const gid = sessionGid.value
    if (!gid) return
    await guard(async () => {
      const r = await ipc().call('txn/commit', { gid })
      lastOutcome.value = `${gid} ${r.outcome}${r.reason ? ` (${r.reason})` : ''}${r.latencyMs !== null ? ` in ${r.latencyMs.toFixed(1)} ms` : ''}`
      sessionGid.value = null
    })
    await refresh()
    if (sessionGid.value === gid && action.error.value) endedByEngine(gid, action.error.value.message, action.error.value.code)
  }

  async function abort(): Promise<void> {
    const gid = sessionGid.value
    if (!gid) return
    await guard(async () => { await ipc().call('txn/abort', { gid }); lastOutcome.value = `${gid} ABORT (by you)`; sessionGid.value = null })
    await refresh()
    if (sessionGid.value === gid && action.error.value) endedByEngine(gid, action.error.value.message, action.error.value.code)
  }

  async function resolve(gid: string, site: string, decision: 'COMMIT' | 'ABORT'): Promise<void> {
    await guard(async () => { inDoubt.value = await ipc().call('txn/resolve', { gid, site, decision }) })
    await refresh()
  }

  async function setProtocol(p: { protocol?: TxnListView['protocol']; scheme?: TxnListView['scheme']; victim?: TxnListView['victim'] }): Promise<void> {
    await guard(async () => { list.value = await ipc().call('txn/setProtocol', p) })
  }

  async function crashAt(site: string, step: 'wait' | 'prepare' | 'ready' | 'vote' | 'decide' | 'commit' | 'ack', restartAfterMs?: number): Promise<void> {
    await guard(async () => { list.value = await ipc().call('txn/crashAt', restartAfterMs === undefined ? { site, step } : { site, step, restartAfterMs }) })
  }

  async function runDemo(a = 'CMB', b = 'KDY'): Promise<void> {
    busy.value = true
    await guard(async () => { demo.value = await ipc().call('deadlock/demo', { a, b, resolve: true }); graph.value = demo.value.graph })
    busy.value = false
    await refreshDeadlocks()
  }

  return {
    list, inDoubt, timeline, selected, graph, history, demo, error, busy,
    sessionGid, sessionSite, runAs, stmtSite, stmtSql, session, lastOutcome,
    refresh, refreshDeadlocks, watchLive, select, begin, exec, commit, abort, resolve, setProtocol, crashAt, runDemo,
  }
})
