/**
 * Live mode's replication between the servers: what a commit at one site's server changes reaches every other
 * database that holds a copy of it — the main repository at Colombo (owned data under the global relation's name),
 * the read-only replicas (ITEMS at every branch, written at its primary copy) and the synchronously maintained
 * vertical fragment (Stocks_CMB_FRG at Mumbai, from Stock_CMB). Which targets and how the rows are mapped is the
 * embedded cluster's own rule (engine/site/replication.ts channelSpecs): one definition for both kinds of site.
 * The standbys are not targets: each follows its primary by WAL streaming.
 *
 * Never lost, never twice, in order (a transactional outbox):
 *   - what a statement changes in a table whose changes go somewhere is put into `iddb_repl.outbox` at the origin's
 *     server by a trigger on that table (`iddb_repl.capture`: after each INSERT, UPDATE and DELETE statement, its
 *     rows from the statement's transition tables), inside the same server transaction as the writes themselves
 *     — the same COMMIT, or the same PREPARE TRANSACTION / COMMIT PREPARED — so a change is in the outbox exactly
 *     when it committed, even if the console dies the next instant; and whoever made it: the console's DTM, or a
 *     session at the server beside the console (a branch's own application, psql). The applier's own writes at a
 *     target are not captured (its transactions set `iddb.applier`), so nothing is sent round in circles. A TRUNCATE
 *     is captured as the delete of every row the table held (a trigger before it reads them);
 *   - the applier reads each origin's outbox in sequence order and applies an entry at a target in one server
 *     transaction together with the row `iddb_repl.applied_ids(origin, id)` there: an entry already applied (the
 *     console died between the target's commit and the outbox delete) is skipped, never applied twice. An entry is
 *     known by its own id (a random uuid), not its sequence number: an origin database restored from a backup
 *     numbers its entries again from the backup's sequence, and those new entries are not taken for old ones;
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
import { SyncPg, type PgConnSpec } from './syncbridge'
import { loginOf, type PgDeployment } from './servers'
import { PgTxnStore, literal } from './txnstore'
import type { LivePropagationOrigin, LivePropagationStatus } from '../ipc/contract/liveRepl'

const qid = (n: string) => `"${n.replace(/"/g, '""')}"`

const SCHEMA_SQL = 'CREATE SCHEMA IF NOT EXISTS iddb_repl; '
  + 'CREATE TABLE IF NOT EXISTS iddb_repl.outbox (seq bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(), writes jsonb NOT NULL); '
  // each entry's own id: a sequence goes back when its database is restored from a backup, an id is never taken again
  // (added only where it is missing: ALTER TABLE would wait for a prepared transaction holding the outbox)
  + "DO $d$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'iddb_repl.outbox'::regclass AND attname = 'id' AND NOT attisdropped) THEN "
  + 'ALTER TABLE iddb_repl.outbox ADD COLUMN id uuid NOT NULL DEFAULT gen_random_uuid(); END IF; END $d$; '
  + 'CREATE TABLE IF NOT EXISTS iddb_repl.applied_ids (origin text NOT NULL, id uuid NOT NULL, seq bigint NOT NULL, at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (origin, id))'

/** How long putting the capture trigger on a table waits for a lock another transaction holds (ms). */
const WATCH_LOCK_MS = 200

/** Set in the applier's transactions at a target: the capture trigger leaves their writes alone. */
const APPLIER = "SET LOCAL iddb.applier = 'on'"

/**
 * The capture trigger's function: one outbox entry per statement, the after-images of its rows in the format the
 * console's DTM writes (table, key as text, the row as JSON with the table's column names; a delete's row null),
 * an UPDATE that changed a key as the old key's delete and the new row; a TRUNCATE as the delete of every row
 * (iddb_repl.capture_truncate, before it). `iddb_repl.watch(table)` puts its four statement triggers on a table
 * with a one-column primary key (TG_ARGV[0]: that column); false for any other table.
 */
