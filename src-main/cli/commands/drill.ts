/** `iddb drill CATEGORY [SITE]`: a failure drill (engine/cluster/drills.ts) on a fresh in-memory cluster or the one in --data DIR. */
import { parseArgs } from 'node:util'
import { Cluster } from '../../../engine/cluster'
import { DRILL_CATEGORIES, DRILLS, runDrill, type DrillCategory } from '../../../engine/cluster/drills'
import { UsageError, intOption } from '../registry'
import { formatTable } from '../format'
import { AS_USAGE, actAs } from '../actor'

export const name = 'drill'
export const summary = 'run a failure drill (transaction, system, media, communication): workload, fault, repair, and the check that nothing committed was lost (exits 1 if it was)'
export const usage = `iddb drill ${DRILL_CATEGORIES.join('|')} [SITE] [--data DIR | --seed N --sales N] [--yes] [--json] [--as USER]

${DRILLS.map((d) => `  ${d.category.padEnd(13)} ${d.description}`).join('\n')}

Runs 16 distributed transfers through two-phase commit, injects the fault at SITE (default: the last branch),
repairs it, lets the protocol and replication settle, and checks: committed transfers kept, atomicity,
backups, serializable history, fragmentation, integrity, nothing in doubt. Without --data it runs on a fresh
in-memory cluster (--seed, default 1; --sales, default 2000). The media drill destroys SITE's primary
database (it is restored from the backup server): it needs --yes. Exits 1 when the check fails.
${AS_USAGE}`

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: { data: { type: 'string' }, seed: { type: 'string' }, sales: { type: 'string' }, yes: { type: 'boolean' }, json: { type: 'boolean' }, as: { type: 'string' } }, allowPositionals: true, strict: true })
  const [category, site] = positionals
  if (!(DRILL_CATEGORIES as readonly string[]).includes(category ?? '') || positionals.length > 2) throw new UsageError(`usage: iddb drill ${DRILL_CATEGORIES.join('|')} [SITE] [--yes]`)
  const c = values.data ? await Cluster.open(values.data) : await Cluster.create({ seed: intOption('seed', values.seed, 0) ?? 1, sales: intOption('sales', values.sales, 0) ?? 2000 })
  try {
    const v = await actAs(c, values.as, 'drill/start', { category }, () => runDrill(c, category as DrillCategory, site, { confirmed: !!values.yes }))
    const r = v.report!
    if (values.json) process.stdout.write(`${JSON.stringify(v)}\n`)
    else {
      for (const s of v.steps) process.stdout.write(`+${Math.round(s.at - v.startedAt)} ms  ${s.text}\n`)
      process.stdout.write(formatTable(['check', 'ok', 'detail'], r.checks.map((x) => [x.name, x.ok ? 'ok' : 'FAILED', x.detail]), 100))
      process.stdout.write(`${v.category} drill at ${v.site}: ${r.committed} committed, ${r.aborted} aborted, ${r.lost} lost — ${r.ok ? 'nothing committed was lost' : 'CHECK FAILED'}\n`)
    }
    return r.ok ? 0 : 1
  } finally {
    c.close()
  }
}
