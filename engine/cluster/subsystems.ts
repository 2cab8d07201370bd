/**
 * The cluster's subsystems, built here and nowhere else: the DTM, the DQP, the ticket service, the DSM, the
 * audit log and the console identities. Each is built on first use (a cluster that never runs a transaction
 * opens no 2PC logs) and all are disposed, newest first, when the cluster closes: listeners unsubscribed,
 * timers cancelled, files closed. The accessors the rest of the code calls (Dtm.of, dqpFor, ticketsOf,
 * SecurityManager.of, AuditLog.of, ConsoleIdentities.of) delegate to this registry.
 */
import type { Cluster } from '../cluster'
import { Dtm, type DtmOptions } from '../txn/dtm'
import { Dqp } from '../query/dqp'
import { createTicketService, type TicketService, type TicketServiceOptions } from '../ticket'
import { SecurityManager } from '../security/dsm'
import { AuditLog } from '../security/audit'
import { ConsoleIdentities } from '../security/identities'
import { Failover } from './failover'

export type SubsystemName = 'dtm' | 'dqp' | 'tickets' | 'dsm' | 'audit' | 'identities'

interface Entry { value: unknown; dispose: () => void }

export class Subsystems {
  private live = new Map<SubsystemName, Entry>()

  constructor(private readonly cluster: Cluster) {}

  /** The distributed transaction manager (options apply when it is built, as with Dtm.of). */
  dtm(opts?: Partial<DtmOptions>): Dtm {
    return this.get('dtm', () => Failover.attach(this.cluster, new Dtm(this.cluster, opts)), (d) => d.dispose()) // failover feeds its 2PC logs
  }

  /** The distributed query processor (cached plans and statistics live in it). */
  dqp(): Promise<Dqp> {
    return this.get('dqp', () => Dqp.create(this.cluster), () => {})
  }

  /** The ticket service, wired to record accepted sales in SALES (options apply when it is built). */
  tickets(opts?: TicketServiceOptions): TicketService {
    return this.get('tickets', () => createTicketService(this.cluster, opts), (t) => t.dispose())
  }

  /** The distributed security manager (users, sessions, MLS policy). */
  dsm(): SecurityManager {
    return this.get('dsm', () => new SecurityManager(this.cluster), () => {})
  }

  /** The hash-chained audit log (persisted next to the data unless in memory or read-only). */
  audit(): AuditLog {
    return this.get('audit', () => AuditLog.create(this.cluster), (l) => l.close())
  }

  /** Console identities and their sessions. */
  identities(): ConsoleIdentities {
    return this.get('identities', () => ConsoleIdentities.create(this.cluster), () => {})
  }

  /** The subsystems built so far, oldest first. */
  get built(): SubsystemName[] { return [...this.live.keys()] }

  /**
   * A subsystem disposed on its own (Dtm#dispose, TicketService#dispose): the registry forgets it, so the
   * next accessor call builds a fresh one, as the per-cluster singletons did.
   */
  release(name: SubsystemName, value: unknown): void {
    if (this.live.get(name)?.value === value) this.live.delete(name)
  }

  /** Disposes every subsystem, newest first (the cluster calls this when it closes). */
  dispose(): void {
    const entries = [...this.live.entries()].reverse()
    this.live.clear()
    let first: unknown
    for (const [, e] of entries) {
      try { e.dispose() } catch (err) { first ??= err }
    }
    if (first !== undefined) throw first
  }

  private get<T>(name: SubsystemName, build: () => T, dispose: (t: T) => void): T {
    const e = this.live.get(name)
    if (e) return e.value as T
    const value = build()
    this.live.set(name, { value, dispose: () => dispose(value) })
    return value
  }
}
