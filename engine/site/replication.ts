/**
 * Change propagation between database servers, all of it through the network model:
 *  - Channels: an origin site's committed change batches, filtered/mapped per target, shipped in commit
 *    order to one target database (its backup over the LAN, the main repository at Colombo, replicas:
 *    ITEMS at every site, Stock_CMB's vertical fragment Stocks_CMB_FRG at MBI). A target applies a
 *    batch only when it follows the last one it applied (prev pointer), so loss or failures never
 *    reorder changes; undelivered batches are re-sent when something is restored (kick) or on retry.
 *  - Catalog sync: a site's fragment row counts, pushed to every other site's global catalog copy.
 *  - Scheduled copy refresh (engine/cluster/copies.ts): Stock_MBI at Colombo from Stock_MBI_LCL at Mumbai,
 *    incremental, on its refresh schedule (12:00 and the end of the working day by default).
 */
import { changesLength, jsonLength, type Change, type DbRole, type SiteDb } from './db'
import type { LogBody, Site } from './site'
import { fragments, type FragmentDef } from '../data/schema'
import type { Network } from '../net/network'
import type { Simulator } from '../sim/kernel'
import type { SiteCode, TopologySpec } from '../topology/types'
import { EngineError } from '../errors'
import { applyRemoteCounts, type LocalCatalog } from '../catalog/catalog'

export interface ChannelBatch {
  seq: number; prev: number; changes: Change[]; bytes: number; /** origin commit time */ at: number
  /** At the target, waiting for its apply window: not to be sent again (unless the target loses it). */
  delivered?: boolean
}

export interface ChannelView { id: string; origin: SiteCode; target: string; pending: number; applied: number; inflight: number }

/**
 * A target applies what arrived within this window of virtual time as one local transaction (log
 * shipping in batches, as a standby or a replication applier does), instead of one per origin commit.
 */
export const APPLY_WINDOW_MS = 20

export interface ReplicationHost {
  /** Overrides APPLY_WINDOW_MS (0: apply each arrival at once). */
  applyWindowMs?: number
  sim: Simulator
  net: Network
  topology: TopologySpec
  site(code: SiteCode): Site
  isServerUp(id: string): boolean
  log(kind: string, message: string, site?: SiteCode): void
  /** The highest commit of an origin its main-repository channel may ship now (the feed schedule); absent: all. */
  feedLimit?(origin: SiteCode): number
}

type Mapper = (changes: readonly Change[]) => Change[]

// ---- replica control (docs/REPLICATION.md) ---------------------------------------------------------
/**
 * How the copies of a replicated or derived relation are kept equal.
 *  - 'primary-copy': one site (the main repository's, Colombo) holds the primary copy; every write of the
 *    relation is executed there (the query processor and the DTM route it there; a site-local write
 *    elsewhere is refused), so its commit order is the one order of all writes, and the channels carry the
 *    committed changes, in that order, to every other copy. The other copies are read-only replicas: they
 *    may lag (by the replication delay) but can never diverge.
 *  - 'derived': a fragment computed from another one (a vertical fragment kept in step, a scheduled copy);
 *    read-only except through its source.
 */
export interface ReplicaControl {
  relation: string
  /** The fragment (table) name at the copies' sites. */
  fragment: string
  scheme: 'primary-copy' | 'derived'
  /** Where writes are executed: the primary copy's site, or the source fragment's site. */
  primary: SiteCode
  /** Every site holding a read-only copy. */
  copies: SiteCode[]
  /** Derived fragments: their source fragment and how they follow it. */
  source?: string
  refresh?: 'sync' | 'scheduled'
}

/** The primary copy's site of replicated relations: the main repository's site (Colombo). */
export function primaryCopySite(topo: TopologySpec): SiteCode {
  return (topo.sites.find((s) => s.repository) ?? topo.sites.find((s) => s.hq) ?? topo.sites[0]).code
}

