/**
 * Test-only worker entry: the real engine worker (run with IDDB_TEST_CALLS=1), with the test-only 'jobs/busy' replaced by a statement that runs on a
 * site's primary outside the statement guard (the five-way cross join of ITEMS, straight to sql.js), so
 * the worker really blocks inside wasm — what the host's watchdog must recover from.
 */
import { testHandlers } from '../../handlers/testing'
import '../worker'

;(testHandlers as Record<string, unknown>)['jobs/busy'] = async (ctx: { cluster: { siteStore(s: string): { query(sql: string): unknown } } }) => {
  ctx.cluster.siteStore('CMB').query('SELECT COUNT(*) FROM ITEMS a, ITEMS b, ITEMS c, ITEMS d, ITEMS e')
  throw new Error('the unguarded statement ended')
}
