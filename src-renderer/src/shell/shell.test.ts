// @vitest-environment happy-dom
import { beforeEach, describe, expect, it, vi } from 'vitest'
import { mount, flushPromises } from '@vue/test-utils'
import { createTestingPinia } from '@pinia/testing'
import { setIpc } from '../ipc/client'
import { createFakeApi, type FakeApi } from '../testing/fakeApi'
import { fixtureClock, fixtureTopology } from '../testing/fixtures'
import StatusBar from './StatusBar.vue'
import SideNav from './SideNav.vue'
import EmptyState from './EmptyState.vue'
import { consoles } from './consoles'
import { useTopologyStore } from '../stores/topology'
import { useClockStore } from '../stores/clock'

let api: FakeApi
let topo = fixtureTopology(['CMB', 'MBI', 'KDY', 'GAL'])
beforeEach(() => {
  topo = fixtureTopology(['CMB', 'MBI', 'KDY', 'GAL'])
  api = createFakeApi({
    'topology/get': () => topo,
    'clock/get': () => fixtureClock({ local: '2026-11-23 08:30:00' }),
    'clock/setSpeed': ({ speed }) => fixtureClock({ speed, running: speed > 0 }),
    'jobs/list': () => [],
    'system/design': () => ({ design: 'legacy', seed: 1, sales: 100 }),
  })
  setIpc(api)
})

describe('shell', () => {
  it('the navigation lists every console from the one list, in order', () => {
    const w = mount(SideNav, { props: { consoles, current: 'topology' }, global: { plugins: [createTestingPinia({ createSpy: vi.fn })] } })
    const ids = w.findAll('[data-testid^="nav-"]').map((a) => a.attributes('data-testid'))
    expect(ids).toEqual(['nav-topology', 'nav-catalog', 'nav-query', 'nav-transactions', 'nav-deadlocks', 'nav-replication', 'nav-security', 'nav-tickets', 'nav-backups', 'nav-jobs', 'nav-compare', 'nav-events'])
    expect(w.get('[data-testid="nav-topology"]').attributes('aria-current')).toBe('page')
  })

  it('the status bar shows the site time, the speed control and one light per site (a 4th site too)', async () => {
    const pinia = createTestingPinia({ createSpy: vi.fn, stubActions: false })
    const w = mount(StatusBar, { global: { plugins: [pinia] } })
    await useTopologyStore().start()
    await useClockStore().start()
    await flushPromises()
    expect(w.get('[data-testid="clock-time"]').text()).toBe('Mon 2026-11-23 08:30:00')
    expect(w.get('[data-testid="status-design"]').attributes('data-design')).toBe('legacy') // the live design, from system/design
    expect(w.findAll('[data-health]').map((x) => x.attributes('data-testid'))).toEqual(['health-CMB', 'health-MBI', 'health-KDY', 'health-GAL'])
    topo.sites[2].health = 'down' // the engine's view agrees with its tick
    api.emit('engine/tick', { clock: fixtureClock(), health: { CMB: 'ok', MBI: 'ok', KDY: 'down', GAL: 'ok' } })
    await flushPromises()
    expect(w.get('[data-testid="health-KDY"]').attributes('data-health')).toBe('down')
    await w.get('[data-testid="speed-60"]').trigger('click')
    await flushPromises()
    expect(api.calls.some((c) => c.name === 'clock/setSpeed' && (c.input as { speed: number }).speed === 60)).toBe(true)
    expect(w.get('[data-testid="speed-60"]').attributes('aria-pressed')).toBe('true')
  })

  it('a console without its engine part shows an honest empty state naming what it needs', () => {
    const def = { id: 'x', label: 'Example', glyph: 'x', summary: 's', needs: 'the example manager' }
    const w = mount(EmptyState, { props: { def } })
    expect(w.text()).toContain('Not available yet')
    expect(w.text()).toContain(def.needs!)
  })
})
