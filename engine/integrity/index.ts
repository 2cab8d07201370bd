/**
 * The DIM of a cluster: on/off switch (benches compare), counters, the commit-time site guard and the
 * lookups it uses, and the lock discipline that keeps a concurrent writer from slipping past a check.
 *
 * Site guard: a user path that writes a site's tables directly — a ticket-accepted sale, `sql SITE …` in a
 * scenario, `iddb sql --local` — runs inside `dim.guarded(…)`; every local commit it makes passes its captured
 * change batch here before it is logged (Site.commitLocal → host.beforeCommit), inside the open local
 * transaction, so a refusal rolls it back. Row checks and probes at the committing site are local; probes at
 * other sites are read at the commit instant (the request and reply are charged on the links; no latency is
 * added to a commit already under way). The Query console's DML and the DTM check their writes themselves,
 * before they apply them (checkQueryWrite, and the DTM's statements under 2PL); engine-internal writes
 * (bulk load, replication, restores, test fixtures) are not user writes and pass unguarded.
 * Locks: the probed keys and the written keys must not be held by an open DTM transaction (its pending
 * insert of the same key, or its own check of the key); if they are, the commit is refused with CONFLICT.
 */
import type { Cluster } from '../cluster'
import { EngineError } from '../errors'
import type { Change } from '../site/db'
import type { SqlValue } from '../site/sqljs'
import { fragments, type FragmentDef } from '../data/schema'
import { Dtm } from '../txn/dtm'
import type { LockMode } from '../txn/lock'
import { blockTest, checkWrite, rowOf, type DimLookup, type Probe, type RowChange } from './dim'

export { checkWrite, type DimLookup, type Probe, type RowChange } from './dim'
export { globalConstraints, type ConstraintDef } from './constraints'

const dims = new WeakMap<Cluster, Dim>()

export interface DimStats { checks: number; probes: number; remoteProbes: number; violations: number }

export class Dim {
  /** Integrity checking on (the default). Off only for the overhead bench's baseline. */
  enabled = true
  readonly stats: DimStats = { checks: 0, probes: 0, remoteProbes: 0, violations: 0 }
  private guarding = 0
  /** Relations whose key the guarded caller has proven globally unused (guarded's opts; see DimLookup.provenKeys). */
  private provenKeys: ReadonlySet<string> | undefined
  private seq = 0
  /** Transactions that are key-block reservations (engine/integrity/blocks.ts): their new block was checked by them. */
  readonly reserving = new Set<string>()

  constructor(readonly cluster: Cluster) {}

  static of(cluster: Cluster): Dim {
    let d = dims.get(cluster)
    if (!d) { d = new Dim(cluster); dims.set(cluster, d) }
    return d
  }

  /** Runs fn (a user path writing site tables directly) with the site guard on: its local commits are checked (see the header). */
  guarded<T>(fn: () => T, opts: { provenKeys?: readonly string[] } = {}): T {
    this.guarding++
    const prev = this.provenKeys
    if (opts.provenKeys) this.provenKeys = new Set([...(prev ?? []), ...opts.provenKeys])
    try { return fn() } finally { this.guarding--; this.provenKeys = prev }
  }

  /** A lock-owner id for a check outside a DTM transaction. */
  nextTx(kind: string): string { return `dim#${kind}-${++this.seq}` }

  /** checkWrite with counters (every path calls this). */
  check(look: DimLookup, changes: readonly RowChange[]): void {
    if (!this.enabled || !changes.length) return
    this.stats.checks++
    try { checkWrite(this.cluster.topology, look, changes) } catch (e) {
      if (e instanceof EngineError && e.code === 'CONSTRAINT_VIOLATION') {
        this.stats.violations++
        this.cluster.log('integrity', e.message, e.site)
      }
      throw e
    }
  }

