import { describe, expect, it } from 'vitest'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { runScenario } from './index'

const ok = async (text: string, seed = 1) => {
  const r = await runScenario(text, { seed })
  expect(r.failed, JSON.stringify(r.failed) + '\n' + r.lines.map((l) => `${l.line} ${l.text} ${l.message ?? ''}`).join('\n')).toBeUndefined()
  return r
}

describe('nemesis scenario commands', () => {
  it('each failure category as a drill: nothing committed lost, full convergence after repair', async () => {
    const r = await ok(`
sales 400
drill transaction
expect drill ok
expect drill lost 0
drill system KDY
expect drill ok
drill communication MBI
expect drill ok
drill media KDY --yes
expect drill ok
check fragmentation
expect ok
check integrity
expect ok
`)
    expect(r.lines.filter((l) => l.text.startsWith('drill')).every((l) => /0 lost/.test(l.message ?? ''))).toBe(true)
  }, 120_000)

  it('docs/scenarios/failure-drills.scn passes', async () => {
    const r = await runScenario(readFileSync(join(__dirname, '../../docs/scenarios/failure-drills.scn'), 'utf8'))
    expect(r.failed).toBeUndefined()
  }, 120_000)

  it('the media drill and media fail want --yes', async () => {
    const r = await runScenario('sales 50\ndrill media KDY\n', { seed: 2 })
    expect(r.failed?.reason).toMatch(/BAD_INPUT.*confirm/)
    const m = await runScenario('sales 50\nmedia fail KDY\n', { seed: 2 })
    expect(m.failed?.reason).toMatch(/--yes/)
  })

  it('media failure: unnoticed until the next access, refused until recovered from the backup', async () => {
    await ok(`
sales 100
sql KDY UPDATE Stock_KDY SET QTY = QTY + 1
media fail KDY corrupt --yes
expect site KDY up
sql KDY SELECT COUNT(*) FROM Stock_KDY
expect error CORRUPT_DATA
expect site KDY down
recover KDY from backup
expect site KDY up
settle
check fragmentation
expect ok
`)
  })

  it('partition, heal, LAN, duplication/reordering and skew', async () => {
    await ok(`
sales 100
partition CMB | MBI KDY
expect link CMB-KDY down
expect link MBI-KDY up
heal
expect link CMB-KDY up
lan fail KDY
expect lan KDY down
lan restore KDY
lan degrade KDY loss=0.1 delay=5ms
expect lan KDY degraded
sql KDY UPDATE Stock_KDY SET QTY = QTY + 1
lan restore KDY
settle
link reorder CMB-KDY p=0.3
link duplicate CMB-MBI p=0.2
link clean CMB-MBI
link clean CMB-KDY
expect clock KDY 08:3
skew KDY +2h
expect clock KDY 10:3
skew KDY 0
expect clock KDY 08:3
`)
  })

  it('is deterministic: same seed, same trace', async () => {
    const s = 'sales 100\npartition KDY\nlink reorder CMB-MBI p=0.5\nsql CMB UPDATE Stock_CMB SET QTY = QTY + 1\nadvance 10s\nheal\nsettle\n'
    const a = await ok(s, 7), b = await ok(s, 7)
    expect(a.traceHash).toBe(b.traceHash)
  })
})
