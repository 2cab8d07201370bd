/**
 * `iddb pg up|down|status --data DIR`: live PostgreSQL sites on this machine (src-main/pg/). One PostgreSQL
 * cluster per site on loopback ports, a streaming standby per site as its backup server, the main repository
 * as its own database at Colombo, the distributed design and its generated data loaded.
 */
import { parseArgs } from 'node:util'
import { readFileSync } from 'node:fs'
import { validateTopology } from '../../../engine/topology/default'
import type { TopologySpec } from '../../../engine/topology/types'
import { UsageError, intOption } from '../registry'
import { formatTable } from '../format'
import { pgDown, pgStatus, pgUp } from '../../pg/deploy'
import { pgAttach } from '../../pg/attach'
import { crashServer, failover, pgVersionLine, rebuildStandby } from '../../pg/servers'
import { pgBackup, pgRestore } from '../../pg/backup'
import { pgBaseBackup, restoreBaseBackup, verifyBaseBackup } from '../../pg/basebackup'
import { liveLocalCatalog } from '../../pg/catalog'
import { withSiteClient } from '../../pg/deploy'
import type { WanSetup } from '../../pg/wan'

const out = (s: string) => process.stdout.write(s)
const wanLines = (w: WanSetup) => `wan: ${w.kind} from ${w.consoleSite} — ${w.sites.map((x) => `${x.site} at ${x.nsAddr} in ${x.netns} (${x.link}: ${x.delayMs} ms each way, ${x.bandwidthBps / 1e6} Mbit/s)`).join('; ')}\n`