export function replicaControl(topo: TopologySpec): ReplicaControl[] {
  const frs = fragments(topo)
  const out: ReplicaControl[] = []
  const prim = primaryCopySite(topo)
  for (const rel of new Set(frs.filter((f) => f.kind === 'replica').map((f) => f.relation))) {
    const copies = frs.filter((f) => f.kind === 'replica' && f.relation === rel)
    out.push({ relation: rel, fragment: copies[0].name, scheme: 'primary-copy', primary: prim, copies: copies.map((f) => f.site).filter((s) => s !== prim) })
  }
  for (const f of frs) {
    if ((f.kind !== 'vertical' && f.kind !== 'copy') || !f.copyOf) continue
    const src = frs.find((x) => x.name === f.copyOf)
    if (src) out.push({ relation: f.relation, fragment: f.name, scheme: 'derived', primary: src.site, copies: [f.site], source: src.name, refresh: f.refresh })
  }
  return out
}

/**
 * Why a site-local write of `table` at `site` is refused (undefined: it may be written there). Replication
 * and the engine's own maintenance (copy refresh, restore) apply their changes outside this rule.
 */
export function localWriteRefusal(topo: TopologySpec, site: SiteCode, table: string): string | undefined {
  const f = fragments(topo).find((x) => x.site === site && x.name === table)
  if (!f) return undefined
  if (f.kind === 'replica') {
    const prim = primaryCopySite(topo)
    if (site === prim) return undefined
    return `${f.name} at ${site} is a read-only replica of ${f.relation}: replica control is primary copy, so ${f.relation} is written at its primary copy at ${prim} (a global statement through the query processor, or a transaction, is routed there) and the change reaches ${site} through replication; nothing was changed`
  }
  if ((f.kind === 'vertical' || f.kind === 'copy') && f.copyOf) {
    const src = fragments(topo).find((x) => x.name === f.copyOf)
    const how = f.kind === 'vertical' ? `a vertical fragment kept in step with ${f.copyOf}` : `a scheduled copy of ${f.copyOf} (refreshed on its schedule, 12:00 and the end of day by default)`
    return `${f.name} at ${site} is ${how}: it is read-only except through its source; write ${f.relation} (${f.copyOf}${src ? ` at ${src.site}` : ''}) instead; nothing was changed`
  }
  return undefined
}

/** The backup's mapping: every change as it is (the batch is shared, never modified). */
const IDENTITY: Mapper = (c) => c as Change[]

export class Channel {
  pending: ChannelBatch[] = []
  lastQueued: number
  inflight = new Set<number>()
  /** Batches delivered at the target and waiting for the window's apply (one local transaction for all of them). */
  arrived: ChannelBatch[] = []
  applyScheduled = false
  /** The target's applied marker (its __meta src.<origin>), mirrored here: read once at build, set at each commit. */
  applied: number
  /** The message kind its batches travel as. */
  readonly kind: string
  constructor(readonly origin: SiteCode, readonly targetSite: SiteCode, readonly role: DbRole, readonly map: Mapper, applied: number) {
    this.lastQueued = applied
    this.applied = applied
    this.kind = `repl.${role}`
  }
  get id(): string { return `${this.origin}>${this.targetSite}.${this.role}` }

  get serverId(): string { return `${this.targetSite}.${this.role}` }
  /** Everything up to this origin seq is applied at the target (for log truncation). */
  caughtUpTo(originSeq: number): number { return this.pending.length ? this.pending[0].seq - 1 : originSeq }
}

