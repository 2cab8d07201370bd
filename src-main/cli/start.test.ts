/**
 * `npm start` stops on a SIGINT sent to the npm process alone (npm forwards it to its script's shell, which
 * does not pass it on unless the script execs the launcher). Runs package.json's real `start` line in a
 * scratch package whose scripts/start.mjs is a stand-in that waits for SIGINT.
 */
import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'

const root = resolve(import.meta.dirname, '../..')

describe('npm start', () => {
  it.skipIf(process.platform === 'win32')('stops when the npm process alone gets SIGINT', async () => {
    const start = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start
    const dir = mkdtempSync(join(tmpdir(), 'iddb-start-'))
    try {
      mkdirSync(join(dir, 'scripts'))
      writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'start-check', version: '1.0.0', private: true, scripts: { start } }))
      writeFileSync(join(dir, 'scripts/start.mjs'), "process.on('SIGINT', () => { console.log('stopped'); process.exit(0) }); console.log('up'); setInterval(() => {}, 1000)\n")
      // its own process group, so a failing run can be cleaned up whole (npm, its shell, the stand-in)
      const npm = spawn('npm', ['start', '--silent'], { cwd: dir, stdio: ['ignore', 'pipe', 'inherit'], detached: true })
      let out = ''
      await new Promise<void>((ok) => npm.stdout!.on('data', (d: Buffer) => { out += d.toString(); if (out.includes('up')) ok() }))
      npm.kill('SIGINT')
      const code = await new Promise<number | null>((ok) => {
        const t = setTimeout(() => { process.kill(-npm.pid!, 'SIGKILL'); ok(-1) }, 10_000)
        npm.once('exit', (c) => { clearTimeout(t); ok(c) })
      })
      expect(code).not.toBe(-1)
      expect(out).toContain('stopped')
    } finally { rmSync(dir, { recursive: true, force: true }) }
  })
})
