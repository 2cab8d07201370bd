/**
 * Recovery (spec §7): a site's primary from its backup server (media recovery, the commit log redone, a
 * damaged log rebuilt), a branch's fragments from the main repository, and the fragmentation checks that
 * prove the result.
 */
import type { SiteCode } from '../topology/types'
import { EngineError } from '../errors'
import { fragments, satisfiesPredicate } from '../data/schema'
import { checkFragmentation, checkFragmentationAsync, type FragmentationReport } from '../data/checks'
import { installCatalogs } from '../catalog/catalog'
import { assert } from '../assert'
import { assertRepositoryHolds, gapError } from '../backup/repository'
import { ClusterCopies } from './copies'

export abstract class ClusterRecovery extends ClusterCopies {
  // ---- recovery (spec §7) -------------------------------------------------------------------
  /**
   * Media recovery of a site's primary from its backup server: the backup image becomes the primary,
   * then the recovery manager redoes the site's own committed batches the backup had not applied yet
   * (from the durable log), and the catalogs are rebuilt. Replicated changes from other sites that the
   * image lacks are re-sent by their channels.
   */
  recoverFromBackup(code: SiteCode): { redone: number; fromSeq: number } {
    const s = this.internalSite(code)
    if (!this.isServerUp(`${code}.backup`)) throw new EngineError('SITE_DOWN', `${code}.backup is down: cannot recover from it`, { site: code })
    if (s.primary.inTransaction) throw new EngineError('CONFLICT', `${code}.primary has an open transaction`, { site: code })
    const damage = this.damaged.get(`${code}.primary`)
    const txnLog = this.txnLogs.get(code)
    const mediaOnly = !!this.media.get(code)?.detected && damage === this.media.get(code)?.detected // the image is lost, the log intact
    if (damage && !mediaOnly && (!s.backupLog?.isOpen || txnLog?.lost)) {
      throw new EngineError('CORRUPT_DATA', `${damage}: ${code}.backup has no intact copy of that log either, so what was acknowledged since the last checkpoint cannot be restored from it`, { site: code })
    }
    if (damage && this.readers > 0) throw new EngineError('CONFLICT', 'a fragmentation check is running; restore after it finishes (the restore writes a checkpoint)', { site: code })
    const fromSeq = s.backup.getMetaNum(`src.${code}`)
    const mediaReplaced = this.media.delete(code) // the backup's image replaces a lost or corrupted medium
    s.primary.load(s.backup.export())
    s.primary.setMeta('iddb.db', s.primary.id)
    s.primary.installAllTriggers()
    // the catalogs live at the primary only: a backup that never received a primary image lacks them
    installCatalogs(s.primary, this.topology, code)
    s.catalog.rebuild()
    let redone = 0
    for (const r of s.retained) if (r.seq > fromSeq) { s.replay(r.seq, r.body); redone++ }
    s.primary.setMeta('seq', s.seq)
    if (mediaReplaced && !damage) this.checkpoint() // a damaged file nobody had read yet is written anew
    if (damage) {
      // the primary's log is rebuilt from the backup server's copy, with the restored image (one checkpoint)
      this.damaged.delete(`${code}.primary`)
      txnLog?.repair()
      this.checkpoint()
      this.log('recovery', mediaOnly ? `${code}.primary's database medium rebuilt from ${code}.backup's image and the commit log (up to record ${s.seq})` : `${code}.primary's commit log rebuilt from ${code}.backup's copy (up to record ${s.seq})`, code)
    }
    this.replication.build()
    this.replication.catalogChanged(code)
    this.replication.resendCatalogsTo(code)
    this.replication.kick()
    this.log('recovery', `${code}.primary recovered from ${code}.backup (image at seq ${fromSeq}, ${redone} batch(es) redone from the log)`, code)
    this.bus.emit({ type: 'site.recovered', site: code, from: 'backup' })
    if (damage && this.isServerUp(`${code}.primary`)) {
      this.log('recovery', `${code}.primary restored`, code)
      this.bus.emit({ type: 'server.up', server: `${code}.primary`, site: code, role: 'primary' }) // the DTM restarts the site
    }
    return { redone, fromSeq }
  }