/** Which target databases an origin's changes go to, and how they are mapped. */
export function channelSpecs(topo: TopologySpec, origin: SiteCode): { targetSite: SiteCode; role: DbRole; map: Mapper }[] {
  const frs = fragments(topo)
  const hq = topo.sites.find((s) => s.repository)!.code
  // primary copy: only the primary copy's site originates changes of a replicated relation (a copy elsewhere
  // changes only by applying them, or by a restore, and either must not be sent on as if it were a write)
  const replicated = new Set(frs.filter((f) => f.kind === 'replica').map((f) => f.name))
  const originates = (t: string) => !replicated.has(t) || origin === primaryCopySite(topo)
  const mine = frs.filter((f) => f.site === origin && originates(f.name))
  const out: { targetSite: SiteCode; role: DbRole; map: Mapper }[] = []
  // a replica site's own backup follows the replicated relations from the primary copy's channel, in its order: the
  // replica's part of an eager delete is not sent on from here (it would overtake earlier changes still on the way)
  const ownReplicas = [...replicated].filter((t) => frs.some((f) => f.site === origin && f.name === t))
  out.push({ targetSite: origin, role: 'backup', map: origin === primaryCopySite(topo) || !ownReplicas.length ? IDENTITY : (cs) => (cs.some((c) => replicated.has(c.t)) ? cs.filter((c) => !replicated.has(c.t)) : cs as Change[]) })
  // main repository: owned data under the global relation's name
  const toGlobal = new Map<string, string>()
  for (const f of mine) if (f.kind === 'replica' || f.kind === 'horizontal' || f.kind === 'local') toGlobal.set(f.name, f.relation)
  out.push({ targetSite: hq, role: 'repository', map: (cs) => {
    const o: Change[] = []
    for (const c of cs) { const t = toGlobal.get(c.t); if (t !== undefined) o.push({ t, op: c.op, r: c.r }) }
    return o
  } })
  // replicas elsewhere: ITEMS, and synchronously maintained vertical fragments of our tables
  for (const s of topo.sites) {
    if (s.code === origin) continue
    const verticals: { src: FragmentDef; dst: FragmentDef; idx: number[] }[] = []
    for (const f of frs) {
      if (f.site !== s.code || f.kind !== 'vertical' || f.refresh !== 'sync' || !f.copyOf) continue
      const src = mine.find((m) => m.name === f.copyOf)
      if (src) verticals.push({ src, dst: f, idx: f.columns.map((c) => src.columns.indexOf(c)) })
    }
    const map: Mapper = (cs) => {
      const o: Change[] = []
      for (const c of cs) {
        if (replicated.has(c.t) && originates(c.t)) o.push(c)
        for (const v of verticals) if (c.t === v.src.name) o.push({ t: v.dst.name, op: c.op, r: v.idx.map((i) => c.r[i]) })
      }
      return o
    }
    out.push({ targetSite: s.code, role: 'primary', map }, { targetSite: s.code, role: 'backup', map })
  }
  return out
}

export class Replication {
  readonly channels = new Map<SiteCode, Channel[]>()
  private retryTimer = false
  /** Catalog sync: latest count version per site, and what each peer has. */
  private catVersion = new Map<SiteCode, number>()
  private catSeen = new Map<string, number>()
  private catInflight = new Set<string>()
  /** Fragment row counts (joined) at each site's latest catalog version. */
  private catSig = new Map<SiteCode, string>()
  /** The catalog and its row-count version catSig was last compared at, per site. */
  private catRows = new Map<SiteCode, { catalog: LocalCatalog; version: number }>()
  /**
   * Sites whose backup feed is synchronous (engine/cluster/failover.ts, docs/FAILOVER.md): a commit is applied
   * at the backup server before it is acknowledged. Kept in each image's __meta `feed.mode`, read at build().
   */
  readonly syncBackup = new Set<SiteCode>()
  /** Synchronous sites with no backup to wait for (promoted, the old primary not rejoined yet): fed asynchronously meanwhile. */
  readonly syncSuspended = new Set<SiteCode>()
  /** Synchronous sites whose last commit could not reach the backup (down, or its LAN cut): running alone until it can. */
  readonly degraded = new Set<SiteCode>()

  constructor(private h: ReplicationHost) {}

