/**
 * Data commands of `iddb`: init (create a persisted cluster), sql (global SQL through the DQP, or one
 * statement on a site's local tables and catalogs), run (a scenario script), recover (restore a site whose
 * commit log is damaged, from its backup server or the main repository). Exported as CliCommand objects in `commands`.
 */
import { parseArgs } from 'node:util'
import { readFileSync } from 'node:fs'
import { createInterface } from 'node:readline/promises'
import { Cluster } from '../../../engine/cluster'
import { EngineError } from '../../../engine/errors'
import { runScenario } from '../../../engine/scenario'
import { defaultTopology, legacyDesignTopology, legacyTopology, validateTopology } from '../../../engine/topology/default'
import type { TopologySpec } from '../../../engine/topology/types'
import { UsageError, intOption, type CliCommand } from '../registry'
import { formatTable, needsRestoreWarnings } from '../format'
import { isGlobalSql, isReadOnlySql, runThroughDqp } from './query'
import { AS_USAGE, actAs } from '../actor'
import { Dtm } from '../../../engine/txn/dtm'
import { siteWrite } from '../../../engine/txn/autocommit'
import { waitForRepository } from '../../../engine/backup/repository'

const out = (s: string) => process.stdout.write(s)


export const init: CliCommand = {
  name: 'init',
  summary: 'create a cluster in a data directory (generated data, three sites or a topology file)',
  usage: `iddb init --data DIR [--seed N] [--sales N] [--topology FILE.json | --profile modern|legacy] [--design distributed|legacy]

Creates a new cluster in DIR (which must be new or empty): every site's primary and backup
database, the Colombo main repository, catalogs, and a generated dataset with N sales
(default 20000; at most 2000000: every DB shares one sql.js heap). --topology adds e.g. a fourth branch (TopologySpec JSON).
--profile legacy creates the pre-project network instead (links in plain text, no firewalls, Kandy on ISDN).
--design legacy creates the pre-project centralized system: the legacy network and every relation in one
database at Colombo, which the branches' clients and application servers reach over the WAN (docs/COMPARE.md);
with --topology it keeps that file's network and puts every relation at its HQ site.
--design distributed (the default) allocates the fragments at their branches.`,
  async run(argv) {
    const { values } = parseArgs({ args: argv, options: { data: { type: 'string' }, seed: { type: 'string' }, sales: { type: 'string' }, topology: { type: 'string' }, profile: { type: 'string' }, design: { type: 'string' }, json: { type: 'boolean' } }, strict: true })
    if (!values.data) throw new UsageError('--data DIR is required')
    const seed = intOption('seed', values.seed, 0, 0xffffffff) ?? 1
    const sales = intOption('sales', values.sales, 0, 2_000_000) ?? 20_000
    let topology: TopologySpec | undefined
    if (values.topology && values.profile) throw new UsageError('--profile and --topology are exclusive (a topology file names its own profile)')
    if (values.profile !== undefined && values.profile !== 'modern' && values.profile !== 'legacy') throw new UsageError(`--profile must be modern or legacy, not ${values.profile}`)
    if (values.topology) topology = validateTopology(JSON.parse(readFileSync(values.topology, 'utf8')) as TopologySpec)
    else if (values.profile === 'legacy') topology = legacyTopology()
    if (values.design !== undefined) {
      if (values.design !== 'distributed' && values.design !== 'legacy') throw new UsageError(`--design must be distributed or legacy, not ${values.design}`)
      if (values.design === 'legacy' && values.profile === 'modern') throw new UsageError('--design legacy runs on the legacy network: drop --profile modern')
      topology = values.design === 'legacy' ? legacyDesignTopology(topology ?? legacyTopology()) : { ...(topology ?? defaultTopology()), design: 'distributed' }
    }
    let lastPct = -1
    const t0 = performance.now()
    const c = await Cluster.create({
      seed, sales, topology, dataDir: values.data,
      onProgress: (p, d) => { const pct = Math.floor(p * 100); if (pct !== lastPct && process.stderr.isTTY) { lastPct = pct; process.stderr.write(`\r${pct}% ${d}`.padEnd(60)) } },
    })
    if (process.stderr.isTTY) process.stderr.write('\n')
    const g = c.lastGenerate
    const summary = { dataDir: c.dataDir, seed, design: c.design, sites: c.siteCodes, sales: g?.sales ?? {}, employees: g?.employees ?? {}, items: g?.items ?? 0, ms: Math.round(performance.now() - t0) }
    c.close({ checkpoint: false })
    if (values.json) out(`${JSON.stringify(summary, null, 2)}\n`)
    else out(`created cluster in ${summary.dataDir} (seed ${seed}, ${summary.design} design) in ${summary.ms} ms\n${Object.entries(summary.sales).map(([s, n]) => `  ${s}: ${n} sales, ${summary.employees[s]} employees`).join('\n')}\n  ITEMS: ${summary.items} (${summary.design === 'legacy' ? 'one copy, in the central database' : 'replicated at every site'})\n`)
    return 0
  },
}

