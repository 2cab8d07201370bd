/**
 * The console's live mode (`npm start -- --pg DIR`, `iddb serve --pg DIR`): the engine worker's cluster — built
 * from the same seed, sales and topology as the deployment `iddb pg up` loaded, so its catalog and topology
 * metadata describe what the servers hold — has its sites' reads and transactions served by the deployment's
 * PostgreSQL servers:
 *   - the DQP reads every site from a PgSiteStore (useLiveSites): queries run at the real servers;
 *   - the DTM's store at every site is a PgTxnStore: transactions commit there with PREPARE TRANSACTION /
 *     COMMIT PREPARED.
 * One bridge (SyncPg) carries it all, with one connection per purpose: a site's DQP reads, the main repository,
 * and each site's DTM store (which owns its session: it opens and closes transactions on it).
 *
 * Opening checks every server at once: a server that cannot be reached, a deployment of other sites, or a
 * design the deployment does not record is a clear error naming it, before the console serves anything.
 */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { EngineError } from '../../engine/errors'
import { FileTxnLog } from '../../engine/txn/filelog'
import type { Cluster } from '../../engine/cluster'
import { Dtm } from '../../engine/txn/dtm'
import { localWriteRefusal } from '../../engine/site/replication'
import type { SiteCode } from '../../engine/topology/types'
import type { TxnWrite } from '../../engine/txn/log'
import type { PreparedOutcome } from '../../engine/txn/store'
import { loginOf, readDeployment, siteDatabaseOf, type PgDeployment, hostOf } from './servers'
import { PgSiteStore, useLiveSites } from './sitestore'
import { SyncPg, type PgConnSpec } from './syncbridge'
import { PgTxnStore } from './txnstore'
import { LivePropagation } from './propagate'
import { ConsoleLinks } from './links'

import type { LiveServerView } from '../ipc/contract/system'


/** How long opening waits for each server, ms: a server that does not answer is an error, not a hang. */
const CONNECT_MS = 5_000
/** How often live replication applies what committed (propagate.ts), wall ms. */
const DRAIN_MS = 300

/** The design a deployment loaded (its seed and sales): the embedded cluster of the live mode is built from it. */
export function liveDesign(dataDir: string): { deployment: PgDeployment; seed: number; sales: number } {
  const d = readDeployment(dataDir)
  if (!d.design) throw new EngineError('CORRUPT_DATA', `${dataDir}/pg.json does not record the design it loaded (seed, sales): it was made by an older iddb pg up; make it again (iddb pg down, a new DIR, iddb pg up)`)
  return { deployment: d, seed: d.design.seed, sales: d.design.sales }
}

/** A PgTxnStore whose commits tell the site's DQP store that the site changed (its statistics are read again). */
class LiveTxnStore extends PgTxnStore {
  constructor(o: ConstructorParameters<typeof PgTxnStore>[0], private changed: () => void) { super(o) }
  override apply(writes: readonly TxnWrite[]): void { super.apply(writes); if (writes.length) this.changed() }
  override commitPrepared(gid: string): PreparedOutcome { const r = super.commitPrepared(gid); this.changed(); return r }
}

export class LiveSites {
  private constructor(
    readonly dataDir: string,
    private current: PgDeployment,
    private bridge: SyncPg,
    readonly stores: Record<SiteCode, PgSiteStore>,
    private restore: () => void,
    /** The console's links to the sites (links.ts: the link-unreachable drill). */
    readonly links: ConsoleLinks,
  ) {}

  /** Replication between the servers (propagate.ts): set by useForTransactions. */
  propagation: LivePropagation | null = null
  private drainTimer: ReturnType<typeof setInterval> | null = null

  /**
   * Opens the bridge to every site's primary (and the main repository), checks each answers, and makes the
   * cluster's DQP read from them. The DTM's stores are set by useForTransactions once the cluster holds its data.
   */
  static open(cluster: Cluster, dataDir: string): LiveSites {
    const d = readDeployment(dataDir)
    const want = [...cluster.siteCodes].sort().join(', ')
    const have = d.sites.map((s) => s.code).sort().join(', ')
    if (want !== have) throw new EngineError('BAD_INPUT', `the deployment in ${dataDir} has sites ${have}; the console's design has ${want}`)
    const conns: Record<string, PgConnSpec> = {}
    // every connection of a site is its link (links.ts: the drill cuts them in the bridge)
    for (const s of d.sites) {
      const site = { ...loginOf(dataDir, d, s.primary) }
      const spec = (purpose: string, database = site.database, password = site.password): PgConnSpec => ({ ...site, database, password, applicationName: `iddb:console:${purpose}` })
      conns[s.code] = spec(s.code)
      conns[`${s.code}.txn`] = spec(`${s.code}.txn`)
      conns[`${s.code}.repl`] = spec(`${s.code}.repl`)
      if (s.code === d.repository.site) {
        const repo = loginOf(dataDir, d, s.primary, d.repository.database)
        conns[`${s.code}.repository`] = spec(`${s.code}.repository`, repo.database, repo.password)
        conns[`${s.code}.repository.repl`] = spec(`${s.code}.repository.repl`, repo.database, repo.password)
      }
    }
    const bridge = SyncPg.open({ conns, connectTimeoutMs: CONNECT_MS })
    try {
      for (const name of bridge.names) {
        const s = d.sites.find((x) => x.code === name.split('.')[0])!
        try {
          bridge.query(name, 'SELECT 1', [], { timeoutMs: CONNECT_MS })
        } catch (e) {
          throw new EngineError('SITE_DOWN', `live server ${s.primary.id} (${hostOf(d, s.primary)}:${s.primary.port}, database ${conns[name].database}) cannot be reached: ${(e as Error).message} — is it running? (iddb pg status --data ${dataDir})`, { site: s.code })
        }
      }
      const stores = Object.fromEntries(d.sites.map((s) => [s.code, new PgSiteStore(bridge, s.code, s.code, s.code === d.repository.site ? `${s.code}.repository` : undefined)])) as Record<SiteCode, PgSiteStore>
      const restore = useLiveSites(cluster, stores)
      return new LiveSites(dataDir, d, bridge, stores, restore, new ConsoleLinks(bridge, Object.fromEntries(d.sites.map((s) => [s.code, { host: hostOf(d, s.primary), port: s.primary.port }]))))
    } catch (e) {
      bridge.close()
      throw e
    }
  }

