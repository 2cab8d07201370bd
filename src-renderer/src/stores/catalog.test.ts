// @vitest-environment happy-dom
import { beforeEach, describe, expect, it, vi } from 'vitest'
import { createTestingPinia } from '@pinia/testing'
import { setIpc } from '../ipc/client'
import { createFakeApi, type FakeApi } from '../testing/fakeApi'
import { useCatalogStore } from './catalog'
import { useSecurityStore } from './security'
import { totalRows, type AllocationMap } from './catalogModel'

const alloc: AllocationMap = {
  sites: [{ code: 'CMB', name: 'Colombo', up: true, repository: true }, { code: 'KDY', name: 'Kandy', up: false, repository: false }],
  relations: [{
    name: 'SALES', distribution: 'horizontal', key: ['INVNO'], columns: [],
    fragments: [
      { name: 'Sales_CMB', site: 'CMB', kind: 'horizontal', predicate: "BRCODE = 'CMB'", columns: ['INVNO', 'BRCODE'], copyOf: null, refresh: null, nrows: 42 },
      { name: 'Sales_KDY', site: 'KDY', kind: 'horizontal', predicate: "BRCODE = 'KDY'", columns: ['INVNO', 'BRCODE'], copyOf: null, refresh: null, nrows: null },
    ],
  }],
  copies: [], replication: [], repositorySite: 'CMB', replicaControl: [],
}
const T = (columns: string[], rows: (string | number | null)[][]) => ({ columns, rows })

let api: FakeApi
beforeEach(() => {
  api = createFakeApi({
    'catalog/fragments': () => alloc,
    'catalog/global': () => ({ site: 'CMB', views: T(['VNAME', 'GSQL_SELECT'], [['V1', 'SELECT 1']]), tables: T(['TBL_NAME', 'SITE', 'TYPE'], []), columns: T([], []), fragments: T([], []), fragmentColumns: T([], []), constraints: T(['CNAME', 'TBL_NAME', 'TYPE'], [['PK_EMPLOYEES', 'EMPLOYEES', 'PRIMARY KEY']]) }),
    'catalog/local': ({ site }) => ({ site, tables: T(['TABLE_NAME', 'TYPE', 'NUM_ROWS'], [['Sales_CMB', 'HORIZONTAL FRAGMENT', 42]]), views: T([], []), columns: T([], []), indexes: T([], []) }),
    'data/browse': ({ site, table, offset = 0, limit = 100, server = 'primary' }) => ({ site, table, server, offset, total: 42, hiddenColumns: [], columns: ['INVNO'], rows: Array.from({ length: Math.max(0, Math.min(limit, 42 - offset)) }, (_, k) => [offset + k + 1]) }),
    'catalog/check': () => ({ ok: false, checkedAt: 5, results: [{ relation: 'SALES', check: 'disjointness', ok: false, detail: '1 row in two fragments', failing: [{ key: [7], reason: 'in Sales_CMB and Sales_KDY' }], failingCount: 1 }] }),
    'catalog/checkIntegrity': () => ({ ok: false, checkedAt: 7, skippedSites: [], constraints: [{ constraint: 'FK_SALES_ITEMNO', kind: 'FOREIGN KEY', relation: 'SALES', ok: false, violations: 1, checkedRows: 10 }], violations: [{ constraint: 'FK_SALES_ITEMNO', kind: 'FOREIGN KEY', relation: 'SALES', fragment: 'Sales_KDY', site: 'KDY', row: { INVNO: 9, ITEMNO: 424242 }, detail: 'ITEMS has no row with ITEMNO 424242' }] }),
    'security/login': ({ site, user }) => ({ id: 'S1', user, home: site, site, clearance: 'INTERNAL', level: 'INTERNAL', since: 0, via: `checked at ${site}`, token: 'a'.repeat(32), virtualMs: 0 }),
    'security/state': () => ({ levels: ['PUBLIC', 'INTERNAL', 'CONFIDENTIAL', 'SECRET'], users: [], sessions: [{ id: 'S1', user: 'clerk', home: 'CMB', site: 'CMB', clearance: 'INTERNAL', level: 'INTERNAL', since: 0, via: 'checked at CMB' }], labels: [], audit: [] }),
    'data/generate': ({ sales = 0 }) => ({ id: 'j1', kind: 'data/generate', label: `generate ${sales}`, status: 'running', progress: 0, startedAt: 0 }),
  })
  setIpc(api)
  createTestingPinia({ createSpy: vi.fn, stubActions: false })
})

