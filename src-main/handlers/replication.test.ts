import { describe, it, expect } from 'vitest'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { topologyHandlers } from './topology'
import { Cluster } from '../../engine/cluster'
import { JobRunner } from '../engine-host/jobs'
import { replicationHandlers as h } from './replication'
import type { HandlerContext } from './context'

async function ctxWith(sales: number): Promise<HandlerContext & { emitted: string[] }> {
  const cluster = await Cluster.create({ seed: 21, sales })
  const emitted: string[] = []
  return { cluster, jobs: new JobRunner(), host: 'cli', dataDir: null, emit: (e) => { emitted.push(e) }, clock: { speed: 0, setSpeed: () => undefined }, emitted }
}

describe('replication IPC handlers (administrator recovery)', () => {
  it('restores a damaged branch from the Colombo main repository over the WAN', async () => {
    const ctx = await ctxWith(900)
    ctx.cluster.settle()
    const kdy = ctx.cluster.siteStore('KDY')
    const before = kdy.count('Sales_KDY')
    // media damage at the branch: rows vanish from the primary image behind replication's back
    const primary = ctx.cluster.siteInternals('KDY').primary
    primary.run('DELETE FROM Sales_KDY WHERE INVNO % 2 = 0')
    primary.discardChanges()
    expect(kdy.count('Sales_KDY')).toBeLessThan(before)
    const repoRows = ctx.cluster.siteStore('CMB').repository!.count('SALES')
    const r = await h['replication/recover'](ctx, { site: 'KDY', from: 'repository', confirm: 'KDY' })
    expect(r.from).toBe('repository')
    expect(r.rows).toBeGreaterThan(0)
    expect(r.virtualMs).toBeGreaterThan(0) // it travelled over CMB–KDY
    expect(kdy.count('Sales_KDY')).toBe(before)
    expect(kdy.count('Sales_KDY')).toBe(ctx.cluster.siteStore('CMB').repository!.query("SELECT COUNT(*) FROM SALES WHERE BRCODE = 'KDY'").rows[0][0])
    expect(ctx.cluster.siteStore('CMB').repository!.count('SALES')).toBe(repoRows)
    expect(ctx.emitted).toContain('catalog/changed')
  })

  it('a recovery goes ahead only with the site code typed: otherwise BAD_INPUT naming the code, and nothing is replaced', async () => {
    const ctx = await ctxWith(300)
    ctx.cluster.settle()
    const primary = ctx.cluster.siteInternals('KDY').primary
    primary.run('DELETE FROM Sales_KDY WHERE INVNO % 2 = 0')
    primary.discardChanges()
    const damaged = ctx.cluster.siteStore('KDY').count('Sales_KDY')
    for (const confirm of ['', 'kdy', 'CMB', 'KDY ']) {
      for (const from of ['backup', 'repository'] as const) {
        await expect(h['replication/recover'](ctx, { site: 'KDY', from, confirm })).rejects.toMatchObject({ code: 'BAD_INPUT', message: expect.stringContaining('type the site\'s code KDY') })
      }
    }
    expect(ctx.cluster.siteStore('KDY').count('Sales_KDY')).toBe(damaged)
  })

  it('recovers a primary from its backup, and refuses when the backup server is down', async () => {
    const ctx = await ctxWith(600)
    ctx.cluster.settle()
    const n = ctx.cluster.siteStore('MBI').count('Sales_MBI')
    const r = await h['replication/recover'](ctx, { site: 'MBI', from: 'backup', confirm: 'MBI' })
    expect(r.message).toMatch(/MBI\.primary reloaded from MBI\.backup/)
    expect(ctx.cluster.siteStore('MBI').count('Sales_MBI')).toBe(n)
    ctx.cluster.failServer('MBI.backup')
    await expect(h['replication/recover'](ctx, { site: 'MBI', from: 'backup', confirm: 'MBI' })).rejects.toMatchObject({ code: 'SITE_DOWN' })
    await expect(h['replication/recover'](ctx, { site: 'XYZ', from: 'backup', confirm: 'XYZ' })).rejects.toMatchObject({ code: 'UNKNOWN_SITE' })
  })

  it('a recovery from backup ends with the primary serving, or names the step left when the whole site is down', async () => {
    const ctx = await ctxWith(300)
    ctx.cluster.failServer('KDY.primary')
    const lost = await h['replication/recover'](ctx, { site: 'KDY', from: 'backup', confirm: 'KDY' })
    expect(lost).toMatchObject({ serving: true, stepLeft: null })
    expect(lost.message).toMatch(/KDY is serving/)
    expect(ctx.cluster.isServerUp('KDY.primary')).toBe(true)
    ctx.cluster.failSite('KDY')
    const site = await h['replication/recover'](ctx, { site: 'KDY', from: 'backup', confirm: 'KDY' })
    expect(site.serving).toBe(false)
    expect(site.stepLeft).toMatch(/KDY is still down \(.*KDY\.router.*\): restore the site/)
    expect(site.message).toContain('step left')
    expect(ctx.emitted).toContain('topology/changed')
  })

  it('refreshes the Stock_MBI copy at Colombo on demand, and fails clearly when Mumbai is cut off', async () => {
    const ctx = await ctxWith(300)
    ctx.cluster.siteStore('MBI').exec('UPDATE Stock_MBI_LCL SET QTY = QTY + 7')
    ctx.cluster.settle()
    expect(ctx.cluster.copyStatus('Stock_MBI').stale).toBe(true)
    const r = await h['replication/refreshCopy'](ctx, { copy: 'Stock_MBI' })
    expect(r).toMatchObject({ copy: 'Stock_MBI', site: 'CMB' })
    expect(ctx.cluster.copyStatus('Stock_MBI').stale).toBe(false)
    ctx.cluster.failSite('MBI')
    await expect(h['replication/refreshCopy'](ctx, { copy: 'Stock_MBI' })).rejects.toMatchObject({ code: 'UNREACHABLE' })
    await expect(h['replication/refreshCopy'](ctx, { copy: 'Nope' })).rejects.toMatchObject({ code: 'UNKNOWN_TABLE' })
  })

  it('a site whose commit log is damaged opens needing a restore (named in the topology view), refuses service, and replication/recover from backup brings every row back', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'iddb-h-damage-'))
    try {
      const d = join(dir, 'd')
      const c0 = await Cluster.create({ seed: 21, sales: 300, dataDir: d })
      for (let i = 0; i < 5; i++) c0.siteStore('KDY').exec(`INSERT INTO Sales_KDY VALUES (${700000 + i}, 'KDY', 1001, 1, 1, 1, 'x', 1)`)
      const n = c0.siteStore('KDY').count('Sales_KDY')
      c0.close({ checkpoint: false }) // the five rows are only in the logs
      writeFileSync(join(d, 'KDY.log'), '')
      const cluster = await Cluster.open(d)
      const emitted: string[] = []
      const ctx: HandlerContext = { cluster, jobs: new JobRunner(), host: 'cli', dataDir: d, emit: (e) => { emitted.push(e) }, clock: { speed: 0, setSpeed: () => undefined } }
      const view = await topologyHandlers['topology/get'](ctx, {})
      const kdy = view.sites.find((s) => s.code === 'KDY')!
      expect(kdy.health).toBe('down')
      expect(kdy.servers.find((v) => v.id === 'KDY.primary')).toMatchObject({ status: 'down', needsRestore: expect.stringMatching(/KDY\.log: records \d+–\d+ missing \(file truncated at byte 0/) })
      expect(view.sites.find((s) => s.code === 'CMB')!.health).toBe('ok')
      expect(() => cluster.siteStore('KDY').count('Sales_KDY')).toThrow(expect.objectContaining({ code: 'CORRUPT_DATA' }))
      await expect(topologyHandlers['topology/restoreServer'](ctx, { server: 'KDY.primary' })).rejects.toMatchObject({ code: 'CORRUPT_DATA' })
      const r = await h['replication/recover'](ctx, { site: 'KDY', from: 'backup', confirm: 'KDY' })
      expect(r.rows).toBeGreaterThanOrEqual(5)
      expect(emitted).toContain('topology/changed')
      const after = await topologyHandlers['topology/get'](ctx, {})
      expect(after.sites.find((s) => s.code === 'KDY')!.servers.every((v) => v.status === 'up' && !v.needsRestore)).toBe(true)
      expect(cluster.siteStore('KDY').count('Sales_KDY')).toBe(n)
      cluster.close()
    } finally { rmSync(dir, { recursive: true, force: true }) }
  })
})
