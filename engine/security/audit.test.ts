import { describe, expect, it } from 'vitest'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Cluster } from '../cluster'
import { AUDIT_FILE, AUDIT_HEAD, AuditLog, verifyAuditDir } from './audit'
import { SecurityManager } from './dsm'

async function persisted(): Promise<{ dir: string; c: Cluster }> {
  const dir = join(mkdtempSync(join(tmpdir(), 'iddb-audit-')), 'data')
  const c = await Cluster.create({ seed: 5, sales: 0, dataDir: dir, fsync: false })
  return { dir, c }
}

function fill(c: Cluster, n: number): void {
  const log = AuditLog.of(c)
  for (let i = 1; i <= n; i++) log.append(i % 2 ? 'CMB' : 'KDY', i % 3 ? 'hqdba' : 'kandy', i % 2 ? 'topology/failSite' : 'replication/recover', i !== 4, `entry ${i}`)
}

const lines = (dir: string) => readFileSync(join(dir, AUDIT_FILE), 'utf8').split('\n').filter(Boolean)
const rewrite = (dir: string, ls: string[]) => writeFileSync(join(dir, AUDIT_FILE), ls.map((l) => `${l}\n`).join(''))

describe('audit log: append-only, hash-chained, persisted', () => {
  it('verifies an intact log and keeps it across a reopen (the chain continues)', async () => {
    const { dir, c } = await persisted()
    try {
      fill(c, 6)
      expect(verifyAuditDir(dir)).toMatchObject({ ok: true, count: 6 })
      c.close()
      const c2 = await Cluster.open(dir)
      const log = AuditLog.of(c2)
      expect(log.size).toBe(6)
      log.append('MBI', 'hqdba', 'topology/restoreSite', true, 'after reopen')
      expect(verifyAuditDir(dir)).toMatchObject({ ok: true, count: 7 })
      c2.close()
    } finally { rmSync(dir, { recursive: true, force: true }) }
  })

  it('an edited entry fails verification naming it', async () => {
    const { dir, c } = await persisted()
    try {
      fill(c, 6)
      const ls = lines(dir)
      const e = JSON.parse(ls[2]) as { detail: string; ok: boolean }
      e.ok = !e.ok
      ls[2] = JSON.stringify(e)
      rewrite(dir, ls)
      const v = verifyAuditDir(dir)
      expect(v).toMatchObject({ ok: false, entry: 3 })
      expect(!v.ok && v.reason).toMatch(/entry 3: .*edited/)
    } finally { c.close(); rmSync(dir, { recursive: true, force: true }) }
  })

  it('a deleted entry fails verification naming where the chain breaks', async () => {
    const { dir, c } = await persisted()
    try {
      fill(c, 6)
      const ls = lines(dir)
      ls.splice(3, 1) // entry 4 removed
      rewrite(dir, ls)
      const v = verifyAuditDir(dir)
      expect(v).toMatchObject({ ok: false, entry: 4 })
      expect(!v.ok && v.reason).toMatch(/numbered 5, expected 4/)
    } finally { c.close(); rmSync(dir, { recursive: true, force: true }) }
  })

  it('a renumbered deletion (seq rewritten) is still caught by the chain', async () => {
    const { dir, c } = await persisted()
    try {
      fill(c, 5)
      const ls = lines(dir).map((l) => JSON.parse(l) as { seq: number })
      ls.splice(1, 1)
      ls.forEach((e, i) => { e.seq = i + 1 })
      rewrite(dir, ls.map((e) => JSON.stringify(e)))
      const v = verifyAuditDir(dir)
      expect(v).toMatchObject({ ok: false, entry: 2 })
    } finally { c.close(); rmSync(dir, { recursive: true, force: true }) }
  })

  it('reordered entries fail verification naming the first out of place', async () => {
    const { dir, c } = await persisted()
    try {
      fill(c, 6)
      const ls = lines(dir);
      [ls[1], ls[2]] = [ls[2], ls[1]]
      rewrite(dir, ls)
      const v = verifyAuditDir(dir)
      expect(v).toMatchObject({ ok: false, entry: 2 })
      expect(!v.ok && v.reason).toMatch(/numbered 3, expected 2/)
    } finally { c.close(); rmSync(dir, { recursive: true, force: true }) }
  })

  it('entries cut from the end are noticed through the head mark', async () => {
    const { dir, c } = await persisted()
    try {
      fill(c, 6)
      rewrite(dir, lines(dir).slice(0, 4))
      const v = verifyAuditDir(dir)
      expect(v).toMatchObject({ ok: false, entry: 5 })
      expect(!v.ok && v.reason).toMatch(/entries 5–6 were removed from the end/)
      writeFileSync(join(dir, AUDIT_HEAD), '{broken')
      expect(verifyAuditDir(dir).ok).toBe(false)
    } finally { c.close(); rmSync(dir, { recursive: true, force: true }) }
  })

  it('the security manager writes its logins and refusals there, never a password', async () => {
    const { dir, c } = await persisted()
    try {
      const dsm = SecurityManager.of(c)
      dsm.addUser('KDY', 'nimal', 'kandy-pass-1', 'INTERNAL')
      expect(() => dsm.login('KDY', 'nimal', 'wrong-pass-9')).toThrow()
      dsm.login('KDY', 'nimal', 'kandy-pass-1')
      const text = readFileSync(join(dir, AUDIT_FILE), 'utf8')
      expect(text).not.toContain('kandy-pass-1')
      expect(AuditLog.of(c).search({ user: 'nimal', action: 'login' }).map((e) => e.ok)).toEqual([true, false])
      expect(AuditLog.of(c).search({ text: 'wrong user name' })).toHaveLength(1)
      expect(dsm.state().audit[0]).toMatchObject({ user: 'nimal', action: 'login', ok: true })
      expect(verifyAuditDir(dir)).toMatchObject({ ok: true, count: 3 })
    } finally { c.close(); rmSync(dir, { recursive: true, force: true }) }
  })

  it('searches by user, site, action, text and time range, newest first', async () => {
    const c = await Cluster.create({ seed: 5, sales: 0 })
    const log = AuditLog.of(c)
    log.append('CMB', 'hqdba', 'topology/failSite', true, 'site=CMB')
    c.sim.advance(60_000)
    const t = c.sim.now
    log.append('KDY', 'kandy', 'topology/failSite', false, 'refused: may not fail a site at CMB')
    log.append('KDY', 'kandy', 'topology/restoreSite', true, 'site=KDY')
    expect(log.search({ user: 'kandy' }).map((e) => e.seq)).toEqual([3, 2])
    expect(log.search({ site: 'CMB' }).map((e) => e.seq)).toEqual([1])
    expect(log.search({ action: 'failsite' }).map((e) => e.seq)).toEqual([2, 1])
    expect(log.search({ text: 'REFUSED' }).map((e) => e.seq)).toEqual([2])
    expect(log.search({ from: t }).map((e) => e.seq)).toEqual([3, 2])
    expect(log.search({ to: t - 1 }).map((e) => e.seq)).toEqual([1])
    expect(log.search({ ok: false }).map((e) => e.seq)).toEqual([2])
    expect(log.verify()).toMatchObject({ ok: true, count: 3 })
  })
})