  /** The commit-time guard of a site's primary (called inside the open local transaction, before it is logged). */
  guard(site: string, changes: readonly Change[]): void {
    if (!this.enabled || this.guarding === 0 || !changes.length) return
    const rows = changesToRows(this.cluster, site, changes)
    if (!rows.length) return
    const tx = this.nextTx(site)
    const dtm = Dtm.existing(this.cluster)
    // an open DTM transaction holding a key this commit writes or checks (an X lock of its pending insert of the
    // same key, of its in-flight delete of a looked-up item at this replica): refuse rather than slip past it
    if (dtm) {
      const held = new Set<string>()
      const lock = (set: [string, string, LockMode][]) => {
        for (const [s, res, mode] of set) {
          held.add(s)
          if (!dtm.locks(s).acquire(tx, res, mode, () => {}, this.cluster.sim.now)) {
            const holders = dtm.locks(s).blockersOf(tx)
            for (const g of dtm.locks(s).cancelWait(tx)) g()
            throw new EngineError('CONFLICT', `${res.replace(/^[RT]:/, '')} at ${s} is locked by transaction ${holders.join(', ') || '?'}; the commit at ${site} was refused (nothing changed) — retry when it ends`, { site })
          }
        }
      }
      try {
        lock(this.lockSet(rows, []))
        this.check(this.instantLookup(site, true, (probes) => lock(this.lockSet([], probes))), rows)
      } finally {
        for (const s of held) dtm.locks(s).releaseAll(tx)
      }
      return
    }
    this.check(this.instantLookup(site, true), rows)
  }

  /**
   * Whether a key value lies in a block owned by `branch`, read in the blocks' replica at `site` (see
   * DimLookup.ownsBlock); undefined when `site` holds no replica of the blocks (the legacy design's branches).
   */
  ownsBlockAt(site: string): DimLookup['ownsBlock'] {
    return (kb, branch, value) => {
      if (value === null || value === undefined || !this.cluster.isServerUp(`${site}.primary`)) return false
      if (!this.cluster.siteInternals(site).tables.some((t) => t.name === kb.blocks)) return false
      const q = (n: string) => `"${n.replace(/"/g, '""')}"`
      const sql = `SELECT 1 FROM ${q(kb.blocks)} WHERE ${q(kb.owner)} = ? AND ${q(kb.lo)} <= ? AND ${q(kb.hi)} >= ? LIMIT 1`
      return this.cluster.siteStore(site).readPrepared(sql, [branch, value, value]).length > 0
    }
  }

  /** Locks a write and its checks need: IX+X on each written key, IS+S on each probed key (IS… table S for a non-key probe). */
  lockSet(rows: readonly RowChange[], probes: readonly Probe[]): [string, string, LockMode][] {
    const out = new Map<string, [string, string, LockMode]>()
    const add = (site: string, res: string, mode: LockMode) => {
      const k = `${site}|${res}`
      const prev = out.get(k)
      if (!prev || (prev[2] !== 'X' && mode === 'X')) out.set(k, [site, res, mode])
    }
    for (const r of rows) {
      const f = fragmentOf(this.cluster, r.fragment)
      const key = f ? keyOf(this.cluster, f) : undefined
      if (!key) continue
      add(r.site, `T:${r.fragment}`, 'IX')
      for (const img of [r.before, r.after]) if (img && img[key] !== null && img[key] !== undefined) add(r.site, `R:${r.fragment}:${String(img[key])}`, 'X')
    }
    for (const p of probes) {
      if (p.key && !p.block) { add(p.site, `T:${p.table}`, 'IS'); add(p.site, `R:${p.table}:${String(p.value)}`, 'S') } else add(p.site, `T:${p.table}`, 'S')
    }
    return [...out.values()]
  }

  /** Probes answered by reading the sites' primaries now; a probe at another site is charged as a request and a reply on the links. */
  instantLookup(site: string, applied: boolean, lockProbes?: (probes: Probe[]) => void): DimLookup {
    return {
      site, applied, provenKeys: this.provenKeys, ownsBlock: this.ownsBlockAt(site),
      probe: (probes) => {
        lockProbes?.(probes)
        const bySite = groupBySite(probes)
        const out = probes.map(() => false)
        for (const [s, list] of bySite) {
          const found = this.readProbes(s, list.map((x) => x.p), site)
          list.forEach((x, j) => { out[x.i] = found[j] })
          if (s !== site) {
            const req = probeSql(list.map((x) => x.p)).length
            try {
              this.cluster.net.send({ from: site, to: s, kind: 'dim.lookup', bytes: req, payload: null, onDeliver: () => {} })
              this.cluster.net.send({ from: s, to: site, kind: 'dim.lookup.reply', bytes: 8 * list.length, payload: null, onDeliver: () => {} })
            } catch { /* reachability was checked by readProbes */ }
          }
        }
        return out
      },
    }
  }

