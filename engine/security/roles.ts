/**
 * Console roles (spec §8): the console acts as an identity, never as an all-powerful operator.
 *
 *   HQ DBA                  every action at every site (and the console identities themselves)
 *   branch administrator    reads everywhere; changes only its own site (a Kandy administrator cannot fail
 *                           Colombo or restore Mumbai; a link counts as its two sites' own)
 *   auditor                 reads everything its clearance allows, changes nothing
 *
 * A pure table maps each action (the IPC call names; CLI and scenario commands use the same names) to the
 * permission it needs and the sites it targets. `authorizeAction` decides; it has no side effects (callers
 * audit the refusals, see identities.ts). An action with no rule is refused: the table fails closed.
 */
import { EngineError } from '../errors'
import type { Level } from '../api/security'

import { ROLES, ROLE_LABELS, type Role } from '../api/console'

export { ROLES, ROLE_LABELS, type Role }
export function isRole(s: string): s is Role { return (ROLES as readonly string[]).includes(s) }

/** Who is acting: a console identity (or the scenario / CLI local administrator, see identities.ts). */
export interface Actor {
  user: string
  role: Role
  /** The branch a branch administrator runs; null for the HQ DBA and the auditor (all sites). */
  site: string | null
  clearance: Level
  /** The security level of the identity's session (≤ clearance). */
  level: Level
  /** The identity's DSM session token, for data calls checked by the security manager (never logged). */
  session?: string
}

/**
 *  open     allowed before login (ping, host info, first run, login)
 *  read     any logged-in identity, at any site
 *  operate  changes the target sites: the HQ DBA anywhere, a branch administrator at its own site, never the auditor
 *  admin    console identities and cluster-wide settings: the HQ DBA only
 */
export type Permission = 'open' | 'read' | 'operate' | 'admin'
/** Target sites of an action: some sites, every site ('ALL': cluster-wide), or none in particular. */
export type Target = string[] | 'ALL' | null

/** What a rule may ask the cluster about (which site a copy lives at, whether a user is a console identity). */
export interface Lookup {
  copySite?(copy: string): string | undefined
  isIdentity?(user: string): boolean
}

type Input = Record<string, unknown>
export interface ActionRule {
  /** A verb phrase for messages: "fail a site". */
  label: string
  permission: Permission | ((input: Input, look: Lookup) => Permission)
  target?: (input: Input, look: Lookup) => Target
  /** A link belongs to both of its sites: one of the targets being the actor's own site is enough. */
  anyOf?: boolean
  /** Audited when it succeeds too (default: every operate/admin action; refusals are always audited). */
  audit?: boolean
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined)
const site = (i: Input): Target => (str(i.site) ? [str(i.site)!] : null)
const serverSite = (i: Input): Target => (str(i.server) ? [str(i.server)!.split('.')[0]] : null)
const linkSites = (i: Input): Target => (str(i.link) ? str(i.link)!.split('-') : null)
const gidSite = (i: Input): Target => {
  const g = str(i.gid)?.split('-')[0]
  const s = str(i.site)
  return g ? [...new Set([g, ...(s ? [s] : [])])] : site(i)
}
const sites = (...keys: string[]) => (i: Input): Target => {
  const out: string[] = []
  for (const k of keys) {
    const v = i[k]
    if (typeof v === 'string') out.push(v)
    else if (Array.isArray(v)) for (const x of v) if (typeof x === 'string') out.push(x)
  }
  return out.length ? [...new Set(out)] : null
}
const ALL = (): Target => 'ALL'
/** A backup file's site (<SITE>.sqlite); for the manifest, the sites its key names (KDY+CMB-…), else none in particular. */
const backupFileSites = (i: Input): Target => {
  const f = str(i.file)
  if (f && /^[A-Z]{3}\.sqlite$/.test(f)) return [f.slice(0, 3)]
  const k = str(i.key)?.split('-')[0]
  return k && /^[A-Z]{3}(\+[A-Z]{3})*$/.test(k) ? k.split('+') : null
}

