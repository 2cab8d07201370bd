/**
 * Who the console acts as (engine/security/roles.ts, identities.ts). Until an identity is logged in, the shell shows
 * the first-run screen (no HQ DBA yet: choose its password) or the login screen; every other call would be refused.
 * The transport binds the identity to this page's connection; the store keeps the session token only to resume it
 * after a reconnect or a reload (sessionStorage: this tab only, gone when the tab closes; never logged).
 * Calls: console/status, console/setup, console/login, console/resume, console/logout, console/identities,
 * console/addIdentity, console/removeIdentity.
 */
import { defineStore } from 'pinia'
import { computed, ref, shallowRef } from 'vue'
import type { ErrorInfo } from '../../../engine/errors'
import type { ConsoleIdentityView, ConsoleLoginView, ConsoleSessionView, ConsoleStatusView } from '../../../src-main/ipc/contract/console'
import type { Level } from '../../../engine/api/security'
import { ROLE_LABELS, type Role } from '../../../engine/api/console'
import { ipc, toIpcError } from '../ipc/client'

export type { ConsoleIdentityView, ConsoleSessionView }
export { ROLE_LABELS, type Role }

const KEY = 'iddb.console-session'
const storage = (): Storage | null => { try { return globalThis.sessionStorage ?? null } catch { return null } }

export type AuthPhase = 'checking' | 'setup' | 'login' | 'in'

export const useAuthStore = defineStore('auth', () => {
  const phase = ref<AuthPhase>('checking')
  const status = shallowRef<ConsoleStatusView | null>(null)
  const identity = shallowRef<ConsoleSessionView | null>(null)
  const identities = ref<ConsoleIdentityView[]>([])
  const error = ref<ErrorInfo | null>(null)
  const identityError = ref<ErrorInfo | null>(null)
  const identityMsg = ref<string | null>(null)
  const pending = ref(false)
  const waiters: (() => void)[] = []

  const loggedIn = computed(() => phase.value === 'in')
  const canAdminister = computed(() => identity.value?.role === 'hq-dba')

  function enter(v: ConsoleLoginView): void {
    const { token, ...view } = v
    storage()?.setItem(KEY, token)
    identity.value = view
    error.value = null
    phase.value = 'in'
    for (const fn of waiters.splice(0)) fn()
  }

  /** Resolves once an identity is logged in (stores start their loads after it). */
  function whenIn(): Promise<void> {
    return phase.value === 'in' ? Promise.resolve() : new Promise((r) => waiters.push(r))
  }

  async function check(): Promise<void> {
    try {
      status.value = await ipc().call('console/status', {})
      if (phase.value !== 'in') phase.value = status.value.setupNeeded ? 'setup' : 'login'
    } catch (e) { error.value = toIpcError(e).info; if (phase.value === 'checking') phase.value = 'login' }
  }

  /** On start and after a reconnect: rebind this tab's session to the (new) connection, else ask who it is. */
  async function resume(): Promise<void> {
    const token = storage()?.getItem(KEY)
    if (token) {
      try { enter(await ipc().call('console/resume', { token })); return } catch {
        storage()?.removeItem(KEY)
        identity.value = null
        phase.value = 'checking'
      }
    }
    await check()
  }

  async function run(fn: () => Promise<ConsoleLoginView>): Promise<boolean> {
    pending.value = true
    try { enter(await fn()); return true } catch (e) { error.value = toIpcError(e).info; return false } finally { pending.value = false }
  }

  const setup = (password: string, user = 'hqdba') => run(() => ipc().call('console/setup', { user, password }))
  const login = (user: string, password: string, level?: Level) => run(() => ipc().call('console/login', { user, password, ...(level ? { level } : {}) }))

  async function logout(): Promise<void> {
    try { await ipc().call('console/logout', {}) } catch { /* the session may already be gone */ }
    storage()?.removeItem(KEY)
    identity.value = null
    phase.value = 'checking'
    await check()
  }

  async function loadIdentities(): Promise<void> {
    try { identities.value = await ipc().call('console/identities', {}); identityError.value = null } catch (e) { identityError.value = toIpcError(e).info }
  }

  async function addIdentity(req: { user: string; password: string; role: Role; site?: string; clearance?: Level }): Promise<boolean> {
    pending.value = true
    try {
      const v = await ipc().call('console/addIdentity', { user: req.user, password: req.password, role: req.role, ...(req.role === 'branch-admin' && req.site ? { site: req.site } : {}), ...(req.clearance ? { clearance: req.clearance } : {}) })
      identityError.value = null
      identityMsg.value = `${v.name} added: ${ROLE_LABELS[v.role]}${v.site ? ` of ${v.site}` : ''}, kept at ${v.home}, cleared to ${v.clearance}`
      await loadIdentities()
      return true
    } catch (e) { identityError.value = toIpcError(e).info; identityMsg.value = null; return false } finally { pending.value = false }
  }

  async function removeIdentity(user: string): Promise<void> {
    pending.value = true
    try {
      await ipc().call('console/removeIdentity', { user })
      identityError.value = null
      identityMsg.value = `${user} removed`
      await loadIdentities()
    } catch (e) { identityError.value = toIpcError(e).info; identityMsg.value = null } finally { pending.value = false }
  }

  return { phase, status, identity, identities, error, identityError, identityMsg, pending, loggedIn, canAdminister, whenIn, check, resume, setup, login, logout, loadIdentities, addIdentity, removeIdentity }
})
