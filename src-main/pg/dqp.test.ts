/**
 * The query processor's differential test over live PostgreSQL sites (issue 15): three servers this test
 * starts (`pg up`, seed and size of engine/query/differential.test.ts), the DQP of an embedded cluster of the
 * same design reading its sites through PgSiteStores — the same planner, the same executor — and the generated
 * corpus of engine/query/corpus.ts run through it. Each answer is compared
 *  - with the same query run directly on ONE PostgreSQL database holding every global relation, built here
 *    from the union of the live sites' fragments (values, as multisets unless the query orders its rows), and
 *  - with the embedded DQP's answer (values AND types: the same DQP over either kind of site store).
 * Differences PostgreSQL's own semantics make are listed below (KNOWN), each with its reason; every entry must
 * explain at least one difference in the run, and any other difference fails the test.
 * Skipped, with the reason, where PostgreSQL is not installed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chmodSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import pg from 'pg'
import { Cluster } from '../../engine/cluster'
import { Dqp, type RunOptions } from '../../engine/query/dqp'
import { MODES, SITES, anyQuery, isOrdered, type Mode } from '../../engine/query/corpus'
import { sameResult, sameTypedResult } from '../../engine/query/testkit'
import { astifySql, sqlify } from '../../engine/query/parse'
import { fragments, globalRelations } from '../../engine/data/schema'
import { EngineError } from '../../engine/errors'
import type { SqlValue } from '../../engine/site/sqljs'
import { pgDown, pgUp, type PgUpResult } from './deploy'
import { pgUnavailableReason, readPassword, hostOf } from './servers'
import { freePorts } from './testserver'
import { SyncPg, type PgConnSpec } from './syncbridge'
import { PgSiteStore, useLiveSites } from './sitestore'
import { PG_COMPAT_SQL, toPostgres } from './dialect'
import { copyUnion, qid } from './load'

const why = pgUnavailableReason()
const SEED = 23, SALES = 500
const RUNS = 600

/**
 * Where PostgreSQL answers a query differently from SQLite (the DQP computes in SQLite's semantics at the
 * assembly site; a statement a live site runs whole, and the reference database, in PostgreSQL's).
 */
const KNOWN: { id: string; query: RegExp; diff: RegExp; reason: string }[] = [
  {
    id: 'numeric-sum-division', query: /SUM\(s\.QTY\) \/ [23]/, diff: /./,
    reason: 'PostgreSQL\'s SUM of a bigint is numeric, whose division is exact (22 / 3 = 7.33…); SQLite\'s SUM of integers is an integer and divides as one (7)',
  },
  {
    id: 'real-to-text', query: /(MAX|MIN)\(s\.(AMOUNT|UNITPRICE)\) \|\| ''/, diff: /live DQP vs the reference: row \d+ col \d+: "[\d.]+" vs "\d+"/,
    reason: 'a whole real as text: SQLite writes 1234.0, PostgreSQL 1234',
  },
  {
    id: 'mixed-types-refused', query: /./,
    diff: /failed: \w+: ((COALESCE|UNION|INTERSECT|EXCEPT) types \w+ and \w+ cannot be matched|invalid input syntax for type (bigint|integer): "\w+"|operator does not exist: bigint = text) \(SQLSTATE \w+\)$/,
    reason: 'text and numbers in one column or one comparison (COALESCE of a text and an integer, set operations over branches of different types, a number IN a list of text): SQLite allows it, PostgreSQL refuses the statement — the reference database, or a live site that runs the whole query (single-site plan)',
  },
]

type Outcome = { rows: SqlValue[][] } | { error: string }
const optsOf = (m: Mode): RunOptions => (m === 'no partial aggregation' ? { noPartialAggregation: true } : m === 'auto' ? {} : { strategy: m })