const CAPTURE_SQL = `CREATE OR REPLACE FUNCTION iddb_repl.capture() RETURNS trigger LANGUAGE plpgsql AS $f$
DECLARE k text := TG_ARGV[0]; w jsonb;
BEGIN
  IF coalesce(current_setting('iddb.applier', true), '') = 'on' THEN RETURN NULL; END IF;
  IF TG_OP = 'INSERT' THEN
    SELECT jsonb_agg(jsonb_build_object('table', TG_TABLE_NAME, 'key', to_jsonb(n) ->> k, 'row', to_jsonb(n))) INTO w FROM iddb_new n;
  ELSIF TG_OP = 'DELETE' THEN
    SELECT jsonb_agg(jsonb_build_object('table', TG_TABLE_NAME, 'key', to_jsonb(o) ->> k, 'row', NULL)) INTO w FROM iddb_old o;
  ELSE
    SELECT jsonb_agg(x.e ORDER BY x.ord) INTO w FROM (
      SELECT 0 AS ord, jsonb_build_object('table', TG_TABLE_NAME, 'key', to_jsonb(o) ->> k, 'row', NULL) AS e FROM iddb_old o
        WHERE NOT EXISTS (SELECT 1 FROM iddb_new n WHERE (to_jsonb(n) ->> k) = (to_jsonb(o) ->> k))
      UNION ALL
      SELECT 1, jsonb_build_object('table', TG_TABLE_NAME, 'key', to_jsonb(n) ->> k, 'row', to_jsonb(n)) FROM iddb_new n) x;
  END IF;
  IF w IS NOT NULL THEN INSERT INTO iddb_repl.outbox (writes) VALUES (w); END IF;
  RETURN NULL;
END $f$;
CREATE OR REPLACE FUNCTION iddb_repl.capture_truncate() RETURNS trigger LANGUAGE plpgsql AS $f$
DECLARE k text := TG_ARGV[0]; w jsonb;
BEGIN
  IF coalesce(current_setting('iddb.applier', true), '') = 'on' THEN RETURN NULL; END IF;
  -- before the table is emptied: every row it holds, as a delete
  EXECUTE format('SELECT jsonb_agg(jsonb_build_object(%L, %L, %L, to_jsonb(o) ->> %L, %L, NULL)) FROM %I.%I o', 'table', TG_TABLE_NAME, 'key', k, 'row', TG_TABLE_SCHEMA, TG_TABLE_NAME) INTO w;
  IF w IS NOT NULL THEN INSERT INTO iddb_repl.outbox (writes) VALUES (w); END IF;
  RETURN NULL;
END $f$;
CREATE OR REPLACE FUNCTION iddb_repl.watch(t regclass) RETURNS boolean LANGUAGE plpgsql AS $f$
DECLARE k text[];
BEGIN
  SELECT array_agg(a.attname::text) INTO k FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey) WHERE i.indrelid = t AND i.indisprimary;
  IF k IS NULL OR cardinality(k) <> 1 THEN RETURN false; END IF;
  -- already in place: nothing to lock (a prepared transaction may hold the table, e.g. at a console's restart)
  IF (SELECT count(*) FROM pg_trigger WHERE tgrelid = t AND NOT tgisinternal AND tgname IN ('iddb_capture_ins', 'iddb_capture_upd', 'iddb_capture_del', 'iddb_capture_trunc')) = 4 THEN RETURN true; END IF;
  EXECUTE format('DROP TRIGGER IF EXISTS iddb_capture_ins ON %s', t);
  EXECUTE format('DROP TRIGGER IF EXISTS iddb_capture_upd ON %s', t);
  EXECUTE format('DROP TRIGGER IF EXISTS iddb_capture_del ON %s', t);
  EXECUTE format('DROP TRIGGER IF EXISTS iddb_capture_trunc ON %s', t);
  EXECUTE format('CREATE TRIGGER iddb_capture_trunc BEFORE TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION iddb_repl.capture_truncate(%L)', t, k[1]);
  EXECUTE format('CREATE TRIGGER iddb_capture_ins AFTER INSERT ON %s REFERENCING NEW TABLE AS iddb_new FOR EACH STATEMENT EXECUTE FUNCTION iddb_repl.capture(%L)', t, k[1]);
  EXECUTE format('CREATE TRIGGER iddb_capture_upd AFTER UPDATE ON %s REFERENCING OLD TABLE AS iddb_old NEW TABLE AS iddb_new FOR EACH STATEMENT EXECUTE FUNCTION iddb_repl.capture(%L)', t, k[1]);
  EXECUTE format('CREATE TRIGGER iddb_capture_del AFTER DELETE ON %s REFERENCING OLD TABLE AS iddb_old FOR EACH STATEMENT EXECUTE FUNCTION iddb_repl.capture(%L)', t, k[1]);
  RETURN true;
END $f$`

/**
 * Puts the change capture in place at every site's server as soon as the design is loaded (`pg up`, `pg attach`):
 * what is written there before a console first opens the servers waits in the outboxes and reaches the copies when
 * one does. A table another transaction holds is left for the console's applier, which tries again on every pass.
 */
