// @vitest-environment happy-dom
import { beforeEach, describe, expect, it, vi } from 'vitest'
import { createTestingPinia } from '@pinia/testing'
import { setIpc } from '../ipc/client'
import { createFakeApi, flush, type FakeApi } from '../testing/fakeApi'
import { useLiveSecurityStore } from './liveSecurity'
import type { LiveRolesView } from '../../../src-main/ipc/contract/liveSecurity'

let api: FakeApi
let reads: number
let release: (() => void)[]
const view = (n: number): LiveRolesView => ({
  deployment: '/srv/iddb',
  sites: [{ site: 'KDY', server: 'KDY.primary', host: '127.0.0.1', port: 54324, up: true, passwordEncryption: 'scram-sha-256', hostAuth: ['scram-sha-256'], error: null,
    roles: [{ role: 'iddb_u_clerk', user: 'clerk', known: true, clearance: 'INTERNAL', canLogin: true, verifier: 'SCRAM-SHA-256', tablesWhole: n, tablesPartly: ['Employees_KDY'], connections: 0 }] }],
})

beforeEach(() => {
  reads = 0
  release = []
  api = createFakeApi({
    // each read waits until the test releases it, so reads can overlap events
    'security/liveRoles': () => new Promise<LiveRolesView>((ok) => { const n = ++reads; release.push(() => ok(view(n))) }),
  })
  setIpc(api)
  createTestingPinia({ createSpy: vi.fn, stubActions: false })
})

describe('live security store', () => {
  it('reads the roles, and once more (never twice at once) for changes announced during a read', async () => {
    const s = useLiveSecurityStore()
    const started = s.start()
    await flush()
    expect(reads).toBe(1)
    api.emit('security/changed', { reason: 'user a added' })
    api.emit('security/changed', { reason: 'user b added' })
    await flush()
    expect(reads).toBe(1) // the first read still runs
    release.shift()!()
    await flush()
    expect(reads).toBe(2) // one more for both changes
    release.shift()!()
    await started
    expect(s.view?.sites[0].roles[0].tablesWhole).toBe(2)
    expect(reads).toBe(2)
    s.stop()
    api.emit('security/changed', { reason: 'after stop' })
    await flush()
    expect(reads).toBe(2)
  })

  it('keeps the error of a refused read (the simulation has no server roles)', async () => {
    api = createFakeApi({ 'security/liveRoles': () => { throw { code: 'UNSUPPORTED', message: 'server roles exist only in live mode' } } })
    setIpc(api)
    const s = useLiveSecurityStore()
    await s.load()
    expect(s.error).toMatchObject({ code: 'UNSUPPORTED' })
    expect(s.view).toBeNull()
  })
})
