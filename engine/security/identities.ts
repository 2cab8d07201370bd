/**
 * Console identities (spec §8, roles.ts): who the console acts as. An identity is a DSM user (SEC_USERS, salted
 * scrypt, at its home site) with a role row in SEC_ROLES beside it. The HQ DBA and auditors are kept at HQ
 * (the site with the main repository, Colombo); a branch administrator at its branch.
 *
 *  - First run: no HQ DBA exists; `setup` creates one (the first-run screen, or `iddb serve --admin-password-file`).
 *  - Logging in checks the password at the home site (the DSM's login) and opens a DSM session at a level within
 *    the clearance; the console session's token is what a transport binds to its connection.
 *  - `enforce` is the one gate every path goes through (IPC handlers, the CLI, scenarios): it asks
 *    authorizeAction, audits every refusal, and `audited` records the action's outcome in the audit log.
 */
import { randomBytes } from 'node:crypto'
import type { Cluster } from '../cluster'
import { EngineError, toErrorInfo } from '../errors'
import { LEVELS, type Level } from '../api/security'
import type { SiteCode } from '../topology/types'
import { SecurityManager } from './dsm'
import { AuditLog } from './audit'
import { isLevel } from './policy'
import { ROLES_TABLE } from './schema'
import type { ConsoleIdentityView, ConsoleLoginView, ConsoleSessionView, ConsoleStatusView } from '../api/console'
import { ROLE_LABELS, ROLES, authorizeAction, describeActor, isRole, type Actor, type Decision, type Lookup, type Role } from './roles'

export type { ConsoleIdentityView, ConsoleLoginView, ConsoleSessionView, ConsoleStatusView }

interface ConsoleSession { token: string; id: string; actor: Actor; home: string; since: number }

/** The HQ DBA a scenario acts as unless it says `role …`, and the CLI's local administrator (see README). */
export const localAdmin = (user = 'local-admin'): Actor => ({ user, role: 'hq-dba', site: null, clearance: 'SECRET', level: 'SECRET' })

const REDACT = new Set(['password', 'session', 'token'])
/** A short, secret-free description of an action's input for the audit log. */
export function describeInput(input: Record<string, unknown>): string {
  const parts: string[] = []
  for (const [k, v] of Object.entries(input)) {
    if (REDACT.has(k) || v === undefined) continue
    const s = typeof v === 'string' ? v : JSON.stringify(v)
    parts.push(`${k}=${s.length > 120 ? `${s.slice(0, 117)}…` : s}`)
  }
  return parts.join(' ')
}

export class ConsoleIdentities {
  private sessions = new Map<string, ConsoleSession>()
  private seq = 0

  private constructor(private cluster: Cluster) {}

  /** The cluster's console identities (built by its subsystem registry on first use). */
  static of(cluster: Cluster): ConsoleIdentities { return cluster.subsystems.identities() }

  /** New identities for a cluster (its subsystem registry calls this once; everyone else calls ConsoleIdentities.of). */
  static create(cluster: Cluster): ConsoleIdentities { return new ConsoleIdentities(cluster) }

  /** HQ: the site with the main repository (Colombo), else the first site. */
  get hq(): SiteCode { return this.cluster.topology.sites.find((s) => s.repository)?.code ?? this.cluster.siteCodes[0] }

  private get dsm(): SecurityManager { return SecurityManager.of(this.cluster) }
  private get audit(): AuditLog { return AuditLog.of(this.cluster) }

  /** Role rows at every site that is up. */
  private rows(): { name: string; role: Role; site: string | null; home: string }[] {
    const out: { name: string; role: Role; site: string | null; home: string }[] = []
    for (const home of this.cluster.siteCodes) {
      if (!this.cluster.isServerUp(`${home}.primary`)) continue
      for (const r of this.cluster.siteStore(home).query(`SELECT USERNAME, ROLE, SITE FROM ${ROLES_TABLE} ORDER BY USERNAME`).rows) {
        const role = String(r[1])
        const site = r[2] === null ? null : String(r[2])
        // only where identities are created counts: HQ DBAs and auditors at HQ, a branch administrator at its branch
        if (isRole(role) && (role === 'branch-admin' ? site === home : home === this.hq && site === null)) out.push({ name: String(r[0]), role, site, home })
      }
    }
    return out
  }

