/**
 * The distributed security manager (DSM, spec §8).
 *
 *  - Users are kept at their home site, in that site's SEC_USERS table (salted scrypt hashes, never the
 *    password), committed and shipped to the site's backup like any local data — never to other sites.
 *  - Authentication happens at the user's local site: a user logging in at their home site is checked
 *    there; logging in at another site, a challenge–response with the home site (SCRAM-SHA-256 in spirit,
 *    engine/security/auth.ts: the password never crosses the WAN) — refused outright when the route has a link that is not encrypted
 *    (the legacy network), blocked by firewalls and lost with failed links like any other message.
 *  - The legacy design (TopologySpec.design 'legacy', docs/COMPARE.md) is the pre-project system: every user is
 *    kept at Colombo, and a login anywhere is the old one — the user name and password in one plain message to
 *    Colombo and its answer back — so a branch cannot log anybody in while Colombo is down or cut off.
 *  - Multi-level security (Bell–LaPadula): a session runs at a level ≤ the user's clearance; it reads only
 *    data labelled ≤ its level (no read up: named columns above it are refused, a `*` leaves them out) and
 *    writes only data labelled from its level up to the clearance (no write down).
 *  - The console's own operator (no session) is the trusted subject and is not restricted.
 *  - Every login, logout, refusal and user change is audited (never a password or a session token).
 */
import { randomBytes } from 'node:crypto'
import type { Cluster } from '../cluster'
import { EngineError } from '../errors'
import { LEVELS, levelRank, type Level, type LoginView, type SecurityStateView, type SecurityUserView, type SessionView } from '../api/security'
import { SecurityPolicy, isLevel } from './policy'
import { checkStatement } from './mls'
import type { SiteCode } from '../topology/types'
import { USERS_TABLE } from './schema'
import { AuditLog } from './audit'
import { checkPassword, newCredential, scramLogin, verifierOf } from './auth'
import { designOf, hqSite } from '../topology/default'


const NAME_RE = /^[a-z][a-z0-9_.-]{1,31}$/
/** Consecutive failed logins that lock a user out, and for how long (virtual ms). */
const MAX_FAILURES = 5
const LOCKOUT_MS = 60_000

interface Session extends SessionView { token: string }

/** Who reads when no session is named: the console identity acting (its role's user, clearance and level). */
export interface ReaderIdentity { user: string; clearance: Level; level: Level }
/** The highest level: a reader at it sees everything (the trusted operator's view). */
export const TOP_LEVEL: Level = LEVELS[LEVELS.length - 1]

export interface Authorization {
  /** The session's user, or null for the console operator (trusted). */
  user: string | null
  level: Level | null
  /** Upper-case column names a `*` left out (above the session's level): they are not selected at all. */
  hidden: Set<string>
  /** The statement to run: the one checked, or its rewrite with every `*` restricted to what the session may read. */
  sql: string
}

/**
 * What a result shows a session. The statement it ran (`Authorization.sql`) already selects only what the
 * session may read, so the result is shown whole; `hidden` names the columns its `*` left out.
 */
export function visibleResult(auth: Authorization, columns: string[]): { columns: string[]; hidden: string[]; pick<T>(row: T[]): T[] } {
  return { columns, hidden: [...auth.hidden], pick: (row) => row }
}

/**
 * Live mode (src-main/pg/roles.ts): each user is also a role at their home site's PostgreSQL server, which checks
 * their password (SCRAM-SHA-256). Every method throws an EngineError naming the server when it cannot be done.
 */
export interface LiveAuth {
  userAdded(home: SiteCode, name: string, password: string, clearance: Level): void
  passwordSet(home: SiteCode, name: string, password: string): void
  userRemoved(home: SiteCode, name: string): void
  /** Whether the home server accepts the password; SITE_DOWN when it cannot be asked. */
  check(home: SiteCode, name: string, password: string): boolean
  /**
   * Whether the user's role at the home server holds a password verifier. A user the engine knew before live
   * mode opened (carried into it by a mode switch) has a role without one: no verifier can be made from the
   * engine's own. Absent: every role has one.
   */
  hasVerifier?(home: SiteCode, name: string): boolean
  /** How a login was checked (the session's `via`). */
  describe(home: SiteCode, name: string): string
}

