// @vitest-environment happy-dom
import { beforeEach, describe, expect, it, vi } from 'vitest'
import { createTestingPinia } from '@pinia/testing'
import { setIpc } from '../ipc/client'
import { createFakeApi, flush, type FakeApi } from '../testing/fakeApi'
import { useSecurityStore } from './security'
import { useQueryStore } from './query'
import type { LoginView, SecurityStateView, SessionView } from '../../../src-main/ipc/contract/security'
import type { QueryRunView } from '../../../src-main/ipc/contract/query'
import type { JobView } from '../../../engine/api/views'

const TOKEN = 'ab'.repeat(16)
const TOKEN2 = 'cd'.repeat(16)

function sessionView(over: Partial<SessionView> = {}): SessionView {
  return { id: 'S1', user: 'clerk', home: 'KDY', site: 'KDY', clearance: 'INTERNAL', level: 'INTERNAL', since: 1000, via: 'checked at KDY', ...over }
}

let api: FakeApi
let engine: SecurityStateView
let tokens: Map<string, SessionView>
let nextId: number

beforeEach(() => {
  localStorage.clear()
  nextId = 1
  tokens = new Map()
  engine = {
    levels: ['PUBLIC', 'INTERNAL', 'CONFIDENTIAL', 'SECRET'],
    users: [{ name: 'clerk', home: 'KDY', clearance: 'INTERNAL', createdAt: 0 }],
    sessions: [],
    labels: [{ relation: 'EMPLOYEES', column: null, level: 'INTERNAL' }, { relation: 'EMPLOYEES', column: 'SALARY', level: 'SECRET' }],
    audit: [],
  }
  const snapshot = () => ({ ...engine, sessions: [...tokens.values()] })
  api = createFakeApi({
    'security/state': () => structuredClone(snapshot()),
    'security/addUser': ({ site, user, clearance }) => {
      if (engine.users.some((u) => u.name === user)) throw { code: 'CONFLICT', message: `user ${user} already exists (home KDY)`, site: 'KDY' }
      const u = { name: user, home: site, clearance, createdAt: 5 }
      engine.users = [...engine.users, u]
      return u
    },
    'security/removeUser': ({ site, user }) => {
      engine.users = engine.users.filter((u) => !(u.name === user && u.home === site))
      for (const [t, s] of tokens) if (s.user === user) tokens.delete(t)
      return { removed: user }
    },
    'security/login': ({ site, user, password, home, level }): LoginView => {
      if (password !== 'correct horse') {
        engine.audit = [{ at: 1, site, user, action: 'login', ok: false, detail: 'wrong user name or password' }, ...engine.audit]
        throw { code: 'AUTH_FAILED', message: 'wrong user name or password', site }
      }
      const v = sessionView({ id: `S${nextId}`, site, home: home ?? site, level: level ?? 'INTERNAL', since: 1000 * nextId })
      const token = nextId === 1 ? TOKEN : TOKEN2
      nextId++
      tokens.set(token, v)
      return { ...v, token, virtualMs: 12.4 }
    },
    'security/setPassword': ({ site, user }) => {
      if (!engine.users.some((u) => u.name === user && u.home === site)) throw { code: 'NOT_FOUND', message: `no user ${user} at ${site}`, site }
      for (const [t, s] of tokens) if (s.user === user) tokens.delete(t)
      return { user }
    },
    'security/logout': ({ session }) => {
      const s = tokens.get(session)
      if (!s) throw { code: 'NOT_FOUND', message: 'no such session (already logged out?)' }
      tokens.delete(session)
      return s
    },
  })
  setIpc(api)
  createTestingPinia({ createSpy: vi.fn, stubActions: false })
})

