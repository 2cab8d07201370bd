/** Test-only fixtures shaped like the engine's views (used by unit tests, never by the app). */
import type { ClockView, LinkView, SiteView, TopologyView } from '../../../engine/api/views'

export function fixtureSite(code: string, over: Partial<SiteView> = {}): SiteView {
  return {
    code, name: code, city: code, hq: code === 'CMB', health: 'ok', lanBps: 1e9, x: 10, y: 10, clients: 1, staff: 1,
    servers: ['router', 'app', 'primary', 'backup'].map((k) => ({ id: `${code}.${k}`, kind: k as SiteView['servers'][number]['kind'], label: `${code} ${k}`, status: 'up' as const })),
    firewall: { enabled: true, allow: [], blocked: 0 },
    ...over,
  }
}

export function fixtureLink(a: string, b: string, over: Partial<LinkView> = {}): LinkView {
  return { id: `${a}-${b}`, a, b, kind: 'T1', bandwidthBps: 1_544_000, delayMs: 10, encrypted: true, state: 'up', bytes: 0, messages: 0, dropped: 0, rejected: 0, queueingMs: 0, utilisation: 0, ...over }
}

export function fixtureTopology(codes = ['CMB', 'MBI', 'KDY']): TopologyView {
  const links: LinkView[] = []
  for (let i = 0; i < codes.length; i++) for (let j = i + 1; j < codes.length; j++) links.push(fixtureLink(codes[i], codes[j]))
  return { profile: 'modern', design: 'distributed', sites: codes.map((c) => fixtureSite(c)), links }
}

export function fixtureClock(over: Partial<ClockView> = {}): ClockView {
  return { now: 0, local: '2026-11-23 08:30:00', speed: 0, running: false, seed: 1, eventsFired: 0, traceHash: 'x', ...over }
}
