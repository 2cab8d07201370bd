// Electron fuses for the packaged console, written without @electron/fuses (no new dependency).
//
// Fuses are bytes compiled into the Electron binary: | sentinel | wire version | wire length | wire … |.
// Each wire byte is '0' (disabled), '1' (enabled) or 'r' (removed in this Electron). Run this on the
// Electron executable INSIDE the package (after the app is packed as resources/app.asar), never on
// node_modules/electron's copy (a development run loads the app from the source tree, not from an asar):
//
//   node scripts/electron-fuses.mjs <packaged electron executable>          flips the fuses below in place
//   node scripts/electron-fuses.mjs --check <packaged electron executable>  exits 1 unless they are set
//
// On macOS re-sign the app afterwards (changing the binary invalidates its signature).
import { readFileSync, writeFileSync } from 'node:fs'

export const SENTINEL = 'dL7pKGdnNz796PbbjQWNKmHXBZaB9tsX'
const DISABLE = 0x30, ENABLE = 0x31, REMOVED = 0x72

/** Wire index of each fuse (Electron's FuseV1Options). */
export const FUSE_INDEX = {
  RunAsNode: 0,
  EnableCookieEncryption: 1,
  EnableNodeOptionsEnvironmentVariable: 2,
  EnableNodeCliInspectArguments: 3,
  EnableEmbeddedAsarIntegrityValidation: 4,
  OnlyLoadAppFromAsar: 5,
  LoadBrowserProcessSpecificV8Snapshot: 6,
  GrantFileProtocolExtraPrivileges: 7,
}

/** The console's fuses: no ELECTRON_RUN_AS_NODE, NODE_OPTIONS or --inspect; cookies encrypted; the app only
 *  from its integrity-checked asar; no extra file:// privileges (the renderer is served from app://). */
export const CONSOLE_FUSES = {
  RunAsNode: false,
  EnableCookieEncryption: true,
  EnableNodeOptionsEnvironmentVariable: false,
  EnableNodeCliInspectArguments: false,
  EnableEmbeddedAsarIntegrityValidation: true,
  OnlyLoadAppFromAsar: true,
  GrantFileProtocolExtraPrivileges: false,
}

function wires(buf) {
  const sentinel = Buffer.from(SENTINEL, 'latin1')
  const found = []
  for (let at = buf.indexOf(sentinel); at >= 0; at = buf.indexOf(sentinel, at + 1)) {
    const v = at + sentinel.length
    if (buf[v] !== 0x31) throw new Error(`unknown fuse wire version ${String.fromCharCode(buf[v])} at byte ${v}`)
    found.push({ start: v + 2, length: buf[v + 1] })
  }
  if (!found.length) throw new Error('no fuse wire in this file (not an Electron binary?)')
  return found
}

/** The fuses as this binary has them: name → true | false | 'removed' (fuses beyond the wire are absent). */
export function readFuses(buf) {
  const [w] = wires(buf)
  const out = {}
  for (const [name, i] of Object.entries(FUSE_INDEX)) {
    if (i >= w.length) continue
    const b = buf[w.start + i]
    out[name] = b === ENABLE ? true : b === DISABLE ? false : b === REMOVED ? 'removed' : `0x${b.toString(16)}`
  }
  return out
}

/** Sets `config` (name → boolean) in every fuse wire of `buf`, in place; returns the names it changed. */
export function flipFuses(buf, config = CONSOLE_FUSES) {
  const changed = new Set()
  for (const w of wires(buf)) {
    for (const [name, want] of Object.entries(config)) {
      const i = FUSE_INDEX[name]
      if (i === undefined) throw new Error(`unknown fuse ${name}`)
      if (i >= w.length) throw new Error(`this Electron has no ${name} fuse (wire of ${w.length})`)
      const at = w.start + i
      if (buf[at] === REMOVED) throw new Error(`the ${name} fuse was removed from this Electron`)
      const b = want ? ENABLE : DISABLE
      if (buf[at] !== b) { buf[at] = b; changed.add(name) }
    }
  }
  return [...changed]
}

/** Names whose value differs from `config` ([] when the binary is as configured). */
export function checkFuses(buf, config = CONSOLE_FUSES) {
  const now = readFuses(buf)
  return Object.entries(config).filter(([name, want]) => now[name] !== want).map(([name]) => name)
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2)
  const check = args[0] === '--check'
  const file = check ? args[1] : args[0]
  if (!file) { console.error('usage: node scripts/electron-fuses.mjs [--check] <packaged electron executable>'); process.exit(2) }
  const buf = readFileSync(file)
  if (check) {
    const wrong = checkFuses(buf)
    console.log(wrong.length ? `fuses not as configured: ${wrong.join(', ')}` : 'fuses as configured')
    process.exit(wrong.length ? 1 : 0)
  }
  const changed = flipFuses(buf)
  if (changed.length) writeFileSync(file, buf)
  console.log(changed.length ? `flipped: ${changed.join(', ')}` : 'fuses already as configured')
}
