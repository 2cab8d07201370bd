/**
 * The nemesis (failure drills): faults beyond servers, sites and links (faults.ts), each deterministic from the
 * seed and each with its repair.
 *
 *   media failure      a primary's database medium lost or corrupted: the real file in a data directory, the
 *                      in-memory image otherwise. Nothing notices at injection: the next access to the primary
 *                      reads the medium, finds the damage (SQLite's own error on the damaged image), and the site
 *                      refuses service with CORRUPT_DATA saying a restore is needed (recoverFromBackup).
 *   LAN failure        a site's servers cannot reach each other nor its router (the backup feed stops, the site's
 *                      servers are unreachable over the WAN); LAN degradation: extra delay and loss on LAN hops.
 *   partition          any split of the sites into groups: every WAN link between two groups goes down (link-level,
 *                      drawn on the topology map); heal brings back exactly those links.
 *   duplication,       on a link: messages sent twice / held back so later ones overtake them (net/network.ts).
 *   reordering
 *   clock skew         a site's clock runs ahead or behind: siteNow(code) is what the site reads (commit
 *                      timestamps in its log, its clock in the views; schedules should read it too).
 */
import { existsSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { SiteCode } from '../topology/types'
import type { LanState, LinkChaos } from '../net/network'
import type { NemesisView } from '../api/nemesis'
import { EngineError } from '../errors'
import { dbFileName } from '../storage/persist'
import { formatSiteTime } from '../sim/kernel'
import { ClusterFaults } from './faults'

/** Bytes of a SQLite page-1 header's page-size field and the default page size when it reads 1 (64 KiB). */
const PAGE_SIZE_AT = 16

export abstract class ClusterNemesis extends ClusterFaults {
  /** Clock offset per site (ms; absent: 0). */
  protected skews = new Map<SiteCode, number>()
  /** The active partition: its groups and the links it cut (heal restores exactly those). */
  protected cut?: { groups: SiteCode[][]; links: string[] }

  // ---- media failure ----------------------------------------------------------------------
  /**
   * Loses or corrupts a primary's database medium. Persisted: the file `<SITE>.primary.sqlite` is removed or
   * overwritten with damaged pages; in memory: the image the next access reads is the damaged copy. Nothing is
   * detected now: the next access to the primary finds it (checkMedium). Deterministic from the seed.
   */
  failMedia(code: SiteCode, kind: 'lost' | 'corrupt' = 'corrupt'): void {
    this.site(code)
    if (kind !== 'lost' && kind !== 'corrupt') throw new EngineError('BAD_INPUT', `media failure kind: lost or corrupt, not ${String(kind)}`)
    if (this.readOnly) throw new EngineError('UNSUPPORTED', 'this cluster was opened read-only: a media failure changes its files')
    const id = `${code}.primary`
    if (this.damaged.has(id) || this.media.has(code)) throw new EngineError('CONFLICT', `${id} already waits for a restore`, { site: code })
    const s = this.internalSite(code)
    const dir = this.dataDir
    if (dir) {
      const file = join(dir, dbFileName(id))
      if (kind === 'lost') { if (existsSync(file)) unlinkSync(file) } else writeFileSync(file, this.damage(readFileSync(file)))
      this.media.set(code, { kind, injectedAt: this.sim.now })
    } else {
      if (s.primary.inTransaction) throw new EngineError('CONFLICT', `${id} has an open transaction; inject the media failure after it ends`, { site: code })
      this.media.set(code, { kind, injectedAt: this.sim.now, image: kind === 'lost' ? null : this.damage(s.primary.export()) })
    }
    this.sim.record('nemesis.media', code, kind)
    this.log('failure', `${id}'s database medium ${kind === 'lost' ? 'lost' : 'corrupted'}${dir ? ` (${dbFileName(id)} in the data directory)` : ' (its in-memory image)'}: not detected until the next access`, code)
  }

  /** Seeded garbage over page 1 (the header and the schema's root) and three more pages of a SQLite image. */
  private damage(bytes: Uint8Array): Uint8Array {
    const out = Uint8Array.from(bytes)
    const raw = out.length > PAGE_SIZE_AT + 1 ? (out[PAGE_SIZE_AT] << 8) | out[PAGE_SIZE_AT + 1] : 0
    const page = raw === 1 ? 65536 : raw >= 512 ? raw : 4096
    const pages = Math.max(1, Math.floor(out.length / page))
    const rng = this.sim.rng
    const hit = [0, ...Array.from({ length: Math.min(3, pages - 1) }, () => rng.int(1, pages - 1))]
    for (const p of hit) for (let i = p * page; i < Math.min(out.length, (p + 1) * page); i++) out[i] = rng.int(0, 255)
    return out
  }

  /**
   * An access to a server: a primary whose medium was damaged and not yet found reads it now. Returns the damage
   * found (also recorded: the site refuses service until restored; the DTM learns of it as a crash).
   */
  protected checkMedium(id: string): string | undefined {
    const code = id.slice(0, id.indexOf('.'))
    const m = this.media.get(code)
    if (!m || m.detected || !id.endsWith('.primary')) return m?.detected
    const why = this.readMedium(id, m)
    if (!why) { this.media.delete(code); return undefined }
    m.detected = `media failure: ${why}; the site refuses service until its primary is restored (recover ${code} from backup, or restore a backup file)`
    this.damaged.set(id, m.detected)
    this.sim.record('nemesis.detected', code)
    this.log('failure', `${id}: media failure detected on access (${why}); ${code} refuses service until restored`, code)
    // the subsystems learn of it as a crash, after the access that found it has unwound
    this.sim.schedule(0, 'nemesis.down', () => { if (this.damaged.get(id) === m.detected) this.bus.emit({ type: 'server.down', server: id, site: code, role: 'primary' }) })
    this.saveState()
    return m.detected
  }

  /** Reads the medium as a database server would when it opens it: the file (or image) must exist and be a sound SQLite database of this server. */
  private readMedium(id: string, m: { image?: Uint8Array | null }): string | undefined {
    const dir = this.dataDir
    const name = dbFileName(id)
    let bytes: Uint8Array | null | undefined
    if (dir) bytes = existsSync(join(dir, name)) ? readFileSync(join(dir, name)) : null
    else bytes = m.image
    if (bytes === undefined) return undefined
    if (bytes === null || bytes.length === 0) return dir ? `${name} is missing from ${dir}` : `${id}'s database image is gone`
    const db = new this.SQL!.Database(bytes)
    try {
      const check = db.exec('PRAGMA quick_check')
      const verdict = String(check[0]?.values[0]?.[0] ?? '')
      if (verdict !== 'ok') return `${name} is corrupt (${verdict})`
      const who = db.exec("SELECT v FROM __meta WHERE k = 'iddb.db'")[0]?.values[0]?.[0]
      if (who !== id) return `${name} holds no database of ${id}`
      return undefined
    } catch (e) {
      return `${name} is unreadable: ${e instanceof Error ? e.message : String(e)}`
    } finally { db.close() }
  }

  /** Every access to a damaged medium that nobody read yet (a checkpoint writes the images: it reads them first). */
  protected checkAllMedia(): void { for (const code of [...this.media.keys()]) this.checkMedium(`${code}.primary`) }

  // ---- LAN ---------------------------------------------------------------------------------
  failLan(code: SiteCode): void {
    this.site(code)
    this.net.setLanState(code, 'down')
    this.log('failure', `the LAN at ${code} failed: its servers cannot reach each other nor the router`, code)
    this.saveState()
  }

  degradeLan(code: SiteCode, d: { extraDelayMs?: number; lossRate?: number }): void {
    this.site(code)
    const delay = d.extraDelayMs ?? 0, loss = d.lossRate ?? 0
    if (!(delay >= 0 && delay <= 60_000)) throw new EngineError('BAD_INPUT', `LAN delay must be 0..60000 ms, not ${delay}`)
    if (!(loss >= 0 && loss <= 1)) throw new EngineError('BAD_INPUT', `LAN loss must be 0..1, not ${loss}`)
    this.net.setLanState(code, 'degraded', { extraDelayMs: delay, lossRate: loss })
    this.log('failure', `the LAN at ${code} degraded (+${delay} ms, ${+(loss * 100).toFixed(2)}% loss)`, code)
    this.saveState()
  }

  restoreLan(code: SiteCode): void {
    this.site(code)
    if (this.net.lanState(code).state === 'up') return
    this.net.setLanState(code, 'up')
    this.log('recovery', `the LAN at ${code} is back`, code)
    this.saveState()
    if (this.SQL) this.replication.kick()
  }

  // ---- partitions --------------------------------------------------------------------------
  /**
   * Splits the sites into groups (every site in exactly one; sites not named form one more group): every WAN
   * link between two groups goes down. A partition already in force is healed first.
   */
  partition(groups: SiteCode[][]): string[] {
    const seen = new Set<SiteCode>()
    for (const g of groups) for (const c of g) {
      this.site(c)
      if (seen.has(c)) throw new EngineError('BAD_INPUT', `${c} is in two groups of the partition`, { site: c })
      seen.add(c)
    }
    const rest = this.siteCodes.filter((c) => !seen.has(c))
    const all = [...groups.filter((g) => g.length), ...(rest.length ? [rest] : [])]
    if (all.length < 2) throw new EngineError('BAD_INPUT', 'a partition needs at least two groups of sites (e.g. CMB | MBI KDY)')
    if (this.cut) this.heal()
    const groupOf = new Map<SiteCode, number>()
    all.forEach((g, i) => { for (const c of g) groupOf.set(c, i) })
    const links: string[] = []
    for (const [id, l] of this.net.links) {
      if (groupOf.get(l.spec.a) === groupOf.get(l.spec.b) || l.state === 'down') continue
      links.push(id)
    }
    this.cut = { groups: all, links }
    this.log('failure', `network partitioned: ${all.map((g) => g.join(' ')).join(' | ')} (links down: ${links.join(', ') || 'none'})`)
    for (const id of links) this.failLink(id)
    return links
  }

  /** Ends the partition: the links it cut come back (links failed on their own stay down). */
  heal(): string[] {
    const cut = this.cut
    if (!cut) return []
    this.cut = undefined
    for (const id of cut.links) if (this.net.link(id).state === 'down') this.restoreLink(id)
    this.log('recovery', `partition healed: ${cut.links.join(', ') || 'no links'} back`)
    return cut.links
  }

  // ---- duplication and reordering ----------------------------------------------------------
  setLinkChaos(id: string, chaos: Partial<LinkChaos>): void {
    const l = this.net.link(id)
    for (const [k, v] of Object.entries(chaos)) if (!(typeof v === 'number' && v >= 0 && v <= 1)) throw new EngineError('BAD_INPUT', `${k} must be a probability 0..1, not ${String(v)}`)
    this.net.setLinkChaos(id, chaos)
    const c = l.chaos
    if (c.duplicate || c.reorder) this.log('failure', `link ${id}: ${c.duplicate ? `${+(c.duplicate * 100).toFixed(2)}% of messages duplicated` : ''}${c.duplicate && c.reorder ? ', ' : ''}${c.reorder ? `${+(c.reorder * 100).toFixed(2)}% reordered` : ''}`)
    else this.log('recovery', `link ${id} delivers each message once, in order`)
  }

  // ---- clock skew --------------------------------------------------------------------------
  /** Sets a site's clock offset (ms, + ahead / − behind); 0 puts it right. */
  skewClock(code: SiteCode, offsetMs: number): void {
    this.site(code)
    if (!Number.isFinite(offsetMs) || Math.abs(offsetMs) > 7 * 86_400_000) throw new EngineError('BAD_INPUT', `clock skew must be within ±7 days, not ${offsetMs} ms`, { site: code })
    if (offsetMs) this.skews.set(code, offsetMs); else this.skews.delete(code)
    this.sim.record('nemesis.skew', code, offsetMs)
    this.log(offsetMs ? 'failure' : 'recovery', offsetMs ? `${code}'s clock is ${offsetMs > 0 ? 'ahead' : 'behind'} by ${Math.abs(offsetMs)} ms (it reads ${formatSiteTime(this.siteNow(code))})` : `${code}'s clock is right again`, code)
  }

  /** What the site's own clock reads: the virtual clock plus its skew. */
  siteNow(code: SiteCode): number { return this.sim.now + (this.skews.get(code) ?? 0) }
  clockSkew(code: SiteCode): number { return this.skews.get(code) ?? 0 }

  // ---- all at once ------------------------------------------------------------------------
  /** Repairs every nemesis fault that needs no restore: LANs, the partition, chaos, skews (media failures need recoverFromBackup). */
  repairNetworkFaults(): void {
    this.heal()
    for (const c of this.siteCodes) { this.restoreLan(c); if (this.skews.has(c)) this.skewClock(c, 0) }
    for (const [id, l] of this.net.links) if (l.chaos.duplicate || l.chaos.reorder) this.setLinkChaos(id, { duplicate: 0, reorder: 0 })
  }

  nemesisView(): NemesisView {
    return {
      sites: this.siteCodes.map((code) => {
        const lan: LanState = this.net.lanState(code)
        const m = this.media.get(code)
        return {
          code, lan: { ...lan }, skewMs: this.clockSkew(code), clock: formatSiteTime(this.siteNow(code)),
          ...(m ? { media: { kind: m.kind, detected: m.detected ?? null, injectedAt: m.injectedAt } } : {}),
          needsRestore: this.damaged.get(`${code}.primary`) ?? null,
        }
      }),
      links: [...this.net.links.values()].map((l) => ({ id: l.spec.id, duplicate: l.chaos.duplicate, reorder: l.chaos.reorder, duplicated: l.stats.duplicated, reordered: l.stats.reordered, partitioned: !!this.cut?.links.includes(l.spec.id) })),
      partition: this.cut ? this.cut.groups.map((g) => [...g]) : null,
    }
  }
}