  /** Reads a batch of probes at one site's primary (one statement); refuses when the site cannot be asked. */
  readProbes(site: string, probes: Probe[], from: string): boolean[] {
    this.stats.probes += probes.length
    if (site !== from) {
      this.stats.remoteProbes += probes.length
      if (!this.cluster.isServerUp(`${site}.primary`) || !this.cluster.net.route(from, site)) {
        throw new EngineError('UNREACHABLE', `the integrity check of ${probes[0].table} needs ${site}, which is ${this.cluster.isServerUp(`${site}.primary`) ? `unreachable from ${from}` : 'down'}; nothing was changed`, { site })
      }
    }
    const st = this.cluster.siteStore(site)
    const rows = st.readPrepared(probeSql(probes), probeParams(probes))
    const hit = new Set(rows.map((r) => Number(r[0])))
    return probes.map((_, i) => hit.has(i))
  }
}

/** One statement answering a batch of probes: the indexes of the probes that found a row. */
export function probeSql(probes: readonly Probe[]): string {
  return probes.map((p, i) => (p.block ? `SELECT ${i} WHERE ${blockTest(p.table, p.block.kb)}` : `SELECT ${i} WHERE EXISTS (SELECT 1 FROM "${p.table}" WHERE "${p.column}" = ?)`)).join(' UNION ALL ')
}

/** probeSql's parameters (a block probe takes the value twice and the writing branch). */
export function probeParams(probes: readonly Probe[]): SqlValue[] {
  return probes.flatMap((p) => (p.block ? [p.value, p.value, p.block.branch] : [p.value]))
}

export function groupBySite(probes: readonly Probe[]): Map<string, { p: Probe; i: number }[]> {
  const m = new Map<string, { p: Probe; i: number }[]>()
  probes.forEach((p, i) => { let l = m.get(p.site); if (!l) m.set(p.site, (l = [])); l.push({ p, i }) })
  return m
}

function fragmentOf(cluster: Cluster, name: string): FragmentDef | undefined {
  return fragments(cluster.topology).find((f) => f.name === name)
}
function keyOf(cluster: Cluster, f: FragmentDef): string | undefined {
  const t = cluster.siteInternals(f.site).tables.find((x) => x.name === f.name)
  return t && t.rel.key.length === 1 ? t.rel.key[0] : undefined
}

/** A captured change batch as row changes: an update's D image followed by its I image of the same key is one change. */
export function changesToRows(cluster: Cluster, site: string, changes: readonly Change[]): RowChange[] {
  const tables = new Map(cluster.siteInternals(site).tables.map((t) => [t.name, t]))
  const out: RowChange[] = []
  for (let n = 0; n < changes.length; n++) {
    const c = changes[n]
    const t = tables.get(c.t)
    if (!t || t.frag.kind === 'copy' || t.frag.kind === 'vertical') continue
    const row = rowOf(t.columns, c.r as SqlValue[])
    const nx = changes[n + 1]
    const ki = t.rel.key.length === 1 ? t.columns.indexOf(t.rel.key[0]) : -1
    if (c.op === 'D' && nx && nx.op === 'I' && nx.t === c.t && ki >= 0 && nx.r[ki] === c.r[ki]) {
      out.push({ fragment: t.name, site, before: row, after: rowOf(t.columns, nx.r as SqlValue[]) })
      n++
      continue
    }
    out.push(c.op === 'I' ? { fragment: t.name, site, before: null, after: row } : { fragment: t.name, site, before: row, after: null })
  }
  return out
}

/** A write's part at one fragment as the Query console's DML holds it: full old and new images in `columns` order. */
export interface WritePart { site: string; table: string; columns: string[]; del: SqlValue[][]; ins: SqlValue[][] }

