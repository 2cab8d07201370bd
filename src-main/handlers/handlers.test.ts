import { describe, expect, it } from 'vitest'
import { Cluster } from '../../engine/cluster'
import { T1_BPS } from '../../engine/topology/types'
import { CALL_NAMES, TEST_CALL_NAMES } from '../ipc/contract'
import { handlers } from './index'
import { testHandlers } from './testing'
import { handlerRig } from '../testing/handler-rig'

function makeCtx() {
  const { ctx, events: emitted, run } = handlerRig(new Cluster({ seed: 3 }))
  return { ctx, emitted, run }
}

/** Yields to the event loop until `cond()` holds (a job's chunks run between the yields). */
async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise<void>((r) => setImmediate(r))
}

describe('handlers (without Electron or a worker)', () => {
  it('has exactly one handler per contract call; the test-only calls have theirs apart', () => {
    expect(Object.keys(handlers).sort()).toEqual([...CALL_NAMES].sort())
    expect(Object.keys(testHandlers).sort()).toEqual([...TEST_CALL_NAMES].sort())
    for (const name of TEST_CALL_NAMES) expect(handlers).not.toHaveProperty([name])
  })

  it('topology/get: three sites, three T1 WAN links with their bandwidth', async () => {
    const { run } = makeCtx()
    const t = await run('topology/get', {})
    expect(t.sites.map((s) => s.code)).toEqual(['CMB', 'MBI', 'KDY'])
    expect(t.links).toHaveLength(3)
    for (const l of t.links) expect(l).toMatchObject({ kind: 'T1', bandwidthBps: T1_BPS, state: 'up' })
    const cmb = t.sites.find((s) => s.code === 'CMB')!
    expect(cmb.servers.map((s) => s.kind)).toEqual(expect.arrayContaining(['router', 'primary', 'backup', 'repository']))
    expect(t.sites.find((s) => s.code === 'KDY')!.servers.some((s) => s.kind === 'repository')).toBe(false)
  })

  it('failing and restoring a site changes health and emits topology/changed + engine/tick', async () => {
    const { run, emitted } = makeCtx()
    const down = await run('topology/failSite', { site: 'MBI' })
    expect(down.sites.find((s) => s.code === 'MBI')!.health).toBe('down')
    expect(emitted.map((e) => e.name)).toEqual(expect.arrayContaining(['topology/changed', 'engine/tick']))
    const tick = emitted.find((e) => e.name === 'engine/tick')!.payload as { health: Record<string, string> }
    expect(tick.health).toEqual({ CMB: 'ok', MBI: 'down', KDY: 'ok' })
    const up = await run('topology/restoreSite', { site: 'MBI' })
    expect(up.sites.find((s) => s.code === 'MBI')!.health).toBe('ok')
    await expect(run('topology/failSite', { site: 'XYZ' })).rejects.toMatchObject({ code: 'UNKNOWN_SITE' })
    await expect(run('topology/failLink', { link: 'CMB-XYZ' })).rejects.toMatchObject({ code: 'UNKNOWN_LINK' })
  })

  it('degrades a link and fails a single server', async () => {
    const { run } = makeCtx()
    const t = await run('topology/degradeLink', { link: 'CMB-KDY', extraDelayMs: 50 })
    expect(t.links.find((l) => l.id === 'CMB-KDY')!.state).toBe('degraded')
    const s = await run('topology/failServer', { server: 'KDY.backup' })
    const kdy = s.sites.find((x) => x.code === 'KDY')!
    expect(kdy.health).toBe('degraded')
    expect(kdy.servers.find((x) => x.id === 'KDY.backup')!.status).toBe('down')
  })

  it('clock: speed and manual advance use the virtual clock', async () => {
    const { run, ctx } = makeCtx()
    const before = await run('clock/get', {})
    expect(before.running).toBe(false)
    const after = await run('clock/advance', { ms: 90_000 })
    expect(after.now - before.now).toBe(90_000)
    expect(after.local).not.toBe(before.local)
    const fast = await run('clock/setSpeed', { speed: 3600 })
    expect(fast).toMatchObject({ speed: 3600, running: true })
    expect(ctx.clock.speed).toBe(3600)
  })

  it('events/list pages through the engine log', async () => {
    const { run } = makeCtx()
    await run('topology/failLink', { link: 'CMB-MBI' })
    await run('topology/restoreLink', { link: 'CMB-MBI' })
    const all = await run('events/list', {})
    expect(all.map((e) => e.kind)).toEqual(['failure', 'recovery'])
    expect(await run('events/list', { afterSeq: all[0].seq })).toHaveLength(1)
  })

  it('jobs/busy runs as a job with progress, yields between chunks, is listed, cancellable and awaitable', async () => {
    const { run, ctx, emitted } = makeCtx()
    // a job far longer than the test: it is watched while it runs, then cancelled (no wall-clock bound)
    const long = await run('jobs/busy', { ms: 60_000 })
    expect(long.status).toBe('running')
    expect((await run('jobs/list', {})).map((j) => j.id)).toContain(long.id)
    await until(() => ctx.jobs.get(long.id).progress > 0)
    // between two of its chunks other calls are answered, and it is still running
    expect((await run('system/ping', { sentAt: 5 })).sentAt).toBe(5)
    expect(ctx.jobs.get(long.id).status).toBe('running')
    expect(emitted.some((e) => e.name === 'job/progress' && (e.payload as { id: string; progress: number }).id === long.id)).toBe(true)
    await run('jobs/cancel', { id: long.id })
    expect(await ctx.jobs.wait(long.id)).toMatchObject({ status: 'cancelled', error: { code: 'CANCELLED' } })
    // a short one runs to its end: done, progress 1, its chunks reported
    const short = await run('jobs/busy', { ms: 1 })
    const done = await ctx.jobs.wait(short.id)
    expect(done).toMatchObject({ status: 'done', progress: 1 })
    expect((done.result as { chunks: number }).chunks).toBeGreaterThanOrEqual(1)
    const seen = emitted.filter((e) => e.name === 'job/progress' && (e.payload as { id: string }).id === short.id).map((e) => (e.payload as { status: string }).status)
    expect(seen[0]).toBe('running')
    expect(seen.at(-1)).toBe('done')
    await expect(run('jobs/get', { id: 'job-nope' })).rejects.toMatchObject({ code: 'NOT_FOUND' })
  })
})
