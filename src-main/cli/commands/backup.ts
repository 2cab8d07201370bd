/**
 * `iddb backup` (a site, or every site at one cut, to standard SQLite files and a manifest in a directory) and
 * `iddb restore` (a site's own data from such a directory or file: validated first, what it loses stated, and
 * carried out only with --yes or the site's code typed at the prompt).
 */
import { parseArgs } from 'node:util'
import { createInterface } from 'node:readline/promises'
import { Cluster } from '../../../engine/cluster'
import { EngineError } from '../../../engine/errors'
import { readBackup, takeBackup, writeBackupDir, backupBytes, backupRows } from '../../../engine/backup/snapshot'
import { planRestore, restoreFromFile } from '../../../engine/backup/restore'
import { UsageError, type CliCommand } from '../registry'
import { AS_USAGE, actAs } from '../actor'

const out = (s: string) => process.stdout.write(s)

export const backup: CliCommand = {
  name: 'backup',
  summary: 'back up a site (or every site at one consistent cut) to standard SQLite files with a manifest',
  usage: `iddb backup --data DIR --site CODE|all --out DIR [--json] [--as USER]

Writes <SITE>.sqlite (the primary's database, a standard SQLite file) for each site and manifest.json
(site, virtual and wall time, schema version, row counts, SHA-256 per file) into --out (created if
missing; it must not already hold a backup). --site all backs up every site at one instant. Files are
written under temporary names and renamed when complete: an interrupted backup leaves no partial file.
Reads the cluster only (a running console may keep it open). Restore with iddb restore.
${AS_USAGE}`,
  async run(argv) {
    const { values } = parseArgs({ args: argv, options: { data: { type: 'string' }, site: { type: 'string' }, out: { type: 'string' }, json: { type: 'boolean' }, as: { type: 'string' } }, strict: true })
    if (!values.data) throw new UsageError('--data DIR is required')
    if (!values.site) throw new UsageError('--site CODE (or all) is required')
    if (!values.out) throw new UsageError('--out DIR is required')
    const sites = values.site.toLowerCase() === 'all' ? 'all' as const : values.site.toUpperCase().split(',')
    const c = await Cluster.open(values.data, { readOnly: true })
    try {
      await actAs(c, values.as, 'backup/take', { sites }, async () => {
        const t0 = performance.now()
        const set = await takeBackup(c, sites)
        const files = await writeBackupDir(set, values.out!)
        const r = { id: set.manifest.id, sites: set.manifest.sites, virtualLocal: set.manifest.virtualLocal, files, bytes: backupBytes(set), rows: backupRows(set), ms: Math.round(performance.now() - t0) }
        out(values.json ? `${JSON.stringify(r)}\n` : `backup ${r.id} of ${r.sites.join(', ')} at ${r.virtualLocal}: ${r.bytes.toLocaleString('en')} bytes, ${r.rows.toLocaleString('en')} rows in ${r.ms} ms\n${files.map((f) => `  ${f}`).join('\n')}\n`)
      })
    } finally { c.close({ checkpoint: false }) }
    return 0
  },
}

export const restore: CliCommand = {
  name: 'restore',
  summary: 'restore a site\'s own data from a backup (iddb backup): validated, its losses stated, confirmed',
  usage: `iddb restore --data DIR --site CODE --from BACKUP_DIR|FILE.sqlite [--yes] [--json] [--as USER]

Checks the backup first — a truncated file, a wrong checksum, a file of another site or of another schema
is refused and nothing changes — then states what the restore loses (the commits made at the site after
the backup) and asks for the site's code. --yes confirms without asking (scripts). The site's fragments and
local tables become the backup's in one commit, which the backup server, the main repository and the
replicas receive like any other. Replicas and copies are kept current from their sources. For a restore
from the site's backup server or from the main repository, see iddb recover.
${AS_USAGE}`,
  async run(argv) {
    const { values } = parseArgs({ args: argv, options: { data: { type: 'string' }, site: { type: 'string' }, from: { type: 'string' }, yes: { type: 'boolean' }, json: { type: 'boolean' }, as: { type: 'string' } }, strict: true })
    if (!values.data) throw new UsageError('--data DIR is required')
    if (!values.site) throw new UsageError('--site CODE is required (e.g. KDY)')
    if (!values.from) throw new UsageError('--from BACKUP_DIR (or one of its .sqlite files) is required')
    const site = values.site.toUpperCase()
    const set = readBackup(values.from)
    const c = await Cluster.open(values.data)
    let changed = false
    try {
      c.site(site)
      await actAs(c, values.as, 'backup/restore', { site, key: set.manifest.id, confirm: site }, async () => {
        const plan = planRestore(c, set, site)
        if (!values.json) out(`${plan.message}\n`)
        let confirm = values.yes ? site : ''
        if (!values.yes) {
          if (!process.stdin.isTTY) throw new EngineError('BAD_INPUT', `restore of ${site} not confirmed: pass --yes (or run it at a terminal and type ${site})`, { site })
          const rl = createInterface({ input: process.stdin, output: process.stderr })
          try { confirm = (await rl.question(`type ${site} to restore it: `)).trim() } finally { rl.close() }
        }
        const done = await restoreFromFile(c, set, site, confirm)
        changed = done.changes > 0
        c.settle()
        out(values.json ? `${JSON.stringify(done)}\n` : `${site} restored from backup ${done.backupId}: ${done.changes} row(s) written (record ${done.seq})\n`)
      })
    } finally { c.close({ checkpoint: changed }) }
    return 0
  },
}

export const commands: CliCommand[] = [backup, restore]
