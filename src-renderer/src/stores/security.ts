/**
 * The distributed security manager as the console sees it (spec §8): users at their home sites, logins
 * (checked at the home site, locally or over the encrypted WAN), the sessions this console opened, the data
 * labels and the audit log. Calls: security/state, security/addUser, security/removeUser, security/login,
 * security/logout; follows security/changed.
 *
 * Session tokens: 'security/login' returns a session's token once. The store keeps the tokens of the sessions
 * this console opened in a plain in-memory Map (not in reactive state, so devtools, state snapshots and any
 * persistence plugin never see them); they are never persisted or logged and die with the page. Other stores
 * (the Query console's "Run as") get a token from `tokenOf(id)` at the moment they issue a request.
 */
import { defineStore } from 'pinia'
import { computed, ref, shallowRef } from 'vue'
import type { SecurityStateView, SecurityUserView, SessionView } from '../../../src-main/ipc/contract/security'
import { LEVELS, type Level } from '../../../engine/api/security'
import { ipc } from '../ipc/client'
import { useActions } from '../composables/useAction'

export type { Level, SecurityStateView, SecurityUserView, SessionView }
export { LEVELS }

/** Which form or list an error belongs to (the console shows each next to what caused it). */
export type SecurityAction = 'load' | 'add' | 'remove' | 'reset' | 'login' | 'logout'

export interface LoginRequest { site: string; user: string; password: string; home?: string; level?: Level }

/** The same session (ids restart with the engine, so the user, site and start time must match too). */
const same = (a: SessionView, b: SessionView) => a.id === b.id && a.user === b.user && a.site === b.site && a.since === b.since

