/**
 * A live site as the DQP sees it: engine/query/stores.ts's QuerySiteStore over one PostgreSQL database through
 * the synchronous bridge (syncbridge.ts). The site's primary is one bridge connection; at the repository site
 * the main repository is another. Every statement goes through the one dialect translation (dialect.ts);
 * results come back as an embedded site's do: positional rows, the column names as the statement writes them
 * (the translation quotes every name, so the server does not fold them), numbers as numbers, comparisons as 1/0. `useLiveSites` makes a cluster's DQP read its sites from live servers: the same planner, the
 * same executor, the same plans.
 */
import { EngineError } from '../../engine/errors'
import type { Cluster } from '../../engine/cluster'
import type { QueryResult, SqlValue } from '../../engine/site/sqljs'
import type { SiteCode } from '../../engine/topology/types'
import { useSiteStores, type QueryServer, type QuerySiteStore, type SiteRead, type SiteReadBatcher, type SiteReadOutcome } from '../../engine/query/stores'
import { toPostgres } from './dialect'
import type { PgBatchItem, SyncPg, SyncPgArrays, WireBytes } from './syncbridge'

/** Errors after which the server is taken for down (the DQP then reads another copy, as for an embedded site). */
const DOWN_CODES = new Set(['UNREACHABLE', 'AUTH_FAILED'])

/** Counts of what one live connection carried: statements answered, rows received, and the bytes of both ways. */
export interface LiveTraffic { statements: number; rows: number; bytesSent: number; bytesReceived: number }

/**
 * How a column's values come out of the server's JSON (see LiveServer): as the bridge's own parsers give them, for
 * the types whose JSON says the same — numbers (a float's or numeric's NaN and infinities come as strings, made
 * numbers again), text, booleans. A statement with a column of any other type travels row by row.
 */
const JSON_KINDS = new Map<number, 'number' | 'float' | 'text' | 'bool'>([
  [16, 'bool'], [20, 'number'], [21, 'number'], [23, 'number'], [25, 'text'], [1042, 'text'], [1043, 'text'], [700, 'float'], [701, 'float'], [1700, 'float'],
])
/** An integer of 16 digits or more (outside a fraction) in the JSON: it may be past 2^53, which the bridge keeps as text: read row by row instead. */
const BIG_INTEGER = /(?<![.\d])\d{16,}/
/** Statement shapes a server keeps at most. */
const SHAPES = 512

/** A statement's result columns and their kinds, learnt from its first run (null: some column is not JSON-safe). */
interface Shape { columns: string[]; kinds: ('number' | 'float' | 'text' | 'bool')[] }

/** A read as sent: the bridge statement, and the shape its one-JSON form is unpacked with (when it is sent so). */
export type LiveItem = PgBatchItem & { params: unknown[]; plain: string; shape?: Shape }

/**
 * One bridge connection read with the DQP's SQL.
 *
 * Rows as one JSON text. Parsing a result row by row costs the bridge's worker about 0.4 µs a value (a site's
 * partial aggregates of 176 groups took 0.45 ms to come across, their computation 0.05 ms). A statement run before,
 * whose columns were all of types JSON carries exactly (JSON_KINDS) and which orders nothing (json_agg keeps its
 * input's order only as a matter of fact, not of definition), is sent wrapped —
 * `SELECT json_agg(json_build_array(c0, …))::text FROM (statement) AS t(c0, …)` — and its rows come back as one
 * value, parsed once. An answer holding an integer that may be past 2^53 is read again row by row.
 */
class LiveServer implements QueryServer {
  /** Set when the last call could not reach the server; cleared by the next call that does. */
  down: EngineError | undefined
  readonly traffic: LiveTraffic = { statements: 0, rows: 0, bytesSent: 0, bytesReceived: 0 }
  private shapes = new Map<string, Shape | null>()
  constructor(private bridge: SyncPg, readonly conn: string, private site: SiteCode, private timeoutMs?: number) {}

  query(sql: string, params: SqlValue[] = []): QueryResult {
    const item = this.item(sql, params)
    let r
    try {
      r = this.bridge.queryArrays(item.conn, item.sql, item.params, item)
    } catch (e) {
      throw this.failed(e)
    }
    return this.answered(r, item)
  }

