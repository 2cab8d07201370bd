/**
 * The DTM runs the 2PC state machines of twopc/machine.ts (the ones the model checker proves) and nothing
 * else: replacing one machine function changes what the live DTM does, and the runtime's invariant
 * assertions catch a machine that breaks "locks held until the end". Plus a bug the hand-written DTM had: a
 * crashed coordinator still sent its ABORT.
 */
import { describe, expect, it } from 'vitest'
import * as Machine from './twopc/machine'
import { ProtocolViolation } from './twopc/machine'
import { stockCluster, transfer, type TransferOutcome } from './testkit'
import type { Protocol } from './dtm'

const PROTOCOLS: Protocol[] = ['centralized', 'linear', 'distributed']

function oneTransfer(dtm: ReturnType<typeof stockCluster>['dtm'], cluster: ReturnType<typeof stockCluster>['cluster']): TransferOutcome {
  const out: TransferOutcome[] = []
  transfer(dtm, { origin: 'CMB', from: 'CMB', to: 'KDY', item: 'S001', qty: 7 }, (o) => out.push(o))
  cluster.sim.runUntilTrue(() => { const m = dtm.summary(); return out.length > 0 && m.coordinators === 0 && m.inDoubt === 0 && m.locks === 0 })
  return out[0]
}

describe('the DTM is driven by the 2PC machines', () => {
  for (const protocol of PROTOCOLS) {
    it(`${protocol}: a coordinator machine that counts every YES as NO makes the live DTM abort (and the real one commits)`, () => {
      const real = stockCluster({ dtm: { protocol } })
      expect(oneTransfer(real.dtm, real.cluster).outcome).toBe('COMMIT')

      const broken = stockCluster({
        dtm: { protocol, machine: { coordVote: (c, from, vote, votes, out) => Machine.coordVote(c, from, vote === 'YES' ? 'NO' : vote, votes, out) } },
      })
      const o = oneTransfer(broken.dtm, broken.cluster)
      expect(o.outcome).toBe('ABORT')
      expect(o.reason).toMatch(/voted no/)
      // nothing applied anywhere, nothing left held
      expect(broken.dtm.store('CMB').get('Stock_CMB', 'S001')!.QTY).toBe(100)
      expect(broken.dtm.store('KDY').get('Stock_KDY', 'S001')!.QTY).toBe(100)
      expect(broken.dtm.summary()).toMatchObject({ locks: 0, inDoubt: 0, active: 0 })
    })
  }

  it('a participant machine that releases its locks at READY is stopped by the runtime\'s invariant (locks held until the end)', () => {
    const { cluster, dtm } = stockCluster({
      dtm: {
        protocol: 'centralized',
        machine: {
          partPrepare: (p, tx, site, m, out, ro) => {
            const r = Machine.partPrepare(p, tx, site, m, out, ro)
            if (r.phase === 'READY') out.release(site, tx)
            return r
          },
        },
      },
    })
    expect(() => oneTransfer(dtm, cluster)).toThrow(ProtocolViolation)
  })

  it('a participant machine that commits on its own when READY times out is refused (apply without the COMMIT decision never happens silently)', () => {
    const { cluster, dtm } = stockCluster({
      dtm: {
        protocol: 'centralized',
        // broken: a READY participant that times out "applies" as if it had learned COMMIT
        machine: { partInquire: (p, out) => { if (p.phase === 'READY') { p.phase = 'COMMIT'; out.apply(p.site, p.tx) } } },
      },
    })
    // the coordinator crashes once it has decided, before its decision goes out: KDY stays READY and times out
    dtm.crashAt('CMB', 'decide')
    expect(() => oneTransfer(dtm, cluster)).toThrow(ProtocolViolation)
  })
})

describe('a crashed coordinator sends nothing', () => {
  for (const protocol of PROTOCOLS) {
    it(`${protocol}: a coordinator that crashes in INITIAL cannot abort its participants; they abort on their INITIAL timeout`, () => {
      const { cluster, dtm } = stockCluster({ dtm: { protocol, initialTimeoutMs: 4000 } })
      // T holds S001 at CMB; U (coordinated at KDY) waits for it there
      const t = dtm.begin('CMB')
      dtm.exec(t, 'CMB', "UPDATE Stock_CMB SET QTY = QTY - 1 WHERE STOCKCODE = 'S001'")
      cluster.sim.runUntilTrue(() => dtm.locks('CMB').lockCount > 0)
      const u = dtm.begin('KDY')
      let uResult = ''
      dtm.exec(u, 'KDY', "UPDATE Stock_KDY SET QTY = QTY + 1 WHERE STOCKCODE = 'S002'", [], () => {
        dtm.exec(u, 'CMB', "UPDATE Stock_CMB SET QTY = QTY + 1 WHERE STOCKCODE = 'S002'", [], (r) => {
          uResult = r.error?.code ?? 'ok'
          // the client, told its coordinator is gone, tries to abort: nothing can leave a crashed site
          try { dtm.abort(u, 'client gave up') } catch { /* no longer active */ }
        })
      })
      cluster.sim.runUntilTrue(() => dtm.unfinishedAt(u).includes('CMB'))
      const crashedAt = cluster.sim.now
      cluster.failSite('KDY')
      cluster.sim.runUntilTrue(() => uResult !== '')
      expect(uResult).toBe('SITE_DOWN')
      expect(dtm.list().find((x) => x.gid === u)).toMatchObject({ outcome: 'ABORT', reason: 'coordinator KDY crashed' })
      // U's work at CMB is still there, holding its locks, until its INITIAL timeout
      cluster.sim.advance(3000)
      expect(dtm.unfinishedAt(u)).toEqual(['CMB'])
      expect(dtm.timeline(u).filter((e) => e.kind === 'send' && e.site === 'KDY' && e.at >= crashedAt)).toEqual([])
      cluster.sim.advance(2000)
      expect(dtm.unfinishedAt(u)).toEqual([])
      expect(dtm.timeline(u).some((e) => e.kind === 'timeout' && e.site === 'CMB' && /INITIAL timed out/.test(e.detail ?? ''))).toBe(true)
    })
  }
})
