/** `iddb audit verify --data DIR`: checks the data directory's hash-chained audit log (engine/security/audit.ts). */
import { parseArgs } from 'node:util'
import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { verifyAuditDir } from '../../../engine/security/audit'
import { UsageError } from '../registry'

export const name = 'audit'
export const summary = 'verify the audit log of a data directory (hash chain; exits 1 naming the first broken entry)'
export const usage = `iddb audit verify --data DIR [--json]

Recomputes the audit log's hash chain (DIR/audit.log, sha-256 of the previous hash and each entry) and its head
mark (DIR/audit.head). Exits 0 printing the number of entries, or 1 naming the first entry that was edited,
removed, reordered, or cut from the end. Reads only; safe beside a running console.`

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: { data: { type: 'string' }, json: { type: 'boolean' } }, allowPositionals: true, strict: true })
  if (positionals[0] !== 'verify' || positionals.length !== 1) throw new UsageError('usage: iddb audit verify --data DIR')
  if (!values.data) throw new UsageError('--data DIR is required')
  const dir = resolve(values.data)
  if (!existsSync(dir)) throw new UsageError(`no data directory ${dir}`)
  const v = verifyAuditDir(dir)
  if (values.json) process.stdout.write(`${JSON.stringify(v)}\n`)
  else if (v.ok) process.stdout.write(`audit log ok: ${v.count} entries, chain intact (head ${v.head.slice(0, 16)}…)\n`)
  else process.stdout.write(`audit log BROKEN at entry ${v.entry} (${v.count} entries verified before it): ${v.reason}\n`)
  if (!v.ok) process.stderr.write(`iddb audit verify: ${v.reason}\n`)
  return v.ok ? 0 : 1
}