  identities(): ConsoleIdentityView[] {
    const users = new Map(this.dsm.users().map((u) => [`${u.home}/${u.name}`, u]))
    return this.rows().flatMap((r) => {
      const u = users.get(`${r.home}/${r.name}`)
      return u ? [{ name: r.name, role: r.role, site: r.site, home: r.home, clearance: u.clearance }] : []
    })
  }

  isIdentity(user: string): boolean { return this.rows().some((r) => r.name === user) }

  status(): ConsoleStatusView {
    const roles = ROLES.map((role) => ({ role, label: ROLE_LABELS[role] }))
    // still loading: a new cluster (a persisted one is reopened, identities included, before anything answers)
    if (!this.cluster.ready) return { setupNeeded: true, hq: this.hq, roles, note: 'the engine is still loading its data: the HQ DBA is created once it has' }
    if (!this.cluster.isServerUp(`${this.hq}.primary`)) return { setupNeeded: false, hq: this.hq, roles, note: `${this.hq}.primary is down: identities kept there cannot log in until it is restored` }
    return { setupNeeded: !this.rows().some((r) => r.role === 'hq-dba'), hq: this.hq, roles, note: null }
  }

  /** First run: creates the HQ DBA (clearance SECRET, kept at HQ) and logs it in. CONFLICT once one exists. */
  setup(user: string, password: string): ConsoleLoginView {
    if (!this.status().setupNeeded) {
      this.audit.append(this.hq, user, 'console/setup', false, 'refused: an HQ DBA already exists')
      throw new EngineError('CONFLICT', 'the console is already set up: an HQ DBA exists (log in)', { site: this.hq })
    }
    this.create({ user, password, role: 'hq-dba', site: null, clearance: 'SECRET' })
    this.audit.append(this.hq, user, 'console/setup', true, 'first run: HQ DBA created')
    return this.login(user, password)
  }

  private create(o: { user: string; password: string; role: Role; site: string | null; clearance: Level }): ConsoleIdentityView {
    const home = this.dsm.keeperOf(o.role === 'branch-admin' ? o.site! : this.hq)
    this.dsm.addUser(home, o.user, o.password, o.clearance)
    try {
      this.cluster.siteStore(home).exec(`INSERT INTO ${ROLES_TABLE} (USERNAME, ROLE, SITE) VALUES (?, ?, ?)`, [o.user, o.role, o.site])
    } catch (e) {
      this.dsm.removeUser(home, o.user)
      throw e
    }
    return { name: o.user, role: o.role, site: o.site, home, clearance: o.clearance }
  }

  /** Adds an identity (the HQ DBA's action; enforce 'console/addIdentity' first). */
  add(o: { user: string; password: string; role: string; site?: string | null; clearance?: string }): ConsoleIdentityView {
    if (!isRole(o.role)) throw new EngineError('BAD_INPUT', `role must be one of ${ROLES.join(', ')}`)
    const clearance = o.clearance ?? (o.role === 'hq-dba' ? 'SECRET' : 'INTERNAL')
    if (!isLevel(clearance)) throw new EngineError('BAD_INPUT', `clearance must be one of ${LEVELS.join(', ')}`)
    let site: string | null = null
    if (o.role === 'branch-admin') {
      if (!o.site) throw new EngineError('BAD_INPUT', 'a branch administrator needs the site it runs (e.g. KDY)')
      this.cluster.site(o.site)
      site = o.site
    } else if (o.site) throw new EngineError('BAD_INPUT', `a${o.role === 'auditor' ? 'n auditor' : 'n HQ DBA'} covers every site: give no site`)
    return this.create({ user: o.user, password: o.password, role: o.role, site, clearance })
  }

  remove(user: string): void {
    const r = this.rows().find((x) => x.name === user)
    if (!r) throw new EngineError('NOT_FOUND', `no console identity ${user}`)
    if (r.role === 'hq-dba' && this.rows().filter((x) => x.role === 'hq-dba').length === 1) throw new EngineError('CONFLICT', `${user} is the only HQ DBA: add another before removing it`)
    this.cluster.siteStore(r.home).exec(`DELETE FROM ${ROLES_TABLE} WHERE USERNAME = ?`, [user])
    this.dsm.removeUser(r.home, user)
    for (const [t, s] of this.sessions) if (s.actor.user === user) this.sessions.delete(t)
  }

