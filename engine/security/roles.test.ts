import { describe, expect, it } from 'vitest'
import { ACTIONS, authorizeAction, isReadOnlyStatement, type Actor } from './roles'

const hq: Actor = { user: 'hqdba', role: 'hq-dba', site: null, clearance: 'SECRET', level: 'SECRET' }
const kandy: Actor = { user: 'kandy', role: 'branch-admin', site: 'KDY', clearance: 'INTERNAL', level: 'INTERNAL' }
const auditor: Actor = { user: 'audrey', role: 'auditor', site: null, clearance: 'SECRET', level: 'SECRET' }

describe('console roles: the action table decides', () => {
  it('a branch administrator changes its own site only, naming the role and the site when refused', () => {
    expect(authorizeAction(kandy, 'topology/failSite', { site: 'KDY' }).ok).toBe(true)
    const d = authorizeAction(kandy, 'topology/failSite', { site: 'CMB' })
    expect(d).toMatchObject({ ok: false, code: 'ACCESS_DENIED', site: 'CMB' })
    expect(!d.ok && d.message).toBe('kandy (branch administrator of KDY) may not fail a site at CMB: a branch administrator acts on KDY only')
    expect(authorizeAction(kandy, 'replication/recover', { site: 'MBI', from: 'repository' })).toMatchObject({ ok: false, site: 'MBI' })
    expect(authorizeAction(kandy, 'topology/failServer', { server: 'KDY.backup' }).ok).toBe(true)
    expect(authorizeAction(kandy, 'topology/failServer', { server: 'CMB.primary' }).ok).toBe(false)
    // a link belongs to both of its sites
    expect(authorizeAction(kandy, 'topology/failLink', { link: 'CMB-KDY' }).ok).toBe(true)
    expect(authorizeAction(kandy, 'topology/failLink', { link: 'CMB-MBI' }).ok).toBe(false)
    // transactions by their coordinator; tickets at every site named
    expect(authorizeAction(kandy, 'txn/commit', { gid: 'KDY-3' }).ok).toBe(true)
    expect(authorizeAction(kandy, 'txn/commit', { gid: 'CMB-3' }).ok).toBe(false)
    expect(authorizeAction(kandy, 'tickets/submitConcurrent', { sites: ['KDY', 'CMB'] }).ok).toBe(false)
    // cluster-wide changes and console identities are the HQ DBA's
    expect(authorizeAction(kandy, 'clock/setSpeed', { speed: 60 }).ok).toBe(false)
    expect(authorizeAction(kandy, 'console/addIdentity', { user: 'x' }).ok).toBe(false)
    // reads anywhere; writes by SQL at its own site
    expect(authorizeAction(kandy, 'topology/get').ok).toBe(true)
    expect(authorizeAction(kandy, 'query/run', { site: 'CMB', sql: 'SELECT * FROM ITEMS' }).ok).toBe(true)
    expect(authorizeAction(kandy, 'query/run', { site: 'CMB', sql: "UPDATE ITEMS SET NAME = 'x'" }).ok).toBe(false)
    expect(authorizeAction(kandy, 'query/run', { site: 'KDY', sql: "UPDATE ITEMS SET NAME = 'x'" }).ok).toBe(true)
  })

  it('the auditor reads everything and changes nothing', () => {
    for (const [action, rule] of Object.entries(ACTIONS)) {
      const d = authorizeAction(auditor, action, { site: 'CMB', link: 'CMB-KDY', server: 'CMB.primary', gid: 'CMB-1', sites: ['CMB'], a: 'CMB', b: 'KDY', sql: 'DELETE FROM SALES' })
      const perm = typeof rule.permission === 'function' ? rule.permission({ sql: 'DELETE FROM SALES', user: 'u' }, { isIdentity: () => false }) : rule.permission
      expect(d.ok, action).toBe(perm === 'read' || perm === 'open')
      if (!d.ok) expect(d.message, action).toContain('audrey (auditor) may not')
    }
    expect(authorizeAction(auditor, 'query/run', { site: 'CMB', sql: 'SELECT * FROM SALES' }).ok).toBe(true)
  })

  it('the HQ DBA may do everything; before login only the open calls answer', () => {
    for (const action of Object.keys(ACTIONS)) expect(authorizeAction(hq, action, { site: 'MBI' }).ok, action).toBe(true)
    const open = Object.keys(ACTIONS).filter((a) => authorizeAction(null, a, {}).ok).sort()
    expect(open).toEqual(['console/login', 'console/resume', 'console/setup', 'console/status', 'system/info', 'system/ping'])
    expect(authorizeAction(null, 'topology/get')).toMatchObject({ ok: false, code: 'AUTH_FAILED' })
  })

  it('fails closed: an action without a rule is refused, even for the HQ DBA', () => {
    expect(authorizeAction(hq, 'system/format-disk')).toMatchObject({ ok: false, code: 'ACCESS_DENIED' })
    expect(authorizeAction(hq, 'constructor')).toMatchObject({ ok: false, code: 'ACCESS_DENIED' })
    expect(authorizeAction(hq, '__proto__')).toMatchObject({ ok: false, code: 'ACCESS_DENIED' })
  })

  it('resetting or removing a console identity through the user calls needs the HQ DBA', () => {
    const look = { isIdentity: (u: string) => u === 'kandy' }
    expect(authorizeAction(kandy, 'security/setPassword', { site: 'KDY', user: 'clerk' }, look).ok).toBe(true)
    expect(authorizeAction(kandy, 'security/setPassword', { site: 'KDY', user: 'kandy' }, look).ok).toBe(false)
    expect(authorizeAction(hq, 'security/removeUser', { site: 'KDY', user: 'kandy' }, look).ok).toBe(true)
  })

  it("no branch administrator's statement may name the security manager's tables (it could make itself HQ DBA)", () => {
    expect(authorizeAction(kandy, 'txn/exec', { gid: 'KDY-1', site: 'KDY', sql: "INSERT INTO SEC_ROLES VALUES ('kandy2', 'hq-dba', NULL)" })).toMatchObject({ ok: false, code: 'ACCESS_DENIED' })
    expect(authorizeAction(kandy, 'query/run', { site: 'KDY', sql: 'SELECT * FROM sec_users' })).toMatchObject({ ok: false, code: 'ACCESS_DENIED' })
    expect(authorizeAction(kandy, 'txn/exec', { gid: 'KDY-1', site: 'KDY', sql: "UPDATE Sales_KDY SET QTY = 2" }).ok).toBe(true)
  })

  it('tells reads from writes', () => {
    expect(isReadOnlyStatement('SELECT 1')).toBe(true)
    expect(isReadOnlyStatement('  -- c\n explain update x set a=1')).toBe(true)
    expect(isReadOnlyStatement('WITH a AS (SELECT 1) SELECT * FROM a')).toBe(true)
    expect(isReadOnlyStatement('WITH a AS (SELECT 1) DELETE FROM SALES')).toBe(false)
    expect(isReadOnlyStatement('SELECT 1; DELETE FROM SALES')).toBe(false)
    expect(isReadOnlyStatement('INSERT INTO ITEMS VALUES (1)')).toBe(false)
    expect(isReadOnlyStatement('SELECT 1;')).toBe(true)
  })
})

