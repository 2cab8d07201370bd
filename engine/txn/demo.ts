/**
 * One-click cross-site deadlock for the console: T1 (older, at site a) updates a stock row at a, T2
 * (younger, at site b) one at b; then each updates the other's row. Neither site sees a cycle in its own
 * WFG; the global detector finds it, confirms it on a second poll and aborts the victim. The updates add
 * zero, so the demo leaves the data as it was.
 */
import type { Cluster } from '../cluster'
import { EngineError } from '../errors'
import type { Dtm, WfgView } from './dtm'

function stockTable(dtm: Dtm, site: string): string {
  for (const t of [`Stock_${site}`, `Stock_${site}_LCL`]) {
    try { return dtm.store(site).resolveTable(t) } catch { /* next */ }
  }
  throw new EngineError('NOT_FOUND', `no stock fragment at ${site}`, { site })
}

export function demoDeadlock(cluster: Cluster, dtm: Dtm, a: string, b: string, opts: { resolve?: boolean; maxMs?: number } = {}): { victims: string[]; transactions: string[]; detectedAt: number | null; graph: WfgView } {
  for (const s of [a, b]) if (!cluster.isSiteUp(s)) throw new EngineError('SITE_DOWN', `${s} is down`, { site: s })
  const ta = stockTable(dtm, a), tb = stockTable(dtm, b)
  const kc = dtm.store(a).keyColumn(ta)
  const rowsA = dtm.store(a).scan(ta), rowsB = dtm.store(b).scan(tb)
  if (!rowsA.length || rowsB.length < (a === b ? 2 : 1)) throw new EngineError('NOT_FOUND', 'the stock fragments are empty: load data first')
  const ka = String(rowsA[0][kc]), kb = String(rowsB[a === b ? 1 : 0][kc])
  const before = dtm.deadlocks.length
  const t1 = dtm.begin(a)
  const t2 = dtm.begin(b)
  const upd = (t: string, k: string) => `UPDATE ${t} SET QTY = QTY + 0 WHERE ${kc} = '${k.replace(/'/g, "''")}'`
  let firsts = 0
  const finished: Record<string, boolean> = {}
  dtm.exec(t1, a, upd(ta, ka), [], () => firsts++)
  dtm.exec(t2, b, upd(tb, kb), [], () => firsts++)
  const limit = cluster.sim.now + (opts.maxMs ?? 60_000)
  cluster.sim.runUntilTrue(() => firsts === 2 || cluster.sim.now > limit)
  const finish = (t: string) => (r: { ok: boolean }) => {
    if (!r.ok) { finished[t] = true; return }
    try { dtm.commit(t, () => { finished[t] = true }) } catch { finished[t] = true }
  }
  dtm.exec(t1, b, upd(tb, kb), [], finish(t1))
  dtm.exec(t2, a, upd(ta, ka), [], finish(t2))
  // let both requests reach their sites and block
  cluster.sim.runUntilTrue(() => dtm.wfgView().cycles.length > 0 || cluster.sim.now > limit || dtm.deadlocks.length > before)
  const atCycle = dtm.wfgView()
  if (opts.resolve) cluster.sim.runUntilTrue(() => (finished[t1] && finished[t2] && !dtm.unfinishedAt(t1).length && !dtm.unfinishedAt(t2).length) || cluster.sim.now > limit)
  const recs = dtm.deadlocks.slice(before).filter((d) => d.cycle.includes(t1) || d.cycle.includes(t2))
  // the graph as it stood when the cycle formed (the live one is empty again once the victim is aborted)
  return { victims: recs.map((d) => d.victim), transactions: [t1, t2], detectedAt: recs[0]?.at ?? null, graph: atCycle.global.length ? atCycle : dtm.wfgView() }
}