  /** Checks the password at the identity's home site and opens its console session (level ≤ clearance). */
  login(user: string, password: string, level?: string): ConsoleLoginView {
    const r = this.rows().find((x) => x.name === user)
    if (!r) {
      this.audit.append(this.hq, user, 'console/login', false, 'no console identity of that name')
      throw new EngineError('AUTH_FAILED', 'wrong user name or password, or not a console identity')
    }
    let s
    try {
      s = this.dsm.login(r.home, user, password, { level })
    } catch (e) {
      this.audit.append(r.home, user, 'console/login', false, toErrorInfo(e).message)
      throw e
    }
    const actor: Actor = { user, role: r.role, site: r.site, clearance: s.clearance, level: s.level, session: s.token }
    const token = randomBytes(16).toString('hex')
    const cs: ConsoleSession = { token, id: `C${++this.seq}`, actor, home: r.home, since: this.cluster.sim.now }
    this.sessions.set(token, cs)
    this.audit.append(r.home, user, 'console/login', true, `${describeActor(actor)} at ${s.level}; console session ${cs.id}`)
    return { ...this.view(cs), token }
  }

  private view(s: ConsoleSession): ConsoleSessionView {
    return { id: s.id, name: s.actor.user, role: s.actor.role, site: s.actor.site, home: s.home, clearance: s.actor.clearance, level: s.actor.level, since: s.since }
  }

  /** The actor of a console token (what a transport bound to its connection); AUTH_FAILED when it is unknown or closed. */
  actorOf(token: string): Actor {
    const s = this.sessions.get(token)
    if (!s) throw new EngineError('AUTH_FAILED', 'the console session has ended (logged out, or the engine restarted): log in again')
    return s.actor
  }

  sessionOf(token: string): ConsoleSessionView {
    const s = this.sessions.get(token)
    if (!s) throw new EngineError('AUTH_FAILED', 'the console session has ended (logged out, or the engine restarted): log in again')
    return this.view(s)
  }

  logout(token: string): ConsoleSessionView {
    const s = this.sessions.get(token)
    if (!s) throw new EngineError('AUTH_FAILED', 'no such console session')
    this.sessions.delete(token)
    if (s.actor.session) { try { this.dsm.logout(s.actor.session) } catch { /* already closed */ } }
    this.audit.append(s.home, s.actor.user, 'console/logout', true, `console session ${s.id}`)
    return this.view(s)
  }

  lookup(): Lookup {
    return {
      copySite: (copy) => { try { return this.cluster.copyStatus(copy).site } catch { return undefined } },
      isIdentity: (user) => this.isIdentity(user),
    }
  }

  /**
   * The one gate: may `actor` do `action` with `input`? A refusal is audited (naming the role and site) and thrown
   * (ACCESS_DENIED, or AUTH_FAILED before login); otherwise returns the decision (whether to audit the outcome).
   */
  enforce(actor: Actor | null, action: string, input: Record<string, unknown> = {}): Extract<Decision, { ok: true }> {
    const d = authorizeAction(actor, action, input, this.lookup())
    if (!d.ok) {
      const where = Array.isArray(d.target) ? d.target.join(',') : d.target === 'ALL' ? '*' : actor?.site ?? this.hq
      this.audit.append(where, actor?.user ?? '(not logged in)', action, false, `refused: ${d.message}${describeInput(input) ? ` [${describeInput(input)}]` : ''}`)
    }
    if (!d.ok) throw new EngineError(d.code, d.message, d.site ? { site: d.site } : {})
    return d
  }

  /** enforce, then run `fn`; an audited action's outcome (done or failed, with the error) is recorded. */
  async audited<T>(actor: Actor | null, action: string, input: Record<string, unknown>, fn: () => T | Promise<T>): Promise<T> {
    const d = this.enforce(actor, action, input)
    if (!d.audit) return fn()
    const where = Array.isArray(d.target) ? d.target.join(',') : d.target === 'ALL' ? '*' : actor?.site ?? this.hq
    const who = actor?.user ?? '(not logged in)'
    const what = `${actor ? `${ROLE_LABELS[actor.role]}: ` : ''}${describeInput(input)}`
    try {
      const v = await fn()
      this.audit.append(where, who, action, true, what)
      return v
    } catch (e) {
      this.audit.append(where, who, action, false, `${what} — failed: ${toErrorInfo(e).code} ${toErrorInfo(e).message}`)
      throw e
    }
  }
}