export class SecurityManager {
  readonly policy: SecurityPolicy
  /** Live mode: the home servers keep the users as roles and check their passwords; null in the simulation. */
  private live: LiveAuth | null = null
  private sessions = new Map<string, Session>()
  private failures = new Map<string, { n: number; lockedUntil: number }>()
  private sessionSeq = 0

  constructor(private cluster: Cluster) {
    this.policy = new SecurityPolicy(cluster.topology)
  }

  /** The cluster's DSM (built by its subsystem registry on first use). */
  static of(cluster: Cluster): SecurityManager { return cluster.subsystems.dsm() }

  /** Live mode (src-main/pg/roles.ts) sets where users are also kept and checked; null gives the simulation's rules back. */
  useLiveAuth(a: LiveAuth | null): void { this.live = a }

  // ---- users (at their home site) ---------------------------------------------------------------
  /** The site that keeps the users of `home`: the home site itself; Colombo for everybody in the legacy design. */
  keeperOf(home: SiteCode): SiteCode {
    return designOf(this.cluster.topology) === 'legacy' ? hqSite(this.cluster.topology).code : home
  }

  private usersAt(site: SiteCode): { name: string; clearance: Level; salt: string; hash: string; createdAt: number | null }[] {
    const rows = this.cluster.siteStore(site).query(`SELECT USERNAME, CLEARANCE, SALT, HASH, CREATED_AT FROM ${USERS_TABLE} ORDER BY USERNAME`).rows
    return rows.map((r) => ({ name: String(r[0]), clearance: String(r[1]) as Level, salt: String(r[2]), hash: String(r[3]), createdAt: r[4] === null ? null : Number(r[4]) }))
  }

  /** Users of every site that is up (a site that is down cannot vouch for its users). */
  users(): SecurityUserView[] {
    const out: SecurityUserView[] = []
    for (const site of this.cluster.siteCodes) {
      if (!this.cluster.isServerUp(`${site}.primary`)) continue
      for (const u of this.usersAt(site)) out.push({ name: u.name, home: site, clearance: u.clearance, createdAt: u.createdAt })
    }
    return out
  }

  addUser(home: SiteCode, name: string, password: string, clearance: string): SecurityUserView {
    this.cluster.site(home)
    home = this.keeperOf(home)
    if (!NAME_RE.test(name)) throw new EngineError('BAD_INPUT', 'a user name is 2–32 characters: a lower-case letter, then letters, digits, ".", "_" or "-"')
    if (password.length < 8) throw new EngineError('BAD_INPUT', 'a password has at least 8 characters')
    if (!isLevel(clearance)) throw new EngineError('BAD_INPUT', `clearance must be one of ${LEVELS.join(', ')}`)
    for (const site of this.cluster.siteCodes) {
      if (!this.cluster.isServerUp(`${site}.primary`)) continue
      if (this.usersAt(site).some((u) => u.name === name)) throw new EngineError('CONFLICT', `user ${name} already exists (home ${site})`, { site })
    }
    const cred = newCredential(password)
    const at = this.cluster.sim.now
    this.cluster.siteStore(home).exec(`INSERT INTO ${USERS_TABLE} (USERNAME, CLEARANCE, SALT, HASH, CREATED_AT) VALUES (?, ?, ?, ?, ?)`, [name, clearance, cred.salt, cred.hash, at])
    if (this.live) {
      // live mode: the user's role at the home server too; a server that refuses leaves no user behind
      try { this.live.userAdded(home, name, password, clearance) } catch (e) {
        this.cluster.siteStore(home).exec(`DELETE FROM ${USERS_TABLE} WHERE USERNAME = ?`, [name])
        throw e
      }
    }
    this.record(home, name, 'user added', true, `clearance ${clearance}`)
    return { name, home, clearance, createdAt: at }
  }

