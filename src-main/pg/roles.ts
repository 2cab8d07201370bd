/**
 * Security over live servers (issue 15): in live mode every user the engine knows is a PostgreSQL LOGIN role at
 * their home site's server, and that server checks their password.
 *
 *  - A user `clerk` is the role `iddb_u_clerk` (the name checked against the DSM's user-name rule, always quoted).
 *  - Its password is stored at the server as a SCRAM-SHA-256 verifier computed here (node:crypto, RFC 5802 /
 *    RFC 7677, PostgreSQL's format `SCRAM-SHA-256$4096:<salt>$<StoredKey>:<ServerKey>`) and sent as that
 *    verifier: the plain password never reaches the server, its logs or pg_stat_statements.
 *  - The role is granted what the user's clearance allows at that server: SELECT on each of the site's fragments,
 *    replicas and copies whose relation is labelled at or below it, and on those tables only the columns labelled
 *    at or below it (engine/security/policy.ts: no SALARY below SECRET, no UNITPRICE below CONFIDENTIAL). Nothing
 *    else: no writes (the engine writes as the administrator, after its own no-write-down check), no catalogs.
 *  - A login (the DSM's LiveAuth.check) opens a connection to the home server as that role with the password
 *    given: the server's SCRAM exchange decides; a refused one is a failed login (AUTH_FAILED, audited and
 *    counted towards the lockout as in the embedded mode), an unreachable server a clear SITE_DOWN naming it.
 *  - Each home server keeps its users across console starts in `iddb_sec.users` (name, clearance; written with
 *    the role, removed with it). When live mode opens, the users kept there that the engine does not know (added in
 *    an earlier run: the console's engine starts from the design's users) are taken back first (adopt); then the
 *    roles at each server are brought in line with the engine's users: a role `iddb_u_*` whose user is known to
 *    neither (left by something else) is dropped, so nobody logs in at a server with a user the console does not
 *    have. Not kept: the removal of one of the design's own users (it is there again at the next start).
 * The engine's multi-level security (engine/security/mls.ts) still decides what a session reads through the DQP:
 * the grants here are the servers' own line behind it, for a connection made to a server with a user's password.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto'
import { EngineError } from '../../engine/errors'
import type { Cluster } from '../../engine/cluster'
import { levelRank, type Level } from '../../engine/api/security'
import { SecurityManager, type LiveAuth } from '../../engine/security/dsm'
import type { SiteCode } from '../../engine/topology/types'
import { loginOf, siteDatabaseOf, type PgDeployment, hostOf } from './servers'
import { SyncPg, SyncPgError, type PgConnSpec } from './syncbridge'
import type { LiveSites } from './live'
import type { LiveRoleView, LiveRolesView } from '../ipc/contract/liveSecurity'

/** Where a home server keeps its users across console starts (name, clearance; the password is the role's verifier). */
const USERS_KEPT = 'iddb_sec.users'
/** Every user's role name starts so; nothing else at a server does (the administrator is `iddb`). */
export const ROLE_PREFIX = 'iddb_u_'
/** The DSM's user-name rule (engine/security/dsm.ts): lower-case letter first, then letters, digits, ".", "_", "-". */
const USER_RE = /^[a-z][a-z0-9_.-]{1,31}$/
/** PostgreSQL's default iteration count for SCRAM-SHA-256 (scram_iterations). */
export const SCRAM_ITERATIONS = 4096
const VERIFIER_RE = /^SCRAM-SHA-256\$(\d+):([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)$/
const CONNECT_MS = 5_000

/** The role of a user (BAD_INPUT for a name the DSM would not accept). */
export function roleName(user: string): string {
  if (!USER_RE.test(user)) throw new EngineError('BAD_INPUT', `"${user.slice(0, 40)}" is not a user name (a lower-case letter, then 1–31 letters, digits, ".", "_" or "-")`)
  return `${ROLE_PREFIX}${user}`
}

/** A quoted SQL identifier. */
export const quoteIdent = (name: string): string => `"${name.replace(/"/g, '""')}"`

/**
 * SASLprep as the `pg` client applies it to a password before deriving its key (non-ASCII spaces to spaces,
 * the characters mapped to nothing removed, NFKC): the verifier must come from the same bytes the client uses.
 */
function saslprep(password: string): string {
  // eslint-disable-next-line no-misleading-character-class
  return password.replace(/[\u00A0\u1680\u2000-\u200B\u202F\u205F\u3000]/g, ' ').replace(/[\u00AD\u034F\u1806\u180B\u180C\u180D\u200C\u200D\u2060\uFE00-\uFE0F\uFEFF]/g, '').normalize('NFKC')
}

/**
 * The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (pg_authid.rolpassword):
 * SaltedPassword = PBKDF2-HMAC-SHA-256(password, salt, i), StoredKey = SHA-256(HMAC(SaltedPassword, "Client Key")),
 * ServerKey = HMAC(SaltedPassword, "Server Key"); salt and keys in base64.
 */
export function scramSha256Verifier(password: string, opts: { salt?: Buffer; iterations?: number } = {}): string {
  if (!password) throw new EngineError('BAD_INPUT', 'the password is empty')
  const salt = opts.salt ?? randomBytes(16)
  const iterations = opts.iterations ?? SCRAM_ITERATIONS
  const salted = pbkdf2Sync(Buffer.from(saslprep(password), 'utf8'), salt, iterations, 32, 'sha256')
  const storedKey = createHash('sha256').update(createHmac('sha256', salted).update('Client Key').digest()).digest()
  const serverKey = createHmac('sha256', salted).update('Server Key').digest()
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`
}

/** A verifier's parts (null when it is not one). */
export function parseVerifier(v: string): { iterations: number; salt: Buffer; storedKey: string; serverKey: string } | null {
  const m = VERIFIER_RE.exec(v)
  return m ? { iterations: Number(m[1]), salt: Buffer.from(m[2], 'base64'), storedKey: m[3], serverKey: m[4] } : null
}

/** What a role at `clearance` is granted on one table at its server: every column, some of them, or nothing. */
export function grantFor(cluster: Cluster, table: string, columns: string[], clearance: Level): { all: boolean; columns: string[] } | null {
  const policy = SecurityManager.of(cluster).policy
  const ref = policy.resolve(table)
  if (ref.kind !== 'relation') return null
  if (levelRank(policy.relationLevel(ref.relation)) > levelRank(clearance)) return null
  const readable = columns.filter((c) => levelRank(policy.columnLevel(ref.relation, c)) <= levelRank(clearance))
  if (!readable.length) return null
  return { all: readable.length === columns.length, columns: readable }
}

interface KnownUser { name: string; home: SiteCode; clearance: Level }

export class LiveRoles implements LiveAuth {
  private static attached = new WeakMap<Cluster, LiveRoles>()

  private constructor(
    private cluster: Cluster,
    private dataDir: string,
    private deployment: PgDeployment,
    private bridge: SyncPg,
  ) {}

  /** The LiveRoles of a cluster in live mode (null in the simulation). */
  static of(cluster: Cluster): LiveRoles | null { return LiveRoles.attached.get(cluster) ?? null }

  /**
   * Live mode opens: one administrator connection per site's primary, the roles brought in line with the
   * engine's users (sync), and the DSM told to keep them so and to have the home servers check passwords.
   */
  static attach(cluster: Cluster, live: Pick<LiveSites, 'dataDir' | 'deployment'>): LiveRoles {
    const d = live.deployment
    const conns: Record<string, PgConnSpec> = {}
    for (const s of d.sites) conns[s.code] = { ...loginOf(live.dataDir, d, s.primary), applicationName: 'iddb:console:roles' }
    const bridge = SyncPg.open({ conns, connectTimeoutMs: CONNECT_MS })
    const r = new LiveRoles(cluster, live.dataDir, d, bridge)
    // the servers check every login from now on, whatever the sync below meets: never the engine's own verifiers
    SecurityManager.of(cluster).useLiveAuth(r)
    LiveRoles.attached.set(cluster, r)
    try {
      const kept = r.adopt()
      if (kept.length) cluster.log('security', `users kept at their home servers taken back: ${kept.join(', ')}`)
      const { dropped, created } = r.sync()
      if (dropped.length || created.length) cluster.log('security', `live servers' roles brought in line with the console's users: ${[...dropped.map((x) => `${x} dropped`), ...created.map((x) => `${x} created (NOLOGIN until a password is set)`)].join(', ')}`)
    } catch (e) {
      // e.g. a server lost since LiveSites.open checked it: its stale roles stay (the live panel shows them as not known)
      cluster.log('security', `the live servers' roles could not be brought in line with the console's users: ${(e as Error).message}`)
    }
    return r
  }

  /** After a failover (pg.json names the site's promoted standby): logins and role changes go to the new primary. */
  repoint(site: SiteCode, d: PgDeployment): void {
    const s = d.sites.find((x) => x.code === site)
    if (!s) return
    this.deployment = d
    this.bridge.repoint(site, { ...loginOf(this.dataDir, d, s.primary), applicationName: 'iddb:console:roles' })
  }

  close(): void {
    if (LiveRoles.attached.get(this.cluster) === this) {
      LiveRoles.attached.delete(this.cluster)
      SecurityManager.of(this.cluster).useLiveAuth(null)
    }
    this.bridge.close()
  }

  private site(home: SiteCode) {
    const s = this.deployment.sites.find((x) => x.code === home)
    if (!s) throw new EngineError('UNKNOWN_SITE', `no site ${home} in the live deployment`, { site: home })
    return s
  }

  /** One administrator statement at a site's primary; an unreachable server is SITE_DOWN naming it. */
  private at(home: SiteCode, sql: string, params: unknown[] = []) {
    const s = this.site(home)
    try {
      return this.bridge.query(home, sql, params, { timeoutMs: 15_000 })
    } catch (e) {
      if (e instanceof EngineError && (e.code === 'UNREACHABLE' || e.code === 'TIMEOUT')) {
        throw new EngineError('SITE_DOWN', `live server ${s.primary.id} (${hostOf(this.deployment, s.primary)}:${s.primary.port}) cannot be reached: ${e.message}`, { site: home })
      }
      throw e
    }
  }

  private users(): KnownUser[] {
    return SecurityManager.of(this.cluster).users().map((u) => ({ name: u.name, home: u.home, clearance: u.clearance }))
  }

  /** Revokes what the role had at its server and grants what the clearance allows (one transaction). */
  private grant(home: SiteCode, role: string, clearance: Level): void {
    const cols = this.at(home, `SELECT c.relname AS t, a.attname AS c FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
      WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped ORDER BY c.relname, a.attnum`).rows
    const tables = new Map<string, string[]>()
    for (const r of cols) tables.set(String(r.t), [...(tables.get(String(r.t)) ?? []), String(r.c)])
    const q = quoteIdent(role)
    const stmts = [`REVOKE ALL ON ALL TABLES IN SCHEMA public FROM ${q}`]
    for (const [t, c] of tables) {
      const g = grantFor(this.cluster, t, c, clearance)
      if (g) stmts.push(g.all ? `GRANT SELECT ON ${quoteIdent(t)} TO ${q}` : `GRANT SELECT (${g.columns.map(quoteIdent).join(', ')}) ON ${quoteIdent(t)} TO ${q}`)
    }
    this.at(home, `BEGIN; ${stmts.join('; ')}; COMMIT`)
  }

  /** Creates the role (or sets it anew): LOGIN with the verifier of `password`, or NOLOGIN when none is known. */
  private put(home: SiteCode, user: string, clearance: Level, password: string | null): void {
    const role = roleName(user)
    const q = quoteIdent(role)
    const verifier = password === null ? null : scramSha256Verifier(password)
    // a utility statement takes no parameters: the verifier is the only value written into it, and checked first
    if (verifier !== null && !VERIFIER_RE.test(verifier)) throw new EngineError('INTERNAL', 'a SCRAM verifier of an unexpected form')
    const auth = verifier === null ? 'NOLOGIN PASSWORD NULL' : `LOGIN PASSWORD '${verifier}'`
    const had = this.at(home, 'SELECT (rolsuper OR rolcreatedb OR rolcreaterole OR rolreplication OR rolbypassrls) AS p FROM pg_roles WHERE rolname = $1', [role]).rows[0] as { p: boolean } | undefined
    // naming those attributes in ALTER ROLE needs a superuser (an attached server's login may not be one): they are
    // named when the role is made, and again only if something gave an existing role one of them
    const attrs = !had || had.p ? ' NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS' : ''
    this.at(home, `${had ? 'ALTER' : 'CREATE'} ROLE ${q} ${auth}${attrs}`)
    this.grant(home, role, clearance)
  }

  private drop(home: SiteCode, role: string): void {
    if (!role.startsWith(ROLE_PREFIX)) throw new EngineError('INTERNAL', `${role} is not a user's role`)
    this.at(home, 'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1', [role])
    this.at(home, `DROP OWNED BY ${quoteIdent(role)}; DROP ROLE ${quoteIdent(role)}`)
  }

  /** The table at each home server that keeps its users (name, clearance) across console starts; made where missing. */
  private userTable(site: SiteCode): void {
    this.at(site, `CREATE SCHEMA IF NOT EXISTS iddb_sec; CREATE TABLE IF NOT EXISTS ${USERS_KEPT} (username text PRIMARY KEY, clearance text NOT NULL, added_at timestamptz NOT NULL DEFAULT now())`)
  }

  /**
   * The users each home server keeps that the engine does not know (added in an earlier run: the console's engine
   * starts from the design's users) are taken back by the DSM with their clearance, before sync() — which would
   * otherwise drop their roles. A server that cannot be reached keeps its users for the next start.
   */
  adopt(): string[] {
    const dsm = SecurityManager.of(this.cluster)
    const known = new Set(this.users().map((u) => `${u.home}/${u.name}`))
    const out: string[] = []
    for (const s of this.deployment.sites) {
      this.userTable(s.code)
      for (const r of this.at(s.code, `SELECT username, clearance FROM ${USERS_KEPT} ORDER BY username`).rows) {
        const name = String(r.username)
        if (known.has(`${s.code}/${name}`)) continue
        try { dsm.adoptUser(s.code, name, String(r.clearance)); out.push(`${name}@${s.code}`) } catch (e) {
          this.cluster.log('security', `${s.code}'s server keeps a user ${name.slice(0, 40)} the console cannot take back: ${(e as Error).message}`, s.code)
        }
      }
    }
    return out
  }

  /**
   * Brings every site's roles in line with the engine's users: a role whose user the engine does not know at that
   * home is dropped; a user without a role gets one that cannot log in until a password is set (the engine keeps
   * only a verifier of its own, from which no PostgreSQL verifier can be made); every user's grants are renewed.
   */
  sync(): { dropped: string[]; created: string[] } {
    const dropped: string[] = []
    const created: string[] = []
    const users = this.users()
    for (const s of this.deployment.sites) {
      const have = this.at(s.code, "SELECT rolname FROM pg_roles WHERE starts_with(rolname, $1) ORDER BY 1", [ROLE_PREFIX]).rows.map((r) => String(r.rolname))
      const want = new Map(users.filter((u) => u.home === s.code).map((u) => [roleName(u.name), u]))
      for (const role of have) if (!want.has(role)) { this.drop(s.code, role); dropped.push(`${s.code}/${role}`) }
      for (const [role, u] of want) {
        if (have.includes(role)) this.grant(s.code, role, u.clearance)
        else { this.put(s.code, u.name, u.clearance, null); created.push(`${s.code}/${role}`) }
      }
    }
    return { dropped, created }
  }

  // ---- the DSM's LiveAuth ----------------------------------------------------------------------------
  /** The role, then the user's record at the home server (what a console opened afresh takes back: adopt). */
  userAdded(home: SiteCode, name: string, password: string, clearance: Level): void {
    this.put(home, name, clearance, password)
    this.userTable(home)
    this.at(home, `INSERT INTO ${USERS_KEPT} (username, clearance) VALUES ($1, $2) ON CONFLICT (username) DO UPDATE SET clearance = EXCLUDED.clearance`, [name, clearance])
  }

  passwordSet(home: SiteCode, name: string, password: string): void {
    const u = this.users().find((x) => x.home === home && x.name === name)
    if (!u) throw new EngineError('NOT_FOUND', `no user ${name} at ${home}`, { site: home })
    this.put(home, name, u.clearance, password)
    // a new password closes the user's sessions, at the server too
    this.at(home, 'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1', [roleName(name)])
  }

  userRemoved(home: SiteCode, name: string): void {
    const role = roleName(name)
    if (this.at(home, 'SELECT 1 FROM pg_roles WHERE rolname = $1', [role]).rows.length) this.drop(home, role)
    this.userTable(home)
    this.at(home, `DELETE FROM ${USERS_KEPT} WHERE username = $1`, [name])
  }

  /**
   * The home server's own check: a connection to it as the user's role with the password given (SCRAM-SHA-256,
   * the `pg` client's exchange), opened by this module's bridge worker beside its own connections (SyncPg.authenticate). true when the server accepts it, false when it refuses (wrong password, no such
   * role, a role that cannot log in); SITE_DOWN naming the server when it cannot be asked.
   */
  check(home: SiteCode, name: string, password: string): boolean {
    const s = this.site(home)
    if (!USER_RE.test(name) || !password) return false
    const spec: PgConnSpec = { host: hostOf(this.deployment, s.primary), port: s.primary.port, database: siteDatabaseOf(this.deployment, s.primary), user: roleName(name), password, applicationName: 'iddb:login' }
    try {
      return this.bridge.authenticate(spec) === spec.user
    } catch (e) {
      if (e instanceof EngineError && e.code === 'AUTH_FAILED') return false
      throw new EngineError('SITE_DOWN', `${name}'s home server ${s.primary.id} (${hostOf(this.deployment, s.primary)}:${s.primary.port}) cannot check the password: ${(e as Error).message}`, { site: home })
    }
  }

  hasVerifier(home: SiteCode, name: string): boolean {
    if (!USER_RE.test(name)) return true
    // the console gives a role LOGIN exactly when it sets its verifier (setRole): pg_roles says so to any login,
    // where pg_authid (the verifier itself) is for superusers only — an attached server's login may not be one
    const r = this.at(home, 'SELECT rolcanlogin AS v FROM pg_roles WHERE rolname = $1', [roleName(name)]).rows[0] as { v: boolean } | undefined
    // no role at all: the server's refusal is the answer (check), not the engine's verifier
    return r ? r.v === true : true
  }

  describe(home: SiteCode, name: string): string {
    const s = this.site(home)
    return `checked by ${s.primary.id} (${hostOf(this.deployment, s.primary)}:${s.primary.port}) with SCRAM-SHA-256 as role ${roleName(name)}`
  }

  // ---- the Security console's live panel ---------------------------------------------------------------
  /**
   * Every site's user roles as its server reports them: whether each can log in, the kind of verifier it holds
   * (the prefix of pg_authid.rolpassword, never the verifier), the tables and columns it may read, and whether
   * the engine knows its user. A server that cannot be reached is reported with its error.
   */
  view(): LiveRolesView {
    const users = this.users()
    const sites = this.deployment.sites.map((s) => {
      const server = { site: s.code, server: s.primary.id, host: hostOf(this.deployment, s.primary), port: s.primary.port }
      try {
        // pg_hba_file_rules and pg_authid are for superusers: an attached server's login may see neither
        const denied = (e: unknown) => e instanceof SyncPgError && e.sqlstate === '42501'
        const enc = String(this.at(s.code, "SELECT current_setting('password_encryption') AS enc").rows[0].enc)
        let hba: unknown = null
        try { hba = this.at(s.code, "SELECT array_agg(DISTINCT auth_method ORDER BY auth_method) AS hba FROM pg_hba_file_rules WHERE type = 'host'").rows[0].hba } catch (e) { if (!denied(e)) throw e }
        const settings = { enc, hba }
        const roleRows = (from: 'pg_authid' | 'pg_roles') => this.at(s.code, `SELECT a.rolname AS role, a.rolcanlogin AS login,
            ${from === 'pg_roles' ? "'unreadable'" : `CASE WHEN a.rolpassword IS NULL THEN 'none' WHEN starts_with(a.rolpassword, 'SCRAM-SHA-256$') THEN 'SCRAM-SHA-256'
                 WHEN starts_with(a.rolpassword, 'md5') THEN 'md5' ELSE 'other' END`} AS verifier,
            (SELECT count(*) FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r' AND has_table_privilege(a.oid, c.oid, 'SELECT')) AS tables,
            (SELECT array_agg(c.relname::text ORDER BY c.relname) FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
               AND NOT has_table_privilege(a.oid, c.oid, 'SELECT') AND has_any_column_privilege(a.oid, c.oid, 'SELECT')) AS partial,
            (SELECT count(*) FROM pg_stat_activity x WHERE x.usename = a.rolname) AS connections
          FROM ${from} a WHERE starts_with(a.rolname, $1) ORDER BY a.rolname`, [ROLE_PREFIX]).rows
        let rows: Record<string, unknown>[]
        try { rows = roleRows('pg_authid') } catch (e) { if (!denied(e)) throw e; rows = roleRows('pg_roles') }
        const roles: LiveRoleView[] = rows.map((r) => {
          const user = String(r.role).slice(ROLE_PREFIX.length)
          const u = users.find((x) => x.home === s.code && x.name === user)
          return {
            role: String(r.role), user, known: !!u, clearance: u?.clearance ?? null, canLogin: r.login === true,
            verifier: String(r.verifier) as LiveRoleView['verifier'], tablesWhole: Number(r.tables), tablesPartly: Array.isArray(r.partial) ? r.partial.map(String) : [], connections: Number(r.connections),
          }
        })
        return { ...server, up: true, passwordEncryption: String(settings.enc), hostAuth: Array.isArray(settings.hba) ? settings.hba.map(String) : [], roles, error: null }
      } catch (e) {
        return { ...server, up: false, passwordEncryption: null, hostAuth: [], roles: [], error: (e as Error).message }
      }
    })
    return { deployment: this.dataDir, sites }
  }
}
