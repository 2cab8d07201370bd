import { describe, it, expect, vi } from 'vitest'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { init } from './data'
import { run as query } from './query'
import { EngineError } from '../../../engine/errors'

async function quiet<T>(fn: () => Promise<T>): Promise<T> {
  const a = vi.spyOn(process.stdout, 'write').mockImplementation(() => true)
  const b = vi.spyOn(process.stderr, 'write').mockImplementation(() => true)
  try { return await fn() } finally { a.mockRestore(); b.mockRestore() }
}

describe('iddb query --timeout', () => {
  it('stops a statement that would run for hours (the five-way cross join) with BUDGET_EXCEEDED naming the timeout', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'iddb-cli-timeout-'))
    try {
      const d = join(dir, 'c')
      await quiet(() => init.run(['--data', d, '--seed', '4', '--sales', '300']))
      const err = await quiet(() => query(['--data', d, '--site', 'CMB', '--timeout', '300', 'SELECT COUNT(*) FROM ITEMS a, ITEMS b, ITEMS c, ITEMS d, ITEMS e'])).then(() => undefined, (e: unknown) => e)
      expect(err).toBeInstanceOf(EngineError)
      expect(err).toMatchObject({ code: 'BUDGET_EXCEEDED' })
      expect((err as Error).message).toMatch(/longer than 300 ms/)
      // the same command without the long statement works, and a bad --timeout is a usage error
      expect(await quiet(() => query(['--data', d, '--site', 'CMB', '--timeout', '60000', 'SELECT COUNT(*) FROM ITEMS']))).toBe(0)
      await expect(query(['--data', d, '--site', 'CMB', '--timeout', '0', 'SELECT 1'])).rejects.toThrow(/--timeout must be an integer/)
    } finally { rmSync(dir, { recursive: true, force: true }) }
  }, 120_000)
})
