/**
 * One write path (issue 11) and no lost update (issue 17, bug 1), in the scenario language: an autocommit
 * write — through the query processor (`query`) or at a site (`sql SITE …`) — is a one-statement transaction
 * under the same locks as the transactions begun with `begin`; it waits for T1's lock (and times out), so T1's
 * commit cannot overwrite it, and once T1 has committed the same write applies on top of T1's.
 */
import { describe, expect, it } from 'vitest'
import { runScenario } from '../scenario'

const show = (r: Awaited<ReturnType<typeof runScenario>>) => r.lines.filter((l) => l.message).map((l) => `${l.line} ${l.text}: ${l.message}`).join('\n')

describe('autocommit writes take the same locks as transactions', () => {
  it('issue 17 bug 1: the global UPDATE waits on T1 and is refused, T1 commits, then the UPDATE applies on top (1095)', async () => {
    const r = await runScenario(`
      seed 4
      sales 0
      sql CMB INSERT INTO ITEMS (ITEMNO, DESCRIPTION, CATEGORY, BRAND, LISTPRICE) VALUES (1001, 'Lamp', 'Home', 'X', 5)
      sql KDY INSERT INTO Stock_KDY (STOCKCODE, ITEMNO, QTY) VALUES ('K-LU', 1001, 100)
      begin T1 at CMB
      exec T1 KDY UPDATE Stock_KDY SET QTY = QTY - 5 WHERE STOCKCODE = 'K-LU'
      query CMB UPDATE STOCK_KDY SET QTY = QTY + 1000 WHERE STOCKCODE = 'K-LU'
      expect error TIMEOUT
      sql KDY UPDATE Stock_KDY SET QTY = QTY + 1000 WHERE STOCKCODE = 'K-LU'
      expect error TIMEOUT
      commit T1
      expect outcome T1 COMMIT
      advance 1s
      sql KDY SELECT QTY FROM Stock_KDY WHERE STOCKCODE = 'K-LU'
      expect value 95
      query CMB UPDATE STOCK_KDY SET QTY = QTY + 1000 WHERE STOCKCODE = 'K-LU'
      expect changes 1
      query MBI SELECT QTY FROM STOCK_KDY WHERE STOCKCODE = 'K-LU'
      expect value 1095
      sql KDY UPDATE Stock_KDY SET QTY = QTY - 95 WHERE STOCKCODE = 'K-LU'
      expect changes 1
      sql KDY SELECT QTY FROM Stock_KDY WHERE STOCKCODE = 'K-LU'
      expect value 1000
    `)
    expect(r.failed, show(r)).toBeUndefined()
  })
})
