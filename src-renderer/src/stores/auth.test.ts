// @vitest-environment happy-dom
import { beforeEach, describe, expect, it, vi } from 'vitest'
import { createTestingPinia } from '@pinia/testing'
import { setIpc } from '../ipc/client'
import { createFakeApi, type FakeApi } from '../testing/fakeApi'
import { useAuthStore } from './auth'
import { siteTimeToMs, useAuditStore } from './audit'
import type { ConsoleLoginView } from '../../../src-main/ipc/contract/console'

const TOKEN = 'ab'.repeat(16)
const view = (over: Partial<ConsoleLoginView> = {}): ConsoleLoginView => ({ id: 'C1', name: 'hqdba', role: 'hq-dba', site: null, home: 'CMB', clearance: 'SECRET', level: 'SECRET', since: 0, token: TOKEN, ...over })

let api: FakeApi
let setupNeeded: boolean
let live: Set<string>

beforeEach(() => {
  sessionStorage.clear()
  setupNeeded = true
  live = new Set()
  api = createFakeApi({
    'console/status': () => ({ setupNeeded, hq: 'CMB', roles: [], note: null }),
    'console/setup': () => { setupNeeded = false; live.add(TOKEN); return view() },
    'console/login': ({ user, password }) => {
      if (password !== 'right-pass-1') throw { code: 'AUTH_FAILED', message: 'wrong user name or password' }
      live.add(TOKEN)
      return view({ name: user, role: 'branch-admin', site: 'KDY', home: 'KDY' })
    },
    'console/resume': ({ token }) => {
      if (!live.has(token)) throw { code: 'AUTH_FAILED', message: 'the console session has ended' }
      return view()
    },
    'console/logout': () => { live.clear(); return view() },
    'audit/search': () => ({ entries: [], total: 0 }),
  })
  setIpc(api)
  createTestingPinia({ createSpy: vi.fn, stubActions: false })
})

describe('auth store: the console acts as an identity', () => {
  it('first run → setup; the tab keeps only the token to resume with; logout → login screen', async () => {
    const auth = useAuthStore()
    await auth.resume()
    expect(auth.phase).toBe('setup')
    let entered = false
    void auth.whenIn().then(() => { entered = true })
    expect(await auth.setup('first-pass-1')).toBe(true)
    expect(auth.phase).toBe('in')
    expect(entered).toBe(true)
    expect(auth.identity).toMatchObject({ name: 'hqdba', role: 'hq-dba' })
    expect(JSON.stringify(auth.identity)).not.toContain(TOKEN)
    expect(sessionStorage.getItem('iddb.console-session')).toBe(TOKEN)

    // a reload (a fresh store) resumes the same session
    createTestingPinia({ createSpy: vi.fn, stubActions: false })
    const again = useAuthStore()
    await again.resume()
    expect(again.phase).toBe('in')
    expect(api.calls.filter((c) => c.name === 'console/resume')).toHaveLength(1)

    await again.logout()
    expect(again.phase).toBe('login')
    expect(sessionStorage.getItem('iddb.console-session')).toBeNull()
  })

  it('a failed login shows its error and stays on the login screen; an ended session falls back to it', async () => {
    setupNeeded = false
    sessionStorage.setItem('iddb.console-session', 'cd'.repeat(16)) // a session the engine no longer has
    const auth = useAuthStore()
    await auth.resume()
    expect(auth.phase).toBe('login')
    expect(sessionStorage.getItem('iddb.console-session')).toBeNull()
    expect(await auth.login('kandy', 'wrong-pass-1')).toBe(false)
    expect(auth.error).toMatchObject({ code: 'AUTH_FAILED' })
    expect(auth.phase).toBe('login')
    expect(await auth.login('kandy', 'right-pass-1')).toBe(true)
    expect(auth.identity).toMatchObject({ role: 'branch-admin', site: 'KDY' })
    expect(auth.canAdminister).toBe(false)
  })
})

describe('audit store', () => {
  it('sends only the filters given, the time range in site time (UTC+05:30)', async () => {
    const audit = useAuditStore()
    audit.filter.user = 'kandy'
    audit.filter.from = '2026-11-21T09:30'
    audit.filter.outcome = 'refused'
    await audit.search()
    const input = api.calls.find((c) => c.name === 'audit/search')!.input
    expect(input).toEqual({ user: 'kandy', from: Date.UTC(2026, 10, 21, 4, 0), ok: false, limit: 500 })
    expect(siteTimeToMs('')).toBeUndefined()
  })
})
