/**
 * The ticket layer of a cluster: one TicketService per Cluster, wired to record each accepted sale in SALES at
 * the accepting site (its horizontal fragment) in one sql.js transaction, in the same simulation step as the
 * acceptance. The protocol core (core.ts) knows nothing of sql.js; this is the only place that joins them.
 */
import type { Cluster } from '../cluster'
import { fragments, satisfiesPredicate } from '../data/schema'
import { assert } from '../assert'
import { formatSiteTime } from '../sim/kernel'
import { Dim } from '../integrity'
import { TicketService, type SaleRecord, type TicketServiceOptions } from './service'

export * from './service'

/** The sale a POS client attaches to its ticket (all optional; defaults make a one-item sale). */
export interface SaleInput { itemNo?: number; qty?: number; unitPrice?: number; empNo?: number }

/** Writes the accepted sale into the accepting site's SALES fragment (only for numeric invoice numbers). */
export function recordSaleInStore(cluster: Cluster, r: SaleRecord): boolean {
  if (!/^\d{1,15}$/.test(r.ticket)) return false
  let store
  try { store = cluster.siteStore(r.site) } catch { return false } // cluster without site stores (tests, benches)
  const frag = fragments(cluster.topology).find((f) => f.relation === 'SALES' && f.site === r.site)
  if (!frag) return false
  const s = (r.sale ?? {}) as SaleInput
  const qty = s.qty ?? 1, price = s.unitPrice ?? 0
  assert(satisfiesPredicate(frag, (c) => (c === 'BRCODE' ? r.site : undefined)), () => `a sale accepted at ${r.site} belongs to ${frag.name} (${frag.predicate})`)
  // checked by the DIM's site guard inside the local transaction (a violation refuses the write: engine/integrity)
  Dim.of(cluster).guarded(() => store.withTransaction((tx) => {
    tx.exec(`INSERT INTO ${frag.name} (INVNO, BRCODE, ITEMNO, QTY, UNITPRICE, AMOUNT, SOLD_AT, EMPNO) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      [Number(r.ticket), r.site, s.itemNo ?? 1, qty, price, qty * price, formatSiteTime(r.at), s.empNo ?? null])
  }))
  return true
}

/** The cluster's ticket service (built by its subsystem registry on first use; opts apply then). */
export function ticketsOf(cluster: Cluster, opts: TicketServiceOptions = {}): TicketService { return cluster.subsystems.tickets(opts) }

/** A ticket service wired to record each accepted sale in SALES (the cluster's subsystem registry calls this). */
export function createTicketService(cluster: Cluster, opts: TicketServiceOptions = {}): TicketService {
  return new TicketService(cluster, {
    ...opts,
    recordSale: (r) => {
      try {
        if (recordSaleInStore(cluster, r)) cluster.log('ticket', `sale ${r.ticket} recorded in SALES at ${r.site}`, r.site)
      } catch (e) {
        cluster.log('ticket', `sale ${r.ticket} accepted at ${r.site} but not written to SALES: ${e instanceof Error ? e.message : String(e)}`, r.site)
      }
      opts.recordSale?.(r)
    },
  })
}
