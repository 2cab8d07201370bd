/**
 * Typed events the cluster publishes when its state changes (servers, links, recovery). Subsystems learn of
 * a crash or a repair here, never by reading log messages: the event log (cluster.log) is for people.
 * Subscribe with cluster.on(listener); the returned function unsubscribes.
 */
import type { Degradation } from '../net/network'
import type { ServerKind, SiteCode } from '../topology/types'

export type ClusterEvent =
  /** A server stopped (fault injection, a whole-site failure, or reopened as down). */
  | { type: 'server.down'; server: string; site: SiteCode; role: ServerKind }
  /**
   * A server is back in service: restarted, or (role primary) restored from its backup server after its
   * commit log was damaged.
   */
  | { type: 'server.up'; server: string; site: SiteCode; role: ServerKind }
  | { type: 'link.down'; link: string }
  | { type: 'link.up'; link: string }
  | { type: 'link.degraded'; link: string; degradation: Partial<Degradation> }
  /** A site's data was recovered: its primary from its backup server, or its fragments from the main repository. */
  | { type: 'site.recovered'; site: SiteCode; from: 'backup' | 'repository' }

export type ClusterEventType = ClusterEvent['type']
export type ClusterEventListener = (e: ClusterEvent) => void

/** The publisher: listeners run synchronously, in subscription order, in the simulation step of the change. */
export class ClusterEvents {
  private listeners: ClusterEventListener[] = []

  on(fn: ClusterEventListener): () => void {
    this.listeners.push(fn)
    return () => { this.listeners = this.listeners.filter((x) => x !== fn) }
  }

  emit(e: ClusterEvent): void {
    for (const fn of [...this.listeners]) fn(e)
  }

  get size(): number { return this.listeners.length }
}

/** The server kind of a server id (`CMB.primary` → primary). */
export function roleOf(server: string): ServerKind { return server.slice(server.indexOf('.') + 1) as ServerKind }
