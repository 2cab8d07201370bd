/**
 * Profiling driver for the pg group's figures (not part of `iddb bench`): runs the pg group once and prints its
 * figures. Bundle and run (sql.js and pg stay external):
 *   npx esbuild bench/prof-pg.ts --bundle --platform=node --format=cjs --external:sql.js --external:pg --outfile=out/prof-pg.cjs
 *   node [--cpu-prof --cpu-prof-dir=/tmp/prof] out/prof-pg.cjs [groupby SALES]
 * With `groupby SALES`, only the group-by figure over a deployment of SALES sales.
 */
import { group, groupByAt } from './pg'

async function main(): Promise<void> {
  if (process.argv[2] === 'groupby') {
    const g = await groupByAt(Number(process.argv[3] ?? 20_000), 44000)
    process.stdout.write(`group-by over ${g.rows} sales: ${g.rounds.join(', ')}; median ratio ${g.ratio.toFixed(2)}\n`)
    return
  }
  const out = await group.run({ log: (s: string) => process.stdout.write(`${s}\n`) } as never)
  process.stdout.write(`${JSON.stringify(out, null, 1)}\n`)
}
main().catch((e) => { process.stderr.write(`${e?.stack ?? e}\n`); process.exit(1) })
