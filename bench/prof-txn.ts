/**
 * Profiling driver for the txn group's 2PC figure (not part of `iddb bench`): builds the bench's stock cluster,
 * warms up, then runs rounds of transfers side by side with the local baseline and prints the per-round figures.
 * Bundle and run (sql.js stays external):
 *   npx esbuild bench/prof-txn.ts --bundle --platform=node --format=cjs --external:sql.js --outfile=out/prof-txn.cjs
 *   node [--cpu-prof --cpu-prof-dir=/tmp/prof] out/prof-txn.cjs [rounds] [transfers per round] [clients]
 */
import { localCost, runTransfers, stockCluster } from './txn'

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 5), total = Number(process.argv[3] ?? 2000), clients = Number(process.argv[4] ?? 64)
  const { c, dtm } = await stockCluster()
  runTransfers(c, dtm, 1500, clients)
  await localCost(2000)
  const ratios: number[] = [], per: number[] = [], locals: number[] = [], cpu: number[] = []
  for (let i = 0; i < rounds; i++) {
    // CPU time as well as wall time: on a shared machine it is the steadier figure for comparing two builds
    const u0 = process.cpuUsage()
    const r = runTransfers(c, dtm, total, clients)
    const u = process.cpuUsage(u0)
    const local = await localCost(5000)
    const perTxn = r.wallMs / total
    per.push(perTxn * 1000); locals.push(local * 1000); ratios.push(perTxn / local); cpu.push((u.user + u.system) / total)
    process.stdout.write(`round ${i}: ${(perTxn * 1000).toFixed(0)} µs (cpu ${cpu[i].toFixed(0)} µs) vs ${(local * 1000).toFixed(0)} µs (${r.committed} committed) ratio ${(perTxn / local).toFixed(2)}\n`)
  }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
  process.stdout.write(`median: ${med(per).toFixed(0)} µs vs ${med(locals).toFixed(0)} µs, ratio ${med(ratios).toFixed(3)}, cpu ${med(cpu).toFixed(1)} µs; best: ${Math.min(...per).toFixed(0)} µs vs ${Math.min(...locals).toFixed(0)} µs, cpu ${Math.min(...cpu).toFixed(1)} µs\n`)
  // every commit reached its copies: once replication is idle, the backups, the main repository and MBI's vertical
  // fragment hold the primaries' stock quantities
  c.sim.runUntilTrue(() => c.replication.idle, 10_000_000)
  const qty = (db: { query(sql: string): { rows: unknown[][] } }, t: string) => JSON.stringify(db.query(`SELECT STOCKCODE, QTY FROM "${t}" ORDER BY STOCKCODE`).rows)
  const cmb = c.siteStore('CMB'), kdy = c.siteStore('KDY')
  const same = qty(cmb, 'Stock_CMB') === qty(cmb.backup, 'Stock_CMB') && qty(cmb, 'Stock_CMB') === qty(cmb.repository!, 'STOCK_CMB')
    && qty(cmb, 'Stock_CMB') === qty(c.siteStore('MBI'), 'Stocks_CMB_FRG') && qty(kdy, 'Stock_KDY') === qty(kdy.backup, 'Stock_KDY') && qty(kdy, 'Stock_KDY') === qty(cmb.repository!, 'STOCK_KDY')
  if (!same) throw new Error('a copy differs from its primary after the transfers')
  c.close?.()
}

void main()
