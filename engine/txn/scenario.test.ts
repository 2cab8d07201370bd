import { describe, expect, it } from 'vitest'
import { runScenario } from '../scenario/runner'
import './scenario'

describe('transaction commands in the scenario language', () => {
  it('begin/exec/commit, crash at a 2PC step, in-doubt, resolution after restart', async () => {
    const r = await runScenario(`
      seed 3
      sales 200
      protocol centralized
      sql CMB INSERT INTO Stock_CMB (STOCKCODE, ITEMNO, QTY) VALUES ('X1', 1001, 50)
      sql KDY INSERT INTO Stock_KDY (STOCKCODE, ITEMNO, QTY) VALUES ('X1', 1001, 50)
      begin T1 at CMB
      exec T1 CMB SELECT STOCKCODE, QTY FROM Stock_CMB WHERE STOCKCODE = 'X1'
      exec T1 CMB UPDATE Stock_CMB SET QTY = QTY - 5 WHERE STOCKCODE = 'X1'
      expect changes 1
      exec T1 KDY UPDATE Stock_KDY SET QTY = QTY + 5 WHERE STOCKCODE = 'X1'
      crash CMB at decide
      commit T1 &
      advance 3s
      expect indoubt 1
      expect txnstate T1 KDY READY
      indoubt
      restore site CMB
      advance 5s
      expect indoubt 0
      expect txnstate T1 KDY COMMIT
      sql KDY SELECT QTY FROM Stock_KDY WHERE STOCKCODE = 'X1'
      expect value 55
      begin T2 at MBI
      exec T2 KDY UPDATE Stock_KDY SET QTY = 0 WHERE STOCKCODE = 'X1'
      abort T2
      expect outcome T2 ABORT
      begin T3 at MBI
      exec T3 UPDATE STOCK_KDY SET QTY = QTY * 2 WHERE STOCKCODE = 'X1'
      expect changes 1
      exec T3 SELECT QTY FROM STOCK_CMB WHERE STOCKCODE = 'X1'
      expect value 45
      commit T3
      expect outcome T3 COMMIT
      advance 1s
      sql KDY SELECT QTY FROM Stock_KDY WHERE STOCKCODE = 'X1'
      expect value 110
    `)
    if (!r.ok) console.log(r.lines.filter((l) => l.message).map((l) => `${l.line} ${l.text}: ${l.message}`).join('\n'))
    expect(r.failed).toBeUndefined()
  })

  it('issue 17 bug 3 in the scenario language: a hand resolution is heuristic, never taught, and its damage is reported', async () => {
    const r = await runScenario(`
      seed 4
      sales 200
      protocol centralized
      sql MBI INSERT INTO Stock_MBI_LCL (STOCKCODE, ITEMNO, QTY) VALUES ('X2', 1001, 50)
      sql KDY INSERT INTO Stock_KDY (STOCKCODE, ITEMNO, QTY) VALUES ('X2', 1001, 50)
      begin T2 at CMB
      exec T2 MBI UPDATE Stock_MBI_LCL SET QTY = QTY - 5 WHERE STOCKCODE = 'X2'
      exec T2 KDY UPDATE Stock_KDY SET QTY = QTY + 5 WHERE STOCKCODE = 'X2'
      crash CMB at decide
      commit T2
      expect outcome T2 COMMIT
      advance 3s
      expect indoubt 2
      expect heuristic T2 none
      resolve T2 at KDY abort
      expect heuristic T2 at KDY pending
      advance 10s
      expect txnstate T2 MBI READY
      restore site CMB
      advance 10s
      expect indoubt 0
      expect txnstate T2 MBI COMMIT
      expect heuristic T2 at KDY damage
      expect heuristic T2 at MBI none
    `)
    if (!r.ok) console.log(r.lines.filter((l) => l.message).map((l) => `${l.line} ${l.text}: ${l.message}`).join('\n'))
    expect(r.failed).toBeUndefined()
  })
})