export const name = 'pg'
export const summary = 'live PostgreSQL sites: pg up | attach | down | status | backup | verify | restore | failover'
export const usage = `iddb pg up     --data DIR [--seed N] [--sales N] [--port BASE] [--topology FILE.json] [--no-fsync] [--wan t1] [--json]
iddb pg attach --data DIR --topology SERVERS.json [--seed N] [--sales N] [--replace --yes] [--json]
iddb pg down   --data DIR
iddb pg status --data DIR [--json]
iddb pg backup   --data DIR --site S --out DIR2 [--repository | --physical]
iddb pg verify   --data DIR --from DIR2/<SITE>-base-<time>
iddb pg restore  --data DIR --site S --from DIR2/<backup>.dump.json --yes
iddb pg restore  --data DIR --physical --from DIR2/<SITE>-base-<time> --yes
iddb pg failover --data DIR --site S --yes
iddb pg rebuild-standby --data DIR --site S
iddb pg crash    --data DIR --server KDY.primary --yes
iddb pg catalog  --data DIR --site S [--json]

up      creates DIR (new or empty), one PostgreSQL cluster per site on 127.0.0.1 (ports BASE, BASE+2, …;
        default 54320), a streaming-replication standby per site as its backup server (BASE+1, BASE+3, …),
        the Colombo main repository as database iddb_repository, and loads the distributed design: fragments,
        replicas, copies, the global and local catalogs and N generated sales (default 20000). Servers run as
        the unprivileged "postgres" user when iddb runs as root. The administrator's password is generated
        and kept in DIR/.pgpass (mode 0600), never in DIR/pg.json; IDDB_PG_PASSWORD overrides it.
        --no-fsync: throw-away servers (fsync off) for tests and demos.
        --wan t1: each branch's servers in a network namespace of their own, reached over a veth shaped with
        netem to the topology's link from HQ (its delay each way, its bandwidth); needs root, ip netns and tc.
attach  the real deployment: servers this machine does not run, one per branch, named in SERVERS.json —
        per site its host, port, database, user and passwordEnv (the environment variable holding the
        password; without it the entry in the pgpass file, PGPASSFILE or ~/.pgpass), optionally its standby
        {host, port}; "repository": {"database": …} at HQ. A password in the file is refused. Checks every
        server (login, PostgreSQL 13+, max_prepared_transactions > 0, empty databases unless --replace --yes),
        loads the design and writes DIR/pg.json (no password). Then npm start -- --pg DIR opens the consoles
        on them; down, rebuild-standby and crash are refused (the servers' own machines do that); failover
        works over SQL (below).
down    stops every server of DIR (standbys first); with --wan, removes the namespaces and veths too.
status  shows each server: running, primary/standby (pg_is_in_recovery), standby lag.
backup  pg_dump (custom format) of the site's database (--repository: the main repository) into DIR2, with a
        manifest: SHA-256 of the file, rows and a content checksum per table, from one snapshot. --physical:
        pg_basebackup of the site's primary (the whole server, WAL included, as of one WAL position) into
        DIR2/<SITE>-base-<time>/, with PostgreSQL's backup manifest and ours (files' SHA-256, LSNs, tables).
verify  a physical backup restored into a scratch server on a free loopback port: its files' SHA-256 checked,
        pg_verifybackup, every table's checksum compared with the manifest; the scratch server is removed.
restore checks the manifest, the file's size and SHA-256 and that the backup is of this site, restores into a
        scratch database, compares every table with the manifest, and only then replaces the site's database.
        Commits made at the site after the backup are lost: --yes says you know. --physical: a base backup,
        in place — verified in a scratch server first, then the site's primary is stopped, its data directory
        kept aside as <dir>.before-restore-<time>, the backup put in its place and started (recovering to the
        backup's end), the standby rebuilt from it, and every table compared with the manifest.
failover promotes the site's standby (pg_promote) after stopping its primary if it still runs; the primary's
        commits wait for the standby (synchronous streaming), so no acknowledged commit is lost. --yes required.
        Attached servers: the standby the topology file names is promoted over SQL (the login needs the right:
        GRANT EXECUTE ON FUNCTION pg_promote(boolean, integer) TO it); a primary that still answers is fenced
        instead of stopped (its databases refuse connections, its sessions are ended, the standby waited for
        until it has replayed all it wrote); rebuilding the old primary as a standby is its machine's work.
rebuild-standby builds the site's standby anew from its current primary (after a failover: the old primary;
        fail back = failover again once it streams).
catalog the site's local catalog (tables, columns with low/high keys, indexes) from the server's statistics.
crash   the failure drill: the server stops at once, without a shutdown (pg_ctl stop -m immediate). --yes required.`

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv
  const { values } = parseArgs({ args: rest, options: { data: { type: 'string' }, seed: { type: 'string' }, sales: { type: 'string' }, port: { type: 'string' }, topology: { type: 'string' }, 'no-fsync': { type: 'boolean' }, json: { type: 'boolean' }, site: { type: 'string' }, out: { type: 'string' }, from: { type: 'string' }, repository: { type: 'boolean' }, physical: { type: 'boolean' }, yes: { type: 'boolean' }, server: { type: 'string' }, wan: { type: 'string' }, replace: { type: 'boolean' } }, strict: true })
  if (!values.data) throw new UsageError('--data DIR is required')
  if (sub === 'up') {
    const topology: TopologySpec | undefined = values.topology ? validateTopology(JSON.parse(readFileSync(values.topology, 'utf8')) as TopologySpec) : undefined
    if (values.wan !== undefined && values.wan !== 't1') throw new UsageError(`--wan ${values.wan}: the only modelled WAN is t1`)
    const r = await pgUp({
      wan: values.wan as 't1' | undefined,
      dataDir: values.data, topology, durable: !values['no-fsync'],
      seed: intOption('seed', values.seed, 0, 0xffffffff), sales: intOption('sales', values.sales, 0, 2_000_000), basePort: intOption('port', values.port, 1024, 65000),
      onProgress: (m) => { if (!values.json) process.stderr.write(`${m}\n`) },
    })
    if (values.json) out(`${JSON.stringify({ deployment: r.deployment, load: r.load, ms: r.ms }, null, 2)}\n`)
    else {
      out(formatTable(['server', 'host', 'port', 'data directory'], r.deployment.sites.flatMap((s) => [[s.primary.id, s.primary.host ?? r.deployment.host, s.primary.port, s.primary.dir], [s.standby.id, s.standby.host ?? r.deployment.host, s.standby.port, s.standby.dir]])))
      if (r.deployment.wan) out(wanLines(r.deployment.wan))
      out(`\nloaded ${Object.values(r.load.tables).reduce((n, t) => n + Object.keys(t).length, 0)} tables in ${r.ms} ms; password in ${values.data}/.pgpass\n`)
    }
    return 0
  }
  if (sub === 'attach') {
    if (!values.topology) throw new UsageError('iddb pg attach needs --topology SERVERS.json (each site\'s host, port, database, user, passwordEnv)')
    if (values.replace && !values.yes) throw new UsageError('--replace drops every table of the sites\' databases before loading: add --yes')
    const r = await pgAttach({
      dataDir: values.data, topologyFile: values.topology, replace: values.replace,
      seed: intOption('seed', values.seed, 0, 0xffffffff), sales: intOption('sales', values.sales, 0, 2_000_000),
      onProgress: (m) => { if (!values.json) process.stderr.write(`${m}\n`) },
    })
    if (values.json) out(`${JSON.stringify({ deployment: r.deployment, servers: r.servers, load: r.load, ms: r.ms }, null, 2)}\n`)
    else {
      out(formatTable(['server', 'host', 'port', 'database', 'user', 'password from'], r.deployment.sites.flatMap((s) => [s.primary, ...(s.standby ? [s.standby] : [])]).map((x) => [x.id, x.host ?? '', x.port, x.database ?? '', x.user ?? '', x.passwordEnv ? `$${x.passwordEnv}` : 'pgpass'])))
      out(`\nattached ${r.servers.map((s) => `${s.server} (PostgreSQL ${s.version})`).join(', ')}; loaded ${Object.values(r.load.tables).reduce((n, t) => n + Object.keys(t).length, 0)} tables in ${r.ms} ms\nopen the console on them: npm start -- --pg ${values.data}\n`)
    }
    return 0
  }
  if (sub === 'down') {
    const stopped = pgDown(values.data)
    out(stopped.length ? `stopped ${stopped.join(', ')}\n` : 'no server was running\n')
    return 0
  }
  if (sub === 'status') {
    const st = await pgStatus(values.data)
    if (values.json) { out(`${JSON.stringify(st, null, 2)}\n`); return 0 }
    out(`${pgVersionLine() ?? 'PostgreSQL server binaries not found on this machine'}\n`)
    out(st.deployment.attached ? `attached from ${st.deployment.attached.topologyFile} (servers this machine does not run)\n` : st.deployment.wan ? wanLines(st.deployment.wan) : 'wan: none (every server on 127.0.0.1)\n')
    out(formatTable(['server', 'host', 'port', 'state', 'role', 'replication'], st.servers.map((s) => [
      s.id, s.host, s.port, s.running ? (s.error ? `error: ${s.error}` : 'running') : 'stopped',
      s.inRecovery === undefined ? '' : s.inRecovery ? 'standby' : 'primary',
      s.replication ? s.replication.map((r) => `${r.state} (${r.sync}) lag ${r.lagBytes ?? '?'} B`).join('; ') || 'no standby connected' : s.replayDelayMs !== undefined ? `replay delay ${s.replayDelayMs ?? '—'} ms` : '',
    ])))
    return 0
  }
  const site = values.site?.toUpperCase()
  if (sub === 'backup' && values.physical) {
    if (!site || !values.out) throw new UsageError('iddb pg backup --physical needs --site S and --out DIR')
    if (values.repository) throw new UsageError('--physical copies the whole server (the main repository with it): leave out --repository')
    const m = await pgBaseBackup(values.data, { site, outDir: values.out })
    if (values.json) out(`${JSON.stringify(m, null, 2)}\n`)
    else out(`${m.site} ${m.server}: ${m.dir} (${m.bytes} bytes, ${m.files.length} files), consistent as of ${m.endLsn} on timeline ${m.timeline}\n`)
    return 0
  }
  if (sub === 'verify') {
    if (!values.from) throw new UsageError('iddb pg verify needs --from DIR2/<SITE>-base-<time>')
    const r = await verifyBaseBackup(values.data, values.from)
    if (values.json) out(`${JSON.stringify(r, null, 2)}\n`)
    else {
      out(`${r.site} as of ${r.endLsn}: ${r.verifybackup}\n`)
      out(formatTable(['table', 'rows', 'expected', 'equal'], r.tables.map((t) => [t.table, t.rows, t.expectedRows, t.equal ? 'yes' : 'NO'])))
      out(`${r.equal ? 'every table equal to the manifest' : 'tables differ from the manifest'} (${r.ms} ms)\n`)
    }
    return r.equal ? 0 : 1
  }
  if (sub === 'backup') {
    if (!site || !values.out) throw new UsageError('iddb pg backup needs --site S and --out DIR')
    const m = await pgBackup(values.data, { site, outDir: values.out, repository: values.repository })
    if (values.json) out(`${JSON.stringify(m, null, 2)}\n`)
    else out(`${m.site} ${m.database}: ${m.file} (${m.bytes} bytes, sha256 ${m.sha256.slice(0, 16)}…), ${Object.keys(m.tables).length} tables, ${Object.values(m.tables).reduce((n, t) => n + t.rows, 0)} rows\n`)
    return 0
  }
  if (sub === 'restore' && values.physical) {
    if (!values.from) throw new UsageError('iddb pg restore --physical needs --from DIR2/<SITE>-base-<time>')
    if (!values.yes) throw new UsageError('a physical restore stops the site\'s server and starts it on the backup: commits made there after the backup are no longer at the site (its data directory is kept aside); add --yes')
    const r = await restoreBaseBackup(values.data, values.from)
    if (values.json) out(`${JSON.stringify(r, null, 2)}\n`)
    else {
      out(`${r.site} restored in place as of ${r.endLsn}; its data directory as it was: ${r.kept}; standby rebuilt\n`)
      out(formatTable(['table', 'rows', 'expected', 'equal'], r.tables.map((t) => [t.table, t.rows, t.expectedRows, t.equal ? 'yes' : 'NO'])))
      out(`${r.equal ? 'every table equal to the manifest' : 'tables differ from the manifest'} (${r.ms} ms)\n`)
    }
    return r.equal ? 0 : 1
  }
  if (sub === 'restore') {
    if (!site || !values.from) throw new UsageError('iddb pg restore needs --site S and --from MANIFEST.json')
    if (!values.yes) throw new UsageError(`restore replaces ${site}'s database: commits made there after the backup are lost; add --yes`)
    const r = await pgRestore(values.data, { site, manifest: values.from })
    out(`restored ${site}: ${r.tables} tables, ${r.rows} rows, every table's checksum equal to the backup's\n`)
    return 0
  }
  if (sub === 'failover') {
    if (!site) throw new UsageError('iddb pg failover needs --site S')
    if (!values.yes) throw new UsageError(`failover stops (attached servers: fences) ${site}'s primary if it runs and promotes its standby; add --yes`)
    const f = await failover(values.data, site)
    out(`${site}: the standby on port ${f.port} is the primary (accepting writes after ${Math.round(f.rtoMs)} ms); ${f.notes ? f.notes.join('; ') : `rebuild its standby with iddb pg rebuild-standby --site ${site}`}\n`)
    return 0
  }
  if (sub === 'rebuild-standby') {
    if (!site) throw new UsageError('iddb pg rebuild-standby needs --site S')
    await rebuildStandby(values.data, site)
    out(`${site}: standby rebuilt from the primary and streaming\n`)
    return 0
  }
  if (sub === 'catalog') {
    if (!site) throw new UsageError('iddb pg catalog needs --site S')
    const cat = await withSiteClient(values.data, site, (c) => liveLocalCatalog(c))
    if (values.json) { out(`${JSON.stringify(cat, null, 2)}\n`); return 0 }
    out(formatTable(['table', 'rows'], cat.tables.map((t) => [t.TABLE_NAME, t.NUM_ROWS])))
    out(`\n${formatTable(['table', 'column', 'type', 'len', 'low key', 'high key'], cat.columns.map((x) => [x.TABLE, x.COL_NAME, x.TYPE, x.LEN, x.LKEY, x.HKEY]), 1000)}`)
    out(`\n${formatTable(['index', 'table', 'keys', 'type', '% unique'], cat.indexes.map((x) => [x.INDEX_NAME, x.TABLE_NAME, x.KEY_COLS, x.TYPE, Math.round(x.PCT_UNIQUE)]))}`)
    return 0
  }
  if (sub === 'crash') {
    if (!values.server) throw new UsageError('iddb pg crash needs --server ID (e.g. KDY.primary)')
    if (!values.yes) throw new UsageError(`crash stops ${values.server} at once, without a shutdown; add --yes`)
    out(crashServer(values.data, values.server) ? `${values.server} crashed (stopped -m immediate)\n` : `${values.server} was not running\n`)
    return 0
  }
  throw new UsageError(`iddb pg: unknown subcommand "${sub ?? ''}" (up, down, status, backup, verify, restore, failover, rebuild-standby, crash)`)
}