  /** (Re)builds the channels from each target's applied marker and the origin's retained batches. */
  build(): void {
    this.channels.clear()
    this.syncBackup.clear()
    for (const s of this.h.topology.sites) {
      const origin = this.h.site(s.code)
      if (origin.primary.getMeta('feed.mode') === 'sync' && !this.syncSuspended.has(s.code)) this.syncBackup.add(s.code)
      const list: Channel[] = []
      for (const spec of channelSpecs(this.h.topology, s.code)) {
        const target = this.targetDb(spec.targetSite, spec.role)
        const applied = target.getMetaNum(`src.${s.code}`)
        const ch = new Channel(s.code, spec.targetSite, spec.role, spec.map, applied)
        for (const r of origin.retained) if (r.seq > applied) this.enqueue(ch, r.seq, r.body)
        list.push(ch)
      }
      this.channels.set(s.code, list)
    }
  }

  targetDb(site: SiteCode, role: DbRole): SiteDb {
    const s = this.h.site(site)
    const db = role === 'primary' ? s.primary : role === 'backup' ? s.backup : s.repository
    if (!db) throw new EngineError('INTERNAL', `no ${role} at ${site}`)
    return db
  }

  /** Queues a batch on a channel; `mapped` shares one mapping (and its size) among channels with the same mapper. */
  private enqueue(ch: Channel, seq: number, body: LogBody, bytes?: number, mapped?: Map<Mapper, { changes: Change[]; bytes: number }>): boolean {
    let m = mapped?.get(ch.map)
    if (!m) {
      const changes = ch.map(body.c)
      m = { changes, bytes: changes.length ? (changes === body.c && bytes !== undefined ? bytes : changesLength(changes)) : 0 }
      mapped?.set(ch.map, m)
    }
    if (!m.changes.length) return false
    ch.pending.push({ seq, prev: ch.lastQueued, changes: m.changes, bytes: m.bytes, at: body.at })
    ch.lastQueued = seq
    return true
  }

  /** A local commit at `origin` is durable: queue it on every channel and start shipping. */
  committed(origin: SiteCode, seq: number, body: LogBody, bytes?: number): void {
    const mapped = new Map<Mapper, { changes: Change[]; bytes: number }>()
    for (const ch of this.channels.get(origin) ?? []) {
      if (this.enqueue(ch, seq, body, bytes, mapped)) this.pump(ch)
    }
    if (this.syncBackup.has(origin)) this.feedSync(origin)
    this.trimRetained(origin)
  }

  /** Before a local commit at `origin`: a synchronous feed whose backup server is down refuses it (nothing changes). */
  beforeCommit(origin: SiteCode): void {
    if (!this.syncBackup.has(origin)) return
    const id = `${origin}.backup`
    if (!this.h.isServerUp(id)) throw new EngineError('SITE_DOWN', `${origin}'s backup feed is synchronous and ${id} is down: a commit cannot be acknowledged before the backup has it, so it was refused and nothing changed (repair ${id}, or switch the feed to asynchronous)`, { site: origin })
  }

  /** The channel feeding a site's own backup server. */
  backupChannel(origin: SiteCode): Channel | undefined {
    return this.channels.get(origin)?.find((c) => c.role === 'backup' && c.targetSite === origin)
  }

  /**
   * Synchronous feed: the batches just shipped on the LAN are applied at the backup before the commit returns
   * (the caller acknowledges after this). When the backup cannot have them (down, LAN cut, a batch not on the
   * wire) the site runs alone, degraded, and the feed is asynchronous until the backup has caught up.
   */
  private feedSync(origin: SiteCode): void {
    const ch = this.backupChannel(origin)
    if (!ch) return
    const db = this.targetDb(ch.targetSite, ch.role)
    const onWire = ch.pending.every((b) => b.delivered || ch.inflight.has(b.seq))
    const run: ChannelBatch[] = []
    let now = ch.applied
    for (const b of ch.pending) if (b.seq > now && b.prev <= now) { run.push(b); now = b.seq }
    if (!this.h.isServerUp(ch.serverId) || !onWire || db.inTransaction || run.length !== ch.pending.length) {
      if (!this.degraded.has(origin)) {
        this.degraded.add(origin)
        this.h.log('replication', `${origin}: synchronous feed degraded: ${ch.serverId} cannot have the commit now (${!this.h.isServerUp(ch.serverId) ? 'it is down' : 'the batch is not on the LAN'}); commits are acknowledged without it until it catches up`, origin)
      }
      return
    }
    if (run.length && this.applyGroup(ch, db, `src.${origin}`, run, true) !== 'ok') return
    ch.pending = ch.pending.filter((p) => p.seq > ch.applied)
    if (this.degraded.delete(origin)) this.h.log('replication', `${origin}: synchronous feed restored: ${ch.serverId} has every commit`, origin)
  }

