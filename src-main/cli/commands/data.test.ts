import { describe, it, expect, vi } from 'vitest'
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { init, sql, run, recover } from './data'
import { Cluster } from '../../../engine/cluster'

async function capture(fn: () => Promise<number | void>): Promise<{ code: number | void; out: string }> {
  let out = ''
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => { out += String(s); return true })
  const spyErr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true)
  try { return { code: await fn(), out } } finally { spy.mockRestore(); spyErr.mockRestore() }
}

describe('iddb init / sql / run', () => {
  it('creates, queries (read-only and writes), and runs scenarios', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'iddb-cli-'))
    try {
      const d = join(dir, 'c')
      const i = await capture(() => init.run(['--data', d, '--seed', '4', '--sales', '600', '--json']))
      expect(i.code).toBe(0)
      const summary = JSON.parse(i.out)
      expect(Object.values(summary.sales as Record<string, number>).reduce((a, b) => a + b, 0)).toBe(600)
      const q = await capture(() => sql.run(['--data', d, '--site', 'KDY', '--json', "SELECT NROWS FROM FRAGMENT_TABLES WHERE FNAME = 'Sales_KDY'"]))
      expect(JSON.parse(q.out).rows[0][0]).toBe(summary.sales.KDY)
      const w = await capture(() => sql.run(['--data', d, '--site', 'KDY', "INSERT INTO Sales_KDY VALUES (70000, 'KDY', 1001, 1, 1, 1, 'x', 80)"]))
      expect(w.out).toContain('1 row(s) changed')
      const t = await capture(() => sql.run(['--data', d, '--site', 'KDY', 'SELECT COUNT(*) AS N FROM Sales_KDY']))
      expect(t.out).toMatch(new RegExp(`\\b${summary.sales.KDY + 1}\\b`))
      // global SQL goes through the distributed query processor: all fragments, the request class, per-link bytes
      const g = await capture(() => sql.run(['--data', d, '--site', 'KDY', '--json', 'SELECT COUNT(*) AS N FROM SALES']))
      const gj = JSON.parse(g.out)
      expect(gj.rows[0][0]).toBe(601)
      expect(gj.requestClass).toBe('distributed request')
      expect(Object.keys(gj.perLinkBytes).some((k: string) => k.includes('-'))).toBe(true)
      const e = await capture(() => sql.run(['--data', d, '--site', 'KDY', "EXPLAIN SELECT * FROM EMPLOYEES WHERE BRCODE = 'MBI'"]))
      expect(e.out).toMatch(/Employees_CMB .*contradicts/)
      // --local keeps a statement at the site: SALES is not a table there
      await expect(sql.run(['--data', d, '--site', 'KDY', '--local', 'SELECT COUNT(*) FROM SALES'])).rejects.toThrow(/no such table/)
      const f = join(dir, 's.txt')
      writeFileSync(f, 'sales 100\nsql CMB SELECT COUNT(*) FROM Employees_CMB\nexpect value 48\nexpect rows 2\n')
      const r = await capture(() => run.run([f, '--seed', '3']))
      expect(r.code).toBe(1)
      expect(r.out).toContain(`${f}:4: expect rows 2`)
      expect(r.out).toContain('expected 2 rows, got 1')
      // --data DIR: the scenario runs on the persisted cluster, and what it commits stays there
      const g2 = join(dir, 'p.txt')
      writeFileSync(g2, "seed 9\nsql KDY SELECT COUNT(*) FROM Sales_KDY WHERE INVNO = 70000\nexpect value 1\nsql KDY INSERT INTO Sales_KDY VALUES (70001, 'KDY', 1001, 1, 1, 1, 'x', 80)\n")
      const p = await capture(() => run.run([g2, '--data', d]))
      expect(p.code).toBe(0)
      expect(p.out).toContain('directive ignored')
      const after = await capture(() => sql.run(['--data', d, '--site', 'KDY', '--local', '--json', 'SELECT COUNT(*) FROM Sales_KDY WHERE INVNO = 70001']))
      expect(JSON.parse(after.out).rows).toEqual([[1]])
      await expect(run.run([g2, '--data', d, '--seed', '3'])).rejects.toThrow(/not with --data/)
    } finally { rmSync(dir, { recursive: true, force: true }) }
  })

  it('init --profile legacy creates the pre-project network (plain links, no firewalls); a bad or doubled option changes nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'iddb-cli-'))
    try {
      const d = join(dir, 'c')
      await expect(init.run(['--data', d, '--profile', 'retro'])).rejects.toThrow(/--profile must be modern or legacy/)
      await expect(init.run(['--data', d, '--profile', 'legacy', '--topology', join(dir, 't.json')])).rejects.toThrow(/exclusive/)
      expect(existsSync(d)).toBe(false)
      expect((await capture(() => init.run(['--data', d, '--seed', '2', '--sales', '50', '--profile', 'legacy']))).code).toBe(0)
      const c = await Cluster.open(d)
      try {
        expect(c.topology.profile).toBe('legacy')
        expect(c.topology.links.every((l) => !l.encrypted)).toBe(true)
        expect(Object.values(c.topology.firewalls).every((f) => !f.enabled)).toBe(true)
      } finally { c.close({ checkpoint: false }) }
    } finally { rmSync(dir, { recursive: true, force: true }) }
  })

  it('a damaged commit log: sql names CORRUPT_DATA and the restore command; recover --from backup brings the rows back', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'iddb-cli-'))
    let err = ''
    const spyErr = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => { err += String(s); return true })
    const spyOut = vi.spyOn(process.stdout, 'write').mockImplementation(() => true)
    try {
      const d = join(dir, 'c')
      const c = await Cluster.create({ seed: 4, sales: 200, dataDir: d })
      for (let i = 0; i < 3; i++) c.siteStore('KDY').exec(`INSERT INTO Sales_KDY VALUES (${80000 + i}, 'KDY', 1001, 1, 1, 1, 'x', 1)`)
      const n = c.siteStore('KDY').count('Sales_KDY')
      c.close({ checkpoint: false })
      writeFileSync(join(d, 'KDY.log'), 'IDDB')
      await expect(sql.run(['--data', d, '--site', 'KDY', '--local', 'SELECT COUNT(*) FROM Sales_KDY'])).rejects.toMatchObject({ code: 'CORRUPT_DATA', message: expect.stringContaining('KDY.log: records') })
      expect(err).toContain('iddb: CORRUPT_DATA: KDY.primary refuses service until restored')
      expect(err).toContain(`iddb recover --data ${d} --site KDY --from backup`)
      // the other sites still answer
      await expect(sql.run(['--data', d, '--site', 'CMB', '--local', 'SELECT COUNT(*) FROM Sales_CMB'])).resolves.toBe(0)
      spyOut.mockRestore()
      // destructive: not confirmed (no terminal, no --yes) it is refused, naming --yes, and changes nothing
      const files = () => Object.fromEntries(readdirSync(d).filter((f) => f !== 'cluster.lock' && !f.startsWith('audit.')).map((f) => [f, readFileSync(join(d, f)).toString('base64')]))
      const disk = files()
      await expect(capture(() => recover.run(['--data', d, '--site', 'KDY', '--json']))).rejects.toMatchObject({ code: 'BAD_INPUT', message: expect.stringMatching(/recovery of KDY from its backup server .*not confirmed: pass --yes/) })
      await expect(capture(() => recover.run(['--data', d, '--site', 'KDY', '--from', 'repository']))).rejects.toMatchObject({ code: 'BAD_INPUT', message: expect.stringMatching(/from the main repository .*not confirmed: pass --yes/) })
      expect(files()).toEqual(disk)
      await expect(sql.run(['--data', d, '--site', 'KDY', '--local', 'SELECT COUNT(*) FROM Sales_KDY'])).rejects.toMatchObject({ code: 'CORRUPT_DATA' })
      const r = await capture(() => recover.run(['--data', d, '--site', 'KDY', '--yes', '--json']))
      expect(JSON.parse(r.out)).toMatchObject({ site: 'KDY', from: 'backup', wasDamaged: expect.stringContaining('KDY.log') })
      const q = await capture(() => sql.run(['--data', d, '--site', 'KDY', '--local', '--json', 'SELECT COUNT(*) FROM Sales_KDY']))
      expect(JSON.parse(q.out).rows[0][0]).toBe(n)
    } finally { spyErr.mockRestore(); spyOut.mockRestore(); rmSync(dir, { recursive: true, force: true }) }
  })
})
