import { describe, it, expect, vi } from 'vitest'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { init, sql } from './data'
import { failover, failback } from './failover'
import { Cluster } from '../../../engine/cluster'
import { Failover } from '../../../engine/cluster/failover'

async function capture(fn: () => Promise<number | void>): Promise<{ code: number | void; out: string }> {
  let out = ''
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => { out += String(s); return true })
  const spyErr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true)
  try { return { code: await fn(), out } } finally { spy.mockRestore(); spyErr.mockRestore() }
}

describe('iddb failover / failback', () => {
  it('refuses without --yes when not interactive; promotes with --yes (RPO and RTO printed), persists the roles, fails back', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'iddb-cli-fo-'))
    try {
      const d = join(dir, 'c')
      await capture(() => init.run(['--data', d, '--seed', '4', '--sales', '300']))
      await expect(capture(() => failover.run(['--data', d, '--site', 'KDY']))).rejects.toMatchObject({ code: 'BAD_INPUT', message: expect.stringContaining('pass --yes') })
      expect((await capture(() => failover.run(['--data', d, '--status']))).out).toContain('KDY: primary KDY-db1 (up), backup KDY-db2 (up); async feed; lag 0 batch(es)')
      const r = await capture(() => failover.run(['--data', d, '--site', 'KDY', '--yes']))
      expect(r.out).toMatch(/^KDY: switchover: KDY-db2 is primary and accepts writes; RTO \d+(\.\d+)? ms \(virtual\); RPO 0/)
      await capture(() => sql.run(['--data', d, '--site', 'KDY', "INSERT INTO Sales_KDY VALUES (81000, 'KDY', 1001, 1, 1, 1, 'x', 80)"]))
      let c = await Cluster.open(d, { readOnly: true })
      expect(Failover.of(c).feedView('KDY')).toMatchObject({ primaryHost: 'KDY-db2', backupHost: 'KDY-db1', original: false })
      expect(c.siteStore('KDY').query('SELECT COUNT(*) FROM Sales_KDY WHERE INVNO = 81000').rows).toEqual([[1]])
      c.close({ checkpoint: false })
      await expect(capture(() => failback.run(['--data', d, '--site', 'KDY']))).rejects.toMatchObject({ code: 'BAD_INPUT' })
      const j = JSON.parse((await capture(() => failback.run(['--data', d, '--site', 'KDY', '--yes', '--json']))).out)
      expect(j).toMatchObject({ kind: 'failback', rpoTxns: 0, promotedHost: 'KDY-db1' })
      c = await Cluster.open(d, { readOnly: true })
      expect(Failover.of(c).feedView('KDY')).toMatchObject({ primaryHost: 'KDY-db1', original: true })
      expect(c.siteStore('KDY').query('SELECT COUNT(*) FROM Sales_KDY WHERE INVNO = 81000').rows).toEqual([[1]])
      c.close({ checkpoint: false })
    } finally { rmSync(dir, { recursive: true, force: true }) }
  })
})
