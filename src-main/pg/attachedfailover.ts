/**
 * Failover of an attached site (servers this machine does not run: attach.ts) by SQL alone, with the branch's own
 * login — nothing here can stop a server, so the old primary is fenced instead of stopped:
 *
 *   1. the standby the topology file names must answer and be in recovery;
 *   2. if the old primary still answers (a switchover), it is fenced: the site's databases there (and, at the
 *      repository site, the main repository's) refuse new connections (ALTER DATABASE … ALLOW_CONNECTIONS false, a
 *      database owner's right), the sessions on them are ended (pg_terminate_backend), and the standby is waited
 *      for until it has replayed everything the old primary wrote (pg_current_wal_lsn ≤ pg_last_wal_replay_lsn):
 *      nothing committed is lost. A session that cannot be ended (another role's: the login may end only its own)
 *      or a standby that does not catch up refuses the failover, and the fence is taken down again — the site is
 *      as it was; stop the old primary on its machine and fail over then;
 *      if the old primary does not answer, it is a failover proper: what the standby had replayed is what survives;
 *   3. the standby is promoted (pg_promote(true, 60): a superuser's, or granted: GRANT EXECUTE ON FUNCTION
 *      pg_promote(boolean, integer) TO the branch's login), and the fence, which came along in the WAL, is taken
 *      down there (a promotion not finished within 60 s may still finish: the old primary then stays fenced);
 *   4. it must accept a write (a commit made with synchronous_commit = local: a promoted server that still names a
 *      synchronous standby would make every commit wait — said in the result, not waited for);
 *   5. pg.json names the promoted server as the site's primary and the old one as its standby-to-be. Rebuilding it
 *      as a standby (pg_basebackup or pg_rewind from the new primary) is its own machine's work.
 */
import pg from 'pg'
import { EngineError } from '../../engine/errors'
import type { SiteCode } from '../../engine/topology/types'
import { connectTo, qid } from './load'
import { loginOf, siteDatabaseOf, swapRoles, type FailoverResult, type PgDeployment, type PgServer } from './servers'

