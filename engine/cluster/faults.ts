/**
 * Fault injection: servers, whole sites and links fail, degrade and come back. Each change is logged for
 * people, published as a typed event (events.ts) for the subsystems, and saved in cluster.json.
 */
import type { Degradation } from '../net/network'
import type { SiteCode } from '../topology/types'
import { EngineError } from '../errors'
import { roleOf } from './events'
import { ClusterRecovery } from './recovery'

export abstract class ClusterFaults extends ClusterRecovery {
  // ---- failures ----------------------------------------------------------------------------
  failServer(id: string): void {
    const code = id.split('.')[0]
    if (!this.serverIds(code).includes(id)) throw new EngineError('NOT_FOUND', `unknown server ${id}`, { site: code })
    if (this.serverDown.has(id)) return
    this.serverDown.add(id)
    if (id.endsWith('.router')) this.net.setSiteReachable(code, false)
    this.log('failure', `${id} failed`, code)
    this.bus.emit({ type: 'server.down', server: id, site: code, role: roleOf(id) })
    this.saveState()
  }

  restoreServer(id: string): void {
    const code = id.split('.')[0]
    if (!this.serverIds(code).includes(id)) throw new EngineError('NOT_FOUND', `unknown server ${id}`, { site: code })
    const damage = this.damaged.get(id)
    if (damage) throw new EngineError('CORRUPT_DATA', `${id} cannot simply be restarted: ${damage} (replication/recover from backup)`, { site: code })
    if (!this.serverDown.delete(id)) return
    if (id.endsWith('.router')) this.net.setSiteReachable(code, true)
    this.log('recovery', `${id} restored`, code)
    this.bus.emit({ type: 'server.up', server: id, site: code, role: roleOf(id) })
    this.saveState()
    if (this.SQL) this.replication.kick()
  }

  /** A whole-site (system) failure: router, application and database servers go down. */
  failSite(code: SiteCode): void {
    for (const id of this.serverIds(code)) if (!id.endsWith('.backup') && !id.endsWith('.repository')) this.failServer(id)
  }

  restoreSite(code: SiteCode): void {
    for (const id of this.serverIds(code)) if (!this.damaged.has(id)) this.restoreServer(id)
  }

  failLink(id: string): void { this.net.setLinkState(id, 'down'); this.log('failure', `link ${id} down`); this.bus.emit({ type: 'link.down', link: id }); this.saveState() }
  restoreLink(id: string): void {
    this.net.setLinkState(id, 'up'); this.log('recovery', `link ${id} up`); this.bus.emit({ type: 'link.up', link: id }); this.saveState()
    if (this.SQL) this.replication.kick()
  }
  degradeLink(id: string, d: Partial<Degradation>): void {
    this.net.setLinkState(id, 'degraded', d)
    this.log('failure', `link ${id} degraded (+${d.extraDelayMs ?? 0} ms, ×${d.bandwidthFactor ?? 1} bandwidth, ${(d.lossRate ?? 0) * 100}% loss)`)
    this.bus.emit({ type: 'link.degraded', link: id, degradation: { ...d } })
    this.saveState()
  }
}
