/**
 * Log-damage matrix (issue 13, break 3): after a SIGKILL'd run with acknowledged commits, each log of a site
 * (the primary's commit log, the backup server's copy, the 2PC log) is damaged on a copy of the data
 * directory — truncated to 0, cut inside its header, deleted (alone, and with its mark), a byte flipped in a
 * middle record and in the last complete record, the last records cut at line boundaries, its acknowledgement
 * mark deleted — and reopened.
 * Never a silent start with acknowledged data missing: either every acknowledged row is there, or the damage
 * is CORRUPT_DATA naming the file (the site refuses service, the rest serves) and a restore from the backup
 * server gives every acknowledged row back. A torn, never-acknowledged final record is dropped.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync, appendFileSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawn } from 'node:child_process'
import { build } from 'esbuild'
import { Cluster } from '../cluster'
import { EngineError } from '../errors'
import { Dtm } from '../txn/dtm'
import { dqpFor } from '../query/dqp'

const START = 1_000_000
const STOP = START + 70 // the child checkpoints every 25 commits: 20 commits after the last one are only in the logs

function runChild(child: string, args: string[], onLine: (line: string, kill: () => void) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [child, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_PATH: join(process.cwd(), 'node_modules') } })
    let buf = '', err = ''
    p.stdout.on('data', (chunk: Buffer) => {
      buf += chunk.toString()
      let i
      while ((i = buf.indexOf('\n')) >= 0) { const line = buf.slice(0, i); buf = buf.slice(i + 1); onLine(line, () => p.kill('SIGKILL')) }
    })
    p.stderr.on('data', (x: Buffer) => { err += x.toString() })
    p.on('exit', (code, sig) => (sig === 'SIGKILL' ? resolve() : reject(new Error(`child exited ${code}: ${err}`))))
  })
}

type Damage = { name: string; apply: (file: string) => void }
const lines = (f: string) => readFileSync(f, 'utf8').split('\n').filter((l, i, a) => i < a.length - 1 || l !== '')
const flipIn = (f: string, lineNo: number) => {
  const buf = readFileSync(f)
  let off = 0
  for (let i = 0; i < lineNo; i++) off = buf.indexOf(0x0a, off) + 1
  const at = off + 20 // inside the record's JSON, past its checksum
  buf[at] = buf[at] === 0x30 ? 0x31 : 0x30
  writeFileSync(f, buf)
}
const DAMAGES: Damage[] = [
  { name: 'truncated to 0 bytes', apply: (f) => writeFileSync(f, '') },
  { name: 'cut inside its header', apply: (f) => writeFileSync(f, readFileSync(f).subarray(0, 7)) },
  { name: 'deleted', apply: (f) => unlinkSync(f) },
  { name: 'deleted with its mark', apply: (f) => { unlinkSync(f); if (existsSync(`${f}.ack`)) unlinkSync(`${f}.ack`) } },
  { name: 'its acknowledgement mark deleted', apply: (f) => unlinkSync(`${f}.ack`) },
  { name: 'a byte flipped in a middle record', apply: (f) => flipIn(f, Math.max(1, lines(f).length >> 1)) },
  { name: 'a byte flipped in the last complete record', apply: (f) => flipIn(f, lines(f).length - 1) },
  { name: 'the last 2 records cut at line boundaries', apply: (f) => { const l = lines(f); writeFileSync(f, `${l.slice(0, -2).join('\n')}\n`) } },
]

/** Rewrites a data directory as the format before the acknowledgement marks wrote it: IDDB-LOG 1 headers, one copy, no marks. */
function toOldFormat(d: string): void {
  for (const f of readdirSync(d)) {
    if (f.endsWith('.ack') || f.endsWith('.backup.log') || f.endsWith('.backup.2pc.log')) unlinkSync(join(d, f))
    else if (f.endsWith('.log')) {
      const [, ...rest] = readFileSync(join(d, f), 'utf8').split('\n')
      const owner = f.endsWith('.2pc.log') ? `${f.slice(0, 3)} 2pc` : f.slice(0, -4)
      writeFileSync(join(d, f), [`IDDB-LOG 1 ${owner}`, ...rest].join('\n'))
    }
  }
  const cj = JSON.parse(readFileSync(join(d, 'cluster.json'), 'utf8')) as Record<string, unknown>
  delete cj.logs
  writeFileSync(join(d, 'cluster.json'), JSON.stringify(cj))
}

