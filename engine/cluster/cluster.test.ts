import { describe, expect, it } from 'vitest'
import { mkdtempSync, readdirSync, readlinkSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Cluster, type ClusterEvent } from '../cluster'
import { Dtm } from '../txn/dtm'
import { dqpFor } from '../query/dqp'
import { ticketsOf } from '../ticket'
import { SecurityManager } from '../security/dsm'
import { AuditLog } from '../security/audit'
import { ConsoleIdentities } from '../security/identities'
import { assert } from '../assert'
import { EngineError } from '../errors'
import { LockManager } from '../txn/lock'

/** Files of `dir` this process holds open (Linux: /proc/self/fd). */
function openFilesIn(dir: string): string[] {
  const out: string[] = []
  for (const fd of readdirSync('/proc/self/fd')) {
    try { const t = readlinkSync(`/proc/self/fd/${fd}`); if (t.startsWith(dir)) out.push(t.slice(dir.length + 1)) } catch { /* closed meanwhile */ }
  }
  return out.sort()
}

describe('typed cluster events', () => {
  it('servers, sites and links publish what changed, with the server role', () => {
    const c = new Cluster({ seed: 3 })
    const seen: ClusterEvent[] = []
    const off = c.on((e) => seen.push(e))
    c.failServer('MBI.primary')
    c.failServer('MBI.primary') // already down: nothing new
    c.restoreServer('MBI.primary')
    c.failSite('KDY')
    const link = [...c.net.links.keys()][0]
    c.failLink(link)
    c.restoreLink(link)
    c.degradeLink(link, { extraDelayMs: 50 })
    off()
    c.failServer('CMB.app')
    expect(seen).toEqual([
      { type: 'server.down', server: 'MBI.primary', site: 'MBI', role: 'primary' },
      { type: 'server.up', server: 'MBI.primary', site: 'MBI', role: 'primary' },
      ...c.topologyView().sites.find((s) => s.code === 'KDY')!.servers
        .filter((s) => s.kind !== 'backup' && s.kind !== 'repository')
        .map((s) => ({ type: 'server.down', server: s.id, site: 'KDY', role: s.kind })),
      { type: 'link.down', link },
      { type: 'link.up', link },
      { type: 'link.degraded', link, degradation: { extraDelayMs: 50 } },
    ])
  })

  it('recovery from the backup server publishes site.recovered', async () => {
    const c = new Cluster({ seed: 4 })
    await c.init()
    const seen: ClusterEvent[] = []
    c.on((e) => seen.push(e))
    c.recoverFromBackup('MBI')
    expect(seen).toEqual([{ type: 'site.recovered', site: 'MBI', from: 'backup' }])
    c.close()
  })

  it('the DTM and the ticket service learn of a crash from the event, not from a log message that reads like one', () => {
    const c = new Cluster({ seed: 5 })
    const dtm = Dtm.of(c)
    const svc = ticketsOf(c)
    const up = () => svc.stateView().servers.find((s) => s.site === 'MBI')!.up
    dtm.locks('MBI').acquire('t1', 'Stock_MBI_LCL#S001', 'X', () => {})
    c.log('failure', 'MBI.primary failed', 'MBI')
    c.log('failure', 'MBI.app failed', 'MBI')
    expect(dtm.locks('MBI').lockCount).toBe(1)
    expect(up()).toBe(true)
    c.failServer('MBI.primary')
    expect(dtm.locks('MBI').lockCount).toBe(0) // the crash lost the volatile lock table
    c.failServer('MBI.app')
    expect(up()).toBe(false)
    c.restoreServer('MBI.app')
    expect(up()).toBe(true)
  })
})