export const sql: CliCommand = {
  name: 'sql',
  summary: 'run SQL at a site: global SQL through the distributed query processor, or the site\'s local tables and catalogs',
  usage: `iddb sql --data DIR --site CODE [--json] [--local] [--max-rows N] [--as USER] "SQL"

Global SQL (SALES, EMPLOYEES, ITEMS, STOCK_CMB, global views such as V_BRANCH_REVENUE, fragment names
like Sales_KDY, or Sales_KDY@KDY) is localized, optimized and executed across the sites by the
distributed query processor; it prints the rows, the request class, the virtual response time and the
bytes per link (--json: {columns, rows, totalRows, requestClass, plan, perLinkBytes, ...}). EXPLAIN of it
is planned only: it prints the plan with estimated rows, bytes and times, and runs nothing.
Statements naming the site's own catalog tables (GLOBAL_TABLES, FRAGMENT_TABLES, LCAT_TABLES,
LCAT_COLUMNS, ...) run on the site's primary directly; --local forces that for any statement.
Writes are committed durably.
${AS_USAGE}`,
  async run(argv) {
    const { values, positionals } = parseArgs({ args: argv, options: { data: { type: 'string' }, site: { type: 'string' }, json: { type: 'boolean' }, local: { type: 'boolean' }, 'max-rows': { type: 'string' }, as: { type: 'string' } }, allowPositionals: true, strict: true })
    if (!values.data) throw new UsageError('--data DIR is required')
    if (!values.site) throw new UsageError('--site CODE is required (e.g. CMB)')
    const text = positionals.join(' ').trim()
    if (!text) throw new UsageError('the SQL statement is missing')
    const site = values.site.toUpperCase()
    const maxRows = intOption('max-rows', values['max-rows'], 0, 10_000_000) ?? 1000
    // reads need no lock and leave the files alone (the console may have the cluster open)
    const c = await Cluster.open(values.data, { readOnly: isReadOnlySql(text) })
    process.stderr.write(needsRestoreWarnings(c.needsRestore(), values.data))
    let changed = false
    try {
      await actAs(c, values.as, 'query/run', { site, sql: text }, async () => {
        if (!values.local && isGlobalSql(c, text)) {
          changed = await runThroughDqp(c, site, text, { json: !!values.json, maxRows })
        } else {
          // a write on a fragment held at the site is a one-statement transaction (the DTM's locks and log)
          const r = siteWrite(Dtm.of(c), site, text) ?? c.siteStore(site).exec(text)
          changed = r.changes > 0
          if (values.json) out(`${JSON.stringify({ site, columns: r.columns, rows: r.rows, changes: r.changes })}\n`)
          else if (r.columns.length) out(formatTable(r.columns, r.rows, maxRows))
          else out(`${r.changes} row(s) changed\n`)
        }
      })
    } finally {
      c.close({ checkpoint: changed })
    }
    return 0
  },
}

export const run: CliCommand = {
  name: 'run',
  summary: 'run a scenario script (exit 1 at the first failing line)',
  usage: `iddb run FILE [--seed N] [--sales N] [--json] [--data DIR]

Runs a scenario (docs/SCENARIOS.md) on a fresh in-memory cluster, deterministically:
the same seed and script give the same trace hash. Prints one line per command; exits 1
naming the failing line and why. With --data DIR it runs on the persisted cluster in DIR
instead (its data, clock and failures; the script's seed/sales/profile/branch directives
are ignored): what the script commits stays in DIR.`,
  async run(argv) {
    const { values, positionals } = parseArgs({ args: argv, options: { seed: { type: 'string' }, sales: { type: 'string' }, json: { type: 'boolean' }, data: { type: 'string' } }, allowPositionals: true, strict: true })
    if (positionals.length !== 1) throw new UsageError('exactly one scenario FILE is expected')
    if (values.data && (values.seed || values.sales)) throw new UsageError('--seed and --sales make a fresh cluster: not with --data DIR (the persisted cluster has its own)')
    const text = readFileSync(positionals[0], 'utf8')
    const cluster = values.data ? await Cluster.open(values.data) : undefined
    let r: Awaited<ReturnType<typeof runScenario>>
    try {
      if (cluster) process.stderr.write(needsRestoreWarnings(cluster.needsRestore(), values.data!))
      r = await runScenario(text, cluster ? { cluster } : { seed: intOption('seed', values.seed, 0, 0xffffffff), sales: intOption('sales', values.sales, 0, 10_000_000) })
    } finally { cluster?.close() }
    if (values.json) out(`${JSON.stringify({ file: positionals[0], ...r }, null, 2)}\n`)
    else {
      for (const l of r.lines) out(`${l.skipped ? 'skip' : l.ok ? ' ok ' : 'FAIL'} ${String(l.line).padStart(4)}  ${l.text}${l.message ? `\n           ${l.message.replace(/\n/g, '\n           ')}` : ''}\n`)
      out(r.ok ? `passed (seed ${r.seed}, trace ${r.traceHash}, clock ${r.clock})\n` : `${positionals[0]}:${r.failed!.line}: ${r.failed!.text}\n  ${r.failed!.reason}\n`)
    }
    if (!r.ok && !values.json) process.stderr.write(`iddb run: ${positionals[0]}:${r.failed!.line} failed: ${r.failed!.reason}\n`)
    return r.ok ? 0 : 1
  },
}

