/**
 * Scheduled copies (Stock_MBI at CMB, refreshed at 12:00 and 18:00): the refresh timer, a refresh shipped
 * over the WAN, and a copy's status against its source.
 */
import { nextLocalTime } from '../sim/kernel'
import type { SiteCode } from '../topology/types'
import { EngineError } from '../errors'
import { fragments } from '../data/schema'
import { ClusterBase } from './base'

export interface CopyStatus {
  copy: string
  site: SiteCode
  source: string
  sourceSite: SiteCode
  lastRefreshAt: number | null
  ageMs: number | null
  nextRefreshAt: number
  /** The copy differs from its source right now. */
  stale: boolean
  rows: number
}

export abstract class ClusterCopies extends ClusterBase {
  protected refreshTimer?: ReturnType<ClusterBase['sim']['scheduleDaemon']>

  // ---- copies (Stock_MBI at CMB, refreshed at 12:00 and 18:00) -----------------------------
  protected copies() { return fragments(this.topology).filter((f) => f.kind === 'copy' && f.copyOf) }

  protected scheduleRefresh(): void {
    if (this.refreshTimer) this.sim.cancel(this.refreshTimer)
    if (!this.copies().length) return
    const next = Math.min(nextLocalTime(this.sim.now, 12, 0), nextLocalTime(this.sim.now, 18, 0))
    this.refreshTimer = this.sim.scheduleDaemon(next - this.sim.now, 'copy.schedule', () => {
      this.refreshTimer = undefined
      for (const f of this.copies()) this.refreshCopy(f.name)
      this.scheduleRefresh()
    })
  }

  nextRefreshAt(): number { return Math.min(nextLocalTime(this.sim.now, 12, 0), nextLocalTime(this.sim.now, 18, 0)) }

  /** Ships the source rows of a copy over the WAN and replaces the copy when they arrive. */
  refreshCopy(name: string): void {
    const f = this.copies().find((x) => x.name === name)
    if (!f) throw new EngineError('UNKNOWN_TABLE', `${name} is not a scheduled copy; copies: ${this.copies().map((x) => x.name).join(', ')}`)
    const src = fragments(this.topology).find((x) => x.name === f.copyOf)!
    const from = this.internalSite(src.site)
    if (!this.isServerUp(`${src.site}.primary`)) { this.log('replication', `refresh of ${name} skipped: ${src.site}.primary is down`, f.site); return }
    const rows = from.primary.query(`SELECT * FROM "${src.name}" ORDER BY 1`).rows
    try {
      this.net.send({
        from: src.site, to: f.site, kind: 'copy.refresh', bytes: JSON.stringify(rows).length, payload: rows.length,
        onDeliver: () => {
          if (!this.isServerUp(`${f.site}.primary`)) { this.log('replication', `refresh of ${name} lost: ${f.site}.primary is down`, f.site); return }
          const st = this.siteStore(f.site)
          st.withTransaction((tx) => {
            tx.exec(`DELETE FROM "${f.name}"`)
            const ph = `(${f.columns.map(() => '?').join(', ')})`
            for (const r of rows) tx.exec(`INSERT INTO "${f.name}" (${f.columns.join(', ')}) VALUES ${ph}`, r)
            tx.exec('INSERT OR REPLACE INTO COPY_REFRESH VALUES (?, ?, ?, ?)', [f.name, src.name, this.sim.now, rows.length])
          })
          this.log('replication', `${name} refreshed at ${f.site} from ${src.name}@${src.site} (${rows.length} rows)`, f.site)
        },
        onDrop: (reason) => this.log('replication', `refresh of ${name} lost in transit: ${reason}`, f.site),
      })
    } catch (e) {
      this.log('replication', `refresh of ${name} failed: ${e instanceof Error ? e.message : String(e)}`, f.site)
    }
  }

  copyStatus(name: string): CopyStatus {
    const f = this.copies().find((x) => x.name === name)
    if (!f) throw new EngineError('UNKNOWN_TABLE', `${name} is not a scheduled copy`)
    const src = fragments(this.topology).find((x) => x.name === f.copyOf)!
    const copyDb = this.internalSite(f.site).primary
    const srcDb = this.internalSite(src.site).primary
    const at = copyDb.scalar('SELECT REFRESHED_AT FROM COPY_REFRESH WHERE COPY_NAME = ?', [f.name])
    const a = JSON.stringify(copyDb.query(`SELECT * FROM "${f.name}" ORDER BY 1`).rows)
    const b = JSON.stringify(srcDb.query(`SELECT * FROM "${src.name}" ORDER BY 1`).rows)
    return {
      copy: f.name, site: f.site, source: src.name, sourceSite: src.site, lastRefreshAt: at === null ? null : Number(at),
      ageMs: at === null ? null : this.sim.now - Number(at), nextRefreshAt: this.nextRefreshAt(), stale: a !== b, rows: copyDb.count(f.name),
    }
  }
}