  /**
   * The last batch of `origin` queued for `target`'s primary (its replica channel): a target that has applied it
   * has every change of the origin's replicated relations committed so far (the fence of an eager delete).
   */
  fenceSeq(origin: SiteCode, target: SiteCode): number {
    return this.channels.get(origin)?.find((c) => c.role === 'primary' && c.targetSite === target)?.lastQueued ?? 0
  }

  /** The target primary's applied marker for `origin` (its own __meta src.<origin>). */
  appliedSeq(origin: SiteCode, target: SiteCode): number { return this.targetDb(target, 'primary').getMetaNum(`src.${origin}`) }

  /** Tries to ship everything pending (after a restore, a retry, or a new commit). */
  kick(): void {
    for (const list of this.channels.values()) for (const ch of list) this.pump(ch)
    for (const s of this.h.topology.sites) this.pushCatalog(s.code)
  }

  private pump(ch: Channel): void {
    if (!this.h.isServerUp(`${ch.origin}.primary`) || !ch.pending.length) return
    const limit = ch.role === 'repository' ? this.h.feedLimit?.(ch.origin) ?? Infinity : Infinity
    for (const b of ch.pending) {
      if (b.seq > limit) return // held until the main repository's next feed time
      if (b.delivered || ch.inflight.has(b.seq)) continue
      if (!this.ship(ch, b)) return
    }
  }

  /** Sends one batch; false when the target cannot be reached now (it is re-sent on kick). */
  private ship(ch: Channel, b: ChannelBatch): boolean {
    try {
      this.h.net.send({
        from: ch.origin, to: ch.targetSite, kind: ch.kind, bytes: b.bytes, payload: b.seq,
        onDeliver: () => { ch.inflight.delete(b.seq); this.deliver(ch, b) },
        onDrop: () => { ch.inflight.delete(b.seq); this.scheduleRetry() },
      })
      ch.inflight.add(b.seq)
      return true
    } catch (e) {
      if (e instanceof EngineError && (e.code === 'UNREACHABLE' || e.code === 'FIREWALL_BLOCKED')) return false
      throw e
    }
  }

  private scheduleRetry(): void {
    if (this.retryTimer) return
    this.retryTimer = true
    this.h.sim.scheduleDaemon(5_000, 'repl.retry', () => { this.retryTimer = false; this.kick() })
  }

  /** A batch reached the target: batches arriving within the apply window are applied together. */
  private deliver(ch: Channel, b: ChannelBatch): void {
    if (!this.h.isServerUp(ch.serverId)) return // target down: stays pending until restored
    b.delivered = true
    ch.arrived.push(b)
    if (ch.applyScheduled) return
    ch.applyScheduled = true
    this.h.sim.schedule(this.h.applyWindowMs ?? APPLY_WINDOW_MS, 'repl.apply', () => { ch.applyScheduled = false; this.applyArrived(ch) })
  }

