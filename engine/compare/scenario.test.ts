import { describe, expect, it } from 'vitest'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { runScenario } from '../scenario'

const SCRIPT = readFileSync(join(__dirname, '../../docs/scenarios/business-day.scn'), 'utf8')

describe('business-day in the scenario language', () => {
  it('docs/scenarios/business-day.scn passes on the distributed design', async () => {
    const r = await runScenario(SCRIPT)
    expect(r.failed, JSON.stringify(r.failed)).toBeUndefined()
    expect(r.ok).toBe(true)
  }, 120_000)

  it('the same day on `design legacy`: every branch stops while Colombo is down; Kandy reads over ISDN', async () => {
    const legacy = SCRIPT.replace(/^seed 11$/m, 'seed 11\ndesign legacy')
      .replace(/^expect day outage.*$/gm, '').replace(/^expect day p50.*$/m, '')
      + '\nexpect day outage hq KDY = 0\nexpect day outage hq MBI = 0\nexpect day outage link KDY = 0\nexpect day p50 KDY stock_lookup > 40ms\n'
    const r = await runScenario(legacy)
    expect(r.failed, JSON.stringify(r.failed)).toBeUndefined()
  }, 120_000)

  it('refuses a day that starts before the clock', async () => {
    const r = await runScenario('seed 1\nsales 50\nbusiness-day from=8 to=9\n')
    expect(r.ok).toBe(false)
    expect(JSON.stringify(r.failed)).toMatch(/clock is already at/)
  }, 60_000)
})
