/**
 * Test-only worker entry: the real engine worker, with 'jobs/busy' replaced by a statement that runs on a
 * site's primary outside the statement guard (the five-way cross join of ITEMS, straight to sql.js), so
 * the worker really blocks inside wasm — what the host's watchdog must recover from.
 */
import { handlers } from '../../handlers'
import '../worker'

;(handlers as Record<string, unknown>)['jobs/busy'] = async (ctx: { cluster: { siteStore(s: string): { query(sql: string): unknown } } }) => {
  ctx.cluster.siteStore('CMB').query('SELECT COUNT(*) FROM ITEMS a, ITEMS b, ITEMS c, ITEMS d, ITEMS e')
  throw new Error('the unguarded statement ended')
}
