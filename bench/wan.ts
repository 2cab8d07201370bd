/**
 * WAN crypto benchmark (group 'wan'):
 *   security.wan_crypto_overhead_ratio  CPU time (user + system of this process, so that other load on the machine
 *                                       does not count) per committed two-site 2PC transfer (the workload of bench/txn.ts:
 *                                       CMB → KDY, 64 clients, sql.js sites) with every WAN frame sealed with
 *                                       AES-256-GCM (the default profile) ÷ the same with the links in clear. Median of
 *                                       nine rounds, the two clusters run side by side in one process (which one goes
 *                                       first alternates per round), after a warm-up of each. Goal ≤ 1.15.
 *   wan.sealed_frames_per_txn           frames sealed per committed transfer (messages queued behind a busy
 *                                       transmitter share one record, so fewer than messages).
 *   wan.frame_bytes_per_txn             real bytes that crossed the WAN per committed transfer, sealed (headers, payload, tag).
 *   wan.seal_open_us                    one 100-byte frame sealed and opened (µs, median of 5 × 20,000).
 */
import { stockCluster, runTransfers as runWall } from './txn'
import { exchangeLinkKeys, open, seal } from '../engine/security/crypto'
import type { BenchContext } from './run'
import type { Cluster } from '../engine/cluster'

/** The transfers of bench/txn.ts, timed by this process's CPU time (µs → ms) instead of the wall clock. */
function runTransfers(...args: Parameters<typeof runWall>): { wallMs: number; committed: number } {
  const t0 = process.cpuUsage()
  const r = runWall(...args)
  const d = process.cpuUsage(t0)
  return { wallMs: (d.user + d.system) / 1000, committed: r.committed }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
/** Frames sealed so far on every link (each direction's counter is the number it sealed). */
const sealedFrames = (c: Cluster) => [...c.net.links.values()].reduce((a, l) => a + (l.crypto ? l.crypto.sendAB + l.crypto.sendBA : 0), 0)

function sealOpenUs(): number {
  const k = exchangeLinkKeys(1, 'CMB-KDY', 'CMB', 'KDY', 0).ab
  const aad = Buffer.alloc(16), body = Buffer.alloc(100)
  const times: number[] = []
  let seq = 0
  for (let r = 0; r < 6; r++) {
    const t0 = performance.now()
    for (let i = 0; i < 20_000; i++) { const s = seq++; if (!open(k, s, aad, seal(k, s, aad, body))) throw new Error('frame did not open') }
    times.push(((performance.now() - t0) * 1000) / 20_000)
  }
  return median(times.slice(1))
}

export const group = {
  name: 'wan',
  async run(ctx: BenchContext): Promise<Record<string, number>> {
    const sealed = await stockCluster()
    const plain = await stockCluster()
    for (const l of plain.c.net.links.values()) l.spec.encrypted = false
    runTransfers(sealed.c, sealed.dtm, 1500, 64)
    runTransfers(plain.c, plain.dtm, 1500, 64)
    const rounds = 9, total = 2000
    const ratios: number[] = [], lines: string[] = []
    let bytesPerTxn = 0, framesPerTxn = 0
    for (let i = 0; i < rounds; i++) {
      const b0 = [...sealed.c.net.links.values()].reduce((a, l) => a + l.stats.bytes, 0)
      const f0 = sealedFrames(sealed.c)
      const p1 = i % 2 ? runTransfers(plain.c, plain.dtm, total, 64) : undefined
      const e = runTransfers(sealed.c, sealed.dtm, total, 64)
      const b1 = [...sealed.c.net.links.values()].reduce((a, l) => a + l.stats.bytes, 0)
      framesPerTxn = (sealedFrames(sealed.c) - f0) / e.committed
      const p = p1 ?? runTransfers(plain.c, plain.dtm, total, 64)
      if (e.committed !== total || p.committed !== total) ctx.log(`wan: round ${i}: ${e.committed} sealed and ${p.committed} plain of ${total} committed`)
      const ratio = (e.wallMs / e.committed) / (p.wallMs / p.committed)
      ratios.push(ratio)
      bytesPerTxn = (b1 - b0) / e.committed
      lines.push(`${((e.wallMs / e.committed) * 1000).toFixed(0)} µs vs ${((p.wallMs / p.committed) * 1000).toFixed(0)} µs`)
    }
    const rejected = [...sealed.c.net.links.values()].reduce((a, l) => a + l.stats.rejected, 0)
    if (rejected) throw new Error(`${rejected} frames rejected in a clean run`)
    ctx.log(`wan: sealed vs plain 2PC transfer per round: ${lines.join(', ')} (median ratio ${median(ratios).toFixed(3)})`)
    sealed.dtm.dispose(); plain.dtm.dispose()
    return {
      'security.wan_crypto_overhead_ratio': median(ratios),
      'wan.frame_bytes_per_txn': Math.round(bytesPerTxn),
      'wan.sealed_frames_per_txn': framesPerTxn,
      'wan.seal_open_us': sealOpenUs(),
    }
  },
}