describe('security store', () => {
  it('loads the state and reloads it when the engine says security/changed', async () => {
    const s = useSecurityStore()
    await s.start()
    expect(s.users.map((u) => u.name)).toEqual(['clerk'])
    expect(s.labels).toHaveLength(2)
    expect(api.listenerCount('security/changed')).toBe(1)
    await s.start() // subscribes once
    expect(api.listenerCount('security/changed')).toBe(1)
    engine.audit = [{ at: 2, site: 'KDY', user: 'clerk', action: 'refused', ok: false, detail: 'no read up: EMPLOYEES.SALARY is SECRET' }]
    api.emit('security/changed', { reason: 'a request was refused' })
    await flush()
    expect(s.audit[0]).toMatchObject({ action: 'refused', ok: false })
    s.stop()
    expect(api.listenerCount('security/changed')).toBe(0)
  })

  it('adds a user; an engine refusal is kept as {code, message} for the add form', async () => {
    const s = useSecurityStore()
    const u = await s.addUser('MBI', 'mbi.clerk', 'long enough', 'CONFIDENTIAL')
    expect(api.calls.find((c) => c.name === 'security/addUser')).toEqual({ name: 'security/addUser', input: { site: 'MBI', user: 'mbi.clerk', password: 'long enough', clearance: 'CONFIDENTIAL' } })
    expect(u).toMatchObject({ name: 'mbi.clerk', home: 'MBI' })
    expect(s.errors.add).toBeNull()
    await flush()
    expect(s.users.map((x) => x.name)).toContain('mbi.clerk')
    expect(await s.addUser('KDY', 'clerk', 'long enough', 'PUBLIC')).toBeNull()
    expect(s.errors.add).toMatchObject({ code: 'CONFLICT', message: 'user clerk already exists (home KDY)' })
    expect(s.errors.login).toBeNull()
    expect(s.pending).toBeNull()
  })

  it('a wrong password opens no session and leaves the error for the login form', async () => {
    const s = useSecurityStore()
    expect(await s.login({ site: 'KDY', user: 'clerk', password: 'wrong one' })).toBeNull()
    expect(s.errors.login).toMatchObject({ code: 'AUTH_FAILED', message: 'wrong user name or password' })
    expect(s.sessions).toEqual([])
  })

  it('a login keeps the session in memory; its token is not in reactive state, only tokenOf gives it', async () => {
    const s = useSecurityStore()
    const v = await s.login({ site: 'KDY', user: 'clerk', password: 'correct horse', home: 'KDY' })
    // home equal to the site and no level are left out of the call
    expect(api.calls.find((c) => c.name === 'security/login')!.input).toEqual({ site: 'KDY', user: 'clerk', password: 'correct horse' })
    expect(v).toEqual(sessionView())
    expect(s.sessions).toEqual([sessionView()])
    expect(s.tokenOf('S1')).toBe(TOKEN)
    expect(JSON.stringify(s.$state)).not.toContain(TOKEN)
    expect(JSON.stringify(s.$state)).not.toContain('correct horse')
    expect(localStorage.length).toBe(0)
    expect(s.last).toContain('clerk logged in at KDY')
    await s.login({ site: 'CMB', user: 'clerk', password: 'correct horse', home: 'KDY', level: 'PUBLIC' })
    expect(api.calls.filter((c) => c.name === 'security/login').at(-1)!.input).toEqual({ site: 'CMB', user: 'clerk', password: 'correct horse', home: 'KDY', level: 'PUBLIC' })
    expect(s.sessions.map((x) => `${x.id}@${x.site}:${x.level}`)).toEqual(['S1@KDY:INTERNAL', 'S2@CMB:PUBLIC'])
  })

  it('a login with no home site picked uses the home the console knows for that user', async () => {
    const s = useSecurityStore()
    await s.load()
    await s.login({ site: 'CMB', user: 'clerk', password: 'correct horse' })
    expect(api.calls.filter((c) => c.name === 'security/login').at(-1)!.input).toEqual({ site: 'CMB', user: 'clerk', password: 'correct horse', home: 'KDY' })
    await s.login({ site: 'CMB', user: 'stranger', password: 'correct horse' })
    expect(api.calls.filter((c) => c.name === 'security/login').at(-1)!.input).toEqual({ site: 'CMB', user: 'stranger', password: 'correct horse' })
  })

  it('logout sends the token and drops the session; one the engine no longer knows is dropped too', async () => {
    const s = useSecurityStore()
    await s.login({ site: 'KDY', user: 'clerk', password: 'correct horse' })
    await s.login({ site: 'KDY', user: 'clerk', password: 'correct horse' })
    expect(await s.logout('S1')).toBe(true)
    expect(api.calls.find((c) => c.name === 'security/logout')!.input).toEqual({ session: TOKEN })
    expect(s.sessions.map((x) => x.id)).toEqual(['S2'])
    expect(s.tokenOf('S1')).toBeNull()
    tokens.clear() // the engine lost it (e.g. restarted)
    expect(await s.logout('S2')).toBe(false)
    expect(s.errors.logout).toMatchObject({ code: 'NOT_FOUND' })
    expect(s.sessions).toEqual([])
  })

  it('drops sessions the engine no longer has, but not one opened while the state was being fetched', async () => {
    const s = useSecurityStore()
    await s.start()
    await s.login({ site: 'KDY', user: 'clerk', password: 'correct horse' })
    await flush()
    // the user is removed elsewhere: its sessions close in the engine
    engine.users = []
    tokens.clear()
    api.emit('security/changed', { reason: 'user clerk removed at KDY' })
    await flush()
    expect(s.sessions).toEqual([])

    // a state asked for before a login completes must not prune that login's session
    let release!: () => void
    const gate = new Promise<void>((r) => { release = r })
    const before = structuredClone({ ...engine, sessions: [] })
    const fresh = api.handlers['security/state']!
    api.handlers['security/state'] = async () => { api.handlers['security/state'] = fresh; await gate; return before }
    const loading = s.load()
    await s.login({ site: 'KDY', user: 'clerk', password: 'correct horse' })
    release()
    await loading
    expect(s.sessions.map((x) => x.id)).toEqual(['S2'])
    expect(s.state!.sessions.map((x) => x.id)).toEqual(['S2']) // fetched again after the login
    expect(s.errors.load).toBeNull()
  })

  it('a password reset closes the user’s sessions here; an unknown user is an error for the reset form', async () => {
    const s = useSecurityStore()
    await s.load()
    await s.login({ site: 'KDY', user: 'clerk', password: 'correct horse' })
    expect(s.sessions).toHaveLength(1)
    expect(await s.setPassword('KDY', 'clerk', 'a new passphrase')).toBe(true)
    expect(api.calls.find((c) => c.name === 'security/setPassword')!.input).toEqual({ site: 'KDY', user: 'clerk', password: 'a new passphrase' })
    expect(s.sessions).toHaveLength(0)
    expect(await s.setPassword('KDY', 'ghost', 'a new passphrase')).toBe(false)
    expect(s.errors.reset).toMatchObject({ code: 'NOT_FOUND' })
    await flush()
  })

  it('removing a user closes its sessions here as well', async () => {
    const s = useSecurityStore()
    await s.login({ site: 'KDY', user: 'clerk', password: 'correct horse' })
    expect(await s.removeUser('KDY', 'clerk')).toBe(true)
    expect(api.calls.find((c) => c.name === 'security/removeUser')!.input).toEqual({ site: 'KDY', user: 'clerk' })
    expect(s.sessions).toEqual([])
    expect(s.tokenOf('S1')).toBeNull()
  })
})