  /**
   * Restores a branch's fragments from the Colombo main repository: the rows are shipped over the WAN and
   * replace the site's fragments in one local transaction (logged, then fed to its backup as usual).
   * Returns at once; the restore completes when the data arrives (run the simulation).
   */
  restoreFromRepository(code: SiteCode, onDone?: (rows: number) => void, onError?: (e: EngineError) => void): void {
    const hq = this.topology.sites.find((x) => x.repository)!.code
    const s = this.internalSite(code)
    if (!this.isServerUp(`${hq}.repository`)) throw new EngineError('SITE_DOWN', `${hq}.repository is down`, { site: hq })
    if (!this.isServerUp(`${code}.primary`)) throw new EngineError('SITE_DOWN', `${code}.primary is down`, { site: code })
    assertRepositoryHolds(this, code) // never discard a commit the repository has not received (issue 17, bug 4)
    const seqAtRead = s.seq
    const repo = this.internalSite(hq).repository!
    const frs = fragments(this.topology)
    const parts: { table: string; columns: string[]; rows: unknown[][] }[] = []
    for (const t of s.tables) {
      const f = t.frag
      const rel = f.relation
      let sql: string
      if (f.kind === 'horizontal') sql = `SELECT ${f.columns.join(', ')} FROM ${rel} WHERE ${f.predicate}`
      else sql = `SELECT ${f.columns.join(', ')} FROM ${rel}` // replica, local, vertical (projection), copy
      if (f.kind === 'vertical' || f.kind === 'copy') {
        const src = frs.find((x) => x.name === f.copyOf)
        if (!src) continue
      }
      const rows = repo.query(sql).rows
      for (const r of rows) assert(satisfiesPredicate(f, (c) => r[f.columns.indexOf(c)]), () => `a row restored into ${t.name} satisfies its predicate ${f.predicate}: ${JSON.stringify(r)}`)
      parts.push({ table: t.name, columns: f.columns, rows })
    }
    const bytes = JSON.stringify(parts).length
    const total = parts.reduce((a, p) => a + p.rows.length, 0)
    this.log('recovery', `restoring ${code} from the main repository: ${total} rows, ${bytes} bytes over the WAN`, code)
    this.net.send({
      from: hq, to: code, kind: 'recovery.restore', bytes, payload: total,
      onDeliver: () => {
        if (s.seq !== seqAtRead) { // the branch committed while the rows were in transit: replacing them would lose that
          const e = gapError(code, { applied: seqAtRead, seq: s.seq }, 'applying the rows read before')
          this.log('recovery', `restore of ${code} from the main repository refused: ${e.message}`, code)
          onError?.(e)
          return
        }
        this.siteStore(code).maintain((tx) => {
          for (const p of parts) {
            tx.exec(`DELETE FROM "${p.table}"`)
            const sql = `INSERT INTO "${p.table}" (${p.columns.join(', ')}) VALUES (${p.columns.map(() => '?').join(', ')})`
            for (const r of p.rows) tx.exec(sql, r as never)
          }
        })
        this.log('recovery', `${code} restored from the main repository (${total} rows)`, code)
        this.bus.emit({ type: 'site.recovered', site: code, from: 'repository' })
        onDone?.(total)
      },
      onDrop: (reason) => { this.log('recovery', `restore of ${code} lost in transit: ${reason}`, code); onError?.(new EngineError('UNREACHABLE', `the restore of ${code} from the main repository was lost in transit: ${reason}`, { site: code })) },
    })
  }

  /** Fragmentation correctness (completeness, reconstruction, disjointness) against the main repository. */
  checkFragmentation(relation?: string): FragmentationReport {
    return checkFragmentation(this.topology, (c) => this.internalSite(c), (id) => this.isServerUp(id), relation)
  }

  /** Same, yielding to the event loop as it goes (for hosts: the worker keeps answering at 1M rows). */
  async checkFragmentationAsync(relation?: string): Promise<FragmentationReport> {
    this.readers++
    try {
      return await checkFragmentationAsync(this.topology, (c) => this.internalSite(c), (id) => this.isServerUp(id), relation)
    } finally { this.readers-- }
  }
}
