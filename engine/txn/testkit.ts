/**
 * Shared set-up for the DTM's tests and benchmark: stock fragments at each branch and a transfer
 * workload (move quantity of one stock item from one branch's fragment to another's).
 */
import { Cluster } from '../cluster'
import { Dtm, type DtmOptions, type CommitResult, type ExecResult } from './dtm'
import { MemoryStore } from './store'

export const STOCK_TABLE: Record<string, string> = { CMB: 'Stock_CMB', MBI: 'Stock_MBI_LCL', KDY: 'Stock_KDY' }

export function stockCluster(opts: { seed?: number; items?: number; qty?: number; dtm?: Partial<DtmOptions> } = {}): { cluster: Cluster; dtm: Dtm; items: string[] } {
  const cluster = new Cluster({ seed: opts.seed ?? 1 })
  const dtm = new Dtm(cluster, opts.dtm)
  const n = opts.items ?? 4
  const items = Array.from({ length: n }, (_, i) => `S${String(i + 1).padStart(3, '0')}`)
  for (const site of cluster.siteCodes) {
    const st = new MemoryStore()
    st.createTable(STOCK_TABLE[site] ?? `Stock_${site}`, 'STOCKCODE', items.map((code, i) => ({ STOCKCODE: code, ITEMNO: i + 1, QTY: opts.qty ?? 100, UNITPRICE: 10 })))
    dtm.setStore(site, st)
  }
  return { cluster, dtm, items }
}

export function totalQty(dtm: Dtm, sites: string[], item?: string): number {
  let t = 0
  for (const s of sites) for (const r of dtm.store(s).scan(STOCK_TABLE[s])) if (!item || r.STOCKCODE === item) t += Number(r.QTY)
  return t
}

export interface TransferSpec {
  origin: string; from: string; to: string; item: string; qty: number; readFirst?: boolean
  /** Issue the statements on the global names (STOCK_CMB, STOCK_MBI, …), localized by the DTM, instead of fragment names at sites. */
  global?: boolean
}
export interface TransferOutcome extends TransferSpec { gid?: string; outcome: CommitResult['outcome'] | 'NOT_STARTED'; reason?: string }

/** Runs one transfer as a client at `origin`: [SELECT], UPDATE −q at from, UPDATE +q at to, COMMIT. */
export function transfer(dtm: Dtm, t: TransferSpec, done: (o: TransferOutcome) => void): void {
  let gid: string
  try { gid = dtm.begin(t.origin) } catch (e) { done({ ...t, outcome: 'NOT_STARTED', reason: String(e) }); return }
  const fail = (reason: string) => done({ ...t, gid, outcome: 'ABORT', reason })
  const ft = t.global ? `STOCK_${t.from}` : STOCK_TABLE[t.from], tt = t.global ? `STOCK_${t.to}` : STOCK_TABLE[t.to]
  const steps: [string, string][] = []
  if (t.readFirst) steps.push([t.from, `SELECT QTY FROM ${ft} WHERE STOCKCODE = ?`])
  steps.push([t.from, `UPDATE ${ft} SET QTY = QTY - ${t.qty} WHERE STOCKCODE = ?`])
  steps.push([t.to, `UPDATE ${tt} SET QTY = QTY + ${t.qty} WHERE STOCKCODE = ?`])
  const next = (i: number) => {
    if (i === steps.length) {
      try { dtm.commit(gid, (r) => done({ ...t, gid, outcome: r.outcome, reason: r.reason })) } catch (e) { fail(String(e)) }
      return
    }
    const cb = (r: ExecResult) => {
      if (!r.ok) return fail(r.error?.message ?? 'error')
      if (i === 0 && t.readFirst && Number(r.rows?.[0]?.QTY ?? 0) < t.qty) {
        try { dtm.abort(gid, 'not enough stock') } catch { /* already aborted */ }
        return fail('not enough stock')
      }
      next(i + 1)
    }
    if (t.global) dtm.execGlobal(gid, steps[i][1], [t.item], cb)
    else dtm.exec(gid, steps[i][0], steps[i][1], [t.item], cb)
  }
  next(0)
}

/**
 * Advances virtual time by exactly `ms`, with a marker event at the target (robust even on a kernel whose
 * runUntil let a cancelled top event make step() fire a later event past the target; see live.test.ts).
 */
export function advanceExactly(cluster: Cluster, ms: number): void {
  cluster.sim.schedule(ms, 'test.mark', () => {})
  cluster.sim.advance(ms)
}