describe('subsystems built and disposed by the cluster', () => {
  it('each accessor returns the one instance the cluster built', async () => {
    const c = new Cluster({ seed: 6 })
    await c.init()
    expect(Dtm.of(c)).toBe(c.subsystems.dtm())
    expect(Dtm.of(c)).toBe(Dtm.of(c))
    expect(dqpFor(c)).toBe(dqpFor(c))
    expect(await dqpFor(c)).toBe(await c.subsystems.dqp())
    expect(ticketsOf(c)).toBe(ticketsOf(c))
    expect(SecurityManager.of(c)).toBe(SecurityManager.of(c))
    expect(AuditLog.of(c)).toBe(AuditLog.of(c))
    expect(ConsoleIdentities.of(c)).toBe(ConsoleIdentities.of(c))
    expect(c.subsystems.built).toEqual(['dtm', 'dqp', 'tickets', 'dsm', 'audit', 'identities'])
    // a subsystem disposed on its own is forgotten: the next call builds a fresh one
    const d = Dtm.of(c)
    d.dispose()
    expect(Dtm.of(c)).not.toBe(d)
    c.close()
  })

  it('close() disposes them: 2PC log and audit files closed, listeners gone, retry timers cancelled', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'iddb-subsys-'))
    try {
      const d = join(dir, 'd')
      const c = await Cluster.create({ seed: 7, sales: 0, dataDir: d })
      const dtm = Dtm.of(c)
      AuditLog.of(c).append('CMB', 'dba', 'test', true, 'opens the audit file')
      const svc = ticketsOf(c)
      c.failServer('MBI.app'); c.failServer('KDY.app') // no majority: CMB's ticket server keeps retrying
      svc.present('42', ['CMB'])
      c.sim.traceLimit = 100_000
      c.sim.runUntil(c.sim.now + 2000)
      expect(c.sim.trace.some((e) => e.kind === 'ticket.retry')).toBe(true)
      const open = openFilesIn(d)
      expect(open).toEqual(expect.arrayContaining(['CMB.2pc.log', 'MBI.2pc.log', 'KDY.2pc.log', 'audit.log']))

      c.close()
      expect(openFilesIn(d)).toEqual([])
      expect(c.subsystems.built).toEqual([])
      // the disposed DTM and ticket service no longer react to the cluster
      dtm.locks('CMB').acquire('t9', 'r', 'X', () => {})
      c.failServer('CMB.primary')
      expect(dtm.locks('CMB').lockCount).toBe(1)
      const before = svc.stateView().servers.find((s) => s.site === 'MBI')!.up
      c.restoreServer('MBI.app')
      expect(svc.stateView().servers.find((s) => s.site === 'MBI')!.up).toBe(before)
      const at = c.sim.now
      c.sim.runUntil(at + 5000)
      expect(c.sim.trace.filter((e) => e.kind === 'ticket.retry' && e.time > at)).toEqual([])
    } finally { rmSync(dir, { recursive: true, force: true }) }
  })
})

describe('assert', () => {
  it('an invariant that fails is an INTERNAL error naming it', () => {
    expect(() => assert(1 + 1 === 2, 'arithmetic')).not.toThrow()
    const e = (() => { try { assert(false, () => 'the sky is up'); return null } catch (x) { return x } })()
    expect(e).toBeInstanceOf(EngineError)
    expect((e as EngineError).code).toBe('INTERNAL')
    expect((e as EngineError).message).toBe('internal invariant violated: the sky is up')
  })

  it('the kernel refuses to run time backwards', () => {
    const c = new Cluster({ seed: 8 })
    const ev = c.sim.schedule(10, 'x', () => {})
    ;(ev as { time: number }).time = c.sim.now - 1 // corrupt the queue
    expect(() => c.sim.step()).toThrow(/virtual time is monotonic/)
  })

  it('a lock manager whose counts say compatible but whose caller skipped the check cannot grant an incompatible lock', () => {
    const m = new LockManager()
    expect(m.acquire('a', 'r', 'X', () => {})).toBe(true)
    // a broken caller reaching the grant path directly (as a bug in pump or acquire would)
    expect(() => (m as unknown as { grant(e: unknown, tx: string, r: string, mode: string): void })
      .grant((m as unknown as { table: Map<string, unknown> }).table.get('r'), 'b', 'r', 'S')).toThrow(/granted only when compatible/)
    expect(m.heldLocks('b')).toEqual([])
  })
})