describe('catalog store', () => {
  it('flattens the allocation map into fragments, keeping unknown row counts unknown', async () => {
    const s = useCatalogStore()
    await s.load()
    expect(s.fragments.map((f) => [f.site, f.name, f.kind, f.rows])).toEqual([['CMB', 'Sales_CMB', 'horizontal', 42], ['KDY', 'Sales_KDY', 'horizontal', null]])
    expect(s.fragments[0].projection).toBe('INVNO, BRCODE')
    expect(totalRows(s.fragments)).toEqual({ rows: 42, unknown: 1 })
    expect(s.global?.views.rows).toEqual([['V1', 'SELECT 1']])
    expect(s.repositorySite).toBe('CMB')
  })

  it('loads a local catalog per site', async () => {
    const s = useCatalogStore()
    await s.loadLocal('CMB')
    expect(s.local.CMB.tables.rows).toEqual([['Sales_CMB', 'HORIZONTAL FRAGMENT', 42]])
    expect(api.calls.at(-1)).toEqual({ name: 'catalog/local', input: { site: 'CMB' } })
  })

  it('browses pages with offset/limit and a server', async () => {
    const s = useCatalogStore()
    const p = await s.browse('CMB', 'Sales_CMB', 40, 200, 'backup')
    expect(p.total).toBe(42)
    expect(p.rows).toEqual([[41], [42]])
    expect(api.calls.at(-1)).toEqual({ name: 'data/browse', input: { site: 'CMB', table: 'Sales_CMB', server: 'backup', offset: 40, limit: 200 } })
  })

  it('keeps failing rows of a failed check', async () => {
    const s = useCatalogStore()
    await s.runCheck()
    expect(s.check?.ok).toBe(false)
    expect(s.check?.results[0].failing[0].reason).toContain('Sales_KDY')
  })

  it('shows the declared constraints and the violating rows of check integrity', async () => {
    const s = useCatalogStore()
    await s.loadGlobal()
    expect(s.global?.constraints.rows[0][0]).toBe('PK_EMPLOYEES')
    await s.runIntegrityCheck()
    expect(api.calls.at(-1)).toEqual({ name: 'catalog/checkIntegrity', input: { limit: 200 } })
    expect(s.integrity?.ok).toBe(false)
    expect(s.integrity?.violations[0]).toMatchObject({ constraint: 'FK_SALES_ITEMNO', site: 'KDY', row: { ITEMNO: 424242 } })
  })

  it('refetches on catalog/changed', async () => {
    const s = useCatalogStore()
    await s.start()
    const before = api.calls.filter((c) => c.name === 'catalog/fragments').length
    api.emit('catalog/changed', { reason: 'generated' })
    expect(api.calls.filter((c) => c.name === 'catalog/fragments').length).toBe(before + 1)
    expect(s.dataVersion).toBe(1)
  })

  it('surfaces errors as ErrorInfo', async () => {
    api.handlers['data/browse'] = () => { throw { code: 'SITE_DOWN', message: 'KDY is down', site: 'KDY' } }
    api.handlers['catalog/fragments'] = () => { throw { code: 'INTERNAL', message: 'boom' } }
    const s = useCatalogStore()
    await expect(s.browse('KDY', 'Sales_KDY', 0)).rejects.toMatchObject({ code: 'SITE_DOWN' })
    await s.loadFragments()
    expect(s.error).toEqual({ code: 'INTERNAL', message: 'boom' })
  })

  it('starts data generation as a job', async () => {
    const s = useCatalogStore()
    const j = await s.generate(1_000_000)
    expect(j?.id).toBe('j1')
    expect(api.calls.at(-1)).toEqual({ name: 'data/generate', input: { sales: 1_000_000 } })
  })

  it('reads as the session picked in the console (its token), and refuses a closed one instead of reading as the operator', async () => {
    const s = useCatalogStore()
    const sec = useSecurityStore()
    const v = await sec.login({ site: 'CMB', user: 'clerk', password: 'clerk-pass-1' })
    s.setReadAs(v!.id)
    await s.loadLocal('CMB')
    expect(api.calls.filter((c) => c.name === 'catalog/local').at(-1)!.input).toEqual({ site: 'CMB', session: 'a'.repeat(32) })
    await s.browse('CMB', 'Sales_CMB', 0)
    expect(api.calls.at(-1)).toEqual({ name: 'data/browse', input: { site: 'CMB', table: 'Sales_CMB', server: 'primary', offset: 0, limit: 200, session: 'a'.repeat(32) } })
    s.setReadAs('S9')
    const n = api.calls.length
    await expect(s.browse('CMB', 'Sales_CMB', 0)).rejects.toMatchObject({ info: { code: 'AUTH_FAILED' } })
    expect(api.calls.slice(n).some((c) => c.name === 'data/browse')).toBe(false)
    s.setReadAs(null)
    await s.browse('CMB', 'Sales_CMB', 0)
    expect(api.calls.at(-1)!.input).not.toHaveProperty('session')
  })
})