  /**
   * Live mode, at start: a user its home server keeps (src-main/pg/roles.ts) that this engine does not know yet is
   * taken back with the clearance the server records. The engine's own credential is made from a random password
   * nobody knows: the server's verifier decides the user's logins; a role without one needs a password reset.
   */
  adoptUser(home: SiteCode, name: string, clearance: string): SecurityUserView {
    if (!this.live) throw new EngineError('UNSUPPORTED', 'only live mode keeps users at their home servers')
    this.cluster.site(home)
    home = this.keeperOf(home)
    if (!NAME_RE.test(name)) throw new EngineError('BAD_INPUT', `"${name.slice(0, 40)}" is not a user name`)
    if (!isLevel(clearance)) throw new EngineError('BAD_INPUT', `clearance must be one of ${LEVELS.join(', ')}`)
    if (this.usersAt(home).some((u) => u.name === name)) throw new EngineError('CONFLICT', `user ${name} already exists (home ${home})`, { site: home })
    const cred = newCredential(randomBytes(24).toString('hex'))
    this.cluster.siteStore(home).exec(`INSERT INTO ${USERS_TABLE} (USERNAME, CLEARANCE, SALT, HASH, CREATED_AT) VALUES (?, ?, ?, ?, ?)`, [name, clearance, cred.salt, cred.hash, null])
    this.record(home, name, 'user kept at its home server', true, `clearance ${clearance}`)
    return { name, home, clearance, createdAt: null }
  }

  /** Sets a new password (the operator's reset): a new salt and hash at the home site; the user's sessions are closed and any lockout lifted. */
  setPassword(home: SiteCode, name: string, password: string): void {
    this.cluster.site(home)
    home = this.keeperOf(home)
    if (password.length < 8) throw new EngineError('BAD_INPUT', 'a password has at least 8 characters')
    const cred = newCredential(password)
    if (this.live) {
      // live mode: the home server's verifier first (nothing changes when it cannot be set)
      if (!this.usersAt(home).some((u) => u.name === name)) throw new EngineError('NOT_FOUND', `no user ${name} at ${home}`, { site: home })
      this.live.passwordSet(home, name, password)
    }
    const r = this.cluster.siteStore(home).exec(`UPDATE ${USERS_TABLE} SET SALT = ?, HASH = ? WHERE USERNAME = ?`, [cred.salt, cred.hash, name])
    if (!r.changes) throw new EngineError('NOT_FOUND', `no user ${name} at ${home}`, { site: home })
    for (const [t, s] of this.sessions) if (s.user === name && s.home === home) this.sessions.delete(t)
    this.failures.delete(`${home}/${name}`)
    this.record(home, name, 'password reset', true, 'by the operator; its sessions were closed')
  }

  removeUser(home: SiteCode, name: string): void {
    home = this.keeperOf(home)
    if (this.live) {
      // live mode: the role goes first, so a user the engine no longer has can never log in at the server
      if (!this.usersAt(home).some((u) => u.name === name)) throw new EngineError('NOT_FOUND', `no user ${name} at ${home}`, { site: home })
      this.live.userRemoved(home, name)
    }
    const r = this.cluster.siteStore(home).exec(`DELETE FROM ${USERS_TABLE} WHERE USERNAME = ?`, [name])
    if (!r.changes) throw new EngineError('NOT_FOUND', `no user ${name} at ${home}`, { site: home })
    for (const [t, s] of this.sessions) if (s.user === name && s.home === home) this.sessions.delete(t)
    this.record(home, name, 'user removed', true, 'its sessions were closed')
  }

