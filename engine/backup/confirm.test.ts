/**
 * Issue 12: "the scenario language and the CLI take a --yes" for every destructive action — fail site, media
 * failure, promote, restore. In the scenario language each accepts --yes; media failure, promote (failover /
 * failback), the media drill and a restore from a held backup are refused without it, naming --yes and
 * changing nothing. (`fail site` does not require it: it is the language's everyday fault, repaired by
 * `restore site`.) The CLI side: src-main/cli/commands/{backup,failover,drill,data}.test.ts.
 */
import { describe, it, expect, beforeAll } from 'vitest'
import { Cluster } from '../cluster'
import { runScenario } from '../scenario'

const SALE = (inv: number) => `sql KDY INSERT INTO Sales_KDY VALUES (${inv}, 'KDY', 1001, 1, 2.5, 2.5, '2026-11-23 10:00:00', 100)`

/** What a refused destructive line must leave as it was. */
function state(c: Cluster) {
  return {
    seqs: c.siteCodes.map((s) => c.siteStore(s).seq),
    kdy: c.siteStore('KDY').query('SELECT COUNT(*), SUM(INVNO) FROM Sales_KDY').rows,
    up: c.siteCodes.map((s) => c.isSiteUp(s) && c.isServerUp(`${s}.primary`) && c.isServerUp(`${s}.backup`)),
    damaged: c.needsRestore().size,
  }
}

describe('destructive scenario verbs take --yes (issue 12)', () => {
  let c: Cluster
  beforeAll(async () => {
    c = await Cluster.create({ seed: 3, sales: 300 })
    // a backup, then a commit after it: a restore would undo it
    const r = await runScenario(`backup KDY\n${SALE(950001)}`, { cluster: c })
    expect(r.failed).toBeUndefined()
    expect(r.lines[0].message).toMatch(/^backup of KDY at .* held \([\d,]+ bytes\)$/)
  })

  for (const [line, reason] of [
    ['media fail KDY corrupt', /media fail destroys KDY's primary database until it is restored: add --yes/],
    ['failover KDY', /failover KDY is destructive .*: add --yes to confirm/],
    ['failback KDY', /failback KDY is destructive .*: add --yes to confirm/],
    ['drill media KDY', /confirm it \(type the site's code; --yes in scenarios and the CLI\)/],
    ['backup restore KDY', /backup restore KDY replaces KDY's own data with the backup's \(commits made after it are lost\): add --yes to confirm/],
  ] as const) {
    it(`"${line}" without --yes is refused, naming --yes, and changes nothing`, async () => {
      const before = state(c)
      const r = await runScenario(line, { cluster: c })
      expect(r.failed?.reason).toMatch(reason)
      expect(r.failed?.reason).toMatch(/^BAD_INPUT: /)
      expect(state(c)).toEqual(before)
    })
  }

  it('each destructive verb accepts --yes: restore, fail site, media failure, promote and fail back', async () => {
    const n = c.siteStore('KDY').count('Sales_KDY')
    const r = await runScenario(`backup restore KDY --yes
expect count KDY Sales_KDY ${n - 1}
expect job restore KDY done
fail site MBI --yes
expect site MBI down
restore site MBI
fail site MBI
expect site MBI down
restore site MBI
settle
media fail KDY corrupt --yes
recover KDY from backup --yes
expect count KDY Sales_KDY ${n - 1}
failover KDY --yes
expect rpo KDY = 0
failback KDY --yes
expect roles KDY KDY-db1/KDY-db2
`, { cluster: c })
    expect(r.failed).toBeUndefined()
    expect(r.lines[0].message).toMatch(/1 commit\(s\) made at KDY after the backup/)
    expect(c.siteStore('KDY').query('SELECT COUNT(*) FROM Sales_KDY WHERE INVNO = 950001').rows).toEqual([[0]])
  })

  it('backup restore names a backup by id, and refuses a site it does not hold (changing nothing)', async () => {
    const r = await runScenario('backup CMB\nbackup restore KDY NO-SUCH-ID --yes', { cluster: c })
    expect(r.failed?.reason).toMatch(/^NOT_FOUND: no backup NO-SUCH-ID is held/)
    const before = state(c)
    const key = (await import('./store')).backupStore(c).held.at(-1)!.key
    const r2 = await runScenario(`backup restore KDY ${key} --yes`, { cluster: c })
    expect(r2.failed?.reason).toMatch(/holds CMB, not KDY/)
    expect(state(c)).toEqual(before)
  })
})
