// @vitest-environment happy-dom
import { beforeEach, describe, expect, it, vi } from 'vitest'
import { createTestingPinia } from '@pinia/testing'
import { setIpc } from '../ipc/client'
import { createFakeApi, type FakeApi } from '../testing/fakeApi'
import { useReplicationStore } from './replication'

let api: FakeApi
beforeEach(() => {
  api = createFakeApi({
    'replication/recover': ({ site, from }) => {
      if (site === 'MBI') throw { code: 'SITE_DOWN', message: 'MBI.backup is down: cannot recover from it', site: 'MBI' }
      if (site === 'CMB') return { site, from, rows: 2, virtualMs: 0, message: 'CMB.primary reloaded from CMB.backup; 2 log record(s) redone; step left: CMB is still down', serving: false, stepLeft: 'CMB is still down (CMB.router down): restore the site to service to serve again' }
      return { site, from, rows: 617, virtualMs: 2412.5, message: `${site} restored from the main repository: 617 rows`, serving: true, stepLeft: null }
    },
  })
  setIpc(api)
  createTestingPinia({ createSpy: vi.fn, stubActions: false })
})

describe('replication store', () => {
  it('calls replication/recover and keeps the outcome; an engine error is kept as ErrorInfo', async () => {
    const s = useReplicationStore()
    await s.recover('KDY', 'repository', 'KDY')
    expect(api.calls.find((c) => c.name === 'replication/recover')).toEqual({ name: 'replication/recover', input: { site: 'KDY', from: 'repository', confirm: 'KDY' } })
    expect(s.last).toBe('KDY restored from the main repository: 617 rows (2413 ms virtual)')
    expect(s.error).toBeNull()
    await s.recover('MBI', 'backup', 'MBI')
    expect(s.error).toMatchObject({ code: 'SITE_DOWN', site: 'MBI' })
    expect(s.last).toBeNull()
    expect(s.pending).toBeNull()
  })

  it('keeps the step a recovery left, for the site it concerns', async () => {
    const s = useReplicationStore()
    await s.recover('CMB', 'backup', 'CMB')
    expect(s.left).toEqual({ site: 'CMB', step: 'CMB is still down (CMB.router down): restore the site to service to serve again' })
    await s.recover('KDY', 'repository', 'KDY')
    expect(s.left).toBeNull()
  })
})
