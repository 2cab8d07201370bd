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
import { pgVersionLine } from '../../pg/servers'

const out = (s: string) => process.stdout.write(s)

export const name = 'pg'
export const summary = 'live PostgreSQL sites on this machine: pg up | pg down | pg status'
export const usage = `iddb pg up     --data DIR [--seed N] [--sales N] [--port BASE] [--topology FILE.json] [--no-fsync] [--json]
iddb pg down   --data DIR
iddb pg status --data DIR [--json]

up      creates DIR (new or empty), one PostgreSQL cluster per site on 127.0.0.1 (ports BASE, BASE+2, …;
        default 54320), a streaming-replication standby per site as its backup server (BASE+1, BASE+3, …),
        the Colombo main repository as database iddb_repository, and loads the distributed design: fragments,
        replicas, copies, the global and local catalogs and N generated sales (default 20000). Servers run as
        the unprivileged "postgres" user when iddb runs as root. The administrator's password is generated
        and kept in DIR/.pgpass (mode 0600), never in DIR/pg.json; IDDB_PG_PASSWORD overrides it.
        --no-fsync: throw-away servers (fsync off) for tests and demos.
down    stops every server of DIR (standbys first).
status  shows each server: running, primary/standby (pg_is_in_recovery), standby lag.`

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv
  const { values } = parseArgs({ args: rest, options: { data: { type: 'string' }, seed: { type: 'string' }, sales: { type: 'string' }, port: { type: 'string' }, topology: { type: 'string' }, 'no-fsync': { type: 'boolean' }, json: { type: 'boolean' } }, strict: true })
  if (!values.data) throw new UsageError('--data DIR is required')
  if (sub === 'up') {
    const topology: TopologySpec | undefined = values.topology ? validateTopology(JSON.parse(readFileSync(values.topology, 'utf8')) as TopologySpec) : undefined
    const r = await pgUp({
      dataDir: values.data, topology, durable: !values['no-fsync'],
      seed: intOption('seed', values.seed, 0, 0xffffffff), sales: intOption('sales', values.sales, 0, 2_000_000), basePort: intOption('port', values.port, 1024, 65000),
      onProgress: (m) => { if (!values.json) process.stderr.write(`${m}\n`) },
    })
    if (values.json) out(`${JSON.stringify({ deployment: r.deployment, load: r.load, ms: r.ms }, null, 2)}\n`)
    else {
      out(formatTable(['server', 'port', 'data directory'], r.deployment.sites.flatMap((s) => [[s.primary.id, s.primary.port, s.primary.dir], [s.standby.id, s.standby.port, s.standby.dir]])))
      out(`\nloaded ${Object.values(r.load.tables).reduce((n, t) => n + Object.keys(t).length, 0)} tables in ${r.ms} ms; password in ${values.data}/.pgpass\n`)
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
    out(formatTable(['server', 'port', 'state', 'role', 'replication'], st.servers.map((s) => [
      s.id, s.port, s.running ? (s.error ? `error: ${s.error}` : 'running') : 'stopped',
      s.inRecovery === undefined ? '' : s.inRecovery ? 'standby' : 'primary',
      s.replication ? s.replication.map((r) => `${r.state} lag ${r.lagBytes ?? '?'} B`).join('; ') || 'no standby connected' : s.replayDelayMs !== undefined ? `replay delay ${s.replayDelayMs ?? '—'} ms` : '',
    ])))
    return 0
  }
  throw new UsageError(`iddb pg: unknown subcommand "${sub ?? ''}" (up, down or status)`)
}