  /**
   * The bridge statement of a read (the one dialect translation), wrapped to come back as one JSON text when its
   * shape allows, sent to be prepared: a statement without parameters is parsed and planned once per session (a
   * site's partial aggregates cost 0.3 ms of planning at its server every time otherwise).
   */
  item(sql: string, params: SqlValue[] = []): LiveItem {
    const { text, values } = toPostgres(sql, params)
    const shape = this.shapes.get(text) ?? undefined
    const wrapped = shape ? `SELECT json_agg(json_build_array(${shape.columns.map((_, i) => `"__t"."c${i}"`).join(', ')}))::text FROM (${text}) AS "__t"(${shape.columns.map((_, i) => `"c${i}"`).join(', ')})` : text
    return { conn: this.conn, sql: wrapped, plain: text, params: values, arrays: true, prepare: true, ...(shape ? { shape } : {}), ...(this.timeoutMs ? { timeoutMs: this.timeoutMs } : {}) }
  }

  /** What an answer to `item` holds: its rows unpacked from JSON, read again row by row when they must be, or its shape learnt. */
  answered(r: SyncPgArrays, item: LiveItem): QueryResult {
    if (!item.shape) {
      if (!this.shapes.has(item.plain)) {
        if (this.shapes.size >= SHAPES) this.shapes.clear()
        const kinds = (r.types ?? []).map((t) => JSON_KINDS.get(t))
        const safe = r.types !== undefined && r.types.length === r.columns.length && kinds.every((k) => k !== undefined) && !/\bORDER\s+BY\b/i.test(item.plain)
        this.shapes.set(item.plain, safe ? { columns: r.columns, kinds: kinds as Shape['kinds'] } : null)
      }
      return this.counted(r)
    }
    const text = r.rows[0]?.[0]
    if (typeof text === 'string' && BIG_INTEGER.test(text)) {
      let plain
      try { plain = this.bridge.queryArrays(item.conn, item.plain, item.params, item) } catch (e) { throw this.failed(e) }
      return this.counted(plain, r.wire)
    }
    const rows = typeof text === 'string' ? (JSON.parse(text) as unknown[][]) : []
    const floats = item.shape.kinds.flatMap((k, i) => (k === 'float' ? [i] : []))
    if (floats.length) for (const row of rows) for (const i of floats) if (typeof row[i] === 'string') row[i] = Number(row[i])
    return this.counted({ columns: item.shape.columns, rows, rowCount: rows.length, ...(r.wire ? { wire: r.wire } : {}) })
  }

  /** What a failed read throws: SITE_DOWN (the server taken for down) when the server could not be reached. */
  failed(e: unknown): unknown {
    if (e instanceof EngineError && DOWN_CODES.has(e.code)) {
      this.down = new EngineError('SITE_DOWN', `${this.site} (live server ${this.conn}) cannot be reached: ${e.message}`, { site: this.site })
      return this.down
    }
    return e
  }

  /** A read's rows as an embedded site's: counted, comparisons as 1/0; `also`: the bytes of an answer read again. */
  private counted(r: SyncPgArrays, also?: WireBytes): QueryResult {
    this.down = undefined
    this.traffic.statements++
    this.traffic.rows += r.rows.length
    const wire = r.wire && also ? { sent: r.wire.sent + also.sent, received: r.wire.received + also.received } : r.wire
    this.traffic.bytesSent += wire?.sent ?? 0
    this.traffic.bytesReceived += wire?.received ?? 0
    // SQLite has no booleans: a comparison's value is the integer 1 or 0 (e.g. the partial aggregates' class flags)
    for (const row of r.rows) for (let i = 0; i < row.length; i++) if (typeof row[i] === 'boolean') row[i] = row[i] ? 1 : 0
    return { columns: r.columns, rows: r.rows as SqlValue[][], ...(wire ? { wire } : {}) }
  }

  /** Asks the server for a trivial answer: throws SITE_DOWN when it cannot be reached. */
  probe(): void { this.query('SELECT 1') }
}

/**
 * The live stores of one bridge answer the DQP's reads together (QuerySiteStore.batcher): one queryMany, whose
 * statements run at once on their connections — the per-site sub-queries of a plan cost the slowest site's time,
 * not the sum. Each read's outcome is what its store's query() would have given (SITE_DOWN for a server that
 * cannot be reached, the server's own error otherwise).
 */
