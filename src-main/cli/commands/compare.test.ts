import { describe, it, expect, vi } from 'vitest'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { init } from './data'
import { run as compare } from './compare'
import { Cluster } from '../../../engine/cluster'
import { dqpFor } from '../../../engine/query/dqp'
import { UsageError } from '../registry'

async function capture(fn: () => Promise<number | void>): Promise<{ code: number | void; out: string }> {
  let out = ''
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => { out += String(s); return true })
  const spyErr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true)
  try { return { code: await fn(), out } } finally { spy.mockRestore(); spyErr.mockRestore() }
}

describe('iddb init --design', () => {
  it('creates the legacy centralized design: persisted, reopened as legacy, a Kandy read crosses the ISDN line to Colombo', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'iddb-design-'))
    try {
      const d = join(dir, 'c')
      const i = await capture(() => init.run(['--data', d, '--seed', '4', '--sales', '300', '--design', 'legacy', '--json']))
      expect(i.code).toBe(0)
      expect(JSON.parse(i.out).design).toBe('legacy')
      const c = await Cluster.open(d, { readOnly: true })
      try {
        expect(c.design).toBe('legacy')
        const r = (await dqpFor(c)).runSync('KDY', 'SELECT COUNT(*) FROM SALES WHERE BRCODE = \'KDY\'')
        expect(Object.keys(r.perLinkBytes)).toEqual(['CMB-KDY'])
        expect(r.virtualMs).toBeGreaterThan(28) // two one-way delays of the ISDN line at least
      } finally { c.close({ checkpoint: false }) }
      await expect(init.run(['--data', join(dir, 'x'), '--design', 'central'])).rejects.toBeInstanceOf(UsageError)
    } finally { rmSync(dir, { recursive: true, force: true }) }
  }, 60_000)
})

describe('iddb compare', () => {
  it('prints the tables, or the CompareReport as JSON', async () => {
    const t = await capture(() => compare(['--seed', '2', '--sales', '200', '--from', '11', '--to', '12', '--hq-outage', 'none', '--link-outage', '11.5-12']))
    expect(t.code).toBe(0)
    expect(t.out).toMatch(/response time, virtual ms/)
    expect(t.out).toMatch(/KDY +\| stock_lookup/)
    const j = await capture(() => compare(['--json', '--seed', '2', '--sales', '200', '--from', '11', '--to', '12', '--rate-scale', '0.5', '--hq-outage', 'none']))
    const rep = JSON.parse(j.out)
    expect(rep.seed).toBe(2)
    expect(Object.keys(rep.results).sort()).toEqual(['distributed', 'legacy'])
    expect(rep.results.legacy.traces.length).toBe(rep.results.legacy.requests)
    await expect(compare(['--hq-outage', 'after lunch'])).rejects.toBeInstanceOf(UsageError)
  }, 120_000)
})
