/**
 * Live mode's replication between the servers: what a commit at one site's server changes reaches every other
 * database that holds a copy of it — the main repository at Colombo (owned data under the global relation's name),
 * the read-only replicas (ITEMS at every branch, written at its primary copy) and the synchronously maintained
 * vertical fragment (Stocks_CMB_FRG at Mumbai, from Stock_CMB). Which targets and how the rows are mapped is the
 * embedded cluster's own rule (engine/site/replication.ts channelSpecs): one definition for both kinds of site.
 * The standbys are not targets: each follows its primary by WAL streaming.
 *
 * Never lost, never twice, in order (a transactional outbox):
 *   - the commit's after-images go into `iddb_repl.outbox` at the origin's server inside the same server
 *     transaction as the writes themselves (PgTxnStore's `alongside`: the same COMMIT, or the same PREPARE
 *     TRANSACTION / COMMIT PREPARED), so a change is in the outbox exactly when it committed, even if the console
 *     dies the next instant;
 *   - the applier reads each origin's outbox in sequence order and applies an entry at a target in one server
 *     transaction together with the row `iddb_repl.applied(origin, seq)` there: an entry already applied (the
 *     console died between the target's commit and the outbox delete) is skipped, never applied twice;
 *   - only then is the entry removed from the outbox. A target that cannot be reached keeps its origin's entries
 *     waiting (the next entries of that origin wait behind them: order is kept) and is tried again on the next tick.
 * Order: conflicting transactions are serialized by the DTM's strict 2PL, so the later one inserts its outbox
 * entry after the earlier one committed — sequence order is their commit order; others commute.
 */
import { EngineError } from '../../engine/errors'
import { fragments, type FragmentDef } from '../../engine/data/schema'
import { channelSpecs } from '../../engine/site/replication'
import type { Change } from '../../engine/site/db'
import type { SiteCode, TopologySpec } from '../../engine/topology/types'
import type { TxnWrite } from '../../engine/txn/log'
import type { SyncPg } from './syncbridge'
import { PgTxnStore, literal } from './txnstore'
import type { LivePropagationOrigin, LivePropagationStatus } from '../ipc/contract/liveRepl'

const SCHEMA_SQL = 'CREATE SCHEMA IF NOT EXISTS iddb_repl; '
  + 'CREATE TABLE IF NOT EXISTS iddb_repl.outbox (seq bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(), writes jsonb NOT NULL); '
  + 'CREATE TABLE IF NOT EXISTS iddb_repl.applied (origin text NOT NULL, seq bigint NOT NULL, at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (origin, seq))'

/** How many outbox entries of one origin one tick applies at most. */
const BATCH = 200

export interface PropagationTarget {
  /** The target database: a site's primary database, or the main repository. */
  site: SiteCode
  role: 'primary' | 'repository'
  /** The bridge connection the applier writes it through (its own: nothing else uses it). */
  conn: string
}


/** After a failure an origin is left alone this long (ms): a server that is down is not asked on every tick. */
const BACKOFF_MS = 2_000

interface OriginPlan {
  /** Not tried again before this time (performance.now()) after a failure. */
  retryAt: number
  site: SiteCode
  conn: string
  frags: Map<string, FragmentDef>
  specs: { target: PropagationTarget; map: (cs: readonly Change[]) => Change[] }[]
}

export class LivePropagation {
  private origins: OriginPlan[] = []
  private stores = new Map<string, PgTxnStore>()
  private targetCols = new Map<string, string[]>()
  private applied = 0
  /** Per origin, what the applier's last pass over it saw (status() reads this: it never waits on a server). */
  private seen = new Map<SiteCode, Omit<LivePropagationOrigin, 'site' | 'targets'>>()

  /**
   * `originConn(site)`: the connection the applier reads and trims a site's outbox on; `targets`: where each
   * site's and the repository's changes are written (a site or role without one is not propagated to).
   */
  constructor(private bridge: SyncPg, topo: TopologySpec, originConn: (site: SiteCode) => string, targets: PropagationTarget[], private log: (msg: string, site?: SiteCode) => void = () => {}) {
    const frs = fragments(topo)
    for (const t of targets) this.bridge.query(t.conn, SCHEMA_SQL)
    for (const s of topo.sites) {
      const conn = originConn(s.code)
      this.bridge.query(conn, SCHEMA_SQL)
      const specs: OriginPlan['specs'] = []
      for (const sp of channelSpecs(topo, s.code)) {
        if (sp.role !== 'primary' && sp.role !== 'repository') continue // standbys follow their primary's WAL
        const target = targets.find((t) => t.site === sp.targetSite && t.role === sp.role)
        if (target) specs.push({ target, map: sp.map })
      }
      this.origins.push({ retryAt: 0, site: s.code, conn, frags: new Map(frs.filter((f) => f.site === s.code).map((f) => [f.name.toUpperCase(), f])), specs })
      // a vertical fragment's rows are its own columns; any other target row keeps the origin fragment's columns
      for (const f of frs) if (f.kind === 'vertical') this.targetCols.set(`${f.site}:${f.name}`, f.columns)
    }
  }

