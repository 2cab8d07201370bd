import { afterEach, describe, expect, it, vi } from 'vitest'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Cluster } from '../../../engine/cluster'
import { ConsoleIdentities } from '../../../engine/security/identities'
import { init, sql } from './data'
import * as audit from './audit'

async function capture(fn: () => Promise<number | void>): Promise<{ code: number | void; out: string }> {
  let out = ''
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => { out += String(s); return true })
  const spyErr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true)
  try { return { code: await fn(), out } } finally { spy.mockRestore(); spyErr.mockRestore() }
}

afterEach(() => { delete process.env.IDDB_PASSWORD })

describe('iddb sql --as USER and iddb audit verify', () => {
  it('acts as a console identity (refused outside its role, audited); audit verify exits 0 with the count, 1 naming a tampered entry', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'iddb-cli-audit-'))
    try {
      const d = join(dir, 'c')
      await capture(() => init.run(['--data', d, '--seed', '4', '--sales', '200']))
      const c = await Cluster.open(d)
      const ids = ConsoleIdentities.of(c)
      ids.setup('hqdba', 'hq-pass-123')
      ids.add({ user: 'kandy', password: 'kandy-pass-1', role: 'branch-admin', site: 'KDY' })
      ids.add({ user: 'audrey', password: 'audit-pass-1', role: 'auditor' })
      c.close()

      process.env.IDDB_PASSWORD = 'kandy-pass-1'
      await expect(sql.run(['--data', d, '--site', 'CMB', '--as', 'kandy', "UPDATE ITEMS SET DESCRIPTION = 'x' WHERE ITEMCODE = 1001"])).rejects.toMatchObject({ code: 'ACCESS_DENIED', message: expect.stringMatching(/kandy \(branch administrator of KDY\) may not run a statement at CMB/) })
      const own = await capture(() => sql.run(['--data', d, '--site', 'KDY', '--local', '--as', 'kandy', "INSERT INTO Sales_KDY VALUES (70000, 'KDY', 1001, 1, 1, 1, 'x', 80)"]))
      expect(own.out).toContain('1 row(s) changed')
      process.env.IDDB_PASSWORD = 'audit-pass-1'
      const read = await capture(() => sql.run(['--data', d, '--site', 'CMB', '--as', 'audrey', '--json', 'SELECT COUNT(*) FROM ITEMS']))
      expect(JSON.parse(read.out).rows[0][0]).toBeGreaterThan(0)
      await expect(sql.run(['--data', d, '--site', 'KDY', '--local', '--as', 'audrey', 'DELETE FROM Sales_KDY'])).rejects.toMatchObject({ code: 'ACCESS_DENIED' })
      process.env.IDDB_PASSWORD = 'not-her-password'
      await expect(sql.run(['--data', d, '--site', 'CMB', '--as', 'audrey', 'SELECT 1'])).rejects.toMatchObject({ code: 'AUTH_FAILED' })

      const ok = await capture(() => audit.run(['verify', '--data', d]))
      expect(ok.code).toBe(0)
      const file = readFileSync(join(d, 'audit.log'), 'utf8')
      const count = file.split('\n').filter(Boolean).length
      expect(ok.out).toContain(`audit log ok: ${count} entries`)
      expect(file).toMatch(/"user":"kandy","action":"query\/run","ok":false,"detail":"refused: kandy \(branch administrator of KDY\)/)
      expect(file).toMatch(/"user":"kandy","action":"query\/run","ok":true/)
      expect(file).toMatch(/"user":"audrey","action":"query\/run","ok":false/)
      expect(file).not.toMatch(/kandy-pass-1|audit-pass-1|hq-pass-123/)

      const lines = file.split('\n').filter(Boolean)
      lines[4] = lines[4].replace('"ok":true', '"ok":false').replace('"ok":false,"detail":"refused', '"ok":true,"detail":"refused')
      writeFileSync(join(d, 'audit.log'), `${lines.join('\n')}\n`)
      const bad = await capture(() => audit.run(['verify', '--data', d]))
      expect(bad.code).toBe(1)
      expect(bad.out).toContain('BROKEN at entry 5')
    } finally { rmSync(dir, { recursive: true, force: true }) }
  })
})
