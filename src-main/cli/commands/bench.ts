import { parseArgs } from 'node:util'
import { runBench, GROUPS } from '../../../bench/run'

export const name = 'bench'
export const summary = 'run the benchmarks, print a table and write bench/results.json'
export const usage = `iddb bench [--only GROUP] [--out FILE]

Runs every benchmark group (or only GROUP), prints a table and writes the results
(plus "machine" and "date") to bench/results.json. With --only, the other groups' earlier
results in the file are kept.
  --only GROUP  one of: ${GROUPS.map((g) => g.name).join(', ')}
  --out FILE    write to FILE instead of bench/results.json`

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { only: { type: 'string' }, out: { type: 'string' } }, strict: true })
  return runBench({ only: values.only, out: values.out })
}