  /**
   * Applies the arrived batches that follow the target's last applied one (prev pointer), in origin seq
   * order, as one local transaction at the target; if that fails, batch by batch (so every batch before
   * a failing one still lands, as when each batch had its own transaction).
   */
  private applyArrived(ch: Channel): void {
    const arrived = ch.arrived
    ch.arrived = []
    if (!arrived.length) return
    if (!this.h.isServerUp(ch.serverId)) { // target down: stays pending, sent again once restored
      for (const b of arrived) b.delivered = false
      return
    }
    const db = this.targetDb(ch.targetSite, ch.role)
    if (db.inTransaction) {
      ch.arrived = arrived.concat(ch.arrived)
      if (!ch.applyScheduled) {
        ch.applyScheduled = true
        this.h.sim.schedule(1, 'repl.busy', () => { ch.applyScheduled = false; this.applyArrived(ch) })
      }
      return
    }
    // what this apply does not take (a gap before it, a failure) is sent again later
    for (const b of arrived) b.delivered = false
    if (arrived.length > 1) arrived.sort((x, y) => x.seq - y.seq)
    const key = `src.${ch.origin}`
    const start = ch.applied
    let now = start
    const run: ChannelBatch[] = []
    for (const b of arrived) if (b.seq > now && b.prev <= now) { run.push(b); now = b.seq }
    now = start
    let failed = false
    if (run.length) {
      const whole = run.length > 1 ? this.applyGroup(ch, db, key, run, false) : 'retry'
      if (whole === 'failed') failed = true
      else if (whole === 'retry') {
        for (const b of run) if (this.applyGroup(ch, db, key, [b], true) !== 'ok') { failed = true; break }
      }
      now = ch.applied
    }
    if (ch.pending.length && ch.pending[0].seq <= now) ch.pending = ch.pending.filter((p) => p.seq > now)
    this.trimRetained(ch.origin)
    if (failed) return // stays pending: re-sent on kick or retry
    if (ch.pending.length && ch.pending.every((p) => !ch.inflight.has(p.seq))) this.pump(ch)
  }

  /**
   * One local transaction at the target for consecutive batches. 'retry': rolled back before anything
   * outside the database changed (the caller may apply the batches one by one); 'failed': rolled back
   * after the catalog had folded the effect in (reported; the batches stay pending).
   */
  private applyGroup(ch: Channel, db: SiteDb, key: string, run: ChannelBatch[], report: boolean): 'ok' | 'retry' | 'failed' {
    let folded = false
    db.begin()
    try {
      const effect: Change[] = []
      for (const b of run) {
        // the repository meets every origin's changes: stale ones (older than the key's last change) are skipped
        if (ch.role === 'repository') db.applyVersioned(b.changes, ch.origin, b.at)
        else db.applyChanges(b.changes)
      }
      // only a primary captures the effect and folds it into its catalog (backups and the repository capture nothing)
      if (ch.role === 'primary') {
        for (const c of db.drainChanges()) effect.push(c)
        folded = true
        this.h.site(ch.targetSite).catalog.apply(effect)
      }
      const last = run[run.length - 1].seq
      db.setMeta(key, last)
      db.commit()
      ch.applied = last
      if (ch.role === 'primary' && effect.length) this.catalogChanged(ch.targetSite)
      return 'ok'
    } catch (e) {
      db.rollback()
      if (report || folded) this.h.log('replication', `${ch.id}: batch ${run[0].seq} failed: ${e instanceof Error ? e.message : String(e)}`, ch.targetSite)
      return folded ? 'failed' : 'retry'
    }
  }

  /** Batches every channel has applied need not be retained in memory (the log keeps them until a checkpoint). */
  private trimRetained(origin: SiteCode): void {
    const site = this.h.site(origin)
    const upTo = this.minCaughtUp(origin)
    if (site.retained.length && site.retained[0].seq <= upTo) site.retained = site.retained.filter((r) => r.seq > upTo)
  }

  minCaughtUp(origin: SiteCode): number {
    const seq = this.h.site(origin).seq
    let min = seq
    for (const c of this.channels.get(origin) ?? []) min = Math.min(min, c.caughtUpTo(seq))
    return min
  }

  /** All channels drained (every backup, repository and replica is up to date) and global catalogs in step. */
  get idle(): boolean {
    for (const list of this.channels.values()) for (const c of list) if (c.pending.length) return false
    for (const [site, v] of this.catVersion) {
      if (!v) continue
      for (const p of this.h.topology.sites) if (p.code !== site && (this.catSeen.get(`${site}>${p.code}`) ?? 0) < v) return false
    }
    return true
  }

