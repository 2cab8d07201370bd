// @vitest-environment happy-dom
import { beforeEach, describe, expect, it, vi } from 'vitest'
import { createTestingPinia } from '@pinia/testing'
import { setIpc } from '../ipc/client'
import { createFakeApi, flush, type FakeApi } from '../testing/fakeApi'
import { formOf, optionsOf, useCompareStore } from './compare'
import type { JobView } from '../../../engine/api/views'
import type { CompareDefaults, DesignView } from '../../../src-main/ipc/contract/compare'
import type { RequestTrace } from '../../../engine/api/compare'
import type { CompareReportView } from '../../../src-main/ipc/contract/compare'

/** Link profiles as compare/defaults gives them (the test's values). */
const T1 = 1_544_000
const DEFAULTS: CompareDefaults = {
  fromHour: 8, toHour: 18, hqOutage: { fromHour: 14, toHour: 15 }, kdyLinkOutage: { fromHour: 10.5, toHour: 11 },
  links: {
    distributed: [{ linkId: 'CMB-MBI', bandwidthBps: T1, delayMs: 18 }, { linkId: 'CMB-KDY', bandwidthBps: T1, delayMs: 4 }],
    legacy: [{ linkId: 'CMB-MBI', bandwidthBps: T1, delayMs: 18 }, { linkId: 'CMB-KDY', bandwidthBps: 128_000, delayMs: 14 }],
  },
}
const job = (id: string, over: Partial<JobView> = {}): JobView => ({ id, kind: 'compare', label: 'compare', status: 'running', progress: 0, startedAt: 1, ...over })

let api: FakeApi
let design: DesignView
/** What jobs/get answers next for each job id. */
let finals: Record<string, JobView>
beforeEach(() => {
  design = { design: 'distributed', seed: 1, sales: 20_000 }
  finals = {}
  api = createFakeApi({
    'compare/defaults': () => DEFAULTS,
    'compare/last': () => null,
    'jobs/get': ({ id }) => finals[id] ?? job(id),
    'jobs/cancel': ({ id }) => { finals[id] = job(id, { status: 'cancelled', error: { code: 'CANCELLED', message: `comparison ${id} cancelled` } }); return job(id) },
    'system/design': () => design,
  })
  setIpc(api)
  createTestingPinia({ createSpy: vi.fn, stubActions: false })
})

describe('compare store', () => {
  it('starts its form from the engine defaults and sends only what the user changed', async () => {
    const s = useCompareStore()
    await s.load()
    expect(s.form.fromHour).toBe(8)
    expect(s.form.links.legacy.find((l) => l.linkId === 'CMB-KDY')?.bandwidthBps).toBe(128_000)
    expect(optionsOf(s.form, DEFAULTS.links)).toEqual({ fromHour: 8, toHour: 18, hqOutage: { fromHour: 14, toHour: 15 }, kdyLinkOutage: { fromHour: 10.5, toHour: 11 } })
    s.form.rates.pos_sale = 2
    s.form.rateScale = 0.5
    s.form.links.legacy.find((l) => l.linkId === 'CMB-KDY')!.bandwidthBps = 64_000
    s.toggleOutage('kdyLinkOutage', false)
    const o = optionsOf(s.form, DEFAULTS.links)
    expect(o.rates).toEqual({ pos_sale: 2 })
    expect(o.rateScale).toBe(0.5)
    expect(o.kdyLinkOutage).toBeNull()
    expect(o.links).toEqual({ legacy: [{ linkId: 'CMB-KDY', bandwidthBps: 64_000, delayMs: 14 }] })
    s.resetForm()
    expect(optionsOf(s.form, DEFAULTS.links)).toEqual(optionsOf(formOf(DEFAULTS), DEFAULTS.links))
    s.toggleOutage('kdyLinkOutage', true)
    expect(s.form.kdyLinkOutage).toEqual({ fromHour: 10.5, toHour: 11 })
  })

  it('runs the comparison as a job and keeps its report and the first page of requests', async () => {
    const report = { seed: 7 } as unknown as CompareReportView // the store keeps what the engine returned, whatever it holds
    const req: RequestTrace = { id: 3, design: 'legacy', branch: 'KDY', kind: 'stock_lookup', at: 0, scheduledAt: 0, responseMs: 12, ok: true, sql: 'SELECT 1' }
    api.handlers['compare/run'] = (input) => { finals.c1 = job('c1', { status: 'done', progress: 1, result: report }); expect(input.fromHour).toBe(8); return job('c1') }
    api.handlers['compare/requests'] = (input) => ({ design: input.design, total: 1, offset: 0, requests: [req] })
    api.handlers['compare/request'] = () => req
    const s = useCompareStore()
    await s.load()
    expect(await s.run()).toBe(report)
    expect(s.report).toBe(report)
    expect(s.running).toBeNull()
    expect(api.calls.find((c) => c.name === 'compare/requests')?.input).toEqual({ design: 'distributed', failedOnly: false, offset: 0, limit: 100 })
    expect(s.page?.requests).toEqual([req])
    s.filter.design = 'legacy'
    s.filter.branch = 'KDY'
    await s.loadRequests(0)
    expect(api.calls.at(-1)?.input).toEqual({ design: 'legacy', branch: 'KDY', failedOnly: false, offset: 0, limit: 100 })
    expect(await s.open('legacy', 3)).toEqual(req)
    expect(s.opened).toEqual(req)
  })

  it('cancels a running comparison: no report, a cancelled note, no error', async () => {
    api.handlers['compare/run'] = () => job('c2')
    const s = useCompareStore()
    await s.load()
    const p = s.run()
    await vi.waitFor(() => expect(s.running?.id).toBe('c2'))
    await s.cancel()
    expect(await p).toBeNull()
    expect(api.calls.some((c) => c.name === 'jobs/cancel' && (c.input as { id: string }).id === 'c2')).toBe(true)
    expect(s.cancelled).toMatch(/cancelled/)
    expect(s.errors.run).toBeNull()
    expect(s.report).toBeNull()
  })

  it('switches the design with the typed confirmation, keeps a refusal, and follows catalog/changed', async () => {
    const s = useCompareStore()
    await s.watchDesign()
    expect(s.design?.design).toBe('distributed')
    api.handlers['system/setDesign'] = ({ design: d, confirm }) => {
      if (confirm !== d) throw { code: 'BAD_INPUT', message: `type the design's name "${d}"` }
      finals.d1 = job('d1', { kind: 'design', status: 'done', progress: 1 })
      design = { ...design, design: d }
      return job('d1', { kind: 'design' })
    }
    expect(await s.setDesign('legacy', 'legac')).toBe(false)
    expect(s.errors.switch).toMatchObject({ code: 'BAD_INPUT' })
    expect(s.design?.design).toBe('distributed')
    expect(await s.setDesign('legacy', 'legacy')).toBe(true)
    expect(s.errors.switch).toBeNull()
    expect(s.design?.design).toBe('legacy')
    design = { ...design, design: 'distributed' }
    api.emit('catalog/changed', { reason: 'switched elsewhere' })
    await flush()
    expect(s.design?.design).toBe('distributed')
  })
})
