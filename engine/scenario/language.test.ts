/** The scenario language's issue-17 additions (docs/SCENARIOS.md), each shown on a real cluster. */
import { describe, expect, it } from 'vitest'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { runScenario } from './index'

const scn = (name: string) => readFileSync(join(__dirname, '../../docs/scenarios', name), 'utf8')
const failed = (r: Awaited<ReturnType<typeof runScenario>>) => r.failed && `${r.failed.line}: ${r.failed.text} → ${r.failed.reason}`

describe('scenario language (issue 17)', () => {
  it('exec … & does not wait: a cross-site deadlock is built from a script, and its victim is named', async () => {
    const r = await runScenario(scn('cross-site-deadlock.scn'))
    expect(failed(r)).toBeUndefined()
    const again = await runScenario(scn('cross-site-deadlock.scn'))
    expect(again.traceHash).toBe(r.traceHash)
  })
})