  /** The outbox statement to run in a commit's server transaction at `site` (undefined: nothing to propagate). */
  outboxSql(site: SiteCode, writes: readonly TxnWrite[]): string | undefined {
    const o = this.origins.find((x) => x.site === site)
    if (!o || !o.specs.length) return undefined
    const mine = writes.filter((w) => o.frags.has(String(w.table).toUpperCase()))
    if (!mine.length) return undefined
    return `INSERT INTO iddb_repl.outbox (writes) VALUES (${literal(JSON.stringify(mine.map((w) => ({ table: w.table, key: w.key, row: w.row }))))}::jsonb)`
  }

  private store(conn: string): PgTxnStore {
    let s = this.stores.get(conn)
    if (!s) { s = new PgTxnStore({ bridge: this.bridge, conn }); this.stores.set(conn, s) }
    return s
  }

  /** One origin's writes as the embedded replication's changes (rows in the fragment's column order). */
  private changesOf(o: OriginPlan, writes: readonly TxnWrite[]): Change[] {
    const out: Change[] = []
    for (const w of writes) {
      const f = o.frags.get(String(w.table).toUpperCase())
      if (!f) continue
      const key = this.store(o.conn).keyColumn(f.name).toUpperCase()
      const r = f.columns.map((c) => (w.row ? (w.row[c] ?? w.row[c.toUpperCase()] ?? null) : c.toUpperCase() === key ? w.key : null))
      out.push({ t: f.name, op: w.row ? 'I' : 'D', r: r as Change['r'] })
    }
    return out
  }

  /** A change mapped for a target back into an after-image of the target's table. */
  private writeAt(target: PropagationTarget, c: Change, originCols: Map<string, string[]>): TxnWrite {
    const cols = this.targetCols.get(`${target.site}:${c.t}`) ?? originCols.get(c.t) ?? originCols.values().next().value!
    if (cols.length !== c.r.length) throw new EngineError('INTERNAL', `propagation to ${target.site} ${c.t}: ${c.r.length} values for ${cols.length} columns`)
    const st = this.store(target.conn)
    const key = st.keyColumn(c.t).toUpperCase()
    const row = Object.fromEntries(cols.map((n, i) => [n.toUpperCase(), c.r[i]]))
    return { table: c.t, key: String(row[key]), row: c.op === 'D' ? null : row }
  }

  /**
   * One pass: every origin's waiting entries applied at their targets and removed, in order; an origin whose
   * target fails stops at that entry (tried again next time). Returns how many entries were finished.
   */
  drain(): number {
    let done = 0
    const now = performance.now()
    for (const o of this.origins) {
      if (!o.specs.length || now < o.retryAt) continue
      let rows: { seq: string; writes: string }[]
      try {
        rows = this.bridge.query(o.conn, `SELECT seq::text AS seq, writes::text AS writes FROM iddb_repl.outbox ORDER BY seq LIMIT ${BATCH}`).rows as typeof rows
      } catch (e) {
        this.fail(o, e)
        continue
      }
      const seen = this.seenOf(o.site)
      Object.assign(seen, { pending: rows.length, more: rows.length === BATCH, checkedAt: Date.now() })
      const originCols = new Map([...o.frags.values()].map((f) => [f.relation, f.columns] as const))
      for (const f of o.frags.values()) originCols.set(f.name, f.columns)
      let ok = true
      for (const row of rows) {
        const changes = this.changesOf(o, JSON.parse(row.writes) as TxnWrite[])
        try {
          for (const sp of o.specs) {
            const mapped = sp.map(changes)
            if (!mapped.length) continue
            const st = this.store(sp.target.conn)
            const seen = this.bridge.query(sp.target.conn, 'SELECT 1 FROM iddb_repl.applied WHERE origin = $1 AND seq = $2', [o.site, row.seq]).rows.length > 0
            if (seen) continue
            st.applyWith(mapped.map((c) => this.writeAt(sp.target, c, originCols)), `INSERT INTO iddb_repl.applied (origin, seq) VALUES (${literal(o.site)}, ${literal(row.seq)})`)
          }
          this.bridge.query(o.conn, 'DELETE FROM iddb_repl.outbox WHERE seq = $1', [row.seq])
          done++
          this.applied++
          seen.pending!--
        } catch (e) {
          this.fail(o, e)
          ok = false
          break
        }
      }
      if (ok) seen.error = null
    }
    return done
  }

  private seenOf(site: SiteCode): Omit<LivePropagationOrigin, 'site' | 'targets'> {
    let v = this.seen.get(site)
    if (!v) { v = { pending: null, more: false, error: null, checkedAt: null }; this.seen.set(site, v) }
    return v
  }

  private fail(o: OriginPlan, e: unknown): void {
    const msg = e instanceof Error ? e.message : String(e)
    o.retryAt = performance.now() + BACKOFF_MS
    const seen = this.seenOf(o.site)
    if (seen.error !== msg) this.log(`replication from ${o.site} waits: ${msg}; tried again`, o.site)
    seen.error = msg
  }

  /**
   * Each origin as the applier's last pass saw it (its outbox's waiting entries, why they wait) and the entries
   * applied since the console started. Asks no server: a status poll never waits on one that is down.
   */
  status(): LivePropagationStatus {
    return {
      origins: this.origins.filter((o) => o.specs.length).map((o) => ({
        site: o.site, ...this.seenOf(o.site),
        targets: [...new Set(o.specs.map((sp) => (sp.target.role === 'repository' ? `${sp.target.site} repository` : sp.target.site)))],
      })),
      applied: this.applied,
    }
  }
}
