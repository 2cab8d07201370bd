/**
 * An intruder on the WAN (spec §8, the report's fear of "hackers entering the network"): an outside host that
 *  - probes each site's router: a connection attempt to each known service, decided by that router's firewall
 *    rule table (blocked attempts are counted and logged there);
 *  - sniffs the links: reads every frame that crossed, and takes from plain frames what it can decode —
 *    credentials and unit prices — while a sealed frame gives it nothing but the outer header and ciphertext.
 * The drill runs both against the cluster as it is (modern or legacy profile), with traffic of its own: a login
 * across the WAN and a query that ships unit prices between sites. In the legacy profile the login is the old
 * system's (user name and password to Colombo in clear, as the pre-project network did); the modern DSM never
 * sends a credential over a plain link.
 */
import type { Cluster } from '../cluster'
import { EngineError, toErrorInfo } from '../errors'
import { SERVICES } from './firewall'
import { OUTER_HEADER_BYTES, bodyText, readInner, splitRecord } from '../net/frame'
import { REDACTED, redact } from './inspector'
import { SecurityManager } from './dsm'
import type { SiteCode } from '../topology/types'
import type { DrillReport, ProbeResult, SniffReport } from '../api/wan'

export type { DrillReport, ProbeResult, SniffFinding, SniffReport } from '../api/wan'

/** The intruder's address (a documentation range: an outside host, not a site). */
export const INTRUDER_HOST = '203.0.113.66'
/** What listens behind each router (the database server's DDBMS service and the administrators' ssh). */
const LISTENING = new Set(['ddbms', 'ssh'])

/** Connection attempts from the intruder to every service of `site`'s router, over the WAN (virtual time passes). */
export function probeSite(cluster: Cluster, site: SiteCode): ProbeResult[] {
  cluster.site(site)
  const net = cluster.net
  const adjacent = [...net.links.values()].filter((l) => l.spec.a === site || l.spec.b === site)
  const delay = adjacent.length ? Math.min(...adjacent.map((l) => l.spec.delayMs)) : 1
  const out: ProbeResult[] = []
  for (const [service, port] of Object.entries(SERVICES)) {
    let done = false
    cluster.sim.schedule(delay, 'intruder.probe', () => {
      const v = net.connect(INTRUDER_HOST, site, service)
      const outcome = !v.allowed ? 'blocked' : net.isSiteReachable(site) && LISTENING.has(service) ? 'open' : 'closed'
      out.push({ site, service, port, outcome, rule: v.rule, at: cluster.sim.now })
      done = true
    })
    cluster.sim.runUntilTrue(() => done, 100_000)
  }
  const blocked = out.filter((p) => p.outcome === 'blocked').length
  const open = out.filter((p) => p.outcome === 'open').map((p) => p.service)
  cluster.log('security', `intruder ${INTRUDER_HOST} probed ${site}'s router: ${blocked} of ${out.length} attempts blocked by its firewall${open.length ? `; reached ${open.join(', ')}` : ''}`, site)
  return out
}

/** Reads the frames that crossed `link` (the newest captured), from position `from` on. */
export function sniffLink(cluster: Cluster, link: string, from = 0): SniffReport {
  const frames = cluster.net.captured(link).slice(from)
  const r: SniffReport = { link, frames: frames.length, sealed: 0, plain: 0, credentials: 0, unitPrices: 0, findings: [] }
  frames.forEach((f, i) => {
    if (f.sealed) {
      r.sealed++
      r.ciphertextSample ??= f.frame.subarray(OUTER_HEADER_BYTES, OUTER_HEADER_BYTES + 24).toString('hex')
      return
    }
    r.plain++
    for (const inner of splitRecord(f.frame.subarray(OUTER_HEADER_BYTES)).map(readInner)) {
      if (!inner) continue
      const text = bodyText(inner.body)
      let body: unknown
      try { body = JSON.parse(text) } catch { body = undefined }
      const o = body && typeof body === 'object' ? body as Record<string, unknown> : undefined
      if (o && typeof o.password === 'string') {
        r.credentials++
        r.findings.push({ kind: 'credential', frame: i, detail: `${inner.header.kind}: user ${String(o.user)}, password ${REDACTED}` })
      }
      const cols = o && Array.isArray(o.columns) ? o.columns.map((c) => String(c).toUpperCase()) : []
      const at = cols.indexOf('UNITPRICE')
      if (at >= 0 && Array.isArray(o!.rows)) {
        const rows = o!.rows as unknown[][]
        r.unitPrices += rows.length
        const sample = rows.slice(0, 3).map((row) => `${String(row[0])} ${String(row[at])}`).join(', ')
        r.findings.push({ kind: 'unit-prices', frame: i, detail: `${inner.header.kind} ${inner.header.from}→${inner.header.to}: ${rows.length} unit prices (${redact(sample).text}${rows.length > 3 ? ', …' : ''})` })
      }
    }
  })
  return r
}

