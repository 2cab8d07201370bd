/**
 * The ticket layer of a cluster: one TicketService per Cluster, wired to record each accepted sale in SALES at
 * the accepting site (its horizontal fragment) in one sql.js transaction, in the same simulation step as the
 * acceptance — a sale that cannot be written makes the ticket not accepted (core fix 5). Tickets are invoice
 * numbers: the ticket servers start with the ledger of the invoice numbers already in SALES (every site's
 * fragment when the service starts) and each also consults its own site's fragment before it votes, so a
 * ticket that is already a sale is rejected naming the site. The protocol core (core.ts) knows nothing of
 * sql.js; this is the only place that joins them.
 */
import type { Cluster } from '../cluster'
import { fragments, satisfiesPredicate } from '../data/schema'
import { assert } from '../assert'
import { formatSiteTime } from '../sim/kernel'
import { TicketService, type SaleRecord, type TicketServiceOptions } from './service'
import { EngineError } from '../errors'
import { Dim } from '../integrity'
import type { SiteCode } from '../topology/types'

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
  if (!store.isUp()) throw new EngineError('SITE_DOWN', `${r.site}.primary is down: the sale cannot be written`, { site: r.site })
  // the DIM's site guard judges the sale at its local commit (keys, the item and the seller; engine/integrity/index.ts):
  // a sale that breaks a constraint is not written, so the ticket is not accepted. The invoice number's global
  // uniqueness is what the ticket protocol has just proven (every server voted it unused, none holds it as a sale),
  // so the DIM checks INVNO only in this site's fragment: a ticket sale does not need the other branches reachable.
  Dim.of(cluster).guarded(() => store.withTransaction((tx) => {
    tx.exec(`INSERT INTO ${frag.name} (INVNO, BRCODE, ITEMNO, QTY, UNITPRICE, AMOUNT, SOLD_AT, EMPNO) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      [Number(r.ticket), r.site, s.itemNo ?? firstItem(store), qty, price, qty * price, formatSiteTime(r.at), s.empNo ?? null])
  }), { provenKeys: ['SALES'] })
  return true
}

/** A sale that names no item sells the first item of the catalogue (the site's ITEMS replica): a real item, so FK_SALES_ITEMNO holds. */
function firstItem(store: ReturnType<Cluster['siteStore']>): number {
  const r = store.readPrepared('SELECT MIN(ITEMNO) FROM ITEMS', [])[0]
  return r && r[0] !== null ? Number(r[0]) : 1
}

/**
 * Where an invoice number is already a sale, as the ticket server at `site` knows it: the ledger every server
 * starts with (each site's SALES fragment when the service started: sorted invoice numbers per site), and the
 * server's own site's fragment now (a sale written there since, outside the protocol).
 */
export function salesLedger(cluster: Cluster): (site: SiteCode, ticket: string) => SiteCode | undefined {
  const sales = fragments(cluster.topology).filter((f) => f.relation === 'SALES')
  const ledger: { site: SiteCode; invnos: Float64Array }[] = []
  for (const f of sales) {
    let rows: unknown[][]
    try { rows = cluster.siteStore(f.site).readPrepared(`SELECT INVNO FROM "${f.name}" ORDER BY INVNO`, []) } catch { continue } // down or no stores: its own check still answers once it is up
    ledger.push({ site: f.site, invnos: Float64Array.from(rows, (r) => Number(r[0])) })
  }
  const has = (a: Float64Array, x: number) => {
    let lo = 0, hi = a.length - 1
    while (lo <= hi) { const m = (lo + hi) >> 1; if (a[m] === x) return true; if (a[m] < x) lo = m + 1; else hi = m - 1 }
    return false
  }
  return (site, ticket) => {
    if (!/^\d{1,15}$/.test(ticket)) return undefined
    const inv = Number(ticket)
    for (const l of ledger) if (has(l.invnos, inv)) return l.site
    const own = sales.find((f) => f.site === site)
    if (!own) return undefined
    try {
      if (cluster.siteStore(site).readPrepared(`SELECT 1 FROM "${own.name}" WHERE INVNO = ?`, [inv]).length) return site
    } catch { /* its database is down: the ledger is all it knows */ }
    return undefined
  }
}

/** The cluster's ticket service (built by its subsystem registry on first use; opts apply then). */
export function ticketsOf(cluster: Cluster, opts: TicketServiceOptions = {}): TicketService { return cluster.subsystems.tickets(opts) }

/**
 * A ticket service wired to the sales ledger (a ticket already in SALES is used) and to record each accepted sale
 * in SALES; a sale that cannot be written makes the ticket not accepted (the cluster's subsystem registry calls this).
 */
export function createTicketService(cluster: Cluster, opts: TicketServiceOptions = {}): TicketService {
  return new TicketService(cluster, {
    sold: salesLedger(cluster),
    ...opts,
    recordSale: (r) => {
      try {
        if (recordSaleInStore(cluster, r)) cluster.log('ticket', `sale ${r.ticket} recorded in SALES at ${r.site}`, r.site)
      } catch (e) {
        const why = e instanceof Error ? e.message : String(e)
        cluster.log('ticket', `ticket ${r.ticket} won at ${r.site} but its sale could not be written to SALES (${why}): not accepted, sale owed`, r.site)
        throw e
      }
      opts.recordSale?.(r)
    },
  })
}