const isCorruptNaming = (e: unknown, file: string) => e instanceof EngineError && e.code === 'CORRUPT_DATA' && e.message.includes(file)

describe('log-damage matrix after a SIGKILL', () => {
  let dir: string
  let src: string
  let child: string
  const acked: number[] = []

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'iddb-logdamage-'))
    src = join(dir, 'src')
    const c = await Cluster.create({ seed: 13, sales: 300, dataDir: src })
    c.close()
    child = join(dir, 'child.cjs')
    await build({ entryPoints: [join(__dirname, 'kill-child.ts')], bundle: true, platform: 'node', format: 'cjs', outfile: child, external: ['sql.js'], logLevel: 'silent' })
    await runChild(child, [src, String(START), String(STOP)], (line, kill) => {
      if (line.startsWith('ACK ')) acked.push(Number(line.slice(4)))
      if (line === 'KILLME') kill()
    })
  }, 120_000)
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  let n = 0
  const copy = () => { const d = join(dir, `case${++n}`); cpSync(src, d, { recursive: true }); return d }
  const ackedAt = (c: Cluster, s: string) => acked.filter((inv) => inv % c.siteCodes.length === c.siteCodes.indexOf(s))
  const missingAt = (c: Cluster, s: string) => {
    const ids = new Set(c.siteStore(s).query(`SELECT INVNO FROM "Sales_${s}" WHERE INVNO >= ${START}`).rows.map((x) => Number(x[0])))
    return ackedAt(c, s).filter((inv) => !ids.has(inv))
  }

  it('the SIGKILL left acknowledged commits that live only in the logs', async () => {
    expect(acked.length).toBe(STOP - START + 1)
    const d = copy()
    const c = await Cluster.open(d)
    for (const s of c.siteCodes) expect(missingAt(c, s)).toEqual([])
    expect(lines(join(d, 'KDY.log')).length).toBeGreaterThan(3) // header + records since the last checkpoint
    c.close({ checkpoint: false })
  })

  for (const file of ['KDY.log', 'KDY.backup.log']) {
    for (const dmg of DAMAGES) {
      it(`${file} ${dmg.name}: never a silent start with acknowledged rows missing; restore gives them back`, async () => {
        const d = copy()
        const f = join(d, file)
        if (!existsSync(f)) throw new Error(`${file} was not written`) // today's code has no backup copy of the log
        dmg.apply(f)
        const c = await Cluster.open(d)
        // the rest of the cluster opens and serves
        for (const s of ['CMB', 'MBI']) expect(missingAt(c, s)).toEqual([])
        let refused: unknown
        try { c.siteStore('KDY').count('Sales_KDY') } catch (e) { refused = e }
        // every damage here loses acknowledged records of the primary's log: it must be refused
        if (file === 'KDY.log') expect(refused).toBeDefined()
        if (refused === undefined) {
          expect(missingAt(c, 'KDY')).toEqual([])
          // a damaged copy is never repaired silently
          expect(c.events.some((e) => e.message.includes(file))).toBe(true)
        } else {
          expect(isCorruptNaming(refused, file), String(refused)).toBe(true)
          expect(c.topologyView().sites.find((s) => s.code === 'KDY')!.servers.find((v) => v.id === 'KDY.primary')).toMatchObject({ status: 'down', needsRestore: expect.stringContaining(file) })
          expect(() => c.restoreServer('KDY.primary')).toThrow(/restore/)
          // queries and transactions issued there say why
          await expect((await dqpFor(c)).run('KDY', 'SELECT COUNT(*) FROM SALES')).rejects.toSatisfy((e: unknown) => isCorruptNaming(e, file))
          const dtm = new Dtm(c)
          expect(() => dtm.begin('KDY')).toThrow(expect.objectContaining({ code: 'CORRUPT_DATA', message: expect.stringContaining(file) }))
          dtm.dispose()
          c.recoverFromBackup('KDY')
          expect(missingAt(c, 'KDY')).toEqual([])
        }
        c.close()
        // and it stays so: a reopen has every acknowledged row and nothing waiting for a restore
        const c2 = await Cluster.open(d)
        expect(c2.needsRestore().size).toBe(0)
        for (const s of c2.siteCodes) expect(missingAt(c2, s)).toEqual([])
        c2.close()
      }, 60_000)
    }
  }

  it('a torn final record that was never acknowledged is dropped: the cluster opens with every acknowledged row', async () => {
    for (const file of ['KDY.log', 'KDY.backup.log']) {
      const d = copy()
      const f = join(d, file)
      const last = lines(f).at(-1)!
      const size = readFileSync(f).length
      appendFileSync(f, last.slice(0, last.length >> 1).replace(/"seq":\d+/, '"seq":99999'))
      const c = await Cluster.open(d)
      expect(c.needsRestore().size).toBe(0)
      for (const s of c.siteCodes) expect(missingAt(c, s)).toEqual([])
      expect(readFileSync(f).length).toBe(size)
      c.close({ checkpoint: false })
    }
  })

  it('a data directory written before the acknowledgement mark (IDDB-LOG 1, no marks, no backup copy) opens, then is checked', async () => {
    const d = copy()
    toOldFormat(d)
    const c = await Cluster.open(d)
    expect(c.needsRestore().size).toBe(0)
    for (const s of c.siteCodes) expect(missingAt(c, s)).toEqual([])
    expect(readFileSync(join(d, 'KDY.log'), 'utf8')).toMatch(/^IDDB-LOG 2 KDY from /)
    expect(existsSync(join(d, 'KDY.log.ack')) && existsSync(join(d, 'KDY.backup.log'))).toBe(true)
    c.siteStore('KDY').exec(`INSERT INTO Sales_KDY VALUES (${STOP + 1000}, 'KDY', 1001, 1, 1, 1, 'x', 1)`)
    c.close({ checkpoint: false })
    // written in the new format from then on: a cut is detected
    const l = lines(join(d, 'KDY.log'))
    writeFileSync(join(d, 'KDY.log'), `${l.slice(0, -1).join('\n')}\n`)
    const c2 = await Cluster.open(d)
    expect(() => c2.siteStore('KDY').count('Sales_KDY')).toThrow(expect.objectContaining({ code: 'CORRUPT_DATA', message: expect.stringContaining('KDY.log') }))
    c2.recoverFromBackup('KDY')
    expect(c2.siteStore('KDY').query(`SELECT COUNT(*) FROM Sales_KDY WHERE INVNO = ${STOP + 1000}`).rows[0][0]).toBe(1)
    c2.close()
  })
})

