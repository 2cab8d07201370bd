/**
 * View builders: the plain-data views (engine/api/views.ts) that hosts draw, built from a cluster's state.
 * They read; they never change the cluster.
 */
import { formatSiteTime, type Simulator } from '../../sim/kernel'
import type { Network } from '../../net/network'
import { serversOf, type SiteCode, type TopologySpec } from '../../topology/types'
import type { ClockView, Health, TopologyView } from '../views'

/** What the builders read of a cluster. */
export interface ViewSource {
  readonly topology: TopologySpec
  readonly net: Network
  readonly sim: Simulator
  site(code: string): TopologySpec['sites'][number]
  isServerUp(id: string): boolean
  isSiteUp(code: SiteCode): boolean
  /** Servers that refuse service until restored, with the reason. */
  needsRestore(): Map<string, string>
}

export function siteHealth(c: ViewSource, code: SiteCode): Health {
  const ids = serversOf(c.site(code)).map((s) => s.id)
  if (!c.isSiteUp(code)) return 'down'
  return ids.some((id) => !c.isServerUp(id)) ? 'degraded' : 'ok'
}

/** The topology with health, server states, firewalls and link statistics (utilisation since `startedAt`). */
export function topologyView(c: ViewSource, startedAt: number): TopologyView {
  const elapsed = Math.max(1, c.sim.now - startedAt)
  const blockedAt = c.net.blockedAt
  const damaged = c.needsRestore()
  return {
    profile: c.topology.profile,
    design: c.topology.design ?? 'distributed',
    sites: c.topology.sites.map((s) => ({
      code: s.code, name: s.name, city: s.city, hq: s.hq, health: siteHealth(c, s.code), lanBps: s.lanBps,
      x: s.x, y: s.y, clients: s.clients, staff: s.staff,
      servers: serversOf(s).map((v) => ({
        ...v, status: c.isServerUp(v.id) ? 'up' as const : 'down' as const,
        ...(damaged.has(v.id) ? { needsRestore: damaged.get(v.id) } : {}),
      })),
      firewall: { enabled: c.topology.firewalls[s.code]?.enabled ?? false, allow: [...(c.topology.firewalls[s.code]?.allow ?? [])], blocked: blockedAt.get(s.code) ?? 0 },
    })),
    links: [...c.net.links.values()].map((l) => ({
      id: l.spec.id, a: l.spec.a, b: l.spec.b, kind: l.spec.kind, bandwidthBps: l.spec.bandwidthBps, delayMs: l.spec.delayMs,
      encrypted: l.spec.encrypted, state: l.state, bytes: l.stats.bytes, messages: l.stats.messages, dropped: l.stats.dropped, rejected: l.stats.rejected,
      queueingMs: l.stats.queueingMs, utilisation: Math.min(1, l.stats.busyMs / elapsed),
    })),
  }
}

export function clockView(sim: Simulator, speed: number, running: boolean): ClockView {
  return {
    now: sim.now, local: formatSiteTime(sim.now), speed, running, seed: sim.seed,
    eventsFired: sim.eventsFired, traceHash: sim.traceHash,
  }
}