  // ---- authentication -----------------------------------------------------------------------------
  /**
   * Logs `user` in at `site`. The home site checks the password: `site` itself, or (home ≠ site) the home site
   * over the WAN, which runs the simulation until its answer is back.
   */
  login(site: SiteCode, user: string, password: string, opts: { home?: SiteCode; level?: string } = {}): LoginView {
    this.cluster.site(site)
    this.cluster.site(opts.home ?? site)
    const home = this.keeperOf(opts.home ?? site)
    if (!this.cluster.isSiteUp(site)) throw new EngineError('SITE_DOWN', `${site} is down: nobody can log in there`, { site })
    if (opts.level !== undefined && !isLevel(opts.level)) throw new EngineError('BAD_INPUT', `level must be one of ${LEVELS.join(', ')}`)
    const t0 = this.cluster.sim.now
    const key = `${home}/${user}`
    const f = this.failures.get(key)
    if (f && f.lockedUntil > t0) {
      this.record(site, user, 'login', false, `locked after ${MAX_FAILURES} failed attempts`)
      throw new EngineError('AUTH_FAILED', `${user} is locked out for ${Math.ceil((f.lockedUntil - t0) / 1000)} s after ${MAX_FAILURES} failed attempts`, { site })
    }
    let found: { clearance: Level } | undefined
    let via = this.live ? this.live.describe(home, user) : `checked at ${site}`
    if (home === site) found = this.verify(home, user, password)
    else if (this.live) {
      // live mode: the login site connects to the home server itself, whose SCRAM exchange checks the password
      found = this.verify(home, user, password)
    } else if (designOf(this.cluster.topology) === 'legacy') {
      found = this.verifyCentral(site, home, user, password)
      via = `checked at ${home} by the old login: user name and password sent in clear over ${this.routeLinks(site, home).join(', ')}`
    } else {
      found = this.verifyRemote(site, home, user, password)
      via = `checked by ${home} over ${this.routeLinks(site, home).join(', ')} (encrypted)`
    }
    if (!found) {
      // a lock that has run out starts the count afresh
      const n = (f && f.lockedUntil && f.lockedUntil <= t0 ? 0 : f?.n ?? 0) + 1
      this.failures.set(key, { n, lockedUntil: n >= MAX_FAILURES ? this.cluster.sim.now + LOCKOUT_MS : 0 })
      this.record(site, user, 'login', false, home === site ? 'wrong user name or password' : `refused by ${home}`)
      throw new EngineError('AUTH_FAILED', 'wrong user name or password', { site })
    }
    this.failures.delete(key)
    const level = (opts.level as Level | undefined) ?? found.clearance
    if (levelRank(level) > levelRank(found.clearance)) {
      this.record(site, user, 'login', false, `asked for ${level} above clearance ${found.clearance}`)
      throw new EngineError('ACCESS_DENIED', `${user} is cleared to ${found.clearance}; a session cannot run at ${level}`, { site })
    }
    const token = randomBytes(16).toString('hex')
    const s: Session = { token, id: `S${++this.sessionSeq}`, user, home, site, clearance: found.clearance, level, since: this.cluster.sim.now, via }
    this.sessions.set(token, s)
    this.record(site, user, 'login', true, `${level} session ${s.id}; ${via}`)
    return { ...this.view(s), token, virtualMs: this.cluster.sim.now - t0 }
  }

  logout(token: string): SessionView {
    const s = this.sessions.get(token)
    if (!s) throw new EngineError('NOT_FOUND', 'no such session (already logged out?)')
    this.sessions.delete(token)
    this.record(s.site, s.user, 'logout', true, `session ${s.id}`)
    return this.view(s)
  }

  private view(s: Session): SessionView {
    return { id: s.id, user: s.user, home: s.home, site: s.site, clearance: s.clearance, level: s.level, since: s.since, via: s.via }
  }

