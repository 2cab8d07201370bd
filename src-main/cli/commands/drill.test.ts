import { describe, it, expect, vi } from 'vitest'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { init } from './data'
import { run as drill } from './drill'

async function capture(fn: () => Promise<number>): Promise<{ code: number | unknown; out: string }> {
  let out = ''
  const a = vi.spyOn(process.stdout, 'write').mockImplementation((s) => { out += String(s); return true })
  const b = vi.spyOn(process.stderr, 'write').mockImplementation(() => true)
  try { return { code: await fn().catch((e: unknown) => e), out } } finally { a.mockRestore(); b.mockRestore() }
}

describe('iddb drill', () => {
  it('runs the media drill on a persisted cluster with --yes (refused without), and reports nothing lost', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'iddb-cli-drill-'))
    try {
      const d = join(dir, 'c')
      await capture(() => init.run(['--data', d, '--seed', '4', '--sales', '300']) as Promise<number>)
      const no = await capture(() => drill(['media', 'KDY', '--data', d]))
      expect(no.code).toMatchObject({ code: 'BAD_INPUT' })
      const yes = await capture(() => drill(['media', 'KDY', '--data', d, '--yes']))
      expect(yes.code).toBe(0)
      expect(yes.out).toMatch(/found on access: media failure/)
      expect(yes.out).toMatch(/media drill at KDY: \d+ committed, \d+ aborted, 0 lost — nothing committed was lost/)
      const bad = await capture(() => drill(['nope']))
      expect(String(bad.code)).toMatch(/usage/)
    } finally { rmSync(dir, { recursive: true, force: true }) }
  }, 120_000)
})
