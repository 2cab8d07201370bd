/**
 * The store boundary's batched reads (stores.ts QuerySiteStore.batcher): stores that share a batcher are handed
 * every per-site read of a plan's parallel step in one readMany, and the DQP's answers and plans are the same as
 * one read at a time. The stores here wrap the embedded sites (the live ones are src-main/pg: sitestore.ts,
 * dqp.test.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Cluster } from '../cluster'
import { EngineError } from '../errors'
import type { QueryResult, SqlValue } from '../site/sqljs'
import { Dqp } from './dqp'
import { embeddedStoreOf, useSiteStores, type QuerySiteStore, type SiteRead, type SiteReadBatcher, type SiteReadOutcome } from './stores'
import { sameResult } from './testkit'

const GROUP_BY = 'SELECT ITEMNO, COUNT(*) AS N, SUM(QTY) AS Q, SUM(AMOUNT) AS A FROM SALES GROUP BY ITEMNO'

/** A site store over an embedded one that answers through a shared batcher; `fail` makes its primary's reads fail in a batch. */
class Wrapped implements QuerySiteStore {
  fail: EngineError | undefined
  single = 0
  constructor(readonly inner: QuerySiteStore, readonly batcher: Batcher) {}
  get seq(): number { return this.inner.seq }
  get repository() { return this.inner.repository }
  isUp(): boolean { return this.inner.isUp() }
  available(): void { this.inner.available() }
  query(sql: string, params?: SqlValue[]): QueryResult { this.single++; return this.inner.query(sql, params) }
}

class Batcher implements SiteReadBatcher {
  calls: SiteRead[][] = []
  readMany(reads: readonly SiteRead[]): SiteReadOutcome[] {
    this.calls.push([...reads])
    return reads.map((r) => {
      const w = r.store as Wrapped
      if (r.server === 'primary' && w.fail) return { ok: false, error: w.fail }
      try {
        return { ok: true, result: r.server === 'primary' ? w.inner.query(r.sql, r.params) : w.inner.repository!.query(r.sql, r.params) }
      } catch (e) { return { ok: false, error: e } }
    })
  }
}

describe('batched reads at the store boundary', () => {
  let cluster: Cluster
  let dqp: Dqp
  let batcher: Batcher
  let stores: Record<string, Wrapped>

  beforeAll(async () => {
    cluster = await Cluster.create({ seed: 11, sales: 300 })
    dqp = await Dqp.create(cluster)
    batcher = new Batcher()
    stores = Object.fromEntries(cluster.siteCodes.map((c) => [c, new Wrapped(embeddedStoreOf(cluster, c)!, batcher)]))
  })
  afterAll(() => cluster?.close?.({ checkpoint: false }))

  const withBatched = async <T>(fn: () => Promise<T>): Promise<T> => {
    useSiteStores(cluster, (s) => stores[s])
    try { return await fn() } finally { useSiteStores(cluster, null) }
  }

  it('the per-site partial aggregates of a global group-by go to the batcher in one call; the answer and the plan are the same', async () => {
    const want = await dqp.run('CMB', GROUP_BY)
    // the first run over these stores reads their statistics (one query() each); the second reads nothing else than the plan's sub-queries
    const got = await withBatched(async () => {
      await dqp.run('CMB', GROUP_BY)
      batcher.calls = []
      for (const s of Object.values(stores)) s.single = 0
      return dqp.run('CMB', GROUP_BY)
    })
    expect(sameResult(got.rows, want.rows, false)).toBeUndefined()
    const sites = want.plan.steps.filter((s) => s.kind === 'subquery').map((s) => s.site)
    expect(sites.length).toBeGreaterThanOrEqual(2)
    expect(batcher.calls.length).toBe(1)
    const codeOf = (st: QuerySiteStore) => Object.keys(stores).find((c) => stores[c] === st)
    expect(batcher.calls[0].map((r) => codeOf(r.store)).sort()).toEqual([...sites].sort())
    expect(Object.values(stores).reduce((n, s) => n + s.single, 0)).toBe(0)
    // the same plan as it ran: steps, rows, bytes, virtual times
    const shape = (r: typeof got) => r.plan.steps.map((s) => [s.kind, s.site, s.to, s.actualRows, s.actualBytes, s.startMs, s.endMs])
    expect(shape(got)).toEqual(shape(want))
    expect(got.perLinkBytes).toEqual(want.perLinkBytes)
    expect(got.virtualMs).toBe(want.virtualMs)
  })

  it('a read that fails in the batch with its site down is read from another copy, as one read at a time would be', async () => {
    const want = await dqp.run('CMB', GROUP_BY)
    const victim = want.plan.steps.find((s) => s.kind === 'subquery' && s.site !== 'CMB')!.site
    stores[victim].fail = new EngineError('SITE_DOWN', `${victim} cannot be reached (test)`, { site: victim })
    try {
      const got = await withBatched(() => dqp.run('CMB', GROUP_BY))
      expect(sameResult(got.rows, want.rows, false)).toBeUndefined()
      expect(got.plan.notes.join('\n')).toMatch(new RegExp(`copy at ${victim} failed during the query \\(${victim} cannot be reached \\(test\\)\\); trying another copy`))
    } finally { stores[victim].fail = undefined }
  })

  it('a read refused by its site in the batch fails the query with that error', async () => {
    stores.KDY.fail = new EngineError('SQL_ERROR', 'KDY: refused (test)', { site: 'KDY' })
    try {
      await expect(withBatched(() => dqp.run('CMB', GROUP_BY))).rejects.toMatchObject({ code: 'SQL_ERROR', message: 'KDY: refused (test)' })
    } finally { stores.KDY.fail = undefined }
  })

  it('a single read is not batched: it keeps its path at delivery', async () => {
    batcher.calls = []
    stores.KDY.single = 0
    const got = await withBatched(() => dqp.run('KDY', "SELECT COUNT(*) FROM SALES WHERE BRCODE = 'KDY'"))
    expect(got.rows[0][0]).toBeGreaterThan(0)
    expect(batcher.calls.length).toBe(0)
  })
})