/** Row changes of a statement's parts: a key deleted and inserted at the same fragment is an update. */
export function partsToRows(cluster: Cluster, parts: readonly WritePart[]): RowChange[] {
  const out: RowChange[] = []
  for (const p of parts) {
    const f = fragmentOf(cluster, p.table)
    const key = f ? keyOf(cluster, f) : undefined
    const ki = key ? p.columns.indexOf(key) : -1
    const after = new Map<string, SqlValue[]>()
    if (ki >= 0) for (const r of p.ins) after.set(String(r[ki]), r)
    const used = new Set<SqlValue[]>()
    for (const r of p.del) {
      const a = ki >= 0 ? after.get(String(r[ki])) : undefined
      if (a) used.add(a)
      out.push({ fragment: p.table, site: p.site, before: rowOf(p.columns, r), after: a ? rowOf(p.columns, a) : null })
    }
    for (const r of p.ins) if (!used.has(r)) out.push({ fragment: p.table, site: p.site, before: null, after: rowOf(p.columns, r) })
  }
  return out
}

export interface ShipLookup {
  /** Runs one statement at each site (in parallel), shipped from the query site: null for a site that could not answer. */
  ship(jobs: { site: string; sql: string; params: SqlValue[]; label: string }[]): ({ rows: SqlValue[][] } | null)[]
}

/**
 * Checks a Query console write before any of its parts is applied, and holds the locks that keep it valid
 * until `release()` (called after the apply): X on the written keys, S on the probed keys, in the DTM's lock
 * managers (waiting in virtual time while an open transaction holds one, up to the DTM's lock timeout).
 * Probes are shipped from the query site to the fragments' sites over the simulated network.
 */
export function checkQueryWrite(cluster: Cluster, querySite: string, parts: readonly WritePart[], ship: ShipLookup): () => void {
  const dim = Dim.of(cluster)
  if (!dim.enabled) return () => {}
  const rows = partsToRows(cluster, parts)
  if (!rows.length) return () => {}
  const dtm = Dtm.existing(cluster)
  const tx = dim.nextTx('q')
  const held = new Set<string>()
  const release = () => { if (dtm) for (const s of held) dtm.locks(s).releaseAll(tx) }
  const lock = (set: [string, string, LockMode][]) => { if (dtm) for (const [s, res, mode] of set) { held.add(s); waitLock(cluster, dtm, tx, s, res, mode) } }
  try {
    lock(dim.lockSet(rows, []))
    dim.check({
      site: querySite,
      ownsBlock: dim.ownsBlockAt(querySite),
      probe: (probes) => {
        lock(dim.lockSet([], probes))
        dim.stats.probes += probes.length
        const bySite = [...groupBySite(probes)]
        dim.stats.remoteProbes += bySite.filter(([s]) => s !== querySite).reduce((a, [, l]) => a + l.length, 0)
        const res = ship.ship(bySite.map(([site, l]) => ({ site, sql: probeSql(l.map((x) => x.p)), params: probeParams(l.map((x) => x.p)), label: `integrity ${[...new Set(l.map((x) => x.p.table))].join(', ')}@${site}` })))
        const out = probes.map(() => false)
        bySite.forEach(([site, l], j) => {
          const r = res[j]
          if (!r) throw new EngineError('UNREACHABLE', `the integrity check of ${l[0].p.table} needs ${site}, which cannot be reached; nothing was changed`, { site })
          const hit = new Set(r.rows.map((x) => Number(x[0])))
          l.forEach((x, k) => { out[x.i] = hit.has(k) })
        })
        return out
      },
    }, rows)
  } catch (e) { release(); throw e }
  return release
}

function waitLock(cluster: Cluster, dtm: Dtm, tx: string, site: string, res: string, mode: LockMode): void {
  let granted = false
  if (dtm.locks(site).acquire(tx, res, mode, () => { granted = true }, cluster.sim.now)) return
  const deadline = cluster.sim.now + dtm.opts.lockTimeoutMs
  cluster.sim.runUntilTrue(() => granted || cluster.sim.now >= deadline)
  if (granted) return
  const holders = dtm.locks(site).blockersOf(tx)
  for (const g of dtm.locks(site).cancelWait(tx)) g()
  throw new EngineError('TIMEOUT', `${res.replace(/^[RT]:/, '')} at ${site} stayed locked by transaction ${holders.join(', ') || '?'} for ${dtm.opts.lockTimeoutMs} ms; the write was not applied (nothing changed)`, { site })
}