  /** A user and their SCRAM verifier at the home site (its primary must be up); an old-format row is migrated. */
  private lookup(home: SiteCode, user: string) {
    if (!this.cluster.isServerUp(`${home}.primary`)) throw new EngineError('SITE_DOWN', `${home}.primary is down: it cannot check its users' passwords`, { site: home })
    const u = this.usersAt(home).find((x) => x.name === user)
    return u ? { u, v: verifierOf(this.cluster, home, u) } : undefined
  }

  /** The password check at the home site, for a login there. */
  private verify(home: SiteCode, user: string, password: string): { clearance: Level } | undefined {
    const found = this.lookup(home, user)
    if (this.live) {
      // a role that has no verifier yet: the engine's own verifier decides this once, and the server is given its
      // SCRAM verifier from the password just proven, so it decides every later login
      if (found && this.live.hasVerifier && !this.live.hasVerifier(home, user)) {
        const ok = checkPassword(found.v, password, Buffer.from(found.u.salt, 'hex'))
        if (!ok) return undefined
        this.live.passwordSet(home, user, password)
        return { clearance: found.u.clearance }
      }
      // live mode: the home server decides (a connection as the user's role); the engine's own row gives the clearance
      const ok = this.live.check(home, user, password)
      return found && ok ? { clearance: found.u.clearance } : undefined
    }
    // derive even for an unknown user, so the answer takes as long either way
    const ok = checkPassword(found?.v ?? { storedKey: Buffer.alloc(32), serverKey: Buffer.alloc(32) }, password, Buffer.from(found?.u.salt ?? '00', 'hex'))
    return found && ok ? { clearance: found.u.clearance } : undefined
  }

  private routeLinks(a: SiteCode, b: SiteCode): string[] {
    const route = this.cluster.net.route(a, b)
    if (!route) return []
    const out: string[] = []
    for (let i = 0; i + 1 < route.length; i++) out.push(this.cluster.net.linkBetween(route[i], route[i + 1])!.spec.id)
    return out
  }

  /** Proves the credential to the home site and waits (in virtual time) for its answer. */
  private verifyRemote(site: SiteCode, home: SiteCode, user: string, password: string): { clearance: Level } | undefined {
    const net = this.cluster.net
    const route = net.route(site, home)
    if (!route) throw new EngineError('UNREACHABLE', `no route from ${site} to ${home}: ${user}'s home site cannot be asked`, { site: home })
    for (const id of this.routeLinks(site, home)) {
      if (!net.link(id).spec.encrypted) {
        this.record(site, user, 'login', false, `credential not sent: link ${id} is not encrypted`)
        throw new EngineError('ACCESS_DENIED', `credentials never cross the WAN in plain text: link ${id} is not encrypted`, { site })
      }
    }
    // challenge–response: neither the password nor the salted password leaves this site (engine/security/auth.ts)
    return scramLogin(this.cluster, site, home, user, password, { lookup: (u) => this.lookup(home, u) })
  }

  /**
   * The legacy design's login from a branch: the user name and password in one plain message to Colombo (as the
   * pre-project system sent them: readable by anyone on the line), checked there, the answer back. Waits in
   * virtual time for the answer; refused when Colombo is down or cannot be reached.
   */
  private verifyCentral(site: SiteCode, hq: SiteCode, user: string, password: string): { clearance: Level } | undefined {
    const net = this.cluster.net
    if (!this.cluster.isServerUp(`${hq}.primary`)) throw new EngineError('SITE_DOWN', `${hq}.primary is down: it keeps every user's password in the legacy design, so nobody can log in at ${site}`, { site: hq })
    if (!net.route(site, hq)) throw new EngineError('UNREACHABLE', `no route from ${site} to ${hq}: the legacy design checks every login at ${hq}`, { site: hq })
    const wire = JSON.stringify({ user, password })
    let found: { clearance: Level } | undefined
    let failure: EngineError | undefined
    let done = false
    const lost = (why: string) => { failure = new EngineError('UNREACHABLE', `the login of ${user} at ${site} was lost on its way to or from ${hq} (${why})`, { site: hq }); done = true }
    net.send({
      from: site, to: hq, kind: 'legacy.login', payload: null, bytes: wire.length, wire: () => wire, onDrop: lost,
      onDeliver: () => {
        try { found = this.verify(hq, user, password) } catch (e) { failure = e instanceof EngineError ? e : new EngineError('INTERNAL', String(e)); done = true; return }
        const answer = JSON.stringify({ ok: !!found, clearance: found?.clearance ?? null })
        net.send({ from: hq, to: site, kind: 'legacy.login.reply', payload: null, bytes: answer.length, wire: () => answer, onDeliver: () => { done = true }, onDrop: lost })
      },
    })
    this.cluster.sim.runUntilTrue(() => done, 100_000)
    if (failure) throw failure
    if (!done) throw new EngineError('UNREACHABLE', `no answer from ${hq} to the login of ${user} at ${site}`, { site: hq })
    return found
  }

