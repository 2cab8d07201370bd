import { describe, it, expect } from 'vitest'
import { runScenario, registerCommand, parseDuration } from './runner'

const SCRIPT = `
# Stock_MBI copy refreshed at noon; KDY failure
sales 1000
sql MBI UPDATE Stock_MBI_LCL SET QTY = QTY + 5 WHERE ITEMNO = (SELECT MIN(ITEMNO) FROM Stock_MBI_LCL)
expect changes 1
expect stale Stock_MBI
at 12:00
advance 5s
expect fresh Stock_MBI
expect time 12:00
sql CMB SELECT COUNT(*) FROM Employees_CMB
expect value 48
sql KDY SELECT * FROM Employees_KDY WHERE POSITION = 'Branch Manager'
expect rows 1
fail site KDY
sql KDY SELECT 1
expect error SITE_DOWN
restore site KDY
sql KDY INSERT INTO Sales_KDY VALUES (5000001, 'KDY', 1001, 1, 10, 10, '2026-11-23 12:00:00', 80)
settle
expect count CMB.repository SALES 1001
check fragmentation
expect ok
`

describe('scenario runner', () => {
  it('runs a script, per-line results, deterministic trace hash', async () => {
    const a = await runScenario(SCRIPT, { seed: 9 })
    expect(a.failed).toBeUndefined()
    expect(a.ok).toBe(true)
    expect(a.lines.filter((l) => l.ok).length).toBe(a.lines.length)
    const b = await runScenario(SCRIPT, { seed: 9 })
    expect(b.traceHash).toBe(a.traceHash)
    const c = await runScenario(SCRIPT.replace('advance 5s', 'advance 6s'), { seed: 9 })
    expect(c.traceHash).not.toBe(a.traceHash)
  })

  it('reports the failing line and why; later lines are skipped', async () => {
    const r = await runScenario('sales 100\nsql CMB SELECT COUNT(*) FROM Employees_CMB\nexpect value 47\nadvance 1h', { seed: 1 })
    expect(r.ok).toBe(false)
    expect(r.failed).toMatchObject({ line: 3, text: 'expect value 47' })
    expect(r.failed!.reason).toContain('got 48')
    expect(r.lines[3].skipped).toBe(true)
    const e = await runScenario('sales 0\nsql CMB SELEC nonsense', {})
    expect(e.failed?.reason).toMatch(/SQL_ERROR/)
    const u = await runScenario('sales 0\nfrobnicate', {})
    expect(u.failed?.reason).toMatch(/unknown command/)
  })

  it('is extensible and supports a fourth branch by configuration', async () => {
    // a fourth branch holds 5 fragments: its Employees, Sales and Stock, and replicas of ITEMS and INVOICE_BLOCKS
    registerCommand({ name: 'shout', usage: 'shout X', summary: 'test', run: (ctx, a) => { ctx.out.push(a.join(' ').toUpperCase()) } })
    const r = await runScenario('branch GAL Galle x=40 y=90 staff=12 link=CMB:6,KDY:5\nsales 500\nshout hi\nsql GAL SELECT COUNT(*) FROM Employees_GAL\nexpect value 12\nsql CMB SELECT COUNT(*) FROM FRAGMENT_TABLES WHERE SITE = \'GAL\'\nexpect value 5\ncheck fragmentation\nexpect ok', {})
    expect(r.failed).toBeUndefined()
    expect(r.lines[2].message).toBe('HI')
    expect(parseDuration('1h30m')).toBe(5_400_000)
  })
})
