/**
 * Child process for the kill test (bundled by esbuild from engine/storage/persist.test.ts): opens the
 * cluster in argv[2] and commits sales forever, printing "ACK <invno>" after each commit returns. With argv[4]
 * (an invoice number), it stops after that commit, prints "KILLME" and blocks until the parent SIGKILLs it
 * (the log-damage tests: a kill at a known point). With argv[5] = "hold", it prints "READY" and blocks
 * holding the data directory's lock (the stale-lock test).
 */
import { Cluster } from '../cluster'

async function main(): Promise<void> {
  const dir = process.argv[2]
  const start = Number(process.argv[3])
  const stopAt = process.argv[4] ? Number(process.argv[4]) : Infinity
  const freeze = () => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60_000)
  const c = await Cluster.open(dir)
  if (process.argv[5] === 'hold') { process.stdout.write('READY\n'); freeze(); process.exit(4) }
  const sites = c.siteCodes
  // a commit can be durable without having been acknowledged (killed between fsync and the ACK): continue after it
  let inv = start
  for (const s of sites) inv = Math.max(inv, Number(c.siteStore(s).query(`SELECT COALESCE(MAX(INVNO) + 1, 0) FROM "Sales_${s}"`).rows[0][0]))
  process.stdout.write('READY\n')
  for (;;) {
    const s = sites[inv % sites.length]
    if (inv % 7 === 0) {
      c.siteStore(s).withTransaction((tx) => {
        tx.exec(`INSERT INTO "Sales_${s}" VALUES (?, ?, 1001, 1, 9.5, 9.5, '2026-11-23 10:00:00', 1)`, [inv, s])
        tx.exec(`UPDATE "Employees_${s}" SET SALARY = SALARY + 1 WHERE EMPNO = (SELECT MIN(EMPNO) FROM "Employees_${s}")`)
      })
    } else {
      c.siteStore(s).exec(`INSERT INTO "Sales_${s}" VALUES (?, ?, 1001, 1, 9.5, 9.5, '2026-11-23 10:00:00', 1)`, [inv, s])
    }
    process.stdout.write(`ACK ${inv}\n`)
    if (inv >= stopAt) { process.stdout.write('KILLME\n'); freeze(); process.exit(4) }
    c.sim.advance(50)
    if (inv % 25 === 0) c.checkpoint() // kills also land mid-checkpoint
    inv++
    if (inv % 20 === 0) await new Promise((r) => setImmediate(r))
  }
}

main().catch((e) => { process.stderr.write(String(e?.stack ?? e)); process.exit(3) })