  views(): ChannelView[] {
    const out: ChannelView[] = []
    for (const list of this.channels.values()) for (const c of list) {
      out.push({ id: c.id, origin: c.origin, target: c.serverId, pending: c.pending.length, applied: this.targetDb(c.targetSite, c.role).getMetaNum(`src.${c.origin}`), inflight: c.inflight.size })
    }
    return out
  }

  // ---- global catalog sync -------------------------------------------------------------------
  catalogChanged(site: SiteCode): void {
    // a batch that left every fragment's row count as it was (updates) has nothing new for the peers:
    // the counts of the latest version are the current ones (every change of them comes through here)
    const cat = this.h.site(site).catalog
    const seen = this.catRows.get(site)
    // no row count set since the signature was last taken: the same signature (the common case, every commit of updates)
    if (seen && seen.catalog === cat && seen.version === cat.rowsVersion && (this.catVersion.get(site) ?? 0) > 0) return
    const sig = [...cat.fragmentRows.values()].join(',')
    this.catRows.set(site, { catalog: cat, version: cat.rowsVersion })
    if (this.catSig.get(site) === sig && (this.catVersion.get(site) ?? 0) > 0) return
    this.catSig.set(site, sig)
    this.catVersion.set(site, (this.catVersion.get(site) ?? 0) + 1)
    this.pushCatalog(site)
  }

  private pushCatalog(site: SiteCode): void {
    const v = this.catVersion.get(site) ?? 0
    if (!v || !this.h.isServerUp(`${site}.primary`)) return
    let counts: Record<string, number> | undefined
    for (const peer of this.h.topology.sites) {
      if (peer.code === site) continue
      const k = `${site}>${peer.code}`
      if ((this.catSeen.get(k) ?? 0) >= v || this.catInflight.has(k)) continue
      counts ??= Object.fromEntries(this.h.site(site).catalog.fragmentRows)
      const sent = counts
      try {
        this.catInflight.add(k)
        this.h.net.send({
          from: site, to: peer.code, kind: 'catalog.sync', bytes: jsonLength(sent), payload: v,
          onDeliver: () => {
            this.catInflight.delete(k)
            if (!this.h.isServerUp(`${peer.code}.primary`)) return
            const db = this.h.site(peer.code).primary
            if (db.inTransaction) { this.h.sim.schedule(1, 'catalog.retry', () => this.pushCatalog(site)); return }
            applyRemoteCounts(db, site, sent)
            this.catSeen.set(k, v)
            if ((this.catVersion.get(site) ?? 0) > v) this.pushCatalog(site)
          },
          onDrop: () => { this.catInflight.delete(k); this.scheduleRetry() },
        })
      } catch (e) {
        this.catInflight.delete(k)
        if (!(e instanceof EngineError && (e.code === 'UNREACHABLE' || e.code === 'FIREWALL_BLOCKED'))) throw e
      }
    }
  }

  /** A site's global catalog copy was replaced (recovery): every other site re-sends its counts to it. */
  resendCatalogsTo(site: SiteCode): void {
    for (const s of this.h.topology.sites) {
      if (s.code === site) continue
      this.catSeen.delete(`${s.code}>${site}`)
      if (!this.catVersion.get(s.code)) this.catVersion.set(s.code, 1)
      this.pushCatalog(s.code)
    }
  }

  /** Directly aligns every site's global catalog with every other site's counts (bootstrap / reopen). */
  syncCatalogsNow(): void {
    for (const s of this.h.topology.sites) {
      const counts = Object.fromEntries(this.h.site(s.code).catalog.fragmentRows)
      for (const p of this.h.topology.sites) if (p.code !== s.code) applyRemoteCounts(this.h.site(p.code).primary, s.code, counts)
      this.catVersion.set(s.code, 0)
    }
    this.catSeen.clear()
    this.catSig.clear()
    this.catRows.clear()
  }
}
