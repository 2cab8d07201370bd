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
import type { ConsoleIdentityView, ConsoleLoginView, ConsoleSessionView, ConsoleStatusView } from '../../../src-main/ipc/contract/console'
import type { Level } from '../../../engine/api/security'
import { ROLE_LABELS, type Role } from '../../../engine/api/console'
import { ipc } from '../ipc/client'
import { useAction } from '../composables/useAction'

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
  /** Logging in (first-run set-up, login, status): the login screen's error. */
  const access = useAction()
  /** Console identities (list, add, remove): the identities panel's error. */
  const idAction = useAction()
  const error = access.error
  const identityError = idAction.error
  const identityMsg = ref<string | null>(null)
  const pending = computed(() => access.pending.value !== null || idAction.pending.value !== null)
  const waiters: (() => void)[] = []

  const loggedIn = computed(() => phase.value === 'in')
  const canAdminister = computed(() => identity.value?.role === 'hq-dba')

  function enter(v: ConsoleLoginView): void {
    const { token, ...view } = v
    storage()?.setItem(KEY, token)
    identity.value = view
    access.clear()
    phase.value = 'in'
    for (const fn of waiters.splice(0)) fn()
  }

  /** Resolves once an identity is logged in (stores start their loads after it). */
  function whenIn(): Promise<void> {
    return phase.value === 'in' ? Promise.resolve() : new Promise((r) => waiters.push(r))
  }

  async function check(): Promise<void> {
    const s = await access.run('status', () => ipc().call('console/status', {}))
    if (s) { status.value = s; if (phase.value !== 'in') phase.value = s.setupNeeded ? 'setup' : 'login' }
    else if (phase.value === 'checking') phase.value = 'login'
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

  async function run(label: string, fn: () => Promise<ConsoleLoginView>): Promise<boolean> {
    const v = await access.run(label, fn)
    if (v) enter(v)
    return v !== undefined
  }

  const setup = (password: string, user = 'hqdba') => run('setup', () => ipc().call('console/setup', { user, password }))
  const login = (user: string, password: string, level?: Level) => run('login', () => ipc().call('console/login', { user, password, ...(level ? { level } : {}) }))

  async function logout(): Promise<void> {
    try { await ipc().call('console/logout', {}) } catch { /* the session may already be gone */ }
    storage()?.removeItem(KEY)
    identity.value = null
    phase.value = 'checking'
    await check()
  }

  async function loadIdentities(): Promise<void> {
    const v = await idAction.run('list', () => ipc().call('console/identities', {}))
    if (v) identities.value = v
  }

  async function addIdentity(req: { user: string; password: string; role: Role; site?: string; clearance?: Level }): Promise<boolean> {
    identityMsg.value = null
    const v = await idAction.run('add', () => ipc().call('console/addIdentity', { user: req.user, password: req.password, role: req.role, ...(req.role === 'branch-admin' && req.site ? { site: req.site } : {}), ...(req.clearance ? { clearance: req.clearance } : {}) }))
    if (!v) return false
    await loadIdentities()
    identityMsg.value = `${v.name} added: ${ROLE_LABELS[v.role]}${v.site ? ` of ${v.site}` : ''}, kept at ${v.home}, cleared to ${v.clearance}`
    return true
  }

  async function removeIdentity(user: string): Promise<void> {
    identityMsg.value = null
    if ((await idAction.run('remove', () => ipc().call('console/removeIdentity', { user }))) === undefined) return
    await loadIdentities()
    identityMsg.value = `${user} removed`
  }

  return { phase, status, identity, identities, error, identityError, identityMsg, pending, loggedIn, canAdminister, whenIn, check, resume, setup, login, logout, loadIdentities, addIdentity, removeIdentity }
})
