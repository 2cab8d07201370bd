/**
 * Replication benchmark (group 'repl'): the Stock_MBI refresh (Stock_MBI_LCL at Mumbai → Stock_MBI at Colombo).
 *   repl.incremental_bytes_ratio   bytes on the wire of an incremental refresh after 1% of Stock_MBI_LCL's rows
 *                                  changed ÷ the bytes of a full snapshot of the same table. Goal ≤ 0.05.
 *   repl.refresh_vs_wire_ratio     virtual time of that incremental refresh (read at Mumbai → applied at Colombo
 *                                  in one transaction) ÷ the wire time of its bytes over the CMB–MBI T1 (delay +
 *                                  bytes × 8 / bandwidth: the physical limit). Goal ≤ 1.1.
 *   repl.full_bytes, repl.incremental_bytes, repl.incremental_rows, repl.source_rows   context for the ratios.
 * The refreshes are started and timed through the engine's own refresh path (Cluster.refreshCopy) and read back
 * from the engine's job history (virtual start/end, rows, bytes).
 */
import { Cluster } from '../engine/cluster'
import { jobLog } from '../engine/cluster/joblog'
import type { BenchContext } from './run'

function refreshed(c: Cluster) {
  const id = c.refreshCopy('Stock_MBI')
  c.sim.runUntilTrue(() => jobLog(c).get(id)!.status !== 'running', 10_000_000)
  const j = jobLog(c).get(id)!
  if (j.status !== 'done') throw new Error(`the refresh of Stock_MBI ended ${j.status}: ${j.error?.message ?? ''}`)
  return j
}

export const group = {
  name: 'repl',
  async run(ctx: BenchContext): Promise<Record<string, number>> {
    const c = await Cluster.create({ seed: 7, sales: 2000 })
    try {
      c.settle()
      const mbi = c.siteStore('MBI')
      const n = mbi.count('Stock_MBI_LCL')
      // a full snapshot first (the log does not cover the generated load)
      const full = refreshed(c)
      // 1% of the rows change at Mumbai, one committed transaction each
      const codes = mbi.query('SELECT STOCKCODE FROM Stock_MBI_LCL ORDER BY STOCKCODE').rows.map((r) => r[0])
      const k = Math.max(1, Math.round(n / 100))
      for (let i = 0; i < k; i++) mbi.exec('UPDATE Stock_MBI_LCL SET QTY = QTY + 1 WHERE STOCKCODE = ?', [codes[Math.floor((i * codes.length) / k)]])
      c.settle()
      const inc = refreshed(c)
      if (!inc.detail?.startsWith('incremental')) throw new Error(`expected an incremental refresh, got ${inc.detail}`)
      const link = c.net.links.get('CMB-MBI')!
      const wireMs = link.spec.delayMs + (inc.bytes * 8 * 1000) / link.spec.bandwidthBps
      const out = {
        'repl.incremental_bytes_ratio': inc.bytes / full.bytes,
        'repl.refresh_vs_wire_ratio': inc.durationMs! / wireMs,
        'repl.full_bytes': full.bytes,
        'repl.incremental_bytes': inc.bytes,
        'repl.incremental_rows': inc.rows,
        'repl.source_rows': n,
      }
      ctx.log(`repl: ${n} source rows, ${k} changed; full ${full.bytes} B, incremental ${inc.bytes} B (${inc.rows} rows) in ${inc.durationMs} ms virtual vs ${wireMs.toFixed(2)} ms on the wire`)
      return out
    } finally { c.close() }
  },
}