describe('query store: Run as', () => {
  function queryFake(): void {
    let started: { session?: string } = {}
    api.handlers['query/start'] = (input): JobView => {
      started = input
      if (input.sql.includes('SALARY')) throw { code: 'ACCESS_DENIED', message: "no read up: EMPLOYEES.SALARY is SECRET; clerk's session runs at INTERNAL", site: 'KDY' }
      return { id: 'J1', kind: 'query', label: 'q', status: 'running', progress: 0, startedAt: 0 }
    }
    api.handlers['query/result'] = (): QueryRunView => ({
      site: 'KDY', sql: 'SELECT * FROM EMPLOYEES', user: started.session ? 'clerk' : null, level: started.session ? 'INTERNAL' : null,
      hiddenColumns: started.session ? ['SALARY'] : [], columns: ['EMPNO', 'NAME'], rows: [[1, 'A']], totalRows: 1, truncated: false,
      requestClass: 'distributed request', plan: {} as QueryRunView['plan'], perLinkBytes: {}, virtualMs: 1, wallMs: 1, explain: '', changes: null,
    })
  }

  it('runs as the operator without a session, and as a session with its token; history keeps the name only', async () => {
    queryFake()
    const sec = useSecurityStore()
    const q = useQueryStore()
    q.sql = 'SELECT * FROM EMPLOYEES'
    await q.run()
    const first = api.calls.find((c) => c.name === 'query/start')!.input as Record<string, unknown>
    expect(first).not.toHaveProperty('session')
    expect(q.history[0]).toMatchObject({ user: 'operator', ok: true })

    await sec.login({ site: 'KDY', user: 'clerk', password: 'correct horse' })
    q.site = 'CMB'
    q.setRunAs('S1')
    expect(q.site).toBe('KDY') // a session issues requests where it was opened
    expect(q.runAsName).toBe('clerk')
    await q.run()
    expect(api.calls.filter((c) => c.name === 'query/start').at(-1)!.input).toMatchObject({ site: 'KDY', session: TOKEN })
    expect(q.result?.hiddenColumns).toEqual(['SALARY'])
    expect(q.history[0]).toMatchObject({ user: 'clerk', level: 'INTERNAL', ok: true })
    expect(localStorage.getItem('iddb.query.history')).not.toContain(TOKEN)

    q.sql = 'SELECT NAME, SALARY FROM EMPLOYEES'
    await q.run()
    expect(q.error).toMatchObject({ code: 'ACCESS_DENIED' })
    expect(q.error!.message).toContain('no read up')
  })

  it('refuses to run as a session that is no longer open instead of falling back to the operator', async () => {
    queryFake()
    const sec = useSecurityStore()
    const q = useQueryStore()
    await sec.login({ site: 'KDY', user: 'clerk', password: 'correct horse' })
    q.setRunAs('S1')
    await sec.logout('S1')
    expect(q.runAs).toBeNull()
    const before = api.calls.filter((c) => c.name === 'query/start').length
    q.sql = 'SELECT * FROM EMPLOYEES'
    await q.run()
    expect(api.calls.filter((c) => c.name === 'query/start').length).toBe(before)
    expect(q.error).toMatchObject({ code: 'AUTH_FAILED' })
    expect(q.running).toBe(false)
  })
})