export const useSecurityStore = defineStore('security', () => {
  const state = shallowRef<SecurityStateView | null>(null)
  /** The sessions this console opened and has not closed (views only: no tokens here). */
  const sessions = ref<SessionView[]>([])
  const actions = useActions<SecurityAction>(['load', 'add', 'remove', 'reset', 'login', 'logout'])
  const { errors, pending, fail } = actions
  /** One line saying what the last successful action did (never carries a password or a token). */
  const last = ref<string | null>(null)

  /** Session id → token, for this console's own sessions only. Deliberately not reactive. */
  const tokens = new Map<string, string>()
  /** Session id → the add counter when it was opened (a state fetched earlier cannot prune it). */
  const openedGen = new Map<string, number>()
  let gen = 0
  let off: (() => void) | null = null
  let inflight: Promise<void> | null = null
  let loadAgain = false

  const users = computed<SecurityUserView[]>(() => state.value?.users ?? [])
  const labels = computed(() => state.value?.labels ?? [])
  const audit = computed(() => state.value?.audit ?? [])
  const levels = computed<readonly Level[]>(() => state.value?.levels ?? LEVELS)
  /** Sessions open in the engine that this console did not open (CLI, another window): shown as a count only. */
  const otherSessions = computed(() => (state.value?.sessions ?? []).filter((s) => !sessions.value.some((m) => same(m, s))).length)


  function forget(id: string): void {
    tokens.delete(id)
    openedGen.delete(id)
    sessions.value = sessions.value.filter((s) => s.id !== id)
  }

  /** Drops our sessions the engine no longer has (logged out elsewhere, user removed, engine restarted). */
  function prune(v: SecurityStateView, asOf: number): void {
    for (const s of sessions.value) {
      if ((openedGen.get(s.id) ?? 0) > asOf) continue // opened after this state was asked for
      if (!v.sessions.some((x) => same(x, s))) forget(s.id)
    }
  }

  function load(): Promise<void> {
    if (inflight) { loadAgain = true; return inflight }
    inflight = (async () => {
      try {
        do {
          loadAgain = false
          const asOf = gen
          const v = await ipc().call('security/state', {})
          state.value = v
          prune(v, asOf)
        } while (loadAgain)
        errors.load = null
      } catch (e) { fail('load', e) } finally { inflight = null }
    })()
    return inflight
  }

  /** Subscribes to security/changed (once) and loads the state. */
  function start(): Promise<void> {
    if (!off) off = ipc().on('security/changed', () => { void load() })
    return load()
  }

  function stop(): void { off?.(); off = null }

  async function act<T>(action: SecurityAction, label: string, fn: () => Promise<T>, describe: (r: T) => string): Promise<T | null> {
    const r = await actions.run(action, fn, label)
    if (r === undefined) return null
    last.value = describe(r)
    return r
  }

  async function addUser(site: string, user: string, password: string, clearance: Level): Promise<SecurityUserView | null> {
    const r = await act('add', `add ${user}`, () => ipc().call('security/addUser', { site, user, password, clearance }),
      (u) => `user ${u.name} added at ${u.home}, cleared to ${u.clearance}`)
    if (r) void load()
    return r
  }

  /** The operator's password reset; the user's sessions end (this console's copies are dropped on the reload). */
  async function setPassword(site: string, user: string, password: string): Promise<boolean> {
    const r = await act('reset', `reset ${user}`, () => ipc().call('security/setPassword', { site, user, password }),
      (x) => `new password set for ${x.user} at ${site}; its sessions were closed`)
    if (r) {
      for (const s of sessions.value.filter((x) => x.user === user && x.home === site)) forget(s.id)
      void load()
    }
    return r !== null
  }

  async function removeUser(site: string, user: string): Promise<boolean> {
    const r = await act('remove', `remove ${user}`, () => ipc().call('security/removeUser', { site, user }),
      (x) => `user ${x.removed} removed at ${site}; its sessions were closed`)
    if (r) {
      for (const s of sessions.value.filter((x) => x.user === user && x.home === site)) forget(s.id)
      void load()
    }
    return r !== null
  }

  /** Logs in and keeps the session (and its token) in memory; returns the session's view (no token). */
  /** The home site of a user this console knows of (the users list), when exactly one site keeps that name. */
  function homeOf(user: string): string | undefined {
    const homes = [...new Set(users.value.filter((u) => u.name === user).map((u) => u.home))]
    return homes.length === 1 ? homes[0] : undefined
  }

  /** Logs in; with no home site given, a known user's home site is used (the console knows it: no picking by hand). */
  async function login(req: LoginRequest): Promise<SessionView | null> {
    const home = req.home || homeOf(req.user)
    const input = {
      site: req.site, user: req.user, password: req.password,
      ...(home && home !== req.site ? { home } : {}),
      ...(req.level ? { level: req.level } : {}),
    }
    const r = await act('login', `log ${req.user} in at ${req.site}`, () => ipc().call('security/login', input),
      (v) => `${v.user} logged in at ${v.site} (${v.level} session ${v.id}; ${v.via}; ${v.virtualMs.toFixed(0)} ms virtual)`)
    if (!r) return null
    const { token, virtualMs: _ms, ...view } = r
    tokens.set(view.id, token)
    openedGen.set(view.id, ++gen)
    sessions.value = [...sessions.value.filter((s) => s.id !== view.id), view]
    void load()
    return view
  }

  /** Logs one of this console's sessions out; a session the engine no longer knows is dropped all the same. */
  async function logout(id: string): Promise<boolean> {
    const token = tokens.get(id)
    if (!token) { forget(id); return false }
    const s = await actions.run('logout', () => ipc().call('security/logout', { session: token }), `log out ${id}`)
    if (s) { last.value = `${s.user} logged out (session ${s.id})`; forget(id) }
    else if (errors.logout?.code === 'NOT_FOUND') forget(id)
    void load()
    return s !== undefined
  }

  /** The token of one of this console's sessions (for a request made as it), or null. */
  function tokenOf(id: string): string | null { return tokens.get(id) ?? null }
  function session(id: string): SessionView | null { return sessions.value.find((s) => s.id === id) ?? null }
  const clearError = actions.clear

  return {
    state, sessions, pending, errors, last, users, labels, audit, levels, otherSessions,
    load, start, stop, addUser, removeUser, setPassword, login, logout, tokenOf, session, clearError,
  }
})
