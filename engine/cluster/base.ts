/**
 * The cluster's state and what every part of it reads: the simulator, the network, the sites, which servers
 * are down or damaged, the event log and the typed events. The jobs are stacked on it, one file each:
 * copies.ts (scheduled copy refresh) → recovery.ts (media recovery, repository restore, fragmentation
 * checks) → faults.ts (fault injection) → engine/cluster.ts (the Cluster façade: open/start/checkpoint/close).
 */
import { Simulator } from '../sim/kernel'
import { Network } from '../net/network'
import { defaultTopology, designOf, validateTopology } from '../topology/default'
import { serversOf, type DesignName, type SiteCode, type TopologySpec } from '../topology/types'
import { EngineError } from '../errors'
import type { EngineEventView } from '../api/views'
import type { SqlJsStatic } from 'sql.js'
import type { Site, SiteStore } from '../site/site'
import type { Replication } from '../site/replication'
import type { GenerateSummary } from '../data/load'
import type { Persistence } from '../storage/persist'
import type { FileTxnLog } from '../txn/filelog'
import { ClusterEvents, type ClusterEventListener } from './events'

/** A primary's database medium that was lost or corrupted (engine/cluster/nemesis.ts), until it is restored. */
export interface MediaFault {
  kind: 'lost' | 'corrupt'
  injectedAt: number
  /** In memory: the damaged image (null: gone). Persisted: the file itself was damaged; this stays undefined. */
  image?: Uint8Array | null
  /** Set when an access found the damage (the reason the site gives). */
  detected?: string
}

export interface ClusterOptions {
  seed?: number
  topology?: TopologySpec
  startMs?: number
}

const EVENT_RING = 2000

export abstract class ClusterBase {
  readonly sim: Simulator
  readonly net: Network
  readonly topology: TopologySpec
  protected serverDown = new Set<string>()
  /** Servers whose durable state is damaged (a commit log): they refuse service until restored. id → reason. */
  protected damaged = new Map<string, string>()
  /** Primaries whose database medium was lost or corrupted, by site: found on the next access, cleared by a restore. */
  protected media = new Map<SiteCode, MediaFault>()
  /** Log files the data directory must hold (cluster.json `logs`). */
  protected expectedLogs = new Set<string>()
  protected eventSeq = 0
  readonly events: EngineEventView[] = []
  /** The trace's tag per event kind (log.<kind>), built once. */
  private logTags = new Map<string, string>()
  protected eventListeners: ((e: EngineEventView) => void)[] = []
  protected SQL?: SqlJsStatic
  protected sites = new Map<SiteCode, Site>()
  replication!: Replication
  protected persistence?: Persistence
  readonly createdAtMs: number
  lastGenerate?: GenerateSummary
  protected readonly bus = new ClusterEvents()
  protected txnLogs = new Map<SiteCode, FileTxnLog>()
  /** Long reads with open statements (async checks): checkpoints (which reopen the databases) wait for them. */
  protected readers = 0

  constructor(opts: ClusterOptions = {}) {
    this.topology = validateTopology(structuredClone(opts.topology ?? defaultTopology()))
    this.sim = new Simulator({ seed: opts.seed ?? 1, startMs: opts.startMs })
    this.net = new Network(this.sim, this.topology)
    this.net.onSecurityEvent((e) => this.log('security', `${e.reason} frame #${e.seq} ${e.from}→${e.to} rejected on ${e.link} (not delivered)`, e.to))
    this.createdAtMs = this.sim.now
  }

  /** Writes cluster.json (failures, links, logs) when the cluster is persisted. */
  protected abstract saveState(): void
  /** Writes every database image atomically, then truncates the logs to what is still needed. */
  abstract checkpoint(): void

  /** Servers that refuse service until restored, with the reason (a damaged commit log). */
  needsRestore(): Map<string, string> { return new Map(this.damaged) }

  /** Why work cannot be issued at a site that is not up: CORRUPT_DATA with the reason while it waits for a restore, else SITE_DOWN. */
  siteDownError(code: SiteCode, what: string): EngineError {
    const why = this.damaged.get(`${code}.primary`)
    return why ? new EngineError('CORRUPT_DATA', `${code} refuses service until restored: ${why}`, { site: code }) : new EngineError('SITE_DOWN', `${code} is down: ${what}`, { site: code })
  }

  /** The deployment this cluster runs (engine/api/compare.ts): `distributed` (the default) or the centralized `legacy` one. */
  get design(): DesignName { return designOf(this.topology) }

  get ready(): boolean { return !!this.SQL }
  get dataDir(): string | null { return this.persistence?.dir ?? null }
  /** Opened read-only (e.g. `iddb sql SELECT …` beside a running console): nothing is written. */
  get readOnly(): boolean { return this.persistence?.readOnly ?? false }

  // ---- sites -------------------------------------------------------------------------------
  protected internalSite(code: SiteCode): Site {
    const s = this.sites.get(code)
    if (!s) {
      this.site(code) // throws UNKNOWN_SITE
      throw new EngineError('INTERNAL', 'the cluster is not initialised: use await Cluster.create()/open() or await cluster.init()')
    }
    return s
  }

  /** The site API (see engine/site/site.ts): query/exec/withTransaction on the primary, backup, repository. */
  siteStore(code: SiteCode): SiteStore { return this.internalSite(code).store }

  /** Engine-internal access to a site's servers (generator, checks, recovery, tests). */
  siteInternals(code: SiteCode): Site { return this.internalSite(code) }

  get siteCodes(): SiteCode[] { return this.topology.sites.map((s) => s.code) }

  site(code: string): TopologySpec['sites'][number] {
    const s = this.topology.sites.find((x) => x.code === code)
    if (!s) throw new EngineError('UNKNOWN_SITE', `unknown site ${code}; sites are ${this.siteCodes.join(', ')}`)
    return s
  }

  // ---- events -------------------------------------------------------------------------------
  log(kind: string, message: string, site?: SiteCode): EngineEventView {
    const e: EngineEventView = { seq: ++this.eventSeq, at: this.sim.now, kind, message }
    if (site) e.site = site
    this.events.push(e)
    if (this.events.length > EVENT_RING) this.events.shift()
    let tag = this.logTags.get(kind)
    if (tag === undefined) this.logTags.set(kind, tag = `log.${kind}`)
    this.sim.record(tag, message)
    for (const fn of this.eventListeners) fn(e)
    return e
  }

  onLog(fn: (e: EngineEventView) => void): () => void {
    this.eventListeners.push(fn)
    return () => { this.eventListeners = this.eventListeners.filter((x) => x !== fn) }
  }

  /** Typed state changes (engine/cluster/events.ts): how subsystems learn of crashes and repairs. Returns the unsubscriber. */
  on(fn: ClusterEventListener): () => void { return this.bus.on(fn) }

  // ---- server state ------------------------------------------------------------------------
  isServerUp(id: string): boolean { return !this.serverDown.has(id) && !this.damaged.has(id) }
  /** The site's database service is available: router and primary up. */
  isSiteUp(code: SiteCode): boolean { return this.isServerUp(`${code}.router`) && this.isServerUp(`${code}.primary`) }

  protected serverIds(code: SiteCode): string[] { return serversOf(this.site(code)).map((s) => s.id) }
}
