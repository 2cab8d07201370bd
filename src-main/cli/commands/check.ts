/** `iddb check integrity --data DIR`: every declared constraint over the stored data (engine/integrity/check.ts). */
import { parseArgs } from 'node:util'
import { Cluster } from '../../../engine/cluster'
import { checkIntegrity } from '../../../engine/integrity/check'
import { UsageError } from '../registry'
import { formatTable } from '../format'

export const name = 'check'
export const summary = 'check integrity: judge every declared constraint over the stored data (exits 1 listing violating rows)'
export const usage = `iddb check integrity --data DIR [--json] [--limit N]

Judges every constraint of GLOBAL_CONSTRAINTS (primary keys across fragments, foreign keys, fragment
predicates, CHECKs) over the rows stored at every site's primary. Prints one line per constraint and the
violating rows (the first N, default 200); exits 1 if any row violates a constraint. Reads only.`

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: { data: { type: 'string' }, json: { type: 'boolean' }, limit: { type: 'string' } }, allowPositionals: true, strict: true })
  if (positionals[0] !== 'integrity' || positionals.length !== 1) throw new UsageError('usage: iddb check integrity --data DIR')
  if (!values.data) throw new UsageError('--data DIR is required')
  const limit = values.limit === undefined ? 200 : Number(values.limit)
  if (!Number.isInteger(limit) || limit < 0) throw new UsageError('--limit must be a whole number')
  const c = await Cluster.open(values.data, { readOnly: true })
  try {
    const rep = checkIntegrity(c, { limit })
    if (values.json) process.stdout.write(`${JSON.stringify(rep)}\n`)
    else {
      process.stdout.write(formatTable(['constraint', 'kind', 'relation', 'rows checked', 'violations'], rep.constraints.map((x) => [x.constraint, x.kind, x.relation, x.checkedRows, x.violations]), 1000))
      if (rep.violations.length) process.stdout.write(`\nviolating rows:\n${formatTable(['constraint', 'fragment', 'site', 'detail', 'row'], rep.violations.map((v) => [v.constraint, v.fragment, v.site, v.detail, JSON.stringify(v.row)]), limit)}`)
      if (rep.skippedSites.length) process.stdout.write(`sites down, not checked: ${rep.skippedSites.join(', ')}\n`)
      process.stdout.write(rep.ok ? 'integrity ok: no stored row violates a declared constraint\n' : 'integrity VIOLATED\n')
    }
    return rep.ok ? 0 : 1
  } finally {
    c.close({ checkpoint: false })
  }
}
