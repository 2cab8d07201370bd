/**
 * The console's links to its sites' servers (live mode's "make a link unreachable" drill, `liveDrill/cutLink` /
 * `restoreLink`). A site's link is every connection of the console's bridge to that site's server (LiveSites: the
 * DQP's reads `SITE`, the DTM's store `SITE.txn`, the replication applier `SITE.repl`, the main repository at the
 * repository site), and the bridge's worker (syncbridge.ts, SyncPg.setCut) is where it is cut:
 *
 *   - cut: every session over the link is torn down at once (its socket destroyed: the statement running on it fails
 *     as a lost connection, the server sees its client gone, so a transaction open there is rolled back and a
 *     prepared one stays prepared), and every call over it is refused as unreachable — the console learns of it at
 *     its next call, within no round trip rather than after a timeout;
 *   - restore: calls go through again; the bridge opens a new session on the next one.
 *
 * The connections go straight to the servers: no forwarder sits in the data path (one in a thread of its own cost
 * every statement two more socket hops — a three-site group-by 0.5 ms of its 5). What goes round the link: the
 * console's logins (roles.ts), its server monitor (deadlocks, catalog, drills, backups) connect to the servers
 * themselves — the drill cuts the data path, not the administrator's own hands.
 */
import { EngineError } from '../../engine/errors'
import type { LiveLinkState } from '../ipc/contract/liveops'
import type { ConnLinkState, SyncPg } from './syncbridge'

export interface LinkTarget { host: string; port: number }

export type LinkState = LiveLinkState

export class ConsoleLinks {
  private targets: Map<string, LinkTarget>

  /** `targets`: each site's server now; a bridge connection belongs to the site its name starts with (`SITE` or `SITE.…`). */
  constructor(private bridge: SyncPg, targets: Record<string, LinkTarget>) {
    this.targets = new Map(Object.entries(targets).map(([site, t]) => [site, { ...t }]))
  }

  private connsOf(site: string): string[] {
    if (!this.targets.has(site)) throw new EngineError('UNKNOWN_SITE', `no link to ${site}`, { site })
    return this.bridge.names.filter((n) => n.split('.')[0] === site)
  }

  private states(rows: ConnLinkState[]): LinkState[] {
    return [...this.targets].map(([site, target]) => {
      const mine = rows.filter((r) => r.conn.split('.')[0] === site)
      return {
        site, port: target.port, target: { ...target }, cut: mine.some((r) => r.cut),
        connections: mine.filter((r) => r.open).length, refused: mine.reduce((n, r) => n + r.refused, 0),
      }
    })
  }

  private one(site: string, rows: ConnLinkState[]): LinkState { return this.states(rows).find((l) => l.site === site)! }

  /** Where the link to `site` leads now (the site's server). */
  targetOf(site: string): LinkTarget | undefined { const t = this.targets.get(site); return t ? { ...t } : undefined }

  /** Every link as the bridge reports it now. */
  list(): LinkState[] { return this.states(this.bridge.connStates()) }

  cut(site: string): LinkState { return this.one(site, this.bridge.setCut(this.connsOf(site), true)) }
  restore(site: string): LinkState { return this.one(site, this.bridge.setCut(this.connsOf(site), false)) }

  /** The site's server moved (a failover): the link leads there from now on (the bridge's connections are repointed by the caller). */
  retarget(site: string, target: LinkTarget): void {
    this.connsOf(site)
    this.targets.set(site, { ...target })
  }
}