  // ---- multi-level security -------------------------------------------------------------------------
  /**
   * Checks a statement for a session about to run it at `site`. No token: the console operator (trusted).
   * Throws AUTH_FAILED for an unknown session and ACCESS_DENIED (naming the column and the levels) for a read
   * up or a write down (engine/security/mls.ts); returns the statement to run and the columns its `*` left out.
   */
  authorize(token: string | undefined, site: SiteCode, sql: string, actor?: ReaderIdentity | null): Authorization {
    if (!token) {
      // No session: the console's acting identity reads at its own level (a SECRET identity is the trusted reader).
      if (!actor || actor.level === TOP_LEVEL) return { user: null, level: null, hidden: new Set(), sql }
      const r = checkStatement(this.policy, { user: actor.user, level: actor.level, clearance: actor.clearance, site }, sql)
      return { user: actor.user, level: actor.level, hidden: new Set(r.hidden), sql: r.sql }
    }
    const s = this.sessionAt(token, site)
    try {
      const r = checkStatement(this.policy, { user: s.user, level: s.level, clearance: s.clearance, site }, sql)
      return { user: s.user, level: s.level, hidden: new Set(r.hidden), sql: r.sql }
    } catch (e) {
      if (e instanceof EngineError && e.code === 'ACCESS_DENIED') this.record(site, s.user, 'refused', false, e.message)
      throw e
    }
  }

  /** The live session of `token` (for reads that are not issued at a site: catalogs, data browsing); else AUTH_FAILED. */
  sessionOf(token: string): SessionView {
    const s = this.sessions.get(token)
    if (!s) throw new EngineError('AUTH_FAILED', 'unknown or closed session: log in again')
    return this.view(s)
  }

  /** The live session of `token`, which may issue requests at `site` (the site where it logged in); else throws. */
  checkSession(token: string, site: SiteCode): SessionView { return this.view(this.sessionAt(token, site)) }

  private sessionAt(token: string, site: SiteCode): Session {
    const s = this.sessions.get(token)
    if (!s) throw new EngineError('AUTH_FAILED', 'unknown or closed session: log in again')
    if (s.site !== site) {
      const msg = `${s.user}'s session was opened at ${s.site}; it issues requests there, not at ${site}`
      this.record(site, s.user, 'refused', false, msg)
      throw new EngineError('ACCESS_DENIED', msg, { site })
    }
    return s
  }

  // ---- audit and views ------------------------------------------------------------------------------
  /** Appends to the cluster's hash-chained audit log (audit.ts), persisted with the cluster. */
  private record(site: string, user: string, action: string, ok: boolean, detail: string): void {
    AuditLog.of(this.cluster).append(site, user, action, ok, detail)
  }

  sessionViews(): SessionView[] { return [...this.sessions.values()].map((s) => this.view(s)) }

  state(): SecurityStateView {
    return { levels: [...LEVELS], users: this.users(), sessions: this.sessionViews(), labels: this.policy.views(), audit: AuditLog.of(this.cluster).recent(100) }
  }
}