export function installCapture(dataDir: string, d: PgDeployment, topo: TopologySpec): void {
  const repoConn = `${d.repository.site}.repository`
  const conns: Record<string, PgConnSpec> = {}
  for (const s of d.sites) conns[s.code] = loginOf(dataDir, d, s.primary)
  const hq = d.sites.find((s) => s.code === d.repository.site)
  if (hq) conns[repoConn] = loginOf(dataDir, d, hq.primary, d.repository.database)
  const bridge = SyncPg.open({ conns })
  try {
    new LivePropagation(bridge, topo, (site) => site, [
      ...d.sites.map((s) => ({ site: s.code, role: 'primary' as const, conn: s.code })),
      ...(hq ? [{ site: d.repository.site, role: 'repository' as const, conn: repoConn }] : []),
    ])
  } finally { bridge.close() }
}

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
  /** Per origin, its tables still without the capture trigger (watch), and those already said so in the log. */
  private unwatched = new Map<SiteCode, string[]>()
  private watchSaid = new Set<string>()
  /** Per origin, what the applier's last pass over it saw (status() reads this: it never waits on a server). */
  private seen = new Map<SiteCode, Omit<LivePropagationOrigin, 'site' | 'targets' | 'uncaptured'>>()

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
      const frags = frs.filter((f) => f.site === s.code)
      this.origins.push({ retryAt: 0, site: s.code, conn, frags: new Map(frags.map((f) => [f.name.toUpperCase(), f])), specs })
      // the capture trigger on each table whose changes some copy takes (a change of any of its rows maps to one)
      const sends = (f: FragmentDef) => specs.some((sp) => sp.map([{ t: f.name, op: 'I', r: f.columns.map(() => null) }]).length > 0)
      const watched = frags.filter(sends)
      if (watched.length) this.bridge.query(conn, CAPTURE_SQL)
      this.unwatched.set(s.code, watched.map((f) => f.name))
      this.watch(s.code, conn)
      // a vertical fragment's rows are its own columns; any other target row keeps the origin fragment's columns
      for (const f of frs) if (f.kind === 'vertical') this.targetCols.set(`${f.site}:${f.name}`, f.columns)
    }
  }

  /**
   * Puts the capture trigger on the origin's tables that lack it. A table another transaction holds (a prepared
   * one waiting for its decision) is not waited for: it is tried again on the applier's next pass, and said once.
   */
  private watch(site: SiteCode, conn: string): void {
    const left = this.unwatched.get(site) ?? []
    if (!left.length) return
    const still: string[] = []
    for (const t of left) {
      try {
        this.bridge.query(conn, `BEGIN; SET LOCAL lock_timeout = ${WATCH_LOCK_MS}; SELECT iddb_repl.watch(${literal(`public.${qid(t)}`)}::regclass); COMMIT`)
      } catch (e) {
        try { this.bridge.query(conn, 'ROLLBACK') } catch { /* the session is gone */ }
        if (!this.watchSaid.has(`${site}:${t}`)) {
          this.watchSaid.add(`${site}:${t}`)
          this.log(`the change capture on ${t} at ${site} is not in place yet (${e instanceof Error ? e.message : String(e)}): what is written there beside the console waits for it; tried again`, site)
        }
        still.push(t)
      }
    }
    this.unwatched.set(site, still)
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
  /** Holds of pause() not yet resumed. */
  private paused = 0

  /**
   * Stops the applier until the returned function is called (idempotent): drain() does nothing meanwhile. For work
   * on this thread that holds locks the applier's writes would wait for (pruneRepository): a drain run from a timer
   * in between would block the thread in the bridge and never let that work reach its COMMIT.
   */
  pause(): () => void {
    this.paused++
    let done = false
    return () => { if (!done) { done = true; this.paused-- } }
  }

  drain(): number {
    if (this.paused) return 0
    let done = 0
    const now = performance.now()
    for (const o of this.origins) {
      if (!o.specs.length || now < o.retryAt) continue
      this.watch(o.site, o.conn)
      let rows: { seq: string; id: string; writes: string }[]
      try {
        rows = this.bridge.query(o.conn, `SELECT seq::text AS seq, id::text AS id, writes::text AS writes FROM iddb_repl.outbox ORDER BY seq LIMIT ${BATCH}`).rows as typeof rows
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
            const seen = this.bridge.query(sp.target.conn, 'SELECT 1 FROM iddb_repl.applied_ids WHERE origin = $1 AND id = $2', [o.site, row.id]).rows.length > 0
            if (seen) continue
            st.applyWith(mapped.map((c) => this.writeAt(sp.target, c, originCols)), `INSERT INTO iddb_repl.applied_ids (origin, id, seq) VALUES (${literal(o.site)}, ${literal(row.id)}, ${literal(row.seq)})`, APPLIER)
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

  private seenOf(site: SiteCode): Omit<LivePropagationOrigin, 'site' | 'targets' | 'uncaptured'> {
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
        uncaptured: [...(this.unwatched.get(o.site) ?? [])],
      })),
      applied: this.applied,
    }
  }
}