/** The whole drill: probe every router, make WAN traffic, sniff every link. Returns what the intruder got. */
export async function runDrill(cluster: Cluster, opts: { query?: (site: SiteCode, sql: string) => Promise<unknown> } = {}): Promise<DrillReport> {
  const sites = cluster.siteCodes
  const probes = sites.flatMap((s) => probeSite(cluster, s))
  const marks = new Map([...cluster.net.links.keys()].map((id) => [id, cluster.net.captured(id).length]))
  const traffic: string[] = []
  const hq = cluster.topology.sites.find((s) => s.hq)?.code ?? sites[0]
  const branch = sites.find((s) => s !== hq) ?? hq
  // seeded (determinism: same seed and script, same run); the drill's user exists only for the drill
  const rng = cluster.sim.rng.fork('intruder-drill')
  const password = `drill-${Array.from({ length: 12 }, () => rng.int(0, 15).toString(16)).join('')}`
  if (cluster.topology.profile === 'legacy') {
    // the old system: every login went to Colombo, user name and password in one plain message
    traffic.push(legacyLogin(cluster, branch, hq, 'drill.clerk', password))
  } else {
    try {
      SecurityManager.of(cluster).login(hq, 'drill.clerk', password, { home: branch })
      traffic.push(`login of drill.clerk at ${hq} (home ${branch}) accepted`)
    } catch (e) {
      const i = toErrorInfo(e)
      traffic.push(`login of drill.clerk at ${hq} (home ${branch}) by challenge–response: ${i.code}`)
    }
  }
  if (opts.query) {
    const rel = `STOCK_${branch}`
    try {
      await opts.query(hq, `SELECT STOCKCODE, UNITPRICE FROM ${rel} ORDER BY STOCKCODE LIMIT 20`)
      traffic.push(`query at ${hq} read ${rel}'s unit prices from ${branch}`)
    } catch (e) { traffic.push(`query at ${hq} on ${rel}: ${toErrorInfo(e).code}`) }
  }
  const sniffs = [...cluster.net.links.keys()].map((id) => sniffLink(cluster, id, Math.min(marks.get(id) ?? 0, cluster.net.captured(id).length)))
  const blocked = probes.filter((p) => p.outcome === 'blocked').length
  const creds = sniffs.reduce((a, s) => a + s.credentials, 0), prices = sniffs.reduce((a, s) => a + s.unitPrices, 0)
  const frames = sniffs.reduce((a, s) => a + s.frames, 0), sealed = sniffs.reduce((a, s) => a + s.sealed, 0)
  const summary = `${blocked} of ${probes.length} probes blocked; sniffed ${frames} frames (${sealed} sealed): ${creds} credential(s) and ${prices} unit price(s) read in clear`
  cluster.log('security', `intruder drill (${cluster.topology.profile} profile): ${summary}`)
  return { profile: cluster.topology.profile, host: INTRUDER_HOST, probes, sniffs, traffic, summary }
}

/**
 * The pre-project login (legacy profile only): the user name and password to Colombo in one plain message.
 * Colombo does not know the drill's user; the point is what crossed the wire.
 */
function legacyLogin(cluster: Cluster, site: SiteCode, hq: SiteCode, user: string, password: string): string {
  if (cluster.topology.profile !== 'legacy') throw new EngineError('BAD_INPUT', 'the old login exists only in the legacy profile')
  const wire = JSON.stringify({ user, password })
  let outcome: string | undefined
  try {
    cluster.net.send({ from: site, to: hq, kind: 'legacy.login', payload: null, bytes: wire.length, wire: () => wire, onDeliver: () => { outcome = 'refused by Colombo (unknown user)' }, onDrop: (r) => { outcome = `lost: ${r}` } })
    cluster.sim.runUntilTrue(() => outcome !== undefined, 100_000)
  } catch (e) { outcome = toErrorInfo(e).message }
  return `old-system login of ${user} at ${site}, sent to ${hq} in clear: ${outcome ?? 'no answer'}`
}
