/**
 * The 2PC log on disk (<SITE>.2pc.log): a process killed right after a participant forced its READY
 * record is reopened; the transaction is listed in doubt with its locks re-acquired, and is resolved
 * consistently at every site (by the protocol once peers answer, or by hand); no committed write is lost.
 */
import { describe, expect, it } from 'vitest'
import { existsSync, mkdtempSync, rmSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawn } from 'node:child_process'
import { build } from 'esbuild'
import { Cluster } from '../cluster'
import { Dtm, STEPS, type Protocol } from './dtm'
import { transfer, type TransferOutcome } from './testkit'
import { checkBank, healAndSettle, snapshot } from './invariants'

const qty = (c: Cluster, site: string) => Number(c.siteStore(site).query(`SELECT QTY FROM Stock_${site} WHERE STOCKCODE = 'S001'`).rows[0][0])

function runChild(child: string, d: string, protocol: string, count: number): Promise<{ acked: string[]; killed: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [child, d, protocol, String(count)], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_PATH: join(process.cwd(), 'node_modules') } })
    const acked: string[] = []
    let killed = ''
    let buf = '', err = ''
    p.stdout.on('data', (chunk: Buffer) => {
      buf += chunk.toString()
      let i
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i); buf = buf.slice(i + 1)
        if (line.startsWith('ACK ')) acked.push(line.slice(4))
        if (line.startsWith('KILLME ')) { killed = line.slice(7); p.kill('SIGKILL') }
      }
    })
    p.stderr.on('data', (x: Buffer) => { err += x.toString() })
    p.on('exit', (code, sig) => (sig === 'SIGKILL' && killed ? resolve({ acked, killed }) : reject(new Error(`child exited ${code} ${sig}: ${err}`))))
  })
}

