/** Nemesis faults and failure drills through the handlers: media failure confirmed by the site's code, drills started and checked, bad input refused. */
import { describe, expect, it } from 'vitest'
import { Cluster } from '../../engine/cluster'
import { JobRunner } from '../engine-host/jobs'
import { calls, type CallInput, type CallName, type CallOutput } from '../ipc/contract'
import { handlers } from './index'
import type { HandlerContext } from './context'
import { localAdmin } from '../../engine/security/identities'
import type { Actor } from '../../engine/security/roles'

async function setup() {
  const cluster = await Cluster.create({ seed: 12, sales: 300 })
  const ctx: HandlerContext = { cluster, jobs: new JobRunner(() => {}), host: 'cli', dataDir: null, actor: localAdmin('test'), emit: () => {}, clock: { speed: 0, setSpeed: () => {} } }
  const run = <N extends CallName>(name: N, input: CallInput<N>, actor?: Actor): Promise<CallOutput<N>> =>
    (handlers[name] as (c: HandlerContext, i: unknown) => Promise<CallOutput<N>>)(actor ? { ...ctx, actor } : ctx, calls[name].input.parse(input))
  return { cluster, run }
}
const codeOf = async (p: Promise<unknown>) => p.then(() => 'none', (e: { code?: string }) => e.code)

describe('nemesis/* and drill/* handlers', () => {
  it('media failure needs the site code typed; the next access is refused; recovery brings it back', async () => {
    const { cluster, run } = await setup()
    expect(await codeOf(run('nemesis/failMedia', { site: 'KDY', confirm: 'kdy' }))).toBe('BAD_INPUT')
    expect(cluster.nemesisView().sites.find((s) => s.code === 'KDY')!.media).toBeUndefined() // nothing changed
    const v = await run('nemesis/failMedia', { site: 'KDY', confirm: 'KDY' })
    expect(v.sites.find((s) => s.code === 'KDY')!.media).toMatchObject({ kind: 'corrupt', detected: null })
    expect(await codeOf(run('data/browse', { site: 'KDY', table: 'Sales_KDY', offset: 0, limit: 5 }))).toBe('CORRUPT_DATA')
    expect((await run('nemesis/get', {})).sites.find((s) => s.code === 'KDY')!.needsRestore).toMatch(/restore/)
    await run('replication/recover', { site: 'KDY', from: 'backup', confirm: 'KDY' })
    expect(cluster.isSiteUp('KDY')).toBe(true)
  })

  it('LAN, partition, chaos, skew: applied and repaired; bad input refused by the contract', async () => {
    const { cluster, run } = await setup()
    await run('nemesis/lan', { site: 'MBI', state: 'degraded', extraDelayMs: 5, lossRate: 0.1 })
    expect(cluster.net.lanState('MBI')).toMatchObject({ state: 'degraded', lossRate: 0.1 })
    await run('nemesis/lan', { site: 'MBI', state: 'up' })
    const p = await run('nemesis/partition', { groups: [['CMB'], ['MBI', 'KDY']] })
    expect(p.partition).toEqual([['CMB'], ['MBI', 'KDY']])
    expect(p.links.filter((l) => l.partitioned).map((l) => l.id).sort()).toEqual(['CMB-KDY', 'CMB-MBI'])
    expect((await run('nemesis/heal', {})).partition).toBeNull()
    await run('nemesis/linkChaos', { link: 'CMB-KDY', reorder: 0.2 })
    expect(cluster.net.link('CMB-KDY').chaos.reorder).toBe(0.2)
    await run('nemesis/skew', { site: 'KDY', offsetMs: 60_000 })
    expect(cluster.clockSkew('KDY')).toBe(60_000)
    expect(() => calls['nemesis/lan'].input.parse({ site: 'KDY', state: 'degraded', lossRate: 3 })).toThrow()
    expect(() => calls['nemesis/partition'].input.parse({ groups: [] })).toThrow()
    expect(await codeOf(run('nemesis/partition', { groups: [['CMB', 'CMB']] }))).toBe('BAD_INPUT')
  })

  it('a drill: started (its description is the catalogue’s), finished with the report; the media drill wants the code; an auditor may not start one', async () => {
    const { run } = await setup()
    expect(await codeOf(run('drill/start', { category: 'media', site: 'KDY' }))).toBe('BAD_INPUT')
    const auditor: Actor = { user: 'aud', role: 'auditor', site: null, clearance: 'SECRET', level: 'SECRET' }
    expect(await codeOf(run('drill/start', { category: 'system' }, auditor))).toBe('ACCESS_DENIED')
    const v = await run('drill/start', { category: 'media', site: 'KDY', confirm: 'KDY' })
    expect(v).toMatchObject({ category: 'media', site: 'KDY', phase: 'running' })
    expect(await codeOf(run('drill/start', { category: 'system' }))).toBe('CONFLICT')
    const done = await run('drill/finish', {})
    expect(done.phase).toBe('checked')
    expect(done.report).toMatchObject({ ok: true, lost: 0 })
    expect(done.report!.checks.map((c) => c.name)).toContain('committed transfers kept')
    expect(done.steps.some((s) => /found on access/.test(s.text))).toBe(true)
    expect((await run('drill/get', {}))?.id).toBe(done.id)
  }, 60_000)
})
