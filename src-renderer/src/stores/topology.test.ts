// @vitest-environment happy-dom
import { beforeEach, describe, expect, it, vi } from 'vitest'
import { createTestingPinia } from '@pinia/testing'
import { setIpc } from '../ipc/client'
import { createFakeApi, flush, type FakeApi } from '../testing/fakeApi'
import { fixtureClock, fixtureTopology } from '../testing/fixtures'
import { useTopologyStore } from './topology'
import type { TopologyView } from '../../../engine/api/views'

let api: FakeApi
let topo: TopologyView
beforeEach(() => {
  topo = fixtureTopology()
  const down = (site: string, health: 'down' | 'ok') => {
    topo = structuredClone(topo)
    topo.sites.find((s) => s.code === site)!.health = health
    return topo
  }
  api = createFakeApi({
    'topology/get': () => topo,
    'topology/failSite': ({ site }) => down(site, 'down'),
    'topology/restoreSite': ({ site }) => down(site, 'ok'),
    'topology/failLink': ({ link }) => { topo = structuredClone(topo); topo.links.find((l) => l.id === link)!.state = 'down'; return topo },
    'topology/degradeLink': ({ link }) => { topo = structuredClone(topo); topo.links.find((l) => l.id === link)!.state = 'degraded'; return topo },
  })
  setIpc(api)
  createTestingPinia({ createSpy: vi.fn, stubActions: false })
})

describe('topology store', () => {
  it('loads sites and links from topology/get', async () => {
    const s = useTopologyStore()
    await s.start()
    expect(s.sites.map((x) => x.code)).toEqual(['CMB', 'MBI', 'KDY'])
    expect(s.links.map((l) => l.id)).toEqual(['CMB-MBI', 'CMB-KDY', 'MBI-KDY'])
    expect(s.healthOf('KDY')).toBe('ok')
  })

  it('failSite / restoreSite update health from the returned view', async () => {
    const s = useTopologyStore()
    await s.start()
    expect(await s.failSite('KDY')).toBe(true)
    expect(api.calls.at(-1)).toEqual({ name: 'topology/failSite', input: { site: 'KDY' } })
    expect(s.healthOf('KDY')).toBe('down')
    await s.restoreSite('KDY')
    expect(s.healthOf('KDY')).toBe('ok')
  })

  it('a fourth site in the view shows up', async () => {
    topo = fixtureTopology(['CMB', 'MBI', 'KDY', 'GAL'])
    const s = useTopologyStore()
    await s.start()
    expect(s.sites).toHaveLength(4)
    expect(s.healthOf('GAL')).toBe('ok')
  })

  it('follows topology/changed and tick health', async () => {
    const s = useTopologyStore()
    await s.start()
    const changed = structuredClone(topo)
    changed.links[0].state = 'degraded'
    api.emit('topology/changed', changed)
    expect(s.links[0].state).toBe('degraded')
    // A tick reporting a health change triggers a refresh
    topo.sites[1].health = 'down'
    api.emit('engine/tick', { clock: fixtureClock(), health: { CMB: 'ok', MBI: 'down', KDY: 'ok' } })
    expect(s.healthOf('MBI')).toBe('down')
    await flush()
    expect(api.calls.filter((c) => c.name === 'topology/get').length).toBe(2)
    expect(s.sites[1].health).toBe('down')
  })

  it('selection resolves to the live site/link', async () => {
    const s = useTopologyStore()
    await s.start()
    s.select({ kind: 'link', id: 'CMB-KDY' })
    await s.failLink('CMB-KDY')
    expect(s.selectedLink?.state).toBe('down')
    s.select({ kind: 'site', id: 'MBI' })
    expect(s.selectedSite?.code).toBe('MBI')
    expect(s.selectedLink).toBeNull()
  })

  it('degradeLink passes the degradation and errors surface as ErrorInfo', async () => {
    const s = useTopologyStore()
    await s.start()
    await s.degradeLink('CMB-MBI', { extraDelayMs: 200, bandwidthFactor: 0.5, lossRate: 0.01 })
    expect(api.calls.at(-1)?.input).toEqual({ link: 'CMB-MBI', extraDelayMs: 200, bandwidthFactor: 0.5, lossRate: 0.01 })
    api.handlers['topology/failSite'] = () => { throw { code: 'UNKNOWN_SITE', message: 'unknown site XXX', site: 'XXX' } }
    expect(await s.failSite('XXX')).toBe(false)
    expect(s.error).toMatchObject({ code: 'UNKNOWN_SITE', site: 'XXX' })
    expect(s.pending).toBeNull()
  })
})
