import { describe, it, expect, vi } from 'vitest'
import { mkdtempSync, readdirSync, rmSync, writeFileSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { init, sql } from './data'
import { backup, restore } from './backup'
import { Cluster } from '../../../engine/cluster'

async function capture(fn: () => Promise<number | void>): Promise<{ code: number | void; out: string }> {
  let out = ''
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => { out += String(s); return true })
  const spyErr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true)
  try { return { code: await fn(), out } } finally { spy.mockRestore(); spyErr.mockRestore() }
}

describe('iddb backup / restore', () => {
  it('backs up KDY to a directory, refuses a damaged copy, restores with --yes (and not without)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'iddb-cli-bk-'))
    try {
      const d = join(dir, 'c'), o = join(dir, 'bk')
      await capture(() => init.run(['--data', d, '--seed', '2', '--sales', '400']))
      const b = await capture(() => backup.run(['--data', d, '--site', 'KDY', '--out', o, '--json']))
      expect(b.code).toBe(0)
      const r = JSON.parse(b.out)
      expect(r.sites).toEqual(['KDY'])
      expect(readdirSync(o).sort()).toEqual(['KDY.sqlite', 'manifest.json'])
      // into a directory that already holds a backup: refused
      await expect(backup.run(['--data', d, '--site', 'KDY', '--out', o])).rejects.toMatchObject({ code: 'CONFLICT' })
      await capture(() => sql.run(['--data', d, '--site', 'KDY', "INSERT INTO Sales_KDY VALUES (80000, 'KDY', 1001, 1, 1, 1, 'x', 80)"]))
      // not confirmed (no terminal, no --yes): nothing changes — on disk, byte for byte (the lock aside, and the
      // audit trail, which records each refusal)
      const files = () => Object.fromEntries(readdirSync(d).filter((x) => x !== 'cluster.lock' && !x.startsWith('audit.')).map((x) => [x, readFileSync(join(d, x)).toString('base64')]))
      const disk = files()
      await expect(capture(() => restore.run(['--data', d, '--site', 'KDY', '--from', o]))).rejects.toMatchObject({ code: 'BAD_INPUT', message: expect.stringContaining('pass --yes') })
      // a damaged copy: refused before anything changes
      const bad = join(dir, 'bad')
      await capture(() => backup.run(['--data', d, '--site', 'KDY', '--out', bad]))
      const f = readFileSync(join(bad, 'KDY.sqlite'))
      writeFileSync(join(bad, 'KDY.sqlite'), f.subarray(0, f.length - 1000))
      await expect(restore.run(['--data', d, '--site', 'KDY', '--from', bad, '--yes'])).rejects.toMatchObject({ code: 'CORRUPT_DATA', message: expect.stringContaining('truncated') })
      await expect(restore.run(['--data', d, '--site', 'CMB', '--from', o, '--yes'])).rejects.toMatchObject({ code: 'BAD_INPUT', message: expect.stringContaining('holds KDY, not CMB') })
      expect(files()).toEqual(disk)
      let c = await Cluster.open(d, { readOnly: true })
      expect(c.siteStore('KDY').query('SELECT COUNT(*) FROM Sales_KDY WHERE INVNO = 80000').rows).toEqual([[1]])
      c.close({ checkpoint: false })
      const ok = await capture(() => restore.run(['--data', d, '--site', 'KDY', '--from', join(o, 'KDY.sqlite'), '--yes']))
      expect(ok.out).toContain('1 commit(s) made at KDY after the backup')
      expect(ok.out).toContain('KDY restored from backup')
      c = await Cluster.open(d, { readOnly: true })
      expect(c.siteStore('KDY').query('SELECT COUNT(*) FROM Sales_KDY WHERE INVNO = 80000').rows).toEqual([[0]])
      expect(c.siteStore('CMB').repository!.query('SELECT COUNT(*) FROM SALES WHERE INVNO = 80000').rows).toEqual([[0]])
      c.close({ checkpoint: false })
    } finally { rmSync(dir, { recursive: true, force: true }) }
  })
})