/** A backup schedule's site(s): a code, or 'all' (every site, cluster-wide). */
const scheduleSite = (...keys: string[]) => (i: Input): Target => {
  const v = keys.map((k) => str(i[k])).filter((x): x is string => x !== undefined)
  if (v.some((x) => x.toLowerCase() === 'all')) return 'ALL'
  return v.length ? [...new Set(v)] : null
}

/** A statement (or script) that only reads: SELECT / EXPLAIN / VALUES / WITH … SELECT, one statement. */
export function isReadOnlyStatement(sql: string): boolean {
  const text = sql.replace(/--[^\n]*|\/\*[\s\S]*?\*\//g, ' ').trim().replace(/;\s*$/, '')
  if (/;\s*\S/.test(text)) return false
  if (/^(SELECT|EXPLAIN|VALUES)\b/i.test(text)) return true // EXPLAIN only plans, even of a write
  if (/^WITH\b/i.test(text)) return !/\b(INSERT|UPDATE|DELETE|REPLACE)\b/i.test(text)
  return false
}
/** The security manager's own tables (users, console roles): no statement of a branch administrator may name them. */
const SECURITY_TABLES = /\bSEC_(USERS|ROLES)\b/i
const sqlPermission = (i: Input): Permission => {
  const sql = str(i.sql) ?? ''
  if (SECURITY_TABLES.test(sql)) return 'admin'
  return isReadOnlyStatement(sql) ? 'read' : 'operate'
}
const userPermission = (i: Input, look: Lookup): Permission => (str(i.user) && look.isIdentity?.(str(i.user)!) ? 'admin' : 'operate')

const read = (label: string): ActionRule => ({ label, permission: 'read' })
const open = (label: string): ActionRule => ({ label, permission: 'open' })
const operate = (label: string, target: ActionRule['target'], extra: Partial<ActionRule> = {}): ActionRule => ({ label, permission: 'operate', target, ...extra })

/** Every action of the console, the CLI and scenarios. Keys are the IPC call names. */
export const ACTIONS: Readonly<Record<string, ActionRule>> = {
  'system/ping': open('ping the engine'),
  'system/info': open('read the host information'),
  'console/status': open('read the console status'),
  'console/setup': open('create the first HQ DBA'),
  'console/login': open('log in to the console'),
  'console/resume': open('resume a console session'),
  'console/logout': read('log out'),
  'console/identities': read('list the console identities'),
  'console/addIdentity': { label: 'add a console identity', permission: 'admin', target: ALL },
  'console/removeIdentity': { label: 'remove a console identity', permission: 'admin', target: ALL },
  'audit/search': read('search the audit log'),
  'audit/verify': read('verify the audit log'),

  'clock/get': read('read the clock'),
  'clock/setSpeed': operate('change the clock speed', ALL),
  'clock/advance': operate('advance the clock', ALL),
  'events/list': read('read the event log'),
  'jobs/list': read('list jobs'),
  'jobs/get': read('read a job'),
  'jobs/cancel': operate('cancel a job', ALL),
  'jobs/busy': operate('run a diagnostic job', ALL),

  'topology/get': read('read the topology'),
  'topology/failSite': operate('fail a site', site),
  'topology/restoreSite': operate('restore a site', site),
  'topology/failServer': operate('fail a server', serverSite),
  'topology/restoreServer': operate('restore a server', serverSite),
  'topology/failLink': operate('fail a link', linkSites, { anyOf: true }),
  'topology/restoreLink': operate('restore a link', linkSites, { anyOf: true }),
  'topology/degradeLink': operate('degrade a link', linkSites, { anyOf: true }),
  // nemesis and failure drills (engine/cluster/nemesis.ts, drills.ts)
  'nemesis/get': read('read the faults in force'),
  'nemesis/failMedia': operate('destroy a primary database medium', site),
  'nemesis/lan': operate('fail, degrade or restore a LAN', site),
  'nemesis/partition': operate('partition the network', ALL),
  'nemesis/heal': operate('heal the partition', ALL),
  'nemesis/linkChaos': operate('duplicate or reorder messages on a link', linkSites, { anyOf: true }),
  'nemesis/skew': operate("skew a site's clock", site),
  'drill/get': read('read the failure drill'),
  'drill/start': operate('start a failure drill', ALL),
  'drill/finish': operate('repair and check a failure drill', ALL),

  // failover (engine/cluster/failover.ts)
  'failover/get': read('read the backup feeds and failovers'),
  'failover/promote': operate('promote a backup server', site),
  'failover/failback': operate('fail back to the original primary', site),
  'failover/setFeed': operate('change a backup feed mode', site),
  'failover/setAuto': operate('change automatic failover', ALL),

  'catalog/global': read('read the global catalog'),
  'catalog/local': read('read a local catalog'),
  'catalog/fragments': read('read the fragments'),
  'catalog/check': read('check the fragmentation'),
  'catalog/checkIntegrity': read('check integrity'),
  'integrity/blocks': read('read the invoice-number blocks'),
  'integrity/reserveBlock': operate('reserve invoice numbers for a branch', site),
  'data/browse': read('browse data'),
  'data/generate': operate('replace all data with generated data', ALL),

  'replication/recover': operate('recover a site', site),
  'replication/refreshCopy': operate('refresh a copy', (i, look) => {
    const s = str(i.copy) ? look.copySite?.(str(i.copy)!) : undefined
    return s ? [s] : 'ALL'
  }),

  'query/run': { label: 'run a statement', permission: sqlPermission, target: site },
  'query/start': { label: 'run a statement', permission: sqlPermission, target: site },
  'query/explain': read('explain a query'),
  'query/export': { label: 'export a query result', permission: sqlPermission, target: site },
  'query/exportChunk': read('fetch an exported result'),
  'query/result': read('read a query result'),
  'query/cancel': { label: 'cancel a query', permission: 'read', audit: true },
  'query/catalog': read('read the query catalog'),

  'txn/list': read('list transactions'),
  'txn/begin': operate('begin a transaction', site),
  'txn/exec': { label: 'run a statement in a transaction', permission: (i) => (SECURITY_TABLES.test(str(i.sql) ?? '') ? 'admin' : 'operate'), target: gidSite },
  'txn/commit': operate('commit a transaction', gidSite),
  'txn/abort': operate('abort a transaction', gidSite),
  'txn/timeline': read('read a transaction timeline'),
  'txn/inDoubt': read('list in-doubt transactions'),
  'txn/resolve': operate('resolve an in-doubt transaction', site),
  'txn/setProtocol': operate('change the commit protocol', ALL),
  'txn/crashAt': operate('arm a 2PC crash', site),
  'deadlock/graph': read('read the wait-for graph'),
  'deadlock/history': read('read the deadlock history'),
  'deadlock/demo': operate('run the deadlock demo', sites('a', 'b')),
  // live mode (src-main/handlers/liveDeadlock.ts): the servers' global wait-for graph, and the demo between two servers
  'liveDeadlock/graph': read('read the live servers\' wait-for graph'),
  'liveDeadlock/demo': operate('run the cross-server deadlock demo', (i) => sites('a', 'b')({ a: 'CMB', b: 'KDY', ...i })),

  'tickets/submit': operate('submit a ticket', sites('site', 'retry')),
  'tickets/submitConcurrent': operate('submit a ticket', sites('sites')),
  'tickets/state': read('read the ticket servers'),
  'tickets/history': read('read the ticket history'),
  'tickets/trace': read('read a ticket trace'),

  'security/state': read('read the security state'),
  'security/addUser': operate('add a user', site),
  'security/removeUser': { label: 'remove a user', permission: userPermission, target: site },
  'security/setPassword': { label: "reset a user's password", permission: userPermission, target: site },
  'security/login': { label: 'open a security session', permission: 'read', audit: false },
  'security/logout': { label: 'close a security session', permission: 'read', audit: false },
  'security/firewalls': read('read the firewall rule tables'),
  'security/setFirewallRules': operate("change a site's firewall rules", site),
  'security/intruderDrill': operate('run the intruder drill', ALL),
  'security/packets': read('inspect the packets on a link'),
  'security/liveRoles': read("read the live servers' user roles"),

  'backup/take': operate('take a backup', (i) => (i.sites === 'all' ? 'ALL' : sites('sites')(i))),
  'backup/list': read('list the backups held'),
  'backup/read': operate('save a backup file', backupFileSites),
  'backup/upload': operate('upload a backup file', backupFileSites),
  'backup/plan': operate('plan a restore from a backup', site),
  'backup/restore': operate('restore a site from a backup', site),
  'jobs/history': read('read the job history'),
  'schedule/list': read('list the backup schedules'),
  'schedule/create': operate('create a backup schedule', scheduleSite('site')),
  'schedule/update': operate('edit a backup schedule', scheduleSite('site', 'to')),
  'schedule/pause': operate('pause or resume a backup schedule', scheduleSite('site')),
  'schedule/delete': operate('delete a backup schedule', scheduleSite('site')),
  'replication/schedules': read('read the replication schedules'),
  'replication/setRefreshSchedule': operate('set a copy\'s refresh schedule', (i, look) => {
    const s = str(i.copy) ? look.copySite?.(str(i.copy)!) : undefined
    return s ? [s] : 'ALL'
  }),
  'replication/setFeedSchedule': operate('set the main repository\'s feed schedule', ALL),
  // the comparison runs in clusters of its own and changes nothing in the live one: any logged-in identity
  'compare/defaults': read('read the design comparison\'s defaults'),
  'compare/run': read('run the design comparison'),
  'compare/last': read('read the last design comparison'),
  'compare/requests': read('list the design comparison\'s requests'),
  'compare/request': read('read a request of the design comparison'),
  'system/design': read('read the cluster\'s design'),
  // the Replication & Backup and Backups consoles over live PostgreSQL servers (src-main/handlers/liveRepl.ts)
  'liveRepl/status': read('read the live servers\' replication state'),
  'liveRepl/refresh': operate('refresh Stock_MBI between the live servers', () => ['CMB', 'MBI']),
  'liveBackup/take': operate('take a pg_dump backup', site),
  'liveBackup/list': read('list the pg_dump backups'),
  'liveBackup/restore': operate('restore a live site from a pg_dump backup', site),
  'liveBackup/takeBase': operate('take a physical backup (pg_basebackup)', site),
  'liveBackup/listBase': read('list the physical backups'),
  'liveBackup/verifyBase': operate('verify a physical backup in a scratch server', (i) => (str(i.name) ? [str(i.name)!.slice(0, 3)] : null)),
  'liveBackup/restoreBase': operate('restore a live site in place from a physical backup', (i) => (str(i.name) ? [str(i.name)!.slice(0, 3)] : null)),
  'liveFailover/promote': operate('promote a live standby (pg_promote)', site),
  'liveFailover/rebuildStandby': operate('rebuild a live standby', site),
  // re-initialises the whole live cluster: a cluster-wide setting
  'system/setDesign': { label: 're-initialise the cluster with another design', permission: 'admin', target: ALL },
  // the simulation or the live servers: every site changes what it is
  'system/setMode': { label: 'switch the console between the simulation and live servers', permission: 'admin', target: ALL },
  // live mode: the local catalogs read from the servers, and the failure drills done to them (src-main/pg/livecatalog.ts, drills.ts)
  'liveCatalog/site': { label: 'read a local catalog from its server', permission: (i) => (i.analyze === true ? 'operate' : 'read'), target: site },
  'liveCatalog/analyze': operate('run ANALYZE at a server', site),
  'liveDrill/servers': read('read the live servers\' state'),
  'liveDrill/backends': read('list a server\'s backends'),
  'liveDrill/stopServer': operate('stop a live server', serverSite),
  'liveDrill/startServer': operate('start a live server', serverSite),
  'liveDrill/killBackend': operate('end a backend at a live server', site),
  'liveDrill/links': read('read the console\'s links to the live servers'),
  'liveDrill/cutLink': operate('cut the console\'s link to a live server', site),
  'liveDrill/restoreLink': operate('restore the console\'s link to a live server', site),
}

export type Decision =
  | { ok: true; permission: Permission; target: Target; audit: boolean; label: string }
  | { ok: false; code: 'AUTH_FAILED' | 'ACCESS_DENIED'; message: string; site?: string; permission?: Permission; target: Target; label: string }

export const describeActor = (a: Actor): string =>
  `${a.user} (${ROLE_LABELS[a.role]}${a.role === 'branch-admin' && a.site ? ` of ${a.site}` : ''})`

const describeTarget = (t: Target): string => (t === 'ALL' ? 'every site' : t && t.length ? t.join(' and ') : 'the cluster')

/**
 * May `actor` (null: nobody logged in) do `action` with `input`? Pure: the same arguments give the same answer.
 * The target sites come from the input through the action's rule (`site` overrides them when given).
 */
export function authorizeAction(actor: Actor | null, action: string, input: Input = {}, look: Lookup = {}, site?: Target): Decision {
  const rule = Object.hasOwn(ACTIONS, action) ? ACTIONS[action] : undefined
  if (!rule) return { ok: false, code: 'ACCESS_DENIED', message: `no rule allows "${action.slice(0, 80)}": refused`, target: null, label: action }
  const permission = typeof rule.permission === 'function' ? rule.permission(input, look) : rule.permission
  const target = site !== undefined ? site : rule.target?.(input, look) ?? null
  const audit = rule.audit ?? (permission === 'operate' || permission === 'admin')
  const allow: Decision = { ok: true, permission, target, audit, label: rule.label }
  if (permission === 'open') return allow
  if (!actor) return { ok: false, code: 'AUTH_FAILED', message: `log in first: ${rule.label} needs a console identity`, target, label: rule.label, permission }
  if (permission === 'read') return allow
  const where = describeTarget(target)
  const firstSite = Array.isArray(target) ? target[0] : undefined
  const deny = (why: string): Decision => ({
    ok: false, code: 'ACCESS_DENIED', permission, target, label: rule.label,
    message: `${describeActor(actor)} may not ${rule.label} at ${where}: ${why}`,
    ...(firstSite ? { site: Array.isArray(target) ? target.find((s) => s !== actor.site) ?? firstSite : firstSite } : {}),
  })
  if (actor.role === 'hq-dba') return allow
  if (actor.role === 'auditor') return deny('an auditor reads and changes nothing')
  if (permission === 'admin') return deny('only the HQ DBA manages console identities and cluster-wide settings')
  // a branch administrator: its own site only
  if (!Array.isArray(target) || !target.length) return deny(`a branch administrator acts on ${actor.site ?? 'its own site'} only, not cluster-wide`)
  const own = (s: string) => s === actor.site
  if (rule.anyOf ? target.some(own) : target.every(own)) return allow
  return deny(`a branch administrator acts on ${actor.site ?? 'its own site'} only`)
}

/** authorizeAction, throwing the refusal as an EngineError. */
export function assertAuthorized(actor: Actor | null, action: string, input: Input = {}, look: Lookup = {}, site?: Target): Extract<Decision, { ok: true }> {
  const d = authorizeAction(actor, action, input, look, site)
  if (!d.ok) throw new EngineError(d.code, d.message, d.site ? { site: d.site } : {})
  return d
}
