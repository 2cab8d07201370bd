/**
 * `iddb query`: global SQL (SALES, EMPLOYEES, ITEMS, STOCK_*, global views, fragment names,
 * fragment@SITE) or EXPLAIN, issued at one site and run by the distributed query processor.
 */
import { parseArgs } from 'node:util'
import { Cluster } from '../../../engine/cluster'
import { dqpFor, formatExplain } from '../../../engine/query/dqp'
import { AT_MARK, preprocess, sqlParser } from '../../../engine/query/parse'
import { QueryCatalog } from '../../../engine/query/catalog'
import { UsageError, intOption } from '../registry'
import { formatTable, needsRestoreWarnings } from '../format'
import { AS_USAGE, actAs } from '../actor'
import { SESSION_BUDGET } from '../../../engine/query/guard'

const out = (s: string) => process.stdout.write(s)

export const name = 'query'
export const summary = 'run global SQL or EXPLAIN at a site through the distributed query processor'
export const usage = `iddb query --data DIR --site CODE [--json] [--max-rows N] [--timeout MS] [--as USER] "GLOBAL SQL" | "EXPLAIN GLOBAL SQL"

Global names give fragmentation transparency (SALES, EMPLOYEES, ITEMS, STOCK_CMB, V_BRANCH_REVENUE…),
fragment names location transparency (Sales_KDY), and fragment@SITE local mapping (Sales_KDY@KDY).
The query is localized, optimized and executed across the sites over the simulated network.
Prints the rows, the request class, the virtual response time and the bytes per link;
EXPLAIN prints the plan without running the query (sub-queries per site, pruned fragments, join
strategy and the alternative's estimated cost, estimated rows, bytes and virtual time per step);
a run's --json plan has the actual figures beside the estimates.
--json gives {columns, rows, totalRows, requestClass, plan, perLinkBytes, virtualMs, wallMs, explain}.
--timeout MS stops the query after MS of wall time (BUDGET_EXCEEDED; default ${SESSION_BUDGET.maxMs / 1000} s), even inside
one long statement; Ctrl+C ends the command at once (a read opens the data directory read-only).
${AS_USAGE}`

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: { data: { type: 'string' }, site: { type: 'string' }, json: { type: 'boolean' }, 'max-rows': { type: 'string' }, timeout: { type: 'string' }, as: { type: 'string' } }, allowPositionals: true, strict: true })
  if (!values.data) throw new UsageError('--data DIR is required')
  if (!values.site) throw new UsageError('--site CODE is required (e.g. KDY)')
  const maxRows = intOption('max-rows', values['max-rows'], 0, 10_000_000) ?? 1000
  const timeoutMs = intOption('timeout', values.timeout, 1, 86_400_000)
  const text = positionals.join(' ').trim()
  if (!text) throw new UsageError('the SQL statement is missing')
  const c = await Cluster.open(values.data, { readOnly: isReadOnlySql(text) })
  process.stderr.write(needsRestoreWarnings(c.needsRestore(), values.data))
  let changed = false
  try {
    const site = values.site.toUpperCase()
    changed = await actAs(c, values.as, 'query/run', { site, sql: text }, () => runThroughDqp(c, site, text, { json: !!values.json, maxRows, ...(timeoutMs ? { timeoutMs } : {}) }))
    return 0
  } finally {
    c.close({ checkpoint: changed })
  }
}

/** A single read statement: opening the cluster read-only is enough (no lock, files untouched). */
export function isReadOnlySql(text: string): boolean {
  return /^\s*(SELECT|PRAGMA|EXPLAIN|VALUES|WITH)\b/i.test(text) && !/;\s*\S/.test(text)
}

/**
 * Whether a statement is for the distributed query processor: every table it names is a global
 * relation, a global view, a fragment name or fragment@SITE. Statements naming site-local tables
 * (the catalogs, COPY_REFRESH, sqlite_*) run at the site itself. Unparsable text goes to the DQP so the
 * user gets its error with a position.
 */
export function isGlobalSql(c: Cluster, text: string): boolean {
  let pre
  try { pre = preprocess(text) } catch { return true }
  let tables: string[]
  try { tables = sqlParser().tableList(pre.text, { database: 'sqlite' }) } catch { return true }
  const catalog = new QueryCatalog(c.topology)
  const viewNames = new Set(catalog.views.map((v) => v.name.toUpperCase()))
  return tables.every((entry) => {
    const name = (entry.split('::')[2] ?? '').toUpperCase()
    if (!name || viewNames.has(name) || name.startsWith(AT_MARK.toUpperCase())) return true
    try { catalog.resolve(name, new Map()); return true } catch { return false }
  })
}

/**
 * Runs global SQL at `site` through the DQP and prints it; returns whether data changed. The CLI acts as the
 * operator: no row budget, but a wall-time budget (`timeoutMs`, default the session's), which the statement
 * guard enforces inside a long statement too.
 */
export async function runThroughDqp(c: Cluster, site: string, text: string, o: { json: boolean; maxRows: number; timeoutMs?: number }): Promise<boolean> {
  const dqp = await dqpFor(c)
  const r = await dqp.run(site, text, { budget: { maxRows: Number.POSITIVE_INFINITY, maxMs: o.timeoutMs ?? SESSION_BUDGET.maxMs } })
  const explain = r.explain ?? formatExplain(r)
  if (o.json) {
    out(`${JSON.stringify({ site, columns: r.columns, rows: r.rows.slice(0, o.maxRows), totalRows: r.rowCount, requestClass: r.requestClass, plan: r.plan, perLinkBytes: r.perLinkBytes, virtualMs: r.virtualMs, wallMs: r.wallMs, explain, ...(r.changes !== undefined ? { changes: r.changes } : {}) })}\n`)
  } else if (r.explain) {
    out(`${r.explain}\n`)
  } else {
    out(r.changes !== undefined ? `${r.changes} row(s) changed\n` : formatTable(r.columns, r.rows, o.maxRows))
    out(`${r.requestClass}; ${r.plan.strategy} at ${r.plan.assemblySite}; virtual ${r.virtualMs.toFixed(2)} ms; wall ${r.wallMs.toFixed(2)} ms\n`)
    const links = Object.entries(r.perLinkBytes).map(([k, v]) => `${k} ${v}`).join(', ')
    out(`bytes per link: ${links || 'none'}\n`)
    for (const n of r.plan.notes) out(`note: ${n}\n`)
  }
  return (r.changes ?? 0) > 0
}