describe('2PC log damage after a SIGKILL', () => {
  let dir: string
  let src: string
  let baseline: { doubt: string; decisions: string }
  const snapshot = (dtm: Dtm) => ({
    doubt: JSON.stringify(dtm.inDoubt().map((x) => `${x.gid}@${x.site}`).sort()),
    decisions: JSON.stringify([...dtm.loggedDecisions()].map(([g, s]) => `${g}:${[...s].sort().join(',')}`).sort()),
  })

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'iddb-2pcdamage-'))
    src = join(dir, 'src')
    const c0 = await Cluster.create({ seed: 3, sales: 0, dataDir: src })
    for (const s of ['CMB', 'KDY']) c0.siteStore(s).exec(`INSERT INTO Stock_${s} (STOCKCODE, ITEMNO, QTY, UNITPRICE) VALUES ('S001', 1, 100, 10)`)
    c0.close()
    const child = join(dir, 'child2pc.cjs')
    await build({ entryPoints: [join(__dirname, '../txn/kill-child-2pc.ts')], bundle: true, platform: 'node', format: 'cjs', outfile: child, external: ['sql.js'], logLevel: 'silent' })
    await runChild(child, [src, 'distributed', '6'], (line, kill) => { if (line.startsWith('KILLME ')) kill() })
    const d = join(dir, 'base')
    cpSync(src, d, { recursive: true })
    const c = await Cluster.open(d)
    const dtm = new Dtm(c)
    baseline = snapshot(dtm)
    dtm.dispose()
    c.close({ checkpoint: false })
  }, 120_000)
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('the kill left an in-doubt transaction and decisions in the 2PC logs', () => {
    expect(JSON.parse(baseline.doubt)).toHaveLength(2)
    expect(JSON.parse(baseline.decisions).length).toBeGreaterThan(3)
  })

  let n = 0
  for (const file of ['KDY.2pc.log', 'KDY.backup.2pc.log']) {
    for (const dmg of DAMAGES) {
      it(`${file} ${dmg.name}: never a silent start with forced records missing; restore gives them back`, async () => {
        const d = join(dir, `case${++n}`)
        cpSync(src, d, { recursive: true })
        if (!existsSync(join(d, file))) throw new Error(`${file} was not written`) // today's code keeps one copy
        dmg.apply(join(d, file))
        const c = await Cluster.open(d)
        const dtm = new Dtm(c) // the rest of the cluster's transactions go on
        const why = c.needsRestore().get('KDY.primary')
        if (file === 'KDY.2pc.log') {
          // every damage here loses forced records of the primary copy: KDY refuses service, naming the file
          expect(why).toContain(file)
          expect(() => c.siteStore('KDY').count('Stock_KDY')).toThrow(expect.objectContaining({ code: 'CORRUPT_DATA', message: expect.stringContaining(file) }))
          expect(c.siteStore('CMB').count('Stock_CMB')).toBe(1)
          c.recoverFromBackup('KDY')
          expect(c.needsRestore().size).toBe(0)
        } else {
          expect(why).toBeUndefined()
          expect(c.events.some((e) => e.message.includes(file))).toBe(true) // repaired from the primary copy, not silently
        }
        expect(snapshot(dtm)).toEqual(baseline)
        dtm.dispose()
        c.close({ checkpoint: false })
        // and both copies are whole again
        const c2 = await Cluster.open(d)
        const dtm2 = new Dtm(c2)
        expect(c2.needsRestore().size).toBe(0)
        expect(snapshot(dtm2)).toEqual(baseline)
        dtm2.dispose()
        c2.close({ checkpoint: false })
      }, 60_000)
    }
  }

  it('2PC logs written before the acknowledgement mark open with every record, then are checked', async () => {
    const d = join(dir, 'old')
    cpSync(src, d, { recursive: true })
    toOldFormat(d)
    expect(readFileSync(join(d, 'KDY.2pc.log'), 'utf8')).toMatch(/^IDDB-LOG 1 KDY 2pc\n/)
    const c = await Cluster.open(d)
    const dtm = new Dtm(c)
    expect(c.needsRestore().size).toBe(0)
    expect(snapshot(dtm)).toEqual(baseline)
    expect(readFileSync(join(d, 'KDY.2pc.log'), 'utf8')).toMatch(/^IDDB-LOG 2 KDY 2pc from /)
    expect(existsSync(join(d, 'KDY.backup.2pc.log')) && existsSync(join(d, 'KDY.2pc.log.ack'))).toBe(true)
    dtm.dispose()
    c.close({ checkpoint: false })
    unlinkSync(join(d, 'KDY.2pc.log'))
    const c2 = await Cluster.open(d)
    const dtm2 = new Dtm(c2)
    expect(c2.needsRestore().get('KDY.primary')).toMatch(/KDY\.2pc\.log: .*missing \(the file was deleted\)/)
    c2.recoverFromBackup('KDY')
    expect(snapshot(dtm2)).toEqual(baseline)
    dtm2.dispose()
    c2.close({ checkpoint: false })
  }, 60_000)
})