describe('scenarios act as a console role (default: the HQ DBA)', () => {
  it('a branch administrator is refused another site (expectable, audited) and acts on its own', async () => {
    const { runScenario } = await import('../scenario')
    const { Cluster } = await import('../cluster')
    const { AuditLog } = await import('./audit')
    const cluster = await Cluster.create({ seed: 2, sales: 0 })
    const r = await runScenario([
      'fail site MBI', 'restore site MBI',
      'role branch-admin KDY',
      'fail site CMB', 'expect error ACCESS_DENIED', 'expect site CMB up',
      'recover MBI from repository', 'expect error ACCESS_DENIED',
      'fail link CMB-KDY', 'restore link CMB-KDY',
      'fail site KDY', 'expect site KDY down', 'restore site KDY',
      'role auditor',
      'sql KDY DELETE FROM Sales_KDY', 'expect error ACCESS_DENIED',
      'sql KDY SELECT COUNT(*) FROM Sales_KDY', 'expect value 0',
    ].join('\n'), { cluster })
    expect(r.failed).toBeUndefined()
    expect(r.ok).toBe(true)
    const log = AuditLog.of(cluster)
    expect(log.search({ ok: false }).map((e) => `${e.user} ${e.action} ${e.site}`)).toEqual([
      'scenario-auditor query/run KDY', 'scenario-branch-admin replication/recover MBI', 'scenario-branch-admin topology/failSite CMB',
    ])
    expect(log.search({ user: 'scenario', action: 'topology/' }).map((e) => e.action)).toEqual(['topology/restoreSite', 'topology/failSite'])
    const refused = await runScenario('role branch-admin KDY\nfail site CMB\n', { cluster })
    expect(refused.failed).toMatchObject({ line: 2, reason: expect.stringMatching(/^ACCESS_DENIED: scenario-branch-admin \(branch administrator of KDY\) may not fail a site at CMB/) })
  })
})