describe.skipIf(why !== null)(`the DQP over live PostgreSQL sites${why ? ` (skipped: ${why})` : ''}`, () => {
  let dir = ''
  let up: PgUpResult
  let bridge: SyncPg
  let live: Cluster, embedded: Cluster
  let liveDqp: Dqp, embeddedDqp: Dqp
  let stores: Record<string, PgSiteStore>
  let restore: () => void

  /** The user's query on the reference database: written out by the DQP's parser (every name quoted, every sort key's direction), then the one dialect translation. */
  const reference = (q: string): Outcome => {
    try {
      const { text } = toPostgres(sqlify(astifySql(q)))
      const r = bridge.queryArrays('REF', text)
      return { rows: r.rows.map((row) => row.map((v) => (typeof v === 'boolean' ? Number(v) : v)) as SqlValue[]) }
    } catch (e) { return { error: e instanceof Error ? e.message : String(e) } }
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'iddb-pgdqp-'))
    chmodSync(dir, 0o755)
    up = await pgUp({ dataDir: dir, seed: SEED, sales: SALES, basePort: await freePorts(6, 36000), durable: false })
    const d = up.deployment
    const password = readPassword(dir, d)
    const spec = (port: number, database: string): PgConnSpec => ({ host: hostOf(d, port), port, database, user: d.user, password })
    const hq = d.sites.find((s) => s.code === d.repository.site)!
    // the reference database: one database on the HQ server holding every global relation
    const admin = new pg.Client({ ...spec(hq.primary.port, 'postgres') })
    await admin.connect()
    try { await admin.query('CREATE DATABASE iddb_reference') } finally { await admin.end() }
    const conns: Record<string, PgConnSpec> = { REF: spec(hq.primary.port, 'iddb_reference'), 'CMB.repository': spec(hq.primary.port, d.repository.database) }
    for (const s of d.sites) conns[s.code] = spec(s.primary.port, d.database)
    bridge = SyncPg.open({ conns })

    live = await Cluster.create({ seed: SEED, sales: SALES })
    embedded = await Cluster.create({ seed: SEED, sales: SALES })
    liveDqp = await Dqp.create(live)
    embeddedDqp = await Dqp.create(embedded)
    stores = Object.fromEntries(d.sites.map((s) => [s.code, new PgSiteStore(bridge, s.code, s.code, s.code === d.repository.site ? 'CMB.repository' : undefined)]))
    restore = useLiveSites(live, stores)

    // every global relation = the union of its horizontal fragments / its local fragment / one replica, read from the live sites
    const frags = fragments(live.topology)
    for (const rel of globalRelations(live.topology)) {
      const parts = frags.filter((f) => f.relation === rel.name && (f.kind === 'horizontal' || f.kind === 'local'))
      const sources = parts.length ? parts : frags.filter((f) => f.relation === rel.name && f.kind === 'replica').slice(0, 1)
      copyUnion(bridge, live, 'REF', rel.name, sources)
    }
    bridge.query('REF', PG_COMPAT_SQL)
    bridge.query('REF', 'ANALYZE')
  }, 300_000)

  afterAll(() => {
    restore?.()
    bridge?.close()
    live?.close({ checkpoint: false })
    embedded?.close({ checkpoint: false })
    if (dir) { try { pgDown(dir) } catch { /* nothing was started */ } rmSync(dir, { recursive: true, force: true }) }
  }, 120_000)

  it('the reference database holds every row of every global relation, and the live sites what the embedded ones do', () => {
    const n = (conn: string, t: string) => Number(bridge.queryArrays(conn, `SELECT COUNT(*) FROM ${qid(t)}`).rows[0][0])
    expect(n('REF', 'SALES')).toBe(SALES)
    expect(n('REF', 'EMPLOYEES')).toBe(embedded.siteInternals('CMB').repository!.count('EMPLOYEES'))
    for (const s of SITES) expect(n(s, `Sales_${s}`)).toBe(embedded.siteInternals(s).primary.count(`Sales_${s}`))
  })

  it('runs the differential corpus over the live servers: equal to one database holding everything, and to the embedded DQP', async () => {
    const samples = fc.sample(fc.tuple(anyQuery, fc.constantFrom(...SITES), fc.constantFrom(...MODES)), { numRuns: RUNS, seed: 1717 })
    const tally = { equalRef: 0, equalEmbedded: 0, refused: 0, known: 0 }
    const explained = new Map<string, string[]>()
    const unexplained: string[] = []
    const before = Object.fromEntries(SITES.map((s) => [s, stores[s].traffic().primary.statements]))
    for (const [q, site, mode] of samples) {
      const run = async (dqp: Dqp): Promise<Outcome & { refused?: boolean }> => {
        try { return { rows: (await dqp.run(site, q, optsOf(mode))).rows } } catch (e) {
          return { error: e instanceof Error ? e.message : String(e), refused: e instanceof EngineError && e.code === 'UNSUPPORTED' }
        }
      }
      const got = await run(liveDqp)
      // run again: the statements a site has answered before come back as one JSON text (sitestore.ts), the same rows and types
      const again = await run(liveDqp)
      if (!('error' in got) && !('error' in again)) { const d = sameTypedResult(again.rows, got.rows, isOrdered(q)); if (d) unexplained.push(`at ${site} (${mode}), run again: ${q}\n  ${d}`) } else if (('error' in got) !== ('error' in again)) unexplained.push(`at ${site} (${mode}), run again: ${q}\n  one run failed, the other did not`)
      const emb = await run(embeddedDqp)
      if ('refused' in got && got.refused) {
        // the planner refuses before any site is asked: the same refusal in both modes
        expect(emb, q).toMatchObject({ refused: true })
        tally.refused++
        continue
      }
      const want = reference(q)
      const ordered = isOrdered(q)
      const diffs: string[] = []
      if ('error' in got) diffs.push(`the live DQP failed: ${got.error}`)
      else {
        if ('error' in emb) diffs.push(`the embedded DQP failed: ${emb.error}`)
        else { const d = sameTypedResult(got.rows, emb.rows, ordered); if (d) diffs.push(`live vs embedded DQP: ${d}`); else tally.equalEmbedded++ }
        if ('error' in want) diffs.push(`the reference database failed: ${want.error}`)
        else { const d = sameResult(got.rows, want.rows, ordered); if (d) diffs.push(`live DQP vs the reference: ${d}`); else tally.equalRef++ }
      }
      if (!diffs.length) continue
      const k = KNOWN.find((x) => x.query.test(q) && diffs.every((d) => x.diff.test(d)))
      if (k) { tally.known++; explained.set(k.id, [...(explained.get(k.id) ?? []), q]); if (process.env.IDDB_SHOW_KNOWN) console.log(k.id, q, diffs); continue }
      unexplained.push(`at ${site} (${mode}): ${q}\n  ${diffs.join('\n  ')}`)
    }
    console.log(`live differential: ${RUNS} queries, ${JSON.stringify(tally)}; known differences: ${KNOWN.map((k) => `${k.id} ${explained.get(k.id)?.length ?? 0}`).join(', ')}`)
    expect(unexplained.slice(0, 10), `${unexplained.length} unexplained differences`).toEqual([])
    for (const k of KNOWN) expect(explained.get(k.id)?.length ?? 0, `known difference ${k.id} explains nothing: remove it`).toBeGreaterThan(0)
    expect(tally.equalRef).toBeGreaterThan(RUNS / 2)
    expect(tally.equalEmbedded).toBeGreaterThan(RUNS / 2)
    // every site really answered statements through the bridge
    for (const s of SITES) expect(stores[s].traffic().primary.statements, s).toBeGreaterThan(before[s])
  }, 300_000)

  it('gives the same EXPLAIN in both modes; a live run counts the bytes that crossed the servers\' connections, on the links the embedded run uses', async () => {
    const qs = [
      'SELECT s.BRCODE, COUNT(*), SUM(s.AMOUNT) FROM SALES s GROUP BY s.BRCODE ORDER BY s.BRCODE',
      "SELECT s.INVNO, e.NAME FROM SALES s JOIN EMPLOYEES e ON s.EMPNO = e.EMPNO WHERE e.DEPT = 'Sales' ORDER BY s.INVNO",
      'SELECT i.CATEGORY, COUNT(*) FROM SALES s JOIN ITEMS i ON i.ITEMNO = s.ITEMNO WHERE i.LISTPRICE > 500 GROUP BY i.CATEGORY ORDER BY i.CATEGORY',
      'SELECT k.ITEMNO, k.QTY FROM STOCK_KDY k WHERE k.QTY > 5 ORDER BY k.ITEMNO',
    ]
    for (const q of qs) {
      for (const site of ['CMB', 'KDY']) {
        const a = await liveDqp.run(site, `EXPLAIN ${q}`)
        const b = await embeddedDqp.run(site, `EXPLAIN ${q}`)
        expect(a.rows, `EXPLAIN at ${site}: ${q}`).toEqual(b.rows)
        const carried = () => SITES.reduce((n, s) => { const t = stores[s].traffic(); return n + t.primary.bytesSent + t.primary.bytesReceived + (t.repository ? t.repository.bytesSent + t.repository.bytesReceived : 0) }, 0)
        const c0 = carried()
        const x = await liveDqp.run(site, q)
        const wire = carried() - c0
        const y = await embeddedDqp.run(site, q)
        expect(x.plan.strategy).toBe(y.plan.strategy)
        expect(Object.keys(x.perLinkBytes).sort(), `links at ${site}: ${q}`).toEqual(Object.keys(y.perLinkBytes).sort())
        // every sub-query's request and result: as many bytes as its connection carried, no estimate
        const steps = x.plan.steps.filter((st) => st.kind === 'request' || st.kind === 'semijoin-keys' || st.kind === 'ship')
        expect(steps.length, q).toBeGreaterThan(0)
        expect(steps.reduce((n, st) => n + (st.actualBytes ?? 0), 0), `bytes of the sub-queries at ${site}: ${q}`).toBe(wire)
        expect(wire).toBeGreaterThan(0)
        // the links carry them (and, when the assembly site is not the query site, the modelled final shipment)
        const onLinks = Object.values(x.perLinkBytes).reduce((n, v) => n + v, 0)
        if (x.plan.assemblySite === site && x.plan.strategy !== 'single-site') expect(onLinks, q).toBe(wire)
        else expect(onLinks, q).toBeGreaterThanOrEqual(wire)
      }
    }
  }, 120_000)

  it('reads another copy when a live site cannot be reached, as for an embedded site that is down', async () => {
    const q = 'SELECT s.BRCODE, COUNT(*), SUM(s.QTY) FROM SALES s GROUP BY s.BRCODE ORDER BY s.BRCODE'
    const bad = SyncPg.open({ conns: { KDY: { host: '127.0.0.1', port: 1, database: 'iddb', user: 'iddb' } }, connectTimeoutMs: 500 })
    try {
      const dead = new PgSiteStore(bad, 'KDY', 'KDY')
      useLiveSites(live, { ...stores, KDY: dead })
      expect(() => dead.query('SELECT 1')).toThrow(/cannot be reached/)
      expect(dead.isUp()).toBe(false)
      const r = await liveDqp.run('CMB', q)
      expect(r.rows).toEqual((await embeddedDqp.run('CMB', q)).rows)
      // Kandy's sales came from the main repository at Colombo, over its live connection
      expect(r.plan.notes.join('\n')).toMatch(/Sales_KDY read from the main repository/)
    } finally {
      bad.close()
      useLiveSites(live, stores)
    }
  }, 60_000)
})