describe('transactions store: begin as a session', () => {
  it('begins at the session’s site with its token; a closed session is refused before anything is sent', async () => {
    const { useTxnStore } = await import('./txn')
    let began: { site?: string; session?: string } = {}
    api.handlers['txn/begin'] = (input) => { began = input as typeof began; return { gid: 'KDY-1' } }
    // the store refreshes its lists around a begin; their content does not matter here
    api.handlers['txn/list'] = () => { throw { code: 'NOT_READY', message: 'not in this test' } }
    api.handlers['txn/timeline'] = () => { throw { code: 'NOT_READY', message: 'not in this test' } }
    api.handlers['txn/inDoubt'] = () => []
    const sec = useSecurityStore()
    await sec.login({ site: 'KDY', user: 'clerk', password: 'correct horse' })
    const t = useTxnStore()
    t.sessionSite = 'CMB'
    t.runAs = 'S1'
    await t.begin()
    expect(began).toEqual({ site: 'KDY', session: TOKEN })
    expect(t.sessionSite).toBe('KDY')
    expect(t.sessionGid).toBe('KDY-1')
    // the session ends elsewhere: the next begin is refused here, with nothing sent
    t.sessionGid = null
    await sec.logout('S1')
    began = {}
    await t.begin()
    expect(began).toEqual({})
    expect(t.error).toMatchObject({ code: 'AUTH_FAILED' })
    await flush()
  })
})
