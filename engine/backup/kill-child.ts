/**
 * Child process for the backup/restore kill tests (bundled by esbuild from engine/backup/kill.test.ts). It runs
 * the CLI's own command — `iddb backup` or `iddb restore` (src-main/cli/commands/backup.ts), the very code path
 * an administrator runs — and stops at a named point inside it: there it prints "KILLME <point>" and blocks
 * until the parent SIGKILLs it. The points are file-system events (the CLI has no other hooks), seen by wrapping
 * node:fs, which the bundle calls through its module object:
 *
 *   argv: backup|restore <point> <cli args…>
 *   backup:  open            the first temporary file of the backup has just been created (empty)
 *            write           half of the first site file has been written to its temporary (a torn write)
 *            manifest        every site file is written; half of the manifest's temporary is
 *            rename          the first file has been renamed into place (the manifest not yet)
 *   restore: plan            the restore is validated and its plan printed; nothing is written yet
 *            log             half of the restore's commit record is in <SITE>.log (a torn write)
 *            backuplog       the record is in <SITE>.log; half of it is in <SITE>.backup.log
 *            acked           both logs hold it and <SITE>.log's acknowledgement mark is written; not the backup's
 *            committed       both logs and both marks: the commit is acknowledged; nothing settled or checkpointed
 *            image           at the checkpoint on close, half of the new <SITE>.primary.sqlite image is written
 *            renamed         at the checkpoint, the new <SITE>.primary.sqlite has just replaced the old one
 *   none                     no stop: the command runs to its end (the control run)
 * A point the command never reaches makes the child exit 5 (the test fails: it did not kill where it meant to).
 */
import fs from 'node:fs' // the module object itself (a namespace import would be a copy)
import { basename } from 'node:path'
import { backup, restore } from '../../src-main/cli/commands/backup'

const [mode, point, ...args] = process.argv.slice(2)
const siteArg = (args[args.indexOf('--site') + 1] ?? '').toUpperCase()
const freeze = (): never => {
  process.stdout.write(`KILLME ${point}\n`)
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60_000)
  process.exit(4)
}

const f = fs as unknown as Record<string, (...a: unknown[]) => unknown>
const orig = { openSync: f.openSync, writeSync: f.writeSync, renameSync: f.renameSync }
const paths = new Map<number, string>()
/** For a restore, only what follows the printed plan counts (opening the cluster writes its own files first). */
let armed = mode === 'backup'

f.openSync = (...a: unknown[]) => {
  const fd = orig.openSync(...a) as number
  paths.set(fd, String(a[0]))
  if (armed && point === 'open' && basename(String(a[0])).endsWith('.part')) freeze()
  return fd
}

/** Writes half of what was asked (a torn write: the page cache keeps it after the kill), then stops. */
function tornWrite(a: unknown[]): never {
  const [fd, data, off, len, pos] = a as [number, Uint8Array | string, number | undefined, number | undefined, number | null | undefined]
  // writeSync(fd, buffer, offset, length, position) or writeSync(fd, string, position)
  const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data
  const start = typeof data === 'string' ? 0 : off ?? 0
  const n = typeof data === 'string' ? buf.length : len ?? buf.length - start
  const at = typeof data === 'string' ? (off as number | null | undefined) : pos
  orig.writeSync(fd, buf, start, Math.max(1, Math.floor(n / 2)), at ?? null)
  return freeze()
}

let logDone = false
let primaryMark = false
f.writeSync = (...a: unknown[]) => {
  const name = basename(paths.get(a[0] as number) ?? '')
  if (armed) {
    if (mode === 'backup') {
      if (point === 'write' && name.startsWith('.') && name.endsWith('.part') && name.includes('.sqlite.')) tornWrite(a)
      if (point === 'manifest' && name.startsWith('.manifest.json.')) tornWrite(a)
    } else {
      if (name === `${siteArg}.log`) {
        if (point === 'log') tornWrite(a)
        logDone = true
      }
      if (name === `${siteArg}.backup.log` && logDone && point === 'backuplog') tornWrite(a)
      if (name === `.${siteArg}.primary.sqlite.tmp` && point === 'image') tornWrite(a)
    }
  }
  const r = orig.writeSync(...a)
  if (armed && mode === 'restore' && logDone) {
    if (name === `${siteArg}.log.ack`) { primaryMark = true; if (point === 'acked') freeze() }
    if (name === `${siteArg}.backup.log.ack` && primaryMark && point === 'committed') freeze()
  }
  return r
}

f.renameSync = (...a: unknown[]) => {
  const r = orig.renameSync(...a)
  if (armed && mode === 'backup' && point === 'rename') freeze()
  if (armed && mode === 'restore' && point === 'renamed' && basename(String(a[1])) === `${siteArg}.primary.sqlite`) freeze()
  return r
}

const write = process.stdout.write.bind(process.stdout)
process.stdout.write = ((s: string | Uint8Array, ...rest: unknown[]) => {
  const ok = (write as (...x: unknown[]) => boolean)(s, ...rest)
  if (mode === 'restore' && !armed && String(s).startsWith(`Restoring ${siteArg} from backup`)) {
    armed = true
    if (point === 'plan') freeze()
  }
  return ok
}) as typeof process.stdout.write

async function main(): Promise<void> {
  const cmd = mode === 'backup' ? backup : mode === 'restore' ? restore : null
  if (!cmd) throw new Error(`mode must be backup or restore, not ${mode}`)
  const code = (await cmd.run(args)) ?? 0
  if (point !== 'none') { process.stderr.write(`the ${mode} ended without reaching point "${point}"\n`); process.exit(5) }
  process.stdout.write(`DONE ${code}\n`)
  process.exit(code)
}

main().catch((e) => { process.stderr.write(String(e?.stack ?? e)); process.exit(3) })
