// @vitest-environment happy-dom
import { beforeEach, describe, expect, it, vi } from 'vitest'
import { createTestingPinia } from '@pinia/testing'
import { setIpc } from '../ipc/client'
import { createFakeApi, type FakeApi } from '../testing/fakeApi'
import { useLiveOpsStore, type LiveLinkState, type LiveServerState } from './liveOps'

const server = (id: string, running: boolean): LiveServerState => ({ id, site: id.slice(0, 3), role: id.endsWith('primary') ? 'primary' : 'standby', host: '127.0.0.1', port: 1, running, up: running, inRecovery: running ? !id.endsWith('primary') : null, standbysStreaming: running && id.endsWith('primary') ? 1 : null, console: id.endsWith('primary') })

const link = (site: string, cut: boolean): LiveLinkState => ({ site, port: 2, target: { host: '127.0.0.1', port: 1 }, cut, connections: cut ? 0 : 3, refused: 0 })

let api: FakeApi
let kdyRunning = true
let kdyCut = false
beforeEach(() => {
  kdyRunning = true
  kdyCut = false
  api = createFakeApi({
    'liveCatalog/site': ({ site, analyze }) => ({
      site, server: `${site}.primary`, host: '127.0.0.1', port: 1, database: 'iddb', readAt: '2026-12-03T08:00:00.000Z', readMs: 3, analyzed: !!analyze,
      tables: [{ TABLE_NAME: 'Sales_KDY', TYPE: 'TABLE', NUM_ROWS: analyze ? 7 : 5 }], columns: [], indexes: [], counts: { Sales_KDY: 7 }, lastAnalyzed: { Sales_KDY: null },
    }),
    'liveDrill/servers': () => [server('KDY.primary', kdyRunning), server('KDY.backup', true)],
    'liveDrill/stopServer': ({ server: id, confirm }) => {
      if (confirm !== id) throw { code: 'BAD_INPUT', message: `type the server's id ${id} to confirm stopping it`, site: 'KDY' }
      kdyRunning = false
      return { server: id, stopped: true, servers: [server('KDY.primary', false), server('KDY.backup', true)] }
    },
    'liveDrill/startServer': ({ server: id }) => { kdyRunning = true; return { server: id, ms: 812, servers: [server('KDY.primary', true), server('KDY.backup', true)] } },
    'liveDrill/backends': ({ site }) => ({ site, server: `${site}.primary`, backends: [] }),
    'liveDrill/links': () => [link('KDY', kdyCut)],
    'liveDrill/cutLink': ({ site }) => { kdyCut = true; return link(site, true) },
    'liveDrill/restoreLink': ({ site }) => { kdyCut = false; return link(site, false) },
    'system/info': () => ({ live: null }) as never,
    'topology/get': () => { throw { code: 'UNKNOWN_CALL', message: 'not in this test' } },
  })
  setIpc(api)
  createTestingPinia({ createSpy: vi.fn, stubActions: false })
})

describe('live ops store', () => {
  it('keeps each site\'s catalog as read from its server; ANALYZE asks for it again with analyze', async () => {
    const s = useLiveOpsStore()
    await s.readCatalog('KDY')
    expect(s.catalogs.KDY.tables[0].NUM_ROWS).toBe(5)
    await s.readCatalog('KDY', true)
    expect(api.calls.filter((c) => c.name === 'liveCatalog/site').map((c) => c.input)).toEqual([{ site: 'KDY', analyze: false }, { site: 'KDY', analyze: true }])
    expect(s.catalogs.KDY).toMatchObject({ analyzed: true, counts: { Sales_KDY: 7 } })
  })

  it('stops a server with the typed id and starts it again; a wrong id is refused by the engine and kept as the error', async () => {
    const s = useLiveOpsStore()
    await s.refresh()
    expect(s.servers.map((x) => [x.id, x.running])).toEqual([['KDY.primary', true], ['KDY.backup', true]])
    await s.stopServer('KDY.primary', 'KDY')
    expect(s.error).toMatchObject({ code: 'BAD_INPUT', site: 'KDY' })
    expect(s.servers[0].running).toBe(true)
    await s.stopServer('KDY.primary', 'KDY.primary')
    expect(s.error).toBeNull()
    expect(s.servers[0].running).toBe(false)
    await s.startServer('KDY.primary')
    expect(s.servers[0]).toMatchObject({ running: true, up: true })
    expect(s.lastStart).toEqual({ server: 'KDY.primary', ms: 812 })
  })

  it('cuts the console\'s link to a site and restores it: the engine\'s answer is what the panel shows', async () => {
    const s = useLiveOpsStore()
    await s.refresh()
    expect(s.links.map((l) => [l.site, l.cut])).toEqual([['KDY', false]])
    await s.setLink('KDY', true)
    expect(api.calls.filter((c) => c.name === 'liveDrill/cutLink').map((c) => c.input)).toEqual([{ site: 'KDY' }])
    expect(s.links[0]).toMatchObject({ site: 'KDY', cut: true, connections: 0 })
    await s.setLink('KDY', false)
    expect(s.links[0]).toMatchObject({ cut: false })
  })
})