class LiveBatcher implements SiteReadBatcher {
  constructor(private bridge: SyncPg) {}

  readMany(reads: readonly SiteRead[]): SiteReadOutcome[] {
    const out: (SiteReadOutcome | undefined)[] = reads.map(() => undefined)
    const sent: { k: number; server: LiveServer; item: LiveItem }[] = []
    reads.forEach((r, k) => {
      const server = r.store instanceof PgSiteStore && r.store.batcher === this ? r.store.serverFor(r.server) : undefined
      if (!server) { out[k] = { ok: false, error: new EngineError('INTERNAL', `a read batched with the wrong bridge's stores (${r.server} of a store not of this bridge)`) }; return }
      try { sent.push({ k, server, item: server.item(r.sql, r.params) }) } catch (e) { out[k] = { ok: false, error: e } }
    })
    const got = sent.length ? this.bridge.queryMany(sent.map((x) => x.item)) : []
    sent.forEach((x, n) => {
      const o = got[n]
      if (!o.ok) { out[x.k] = { ok: false, error: x.server.failed(o.error) }; return }
      try { out[x.k] = { ok: true, result: x.server.answered(o as SyncPgArrays & { ok: true }, x.item) } } catch (e) { out[x.k] = { ok: false, error: e } }
    })
    return out as SiteReadOutcome[]
  }
}
const batchers = new WeakMap<SyncPg, LiveBatcher>()

export class PgSiteStore implements QuerySiteStore {
  private primary: LiveServer
  readonly repository?: LiveServer
  private gen = 0
  /** Shared by every live store of this bridge: their reads run at once. */
  readonly batcher: LiveBatcher
  /** Its answers carry the bytes their statements sent and received on the connection: the plan counts those. */
  readonly wireCounted = true

  /**
   * `conn`: the bridge connection to the site's database; `repositoryConn`: at the repository site, the one to
   * the main repository's database.
   */
  constructor(bridge: SyncPg, readonly code: SiteCode, conn: string, repositoryConn?: string, opts: { timeoutMs?: number } = {}) {
    for (const c of [conn, repositoryConn]) if (c !== undefined && !bridge.names.includes(c)) throw new EngineError('BAD_INPUT', `the bridge has no connection ${c} (connections: ${bridge.names.join(', ')})`)
    this.primary = new LiveServer(bridge, conn, code, opts.timeoutMs)
    if (repositoryConn) this.repository = new LiveServer(bridge, repositoryConn, code, opts.timeoutMs)
    let b = batchers.get(bridge)
    if (!b) { b = new LiveBatcher(bridge); batchers.set(bridge, b) }
    this.batcher = b
  }

  /** The connection a read of the primary or the main repository goes to (undefined: no main repository here). */
  serverFor(server: 'primary' | 'repository'): LiveServer | undefined { return server === 'primary' ? this.primary : this.repository }

  /**
   * The DQP caches a site's statistics per this number. Writes at a live site do not go through the DQP yet
   * (the DTM is not wired to live sites), so it changes only when invalidate() says the site changed.
   */
  get seq(): number { return this.gen }
  invalidate(): void { this.gen++ }

  /** Up unless the last statement could not reach the server (no round trip: the next query finds out). */
  isUp(): boolean { return !this.primary.down }

  /** A server found unreachable is asked again; it throws SITE_DOWN while it still cannot be reached. */
  available(): void { if (this.primary.down) this.primary.probe() }

  query(sql: string, params?: SqlValue[]): QueryResult { return this.primary.query(sql, params) }

  /** Statements and rows this store's connections carried. */
  traffic(): { primary: LiveTraffic; repository?: LiveTraffic } {
    return { primary: { ...this.primary.traffic }, ...(this.repository ? { repository: { ...this.repository.traffic } } : {}) }
  }
}

/**
 * Makes the cluster's DQP read the given sites from live stores (the others stay embedded); returns a function
 * that restores the embedded stores.
 */
export function useLiveSites(cluster: Cluster, stores: Record<SiteCode, PgSiteStore>): () => void {
  for (const code of Object.keys(stores)) cluster.site(code) // an unknown site is refused here (UNKNOWN_SITE), nothing registered
  useSiteStores(cluster, (site) => stores[site])
  return () => useSiteStores(cluster, null)
}
