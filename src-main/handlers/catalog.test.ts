import { describe, it, expect } from 'vitest'
import { Cluster } from '../../engine/cluster'
import { JobRunner } from '../engine-host/jobs'
import { catalogHandlers as h } from './catalog'
import type { HandlerContext } from './context'
import { calls } from '../ipc/contract'

async function ctxWith(sales: number): Promise<HandlerContext & { emitted: string[] }> {
  const cluster = await Cluster.create({ seed: 12, sales })
  const emitted: string[] = []
  return { cluster, jobs: new JobRunner(), host: 'cli', dataDir: null, emit: (e) => { emitted.push(e) }, clock: { speed: 0, setSpeed: () => undefined }, emitted }
}

describe('catalog IPC handlers', () => {
  it('global, local, fragments, check, browse', async () => {
    const ctx = await ctxWith(1200)
    const g = await h['catalog/global'](ctx, { site: 'KDY' })
    expect(g.fragments.rows.length).toBeGreaterThan(10)
    const l = await h['catalog/local'](ctx, { site: 'MBI' })
    expect(l.tables.rows.map((r) => r[0])).toContain('Stocks_CMB_FRG')
    const m = await h['catalog/fragments'](ctx, {})
    const sales = m.relations.find((r) => r.name === 'SALES')!
    expect(sales.fragments.map((f) => `${f.name}@${f.site}`)).toEqual(['Sales_CMB@CMB', 'Sales_MBI@MBI', 'Sales_KDY@KDY'])
    expect(sales.fragments.reduce((a, f) => a + (f.nrows ?? 0), 0)).toBe(1200)
    expect(m.copies[0]).toMatchObject({ copy: 'Stock_MBI', site: 'CMB', stale: false })
    // the replica-control scheme of each replicated relation and derived fragment (shown by the Catalog console)
    expect(m.replicaControl.find((r) => r.relation === 'ITEMS')).toMatchObject({ scheme: 'primary-copy', primary: 'CMB', copies: ['MBI', 'KDY'] })
    expect(m.replicaControl.find((r) => r.fragment === 'Stocks_CMB_FRG')).toMatchObject({ scheme: 'derived', source: 'Stock_CMB', copies: ['MBI'] })
    const chk = await h['catalog/check'](ctx, {})
    expect(chk.ok).toBe(true)
    const input = calls['data/browse'].input.parse({ site: 'CMB', table: 'Sales_CMB', offset: 10, limit: 25, orderBy: 'INVNO' })
    const p = await h['data/browse'](ctx, input)
    expect(p.rows.length).toBe(25)
    expect(p.total).toBe(ctx.cluster.siteStore('CMB').count('Sales_CMB'))
    expect(() => calls['data/browse'].input.parse({ site: 'CMB', table: 'Sales_CMB', limit: 1001 })).toThrow()
    await expect(h['data/browse'](ctx, calls['data/browse'].input.parse({ site: 'CMB', table: '__meta' }))).rejects.toMatchObject({ code: 'UNKNOWN_TABLE' })
    const rp = await h['data/browse'](ctx, calls['data/browse'].input.parse({ site: 'CMB', table: 'SALES', server: 'repository', limit: 5 }))
    expect(rp.total).toBe(1200)
  })

  it('data/generate runs as a cancellable job', async () => {
    const ctx = await ctxWith(0)
    const job = await h['data/generate'](ctx, { sales: 3000 })
    const done = await ctx.jobs.wait(job.id)
    expect(done.status).toBe('done')
    expect(ctx.cluster.siteStore('CMB').repository!.count('SALES')).toBe(3000)
    expect(ctx.emitted).toContain('catalog/changed')
    const j2 = await h['data/generate'](ctx, { sales: 400_000 })
    await new Promise((r) => setTimeout(r, 30))
    ctx.jobs.cancel(j2.id)
    const c2 = await ctx.jobs.wait(j2.id)
    expect(c2.status).toBe('cancelled')
    expect(ctx.cluster.siteStore('CMB').repository!.count('SALES')).toBe(0)
  })

  it('data/browse pages by bookmark (keyset) and returns exactly what LIMIT/OFFSET would, also after writes', async () => {
    const ctx = await ctxWith(0)
    const st = ctx.cluster.siteStore('KDY')
    st.withTransaction((tx) => {
      tx.exec('CREATE TABLE T_BROWSE (ID INTEGER PRIMARY KEY, NAME TEXT, V REAL)')
      for (let i = 0; i < 2500; i++) tx.exec('INSERT INTO T_BROWSE VALUES (?, ?, ?)', [(i * 7919) % 10007, i % 7 === 0 ? null : `n${(i * 31) % 97}`, i / 3])
    })
    const page = async (offset: number, orderBy?: string, desc = false) => (await h['data/browse'](ctx, calls['data/browse'].input.parse({ site: 'KDY', table: 'T_BROWSE', offset, limit: 100, ...(orderBy ? { orderBy } : {}), desc })))
    const expected = (offset: number, orderBy?: string, desc = false) => {
      const dir = desc ? 'DESC' : 'ASC'
      const order = orderBy ? `ORDER BY ${orderBy} ${dir}, rowid ${dir}` : 'ORDER BY rowid'
      return st.query(`SELECT * FROM T_BROWSE ${order} LIMIT 100 OFFSET ?`, [offset]).rows
    }
    for (const [orderBy, desc] of [[undefined, false], ['NAME', false], ['NAME', true], ['V', true], ['ID', false]] as const) {
      for (const off of [0, 100, 200, 300, 2400, 2450, 1234, 0, 2600]) {
        const p = await page(off, orderBy, desc)
        expect(p.columns).toEqual(['ID', 'NAME', 'V'])
        expect(p.total).toBe(2500)
        expect(p.rows).toEqual(expected(off, orderBy, desc))
      }
    }
    await page(300, 'NAME') // bookmark at 400
    st.exec("DELETE FROM T_BROWSE WHERE NAME = 'n1'") // content changed: bookmarks are dropped
    expect((await page(400, 'NAME')).rows).toEqual(expected(400, 'NAME'))
  })
})