export interface AttachedFailoverOptions {
  /** How long the standby may take to replay what the old primary wrote, ms (30 s unless given). */
  catchUpMs?: number
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export async function failoverAttached(dataDir: string, d: PgDeployment, site: SiteCode, o: AttachedFailoverOptions = {}): Promise<FailoverResult> {
  const t0 = performance.now()
  if (!d.attached) throw new EngineError('INTERNAL', 'failoverAttached is for attached servers')
  const s = d.sites.find((x) => x.code === site)
  if (!s) throw new EngineError('UNKNOWN_SITE', `no site ${site} in this deployment`)
  if (!s.standby) throw new EngineError('UNSUPPORTED', `${d.attached.topologyFile} names no standby for ${site}: there is nothing to promote (add its "standby" and attach again)`, { site })
  const dbs = [siteDatabaseOf(d, s.primary), ...(d.repository.site === site ? [d.repository.database] : [])]
  const notes: string[] = []
  let oldPrimaryWasRunning: boolean
  let standby: pg.Client
  try { standby = await session(dataDir, d, s.standby) } catch (e) {
    throw new EngineError('SITE_DOWN', `${s.standby.id} (${s.standby.host}:${s.standby.port}) cannot be reached: there is nothing to promote (${(e as Error).message})`, { site })
  }
  try {
    if (!(await standby.query('SELECT pg_is_in_recovery() AS r')).rows[0].r) {
      throw new EngineError('CONFLICT', `${s.standby.id} is not in recovery: it is not a standby (promoted already?) — nothing was changed`, { site })
    }
    const old = await fence(dataDir, d, s.primary, dbs, site)
    oldPrimaryWasRunning = old !== null
    let signalled = false
    try {
      if (old) {
        const lsn = String((await old.client.query('SELECT pg_current_wal_lsn()::text AS l')).rows[0].l)
        const limit = performance.now() + (o.catchUpMs ?? 30_000)
        for (;;) {
          const r = (await standby.query('SELECT COALESCE(pg_last_wal_replay_lsn() >= $1::pg_lsn, false) AS ok, pg_last_wal_replay_lsn()::text AS at', [lsn])).rows[0]
          if (r.ok) break
          if (performance.now() > limit) throw new EngineError('CONFLICT', `${s.standby.id} has replayed the WAL up to ${r.at ?? 'nothing'}, not yet to ${lsn} where ${s.primary.id} stopped: promoting it now would lose commits — nothing was changed (is it streaming?)`, { site })
          await sleep(20)
        }
        notes.push(`${s.primary.id} fenced (its databases ${dbs.join(', ')} refuse connections; ${old.ended} session(s) ended); ${s.standby.id} had replayed everything up to ${lsn}`)
      } else notes.push(`${s.primary.id} did not answer: a failover proper — what ${s.standby.id} had replayed is what the site keeps`)
      let ok
      try {
        ok = (await standby.query('SELECT pg_promote(true, 60) AS ok')).rows[0].ok
        signalled = true
      } catch (e) {
        if (e instanceof pg.DatabaseError && e.code === '42501') {
          const user = s.standby.user ?? d.user
          throw new EngineError('ACCESS_DENIED', `${user} may not promote ${s.standby.id} (${e.message}): a superuser there may grant it — GRANT EXECUTE ON FUNCTION pg_promote(boolean, integer) TO ${qid(user)} — nothing was changed`, { site })
        }
        throw e
      }
      if (!ok) throw new EngineError('TIMEOUT', `${s.standby.id} did not finish its promotion within 60 s; it was told to promote and may still finish, so ${s.primary.id} stays fenced — check both servers (pg_is_in_recovery) before opening either`, { site })
    } catch (e) {
      // not promoted (and not told to): the old primary is opened again as it was
      if (old && !signalled) await old.unfence()
      throw e
    } finally { if (old) await old.client.end().catch(() => {}) }
    // the fence came along in the WAL: the promoted server's databases take connections again
    if (old) for (const db of dbs) await standby.query(`ALTER DATABASE ${qid(db)} ALLOW_CONNECTIONS true`)
    const sync = String((await standby.query('SHOW synchronous_standby_names')).rows[0].synchronous_standby_names ?? '')
    if (sync.trim()) notes.push(`${s.standby.id} still names a synchronous standby (synchronous_standby_names = '${sync}') it does not have: every commit there waits until one streams or the setting is cleared on its machine`)
    await standby.query('BEGIN')
    await standby.query('SET LOCAL synchronous_commit = local')
    await standby.query('CREATE TEMP TABLE iddb_failover_probe (x int)') // accepts writes
    await standby.query('COMMIT')
  } finally { await standby.end().catch(() => {}) }
  const rtoMs = performance.now() - t0
  const { promoted, demoted } = swapRoles(dataDir, d, s as typeof s & { standby: PgServer })
  notes.push(`${demoted.id} (${demoted.host}:${demoted.port}) is the site's standby-to-be: rebuild it from ${promoted.id} on its machine (pg_basebackup or pg_rewind), then open its databases (ALTER DATABASE … ALLOW_CONNECTIONS true)`)
  return { site, promoted: `${promoted.host}:${promoted.port}`, port: promoted.port, rtoMs, oldPrimaryWasRunning, notes }
}

/**
 * A session of the failover at a server, in its `postgres` database (a database cannot close itself to
 * connections from a session inside it), else — where the login may not connect there — in the site's.
 */
async function session(dataDir: string, d: PgDeployment, server: PgServer): Promise<pg.Client> {
  for (const database of ['postgres', undefined]) {
    const c = connectTo(loginOf(dataDir, d, server, database), 'iddb:failover')
    c.on('error', () => {})
    try {
      await c.connect()
      return c
    } catch (e) {
      await c.end().catch(() => {})
      // no such database, or no right to connect to it: the site's own database next
      if (database && e instanceof pg.DatabaseError && (e.code === '3D000' || e.code === '42501')) continue
      throw e
    }
  }
  throw new EngineError('INTERNAL', 'unreachable')
}

/** The old primary fenced, or null when it does not answer: its client (kept for the WAL position), how many sessions were ended, and how to take the fence down. */
async function fence(dataDir: string, d: PgDeployment, primary: PgServer, dbs: string[], site: SiteCode): Promise<{ client: pg.Client; ended: number; unfence: () => Promise<void> } | null> {
  let client: pg.Client
  try { client = await session(dataDir, d, primary) } catch { return null }
  const closed: string[] = []
  const unfence = async () => { for (const db of closed) await client.query(`ALTER DATABASE ${qid(db)} ALLOW_CONNECTIONS true`).catch(() => {}) }
  try {
    for (const db of dbs) { await client.query(`ALTER DATABASE ${qid(db)} ALLOW_CONNECTIONS false`); closed.push(db) }
    const others = `SELECT pid, usename FROM pg_stat_activity WHERE datname = ANY($1) AND pid <> pg_backend_pid() AND backend_type = 'client backend'`
    const found = (await client.query(others, [dbs])).rows
    for (const r of found) await client.query('SELECT pg_terminate_backend($1)', [r.pid]).catch(() => {})
    let left = found
    for (let i = 0; i < 100 && left.length; i++) { await sleep(20); left = (await client.query(others, [dbs])).rows }
    if (left.length) {
      const users = [...new Set(left.map((r) => String(r.usename)))].join(', ')
      throw new EngineError('CONFLICT', `${primary.id} still answers and ${left.length} session(s) of ${users} on it could not be ended (the login may end only its own role's): its commits would be lost to the promoted server — stop ${primary.id} on its machine, then fail over; nothing was changed`, { site })
    }
    return { client, ended: found.length, unfence }
  } catch (e) {
    await unfence()
    await client.end().catch(() => {})
    throw e
  }
}
