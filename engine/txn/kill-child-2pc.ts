/**
 * Child process for the 2PC kill test (bundled by esbuild from engine/txn/durable.test.ts): opens the
 * cluster in argv[2], commits argv[4] transfers of 5 units of S001 from STOCK_CMB to STOCK_KDY (global names) with
 * argv[3] 2PC (printing "ACK <gid>" once each is committed everywhere), then starts one more and, the
 * moment KDY has forced its READY record, prints "KILLME <gid>" and blocks until the parent SIGKILLs it.
 */
import { Cluster } from '../cluster'
import { Dtm, type Protocol } from './dtm'

async function main(): Promise<void> {
  const [dir, protocol, count] = [process.argv[2], process.argv[3] as Protocol, Number(process.argv[4])]
  const c = await Cluster.open(dir)
  let armed = false
  const dtm = new Dtm(c, {
    protocol,
    onLog: (site, rec, forced) => {
      if (!armed || site !== 'KDY' || rec.type !== 'READY' || !forced) return
      process.stdout.write(`KILLME ${rec.gid}\n`)
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60_000) // frozen right after the force
      process.exit(4)
    },
  })
  if (dtm.inDoubt().length) throw new Error('child: unexpected in-doubt transactions')
  process.stdout.write('READY\n')
  for (let i = 0; i <= count; i++) {
    if (i === count) armed = true
    const gid = dtm.begin('CMB')
    let outcome: string | undefined
    let n = 0
    dtm.execGlobal(gid, "UPDATE STOCK_CMB SET QTY = QTY - 5 WHERE STOCKCODE = 'S001'", [], (r) => { if (!r.ok) outcome = `exec failed ${r.error?.message}`; n++ })
    dtm.execGlobal(gid, "UPDATE STOCK_KDY SET QTY = QTY + 5 WHERE STOCKCODE = 'S001'", [], (r) => { if (!r.ok) outcome = `exec failed ${r.error?.message}`; n++ })
    c.sim.runUntilTrue(() => n === 2, 1_000_000)
    if (outcome) throw new Error(outcome)
    dtm.commit(gid, (r) => { outcome = r.outcome })
    c.sim.runUntilTrue(() => outcome !== undefined && dtm.unfinishedAt(gid).length === 0, 1_000_000)
    if (outcome !== 'COMMIT') throw new Error(`child: ${gid} ${outcome}`)
    process.stdout.write(`ACK ${gid}\n`)
  }
  throw new Error('child: the kill point was never reached')
}

main().catch((e) => { process.stderr.write(String(e?.stack ?? e)); process.exit(3) })