describe('invoice-number blocks from the console (integrity/blocks, integrity/reserveBlock)', () => {
  it('reserves KDY a block above every stored number, then the next one above it; a sale of its block commits at KDY while CMB is down', async () => {
    const ctx = await ctxWith(300)
    ctx.cluster.settle()
    expect((await h['integrity/blocks'](ctx, {})).blocks).toEqual([])
    const max = Math.max(...['CMB', 'MBI', 'KDY'].map((s) => Number(ctx.cluster.siteStore(s).readPrepared(`SELECT MAX(INVNO) FROM Sales_${s}`, [])[0][0])))
    const b = await h['integrity/reserveBlock'](ctx, { site: 'KDY', size: 1000 })
    expect(b.branch).toBe('KDY')
    expect(b.lo).toBeGreaterThan(max)
    expect(b.hi - b.lo + 1).toBe(1000)
    expect(ctx.emitted).toContain('catalog/changed')
    const m = await h['integrity/reserveBlock'](ctx, { site: 'MBI', size: 1000 })
    expect(m.lo).toBeGreaterThan(b.hi)
    ctx.cluster.settle()
    expect((await h['integrity/blocks'](ctx, { site: 'KDY' })).blocks.map((x) => x.branch)).toEqual(['KDY', 'MBI'])
    await expect(h['integrity/reserveBlock'](ctx, { site: 'XYZ', size: 1000 })).rejects.toMatchObject({ code: 'UNKNOWN_SITE' })
    ctx.cluster.failSite('CMB')
    const item = Number(ctx.cluster.siteStore('KDY').readPrepared('SELECT MIN(ITEMNO) FROM ITEMS', [])[0][0])
    const { queryHandlers } = await import('./query')
    const r = await queryHandlers['query/run'](ctx, { site: 'KDY', sql: `INSERT INTO SALES (INVNO, BRCODE, ITEMNO, QTY, UNITPRICE, AMOUNT) VALUES (${b.lo + 7}, 'KDY', ${item}, 1, 5, 5)` } as never)
    expect(r.changes).toBe(1)
    await expect(h['integrity/reserveBlock'](ctx, { site: 'KDY', size: 1000 })).rejects.toMatchObject({ code: expect.stringMatching(/SITE_DOWN|UNREACHABLE|CONFLICT/) })
  })
})
