/**
 * Distributed Integrity Manager benchmark (group 'dim'):
 *   dim.overhead_ratio       wall time of the sales-insert workload with integrity on ÷ the same workload with it
 *                            off, measured side by side in one run (alternating blocks on one cluster, median of
 *                            the per-block ratios). The workload: single-row INSERT INTO SALES through the
 *                            distributed query processor (the Query console's path) at the three sites in turn,
 *                            each a valid sale (an existing item, a seller of the branch, a new INVNO). With
 *                            integrity on, each insert's row is judged inside its transaction: the row rules at the
 *                            participant, then the key and foreign-key lookups as reads of the same transaction
 *                            (PK_SALES at the two other branches' Sales fragments, the item at the ITEMS primary
 *                            copy, the seller in the branch's Employees fragment; engine/integrity/txn.ts). Goal ≤ 1.3.
 *   dim.inserts_per_s_on / dim.inserts_per_s_off   the two throughputs (wall).
 *                            Each branch sells from its own block of invoice numbers (INVOICE_BLOCKS, reserved
 *                            first, as the POS does at day open): INVNO is then checked in the branch's own
 *                            fragment and the item in its local ITEMS replica, so a sale's checks are all local.
 *   dim.virtual_ms_on / dim.virtual_ms_off   virtual response time per insert (reported, no goal).
 *   dim.overhead_ratio_global, dim.virtual_ms_on_global   the same workload with INVNOs outside every block (one
 *                            company-wide sequence): each sale proves its INVNO unused at the two other branches and
 *                            in nobody's block (at the primary copy), one round trip to the farthest of them.
 */
import { Cluster } from '../engine/cluster'
import { dqpFor } from '../engine/query/dqp'
import { Dim } from '../engine/integrity'
import { reserveKeyBlock } from '../engine/integrity/blocks'
import { median } from './stats'
import type { BenchContext } from './run'

export async function overhead(blocks = 8, perBlock = 150, opts: { invoiceBlocks?: boolean } = {}): Promise<{ ratio: number; onPerS: number; offPerS: number; virtualOn: number; virtualOff: number; probes: number }> {
  const c = await Cluster.create({ seed: 21, sales: 20_000 })
  const dqp = await dqpFor(c)
  const dim = Dim.of(c)
  const sites = c.siteCodes
  const items = c.siteStore('CMB').query('SELECT ITEMNO, LISTPRICE FROM ITEMS ORDER BY ITEMNO').rows
  const sellers = new Map(sites.map((s) => [s, c.siteStore(s).query(`SELECT EMPNO FROM "Employees_${s}" ORDER BY EMPNO`).rows.map((r) => Number(r[0]))]))
  let inv = 5_000_000
  // the branches' own blocks (far more numbers than the run sells)
  const own = new Map<string, number>()
  if (opts.invoiceBlocks) sites.forEach((s, i) => { const b = reserveKeyBlock(c, s, { lo: 6_000_001 + i * 1_000_000, size: 1_000_000 }); own.set(s, b.lo - 1) })
  c.settle(60_000)
  const next = (site: string) => { if (!opts.invoiceBlocks) return ++inv; const n = own.get(site)! + 1; own.set(site, n); return n }
  const insert = async (k: number) => {
    const site = sites[k % sites.length]
    const [itemno, price] = items[k % items.length] as [number, number]
    const emps = sellers.get(site)!
    const qty = 1 + (k % 3)
    const r = await dqp.run(site, `INSERT INTO SALES (INVNO, BRCODE, ITEMNO, QTY, UNITPRICE, AMOUNT, SOLD_AT, EMPNO) VALUES (${next(site)}, '${site}', ${itemno}, ${qty}, ${price}, ${Math.round(qty * price * 100) / 100}, '2026-11-23 10:00:00', ${emps[k % emps.length]})`)
    return r.virtualMs
  }
  const block = async (on: boolean) => {
    dim.enabled = on
    let v = 0
    const t0 = performance.now()
    for (let k = 0; k < perBlock; k++) v += await insert(k)
    const ms = performance.now() - t0
    c.settle(60_000)
    return { ms, v }
  }
  await block(true); await block(false) // warm-up
  const ratios: number[] = []
  let onMs = 0, offMs = 0, vOn = 0, vOff = 0
  for (let b = 0; b < blocks; b++) {
    // alternate which goes first, so drift (growing tables, GC) falls on both sides
    const first = b % 2 === 0
    const x = await block(first), y = await block(!first)
    const on = first ? x : y, off = first ? y : x
    ratios.push(on.ms / off.ms)
    onMs += on.ms; offMs += off.ms; vOn += on.v; vOff += off.v
  }
  dim.enabled = true
  const probes = dim.stats.probes
  c.close()
  return { ratio: median(ratios), onPerS: (blocks * perBlock) / (onMs / 1000), offPerS: (blocks * perBlock) / (offMs / 1000), virtualOn: vOn / (blocks * perBlock), virtualOff: vOff / (blocks * perBlock), probes }
}

export const group = {
  name: 'dim',
  async run(ctx: BenchContext): Promise<Record<string, number>> {
    const o = await overhead(8, 150, { invoiceBlocks: true })
    ctx.log(`dim: sales inserts from the branches' blocks ${o.onPerS.toFixed(0)}/s with integrity on, ${o.offPerS.toFixed(0)}/s off (ratio ${o.ratio.toFixed(3)}); virtual ms per insert ${o.virtualOn.toFixed(1)} on, ${o.virtualOff.toFixed(1)} off; ${o.probes} lookups`)
    const g = await overhead()
    ctx.log(`dim: sales inserts outside every block ${g.onPerS.toFixed(0)}/s on, ${g.offPerS.toFixed(0)}/s off (ratio ${g.ratio.toFixed(3)}); virtual ms per insert ${g.virtualOn.toFixed(1)} on`)
    return {
      'dim.overhead_ratio_global': g.ratio,
      'dim.virtual_ms_on_global': g.virtualOn,
      'dim.overhead_ratio': o.ratio,
      'dim.inserts_per_s_on': o.onPerS,
      'dim.inserts_per_s_off': o.offPerS,
      'dim.virtual_ms_on': o.virtualOn,
      'dim.virtual_ms_off': o.virtualOff,
    }
  },
}
