import { describe, expect, it } from 'vitest'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { spawnSync } from 'node:child_process'
import { CONSOLE_FUSES, SENTINEL, checkFuses, flipFuses, readFuses } from '../../scripts/electron-fuses.mjs'

/** A stand-in binary: junk, the sentinel, wire version '1', a wire of `wire` bytes, junk. */
function fakeBinary(wire: string): Buffer {
  return Buffer.concat([Buffer.alloc(1000, 7), Buffer.from(SENTINEL, 'latin1'), Buffer.from([0x31, wire.length]), Buffer.from(wire, 'latin1'), Buffer.alloc(500, 9)])
}

describe('electron fuses (package time)', () => {
  it('flips exactly the configured fuses and leaves the rest of the binary alone', () => {
    const buf = fakeBinary('10110001') // Electron's defaults: RunAsNode, NODE_OPTIONS, --inspect and file:// privileges on, the rest off
    const before = Buffer.from(buf)
    expect(readFuses(buf)).toMatchObject({ RunAsNode: true, EnableNodeOptionsEnvironmentVariable: true, OnlyLoadAppFromAsar: false })
    const changed = flipFuses(buf)
    expect(changed.sort()).toEqual(['EnableCookieEncryption', 'EnableEmbeddedAsarIntegrityValidation', 'EnableNodeCliInspectArguments', 'EnableNodeOptionsEnvironmentVariable', 'GrantFileProtocolExtraPrivileges', 'OnlyLoadAppFromAsar', 'RunAsNode'].sort())
    expect(readFuses(buf)).toEqual({ ...CONSOLE_FUSES, LoadBrowserProcessSpecificV8Snapshot: false })
    expect(checkFuses(buf)).toEqual([])
    const wireAt = 1000 + SENTINEL.length + 2
    for (let i = 0; i < buf.length; i++) if (i < wireAt || i >= wireAt + 8) expect(buf[i]).toBe(before[i])
    expect(flipFuses(buf)).toEqual([]) // idempotent
  })

  it('refuses a binary without a wire, an unknown wire version, a removed or missing fuse', () => {
    expect(() => flipFuses(Buffer.alloc(100))).toThrow(/no fuse wire/)
    const v2 = fakeBinary('10101010'); v2[1000 + SENTINEL.length] = 0x32
    expect(() => flipFuses(v2)).toThrow(/version/)
    expect(() => flipFuses(fakeBinary('1r101010'))).toThrow(/removed/)
    expect(() => flipFuses(fakeBinary('10101'))).toThrow(/no OnlyLoadAppFromAsar|no GrantFileProtocolExtraPrivileges/)
  })

  it('works as a command: --check fails before and passes after flipping', () => {
    const dir = mkdtempSync(join(tmpdir(), 'iddb-fuses-'))
    try {
      const bin = join(dir, 'electron')
      writeFileSync(bin, fakeBinary('11101011'))
      const script = resolve(__dirname, '../../scripts/electron-fuses.mjs')
      expect(spawnSync(process.execPath, [script, '--check', bin]).status).toBe(1)
      expect(spawnSync(process.execPath, [script, bin]).status).toBe(0)
      expect(spawnSync(process.execPath, [script, '--check', bin]).status).toBe(0)
      expect(readFuses(readFileSync(bin)).RunAsNode).toBe(false)
    } finally { rmSync(dir, { recursive: true, force: true }) }
  })
})