  /** The deployment as pg.json said when it was last read (at opening, and again by repoint after a failover). */
  get deployment(): PgDeployment { return this.current }

  /**
   * After a failover (pg.json now names the site's promoted standby as its primary): every connection of the
   * site — its DQP reads, its DTM store, the main repository at the repository site — goes to the promoted
   * server from its next call, and the site's statistics are read again. Returns the site's primary now.
   */
  repoint(site: SiteCode): { id: string; port: number } {
    const d = readDeployment(this.dataDir)
    const s = d.sites.find((x) => x.code === site)
    if (!s || !this.stores[site]) throw new EngineError('UNKNOWN_SITE', `no site ${site} in this deployment (sites: ${this.current.sites.map((x) => x.code).join(', ')})`)
    // the link leads to the promoted server from now on; the sessions follow it (their old ones dropped)
    this.links.retarget(site, { host: hostOf(d, s.primary), port: s.primary.port })
    for (const name of this.bridge.names.filter((n) => n.split('.')[0] === site)) {
      const login = loginOf(this.dataDir, d, s.primary, name.split('.')[1] === 'repository' ? d.repository.database : undefined)
      this.bridge.repoint(name, { ...login, applicationName: `iddb:console:${name}` })
    }
    this.current = d
    this.stores[site].invalidate()
    return { id: s.primary.id, port: s.primary.port }
  }

  /** The port of the server a site's connections go to now (where the console's link to the site leads). */
  connectedPort(site: SiteCode): number | undefined { return this.links.targetOf(site)?.port }

  /** Makes the cluster's DTM commit at the servers (PREPARE TRANSACTION …); the cluster must hold its data. */
  useForTransactions(cluster: Cluster): void {
    const dtm = Dtm.of(cluster)
    const d = this.deployment
    // what a commit changes reaches the repository and the other copies through an outbox at its server (filled by a
    // trigger on each table: the console's commits and what is written at the server beside it alike)
    const prop = new LivePropagation(this.bridge, cluster.topology, (site) => `${site}.repl`, [
      ...d.sites.map((s) => ({ site: s.code, role: 'primary' as const, conn: `${s.code}.repl` })),
      { site: d.repository.site, role: 'repository' as const, conn: `${d.repository.site}.repository.repl` },
    ], (m, site) => cluster.log('replication', m, site))
    this.propagation = prop
    for (const s of d.sites) {
      const store = this.stores[s.code]
      dtm.setStore(s.code, new LiveTxnStore({
        bridge: this.bridge, conn: `${s.code}.txn`, writeRefusal: (t) => localWriteRefusal(cluster.topology, s.code, t),
      }, () => store.invalidate()))
    }
    // every site's 2PC log is kept with the deployment (DIR/2pc): a console that stopped mid-commit resolves its
    // in-doubt and prepared transactions when it starts again, and never reuses a gid the servers have seen
    const logs = join(this.dataDir, '2pc')
    mkdirSync(logs, { recursive: true })
    for (const s of this.deployment.sites) {
      const log = new FileTxnLog(join(logs, `${s.code}.2pc.log`), s.code)
      for (const n of log.notices) cluster.log('recovery', n, s.code)
      if (log.damage) { log.close(); throw new EngineError('CORRUPT_DATA', `${s.code}'s 2PC log in ${logs}: ${log.damage}`, { site: s.code }) }
      dtm.openLog(s.code, log)
    }
    // the applier: every few hundred ms, each origin's committed changes to their targets (the repository's
    // statistics are read again when something reached it)
    this.drainTimer = setInterval(() => {
      try {
        if (prop.drain() > 0) for (const s of d.sites) this.stores[s.code].invalidate()
      } catch (e) { cluster.log('replication', `the live replication applier failed: ${e instanceof Error ? e.message : String(e)}`) }
    }, DRAIN_MS)
    this.drainTimer.unref?.()
  }

  /** Each site's primary and whether it answers now (one trivial statement per server). */
  servers(): LiveServerView[] {
    return this.deployment.sites.map((s) => {
      const base = { site: s.code, id: s.primary.id, host: hostOf(this.deployment, s.primary), port: s.primary.port, database: siteDatabaseOf(this.deployment, s.primary) }
      try {
        this.bridge.query(s.code, 'SELECT 1', [], { timeoutMs: CONNECT_MS })
        return { ...base, up: true }
      } catch (e) {
        return { ...base, up: false, error: (e as Error).message }
      }
    })
  }

  close(): void {
    if (this.drainTimer) clearInterval(this.drainTimer)
    this.restore()
    this.bridge.close()
  }
}
