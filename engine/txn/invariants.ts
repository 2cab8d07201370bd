/** Invariant checks shared by the reliability tests (bank-style transfers). */
import type { Cluster } from '../cluster'
import type { Dtm } from './dtm'
import { STOCK_TABLE, type TransferOutcome } from './testkit'

/** Brings every site and link back and lets the protocol finish; returns whether everything settled. */
export function healAndSettle(cluster: Cluster, dtm: Dtm, maxMs = 120_000): boolean {
  for (const l of cluster.net.links.keys()) if (cluster.net.links.get(l)!.state !== 'up') cluster.restoreLink(l)
  for (const s of cluster.siteCodes) cluster.restoreSite(s)
  const until = cluster.sim.now + maxMs
  const settled = () => { const m = dtm.summary(); return m.inDoubt === 0 && m.active === 0 && m.locks === 0 && m.coordinators === 0 }
  return cluster.sim.runUntilTrue(() => settled() || cluster.sim.now > until) && settled()
}

export function checkBank(dtm: Dtm, cluster: Cluster, initial: Map<string, number>, results: TransferOutcome[]): string[] {
  const errs: string[] = []
  const logged = dtm.loggedDecisions()
  const committed = new Set<string>()
  for (const [gid, ds] of logged) {
    const kinds = new Set([...ds].map((d) => d.split('@')[0]))
    if (kinds.has('COMMIT') && kinds.has('ABORT')) errs.push(`${gid} both committed and aborted: ${[...ds].join(', ')}`)
    if (kinds.has('COMMIT')) committed.add(gid)
  }
  const expected = new Map(initial)
  for (const r of results) {
    if (!r.gid) continue
    const isC = committed.has(r.gid)
    if (r.outcome === 'COMMIT' && !isC) errs.push(`${r.gid} reported committed but no site logged COMMIT`)
    if (r.outcome === 'ABORT' && isC) errs.push(`${r.gid} reported aborted but committed at ${[...logged.get(r.gid)!].join(', ')}`)
    if (!isC) continue
    const ds = logged.get(r.gid)!
    for (const site of new Set([r.from, r.to])) if (!ds.has(`COMMIT@${site}`)) errs.push(`${r.gid} half-committed: no COMMIT at ${site} (${[...ds].join(', ')})`)
    const kf = `${r.from}:${r.item}`, kt = `${r.to}:${r.item}`
    expected.set(kf, expected.get(kf)! - r.qty)
    expected.set(kt, expected.get(kt)! + r.qty)
  }
  let totalE = 0, totalA = 0
  for (const site of cluster.siteCodes) for (const row of dtm.store(site).scan(STOCK_TABLE[site])) {
    const k = `${site}:${row.STOCKCODE}`
    totalA += Number(row.QTY); totalE += initial.get(k)!
    if (Number(row.QTY) !== expected.get(k)) errs.push(`${k}: QTY ${row.QTY}, expected ${expected.get(k)} from the committed transfers`)
  }
  if (totalA !== totalE) errs.push(`total quantity ${totalA} ≠ initial ${totalE}`)
  const m = dtm.summary()
  if (m.inDoubt) errs.push(`${m.inDoubt} in-doubt sub-transaction(s) left`)
  if (m.locks) errs.push(`${m.locks} lock(s) still held`)
  if (m.active) errs.push(`${m.active} active sub-transaction(s) left`)
  return errs
}

export function snapshot(dtm: Dtm, cluster: Cluster): Map<string, number> {
  const m = new Map<string, number>()
  for (const site of cluster.siteCodes) for (const row of dtm.store(site).scan(STOCK_TABLE[site])) m.set(`${site}:${row.STOCKCODE}`, Number(row.QTY))
  return m
}