export const recover: CliCommand = {
  name: 'recover',
  summary: 'restore a site\'s primary from its backup server (or its fragments from the main repository)',
  usage: `iddb recover --data DIR --site CODE [--from backup|repository] [--yes] [--json]

--from backup (the default): the backup server's image becomes the primary and the commits it lacks are
redone from the backup server's copy of the commit log (and of the 2PC log). This is the restore a primary
that refuses service with CORRUPT_DATA (a damaged, cut or missing log) needs. --from repository ships the
site's fragments from the Colombo main repository over the (simulated) WAN.
Destructive (the site's data is replaced): asks for the site's code at a terminal; --yes confirms without
asking; refused otherwise, changing nothing.`,
  async run(argv) {
    const { values } = parseArgs({ args: argv, options: { data: { type: 'string' }, site: { type: 'string' }, from: { type: 'string' }, yes: { type: 'boolean' }, json: { type: 'boolean' } }, strict: true })
    if (!values.data) throw new UsageError('--data DIR is required')
    if (!values.site) throw new UsageError('--site CODE is required (e.g. KDY)')
    const from = values.from ?? 'backup'
    if (from !== 'backup' && from !== 'repository') throw new UsageError('--from is backup or repository')
    const site = values.site.toUpperCase()
    const c = await Cluster.open(values.data)
    let confirmed = false
    try {
      c.site(site)
      if (!values.yes) {
        const what = from === 'backup' ? `its backup server (${site}.primary is replaced by ${site}.backup's image and log)` : `the main repository (${site}'s fragments are replaced by the repository's rows)`
        if (!process.stdin.isTTY) throw new EngineError('BAD_INPUT', `recovery of ${site} from ${what} not confirmed: pass --yes (or run it at a terminal and type ${site})`, { site })
        const rl = createInterface({ input: process.stdin, output: process.stderr })
        let typed: string
        try { typed = (await rl.question(`recover ${site} from ${what}? type ${site}: `)).trim() } finally { rl.close() }
        if (typed !== site) throw new EngineError('BAD_INPUT', `type the site's code ${site} to confirm the recovery (got "${typed}")`, { site })
      }
      confirmed = true
      const before = c.needsRestore().get(`${site}.primary`)
      let message: string
      if (from === 'backup') {
        const r = c.recoverFromBackup(site)
        message = `${site}.primary reloaded from ${site}.backup (image at record ${r.fromSeq}; ${r.redone} record(s) redone from the log)`
      } else {
        let rows: number | undefined
        let refused: EngineError | undefined
        waitForRepository(c, site) // the repository first receives every commit of the branch (or the restore is refused)
        c.restoreFromRepository(site, (n) => { rows = n }, (e) => { refused = e })
        c.sim.runUntilTrue(() => rows !== undefined || refused !== undefined, 2_000_000)
        if (refused) throw refused
        if (rows === undefined) throw new EngineError('UNREACHABLE', `the restore of ${site} from the main repository did not arrive`, { site })
        message = `${site} restored from the main repository: ${rows} rows`
      }
      const r = { site, from, message, wasDamaged: before ?? null }
      out(values.json ? `${JSON.stringify(r)}\n` : `${message}\n`)
    } finally {
      c.close({ checkpoint: confirmed }) // refused: not even the images are rewritten
    }
    return 0
  },
}

export const commands: CliCommand[] = [init, sql, run, recover]