describe('2PC log on disk', () => {
  it('kill -9 after a participant forced READY: reopened in doubt with locks, resolved consistently; nothing committed lost', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'iddb-2pc-'))
    try {
      const d = join(dir, 'd')
      const c0 = await Cluster.create({ seed: 3, sales: 0, dataDir: d })
      for (const s of ['CMB', 'KDY']) c0.siteStore(s).exec(`INSERT INTO Stock_${s} (STOCKCODE, ITEMNO, QTY, UNITPRICE) VALUES ('S001', 1, 100, 10)`)
      c0.close()
      const child = join(dir, 'child.cjs')
      await build({ entryPoints: [join(__dirname, 'kill-child-2pc.ts')], bundle: true, platform: 'node', format: 'cjs', outfile: child, external: ['sql.js'], logLevel: 'silent' })

      // 1. distributed 2PC: coordinator CMB logged WAIT, CMB and KDY both READY → the recovered coordinator, still in
      //    WAIT, aborts (it never decided; the participants wait for its vote, cast last) and re-sends ABORT
      const r1 = await runChild(child, d, 'distributed', 3)
      expect(r1.acked).toHaveLength(3)
      expect(existsSync(join(d, 'KDY.2pc.log'))).toBe(true)
      expect(readFileSync(join(d, 'KDY.2pc.log'), 'utf8')).toContain(`"gid":"${r1.killed}"`)
      let c = await Cluster.open(d)
      let dtm = new Dtm(c)
      // nothing committed was lost, the in-doubt one is not applied yet
      expect(qty(c, 'CMB')).toBe(100 - 15)
      expect(qty(c, 'KDY')).toBe(100 + 15)
      let doubt = dtm.inDoubt()
      expect(doubt.map((x) => x.site).sort()).toEqual(['CMB', 'KDY'])
      expect(doubt.every((x) => x.gid === r1.killed && x.coordinator === 'CMB' && x.writes === 1)).toBe(true)
      expect(doubt.find((x) => x.site === 'KDY')!.locks).toContain('X R:Stock_KDY:S001')
      expect(dtm.list().find((t) => t.gid === r1.killed)).toBeTruthy()
      // the re-acquired lock blocks a new writer of the same row
      const g2 = dtm.begin('KDY')
      let blocked: boolean | undefined
      dtm.exec(g2, 'KDY', "UPDATE Stock_KDY SET QTY = QTY + 1 WHERE STOCKCODE = 'S001'", [], (r) => { blocked = !r.ok })
      // new gids continue after the logged ones
      expect(Number(g2.split('-')[1])).toBeGreaterThan(0)
      c.sim.runUntilTrue(() => dtm.inDoubt().length === 0 && blocked !== undefined, 1_000_000)
      expect(blocked).toBe(false) // it got the lock once the in-doubt transaction learned ABORT
      let done = false
      dtm.commit(g2, (r) => { done = r.outcome === 'COMMIT' })
      c.sim.runUntilTrue(() => done && dtm.summary().coordinators === 0, 1_000_000)
      expect(qty(c, 'CMB')).toBe(100 - 15)
      expect(qty(c, 'KDY')).toBe(100 + 15 + 1)
      const dec = dtm.loggedDecisions().get(r1.killed)!
      expect([...dec].every((x) => x.startsWith('ABORT'))).toBe(true)
      expect(dtm.info.get(r1.killed)?.outcome).toBe('ABORT')
      dtm.dispose()
      c.close()

      // 2. centralized 2PC (no WAIT record): kill after KDY's READY; reopen; resolve by hand, consistently
      const r2 = await runChild(child, d, 'centralized', 2)
      expect(r2.acked).toHaveLength(2)
      expect(Number(r2.killed.split('-')[1])).toBeGreaterThan(Number(r1.killed.split('-')[1])) // gids never reused
      c = await Cluster.open(d)
      dtm = new Dtm(c)
      expect(qty(c, 'CMB')).toBe(100 - 25)
      expect(qty(c, 'KDY')).toBe(100 + 26)
      doubt = dtm.inDoubt()
      expect(doubt.map((x) => `${x.gid}@${x.site}`).sort()).toEqual([`${r2.killed}@CMB`, `${r2.killed}@KDY`])
      dtm.resolve(r2.killed, 'KDY', 'ABORT')
      dtm.resolve(r2.killed, 'CMB', 'ABORT')
      expect(dtm.inDoubt()).toEqual([])
      expect(dtm.summary().locks).toBe(0)
      expect(dtm.info.get(r2.killed)).toMatchObject({ outcome: 'ABORT' })
      dtm.dispose()
      c.close()
      // the heuristic decisions were forced: a further reopen has nothing in doubt and the same data
      c = await Cluster.open(d)
      dtm = new Dtm(c)
      expect(dtm.inDoubt()).toEqual([])
      c.sim.advance(10_000)
      expect(qty(c, 'CMB')).toBe(100 - 25)
      expect(qty(c, 'KDY')).toBe(100 + 26)
      expect([...dtm.loggedDecisions().get(r2.killed)!].sort()).toEqual(['ABORT@CMB(heuristic)', 'ABORT@KDY(heuristic)'])
      dtm.dispose()
      c.close()
    } finally { rmSync(dir, { recursive: true, force: true }) }
  }, 60_000)

  for (const protocol of ['distributed', 'centralized', 'linear'] as Protocol[]) {
    it(`${protocol}: bank invariant on a data directory (group-committed 2PC log), crashes at 2PC steps, then a reopen`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'iddb-2pc-bank-'))
      try {
        const d = join(dir, 'd')
        const c = await Cluster.create({ seed: 8, sales: 0, dataDir: d })
        const SITES = c.siteCodes
        const table = (s: string) => (s === 'MBI' ? 'Stock_MBI_LCL' : `Stock_${s}`)
        for (const s of SITES) c.siteStore(s).withTransaction((tx) => { for (let i = 1; i <= 3; i++) tx.exec(`INSERT INTO ${table(s)} (STOCKCODE, ITEMNO, QTY, UNITPRICE) VALUES ('S00${i}', ${i}, 300, 10)`) })
        const dtm = new Dtm(c, { protocol, groupCommitMs: 2 })
        const initial = snapshot(dtm, c)
        const rng = c.sim.rng.fork('wl')
        const results: TransferOutcome[] = []
        const n = 80
        for (let i = 0; i < n; i++) {
          const from = rng.pick(SITES)
          const to = rng.pick(SITES.filter((x) => x !== from))
          const spec = { origin: rng.pick(SITES), from, to, item: rng.pick(['S001', 'S002', 'S003']), qty: rng.int(1, 9), readFirst: rng.chance(0.5), global: true }
          c.sim.schedule(rng.next() * n * 150, 'test.client', () => transfer(dtm, spec, (o) => results.push(o)))
        }
        for (let i = 0; i < 6; i++) c.sim.schedule(rng.next() * n * 150, 'test.chaos', () => dtm.crashAt(rng.pick(SITES), rng.pick(STEPS), { restartAfterMs: rng.int(5, 1500) }))
        c.sim.runUntilTrue(() => results.length === n, 5_000_000)
        expect(healAndSettle(c, dtm)).toBe(true)
        expect(checkBank(dtm, c, initial, results)).toEqual([])
        expect(results.filter((r) => r.outcome === 'COMMIT').length).toBeGreaterThan(n / 3)
        const rows = (cc: Cluster) => SITES.map((s) => cc.siteStore(s).query(`SELECT STOCKCODE, QTY FROM ${table(s)} ORDER BY STOCKCODE`).rows)
        const before = rows(c)
        dtm.dispose()
        c.close({ checkpoint: false })
        // reopened: the same committed state, nothing in doubt, new transactions go on
        const c2 = await Cluster.open(d)
        const dtm2 = new Dtm(c2)
        expect(rows(c2)).toEqual(before)
        expect(dtm2.inDoubt()).toEqual([])
        let o: string | undefined
        transfer(dtm2, { origin: 'KDY', from: 'CMB', to: 'MBI', item: 'S001', qty: 1, global: true }, (r) => { o = r.outcome })
        c2.sim.runUntilTrue(() => o !== undefined && dtm2.summary().coordinators === 0, 1_000_000)
        expect(o).toBe('COMMIT')
        dtm2.dispose()
        c2.close()
      } finally { rmSync(dir, { recursive: true, force: true }) }
    }, 60_000)
  }
})
