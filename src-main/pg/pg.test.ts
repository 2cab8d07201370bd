/**
 * Live PostgreSQL sites (`iddb pg up|down|status`) against real servers this test starts in a temporary
 * directory on loopback ports and stops again. Skipped, with the reason, where PostgreSQL is not installed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createServer } from 'node:net'
import pg from 'pg'
import { Cluster } from '../../engine/cluster'
import { pgDown, pgStatus, pgUp, type PgUpResult } from './deploy'
import { crashServer, failover, pgUnavailableReason, readDeployment, readPassword, rebuildStandby, startDeployment } from './servers'
import { pgBackup, pgRestore, tableChecksums } from './backup'
import { copiedTables, qid } from './load'
import { liveLocalCatalog, type LiveLocalCatalog } from './catalog'
import { GlobalDeadlockDetector, TXN_PREFIX, type WatchedServer } from './deadlock'

const why = pgUnavailableReason()

/** A free block of `n` consecutive loopback ports (checked by binding each). */
async function freePorts(n: number): Promise<number> {
  const tryPort = (p: number) => new Promise<boolean>((res) => { const s = createServer(); s.once('error', () => res(false)); s.listen(p, '127.0.0.1', () => s.close(() => res(true))) })
  for (let base = 20000 + (process.pid % 200) * 50; base < 60000; base += 97) {
    let ok = true
    for (let i = 0; i < n && ok; i++) ok = await tryPort(base + i)
    if (ok) return base
  }
  throw new Error('no free ports')
}

describe.skipIf(why !== null)(`live PostgreSQL sites${why ? ` (skipped: ${why})` : ''}`, () => {
  let dir = ''
  let up: PgUpResult
  let password = ''
  const SALES = 1500
  const client = (port: number, database: string) => new pg.Client({ host: '127.0.0.1', port, user: up.deployment.user, password, database })
  const one = async (port: number, database: string, sql: string, params: unknown[] = []) => {
    const c = client(port, database); await c.connect()
    try { return (await c.query(sql, params)).rows } finally { await c.end() }
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'iddb-pg-'))
    chmodSync(dir, 0o755)
    up = await pgUp({ dataDir: dir, seed: 7, sales: SALES, basePort: await freePorts(6), durable: false })
    password = readPassword(dir, up.deployment)
  }, 240_000)

  afterAll(() => {
    if (dir) { try { pgDown(dir) } catch { /* nothing was started */ } rmSync(dir, { recursive: true, force: true }) }
  }, 120_000)

  it('keeps the password out of pg.json and in a 0600 pgpass file', () => {
    const manifest = readFileSync(join(dir, 'pg.json'), 'utf8')
    expect(manifest).not.toContain(password)
    expect(statSync(join(dir, '.pgpass')).mode & 0o777).toBe(0o600)
    expect(up.deployment.sites.map((s) => s.code)).toEqual(['CMB', 'MBI', 'KDY'])
  })

  it('holds at each site exactly the tables and rows the embedded design holds there', async () => {
    const embedded = await Cluster.create({ seed: 7, sales: SALES })
    try {
      for (const s of up.deployment.sites) {
        const db = embedded.siteInternals(s.code).primary
        const tables = copiedTables(db)
        expect(tables.map((t) => t.name)).toContain(`Sales_${s.code}`)
        for (const t of tables) {
          const [{ n }] = await one(s.primary.port, up.deployment.database, `SELECT COUNT(*)::int AS n FROM ${qid(t.name)}`)
          expect(n, `${s.code} ${t.name}`).toBe(db.count(t.name))
        }
        // same values, not only the same counts: the site's revenue to the cent
        const [{ rev }] = await one(s.primary.port, up.deployment.database, `SELECT ROUND(SUM("AMOUNT")::numeric, 2)::float8 AS rev FROM ${qid(`Sales_${s.code}`)}`)
        expect(rev).toBeCloseTo(Number(db.scalar(`SELECT ROUND(SUM(AMOUNT), 2) FROM "Sales_${s.code}"`)), 2)
        // security users are roles at a live site, never a copied table
        expect(await one(s.primary.port, up.deployment.database, "SELECT tablename FROM pg_tables WHERE tablename LIKE 'SEC%'")).toEqual([])
      }
      const repo = embedded.siteInternals('CMB').repository!
      const [{ n }] = await one(up.deployment.sites[0].primary.port, up.deployment.repository.database, 'SELECT COUNT(*)::int AS n FROM "SALES"')
      expect(n).toBe(repo.count('SALES'))
      expect(n).toBe(SALES)
    } finally { embedded.close({ checkpoint: false }) }
  })

  it('reads each site\'s local catalog from the server\'s own statistics, agreeing with the embedded catalog', async () => {
    const embedded = await Cluster.create({ seed: 7, sales: SALES })
    try {
      for (const s of up.deployment.sites) {
        const c = client(s.primary.port, up.deployment.database); await c.connect()
        let cat: LiveLocalCatalog
        try { cat = await liveLocalCatalog(c) } finally { await c.end() }
        const db = embedded.siteInternals(s.code).primary
        const fragment = `Sales_${s.code}`
        expect(cat.tables.find((t) => t.TABLE_NAME === fragment)?.NUM_ROWS).toBe(db.count(fragment))
        const emb = db.query('SELECT COL_NAME, LKEY, HKEY FROM LCAT_COLUMNS WHERE "TABLE" = ? AND LKEY IS NOT NULL', [fragment]).rows
        expect(emb.length).toBe(8)
        for (const [col, lo, hi] of emb) {
          const live = cat.columns.find((x) => x.TABLE === fragment && x.COL_NAME === col)!
          expect(live, `${fragment}.${String(col)}`).toBeDefined()
          if (typeof lo === 'number') { expect(live.LKEY).toBeCloseTo(lo, 6); expect(live.HKEY).toBeCloseTo(Number(hi), 6) } else { expect(live.LKEY).toBe(lo); expect(live.HKEY).toBe(hi) }
        }
        const pk = cat.indexes.find((i) => i.TABLE_NAME === fragment)!
        expect(pk).toMatchObject({ KEY_COLS: 'INVNO', TYPE: 'BTREE UNIQUE', PCT_UNIQUE: 100 })
      }
    } finally { embedded.close({ checkpoint: false }) }
  })

  it('feeds each standby by streaming: a commit at a primary is read at its backup server', async () => {
    const kdy = up.deployment.sites.find((s) => s.code === 'KDY')!
    await one(kdy.primary.port, up.deployment.database, 'UPDATE "Stock_KDY" SET "QTY" = "QTY" + 1 WHERE "STOCKCODE" = (SELECT MIN("STOCKCODE") FROM "Stock_KDY")')
    const [{ q }] = await one(kdy.primary.port, up.deployment.database, 'SELECT "QTY"::int AS q FROM "Stock_KDY" ORDER BY "STOCKCODE" LIMIT 1')
    let seen: number | undefined
    for (let i = 0; i < 200 && seen !== q; i++) {
      seen = (await one(kdy.standby.port, up.deployment.database, 'SELECT "QTY"::int AS q FROM "Stock_KDY" ORDER BY "STOCKCODE" LIMIT 1'))[0].q
      if (seen !== q) await new Promise((r) => setTimeout(r, 25))
    }
    expect(seen).toBe(q)
    await expect(one(kdy.standby.port, up.deployment.database, 'UPDATE "Stock_KDY" SET "QTY" = 0')).rejects.toThrow(/read-only/)
    const st = await pgStatus(dir)
    for (const s of st.servers) {
      expect(s.running, s.id).toBe(true)
      expect(s.inRecovery, s.id).toBe(s.role === 'standby')
      if (s.role === 'primary') expect(s.replication?.map((r) => `${r.state}/${r.sync}`)).toEqual(['streaming/sync'])
    }
  })

  it('allows two-phase commit (max_prepared_transactions) and authenticates with SCRAM-SHA-256 only', async () => {
    const cmb = up.deployment.sites[0]
    const c = client(cmb.primary.port, up.deployment.database); await c.connect()
    try {
      await c.query('BEGIN')
      await c.query('UPDATE "ITEMS" SET "LISTPRICE" = "LISTPRICE" WHERE "ITEMNO" = 1')
      await c.query("PREPARE TRANSACTION 'iddb-test-1'")
      expect((await c.query("SELECT gid FROM pg_prepared_xacts WHERE gid = 'iddb-test-1'")).rows).toHaveLength(1)
      await c.query("COMMIT PREPARED 'iddb-test-1'")
      expect((await c.query("SHOW password_encryption")).rows[0].password_encryption).toBe('scram-sha-256')
    } finally { await c.end() }
    const wrong = new pg.Client({ host: '127.0.0.1', port: cmb.primary.port, user: up.deployment.user, password: 'not-the-password', database: up.deployment.database })
    await expect(wrong.connect()).rejects.toThrow(/password authentication failed/)
  })

  it('detects a deadlock across two servers from their waits, cancels the younger transaction, and the other commits', async () => {
    const [cmb, , kdy] = up.deployment.sites
    const db = up.deployment.database
    const opened: pg.Client[] = []
    const track = async (c: pg.Client) => { c.on('error', () => {}); opened.push(c); await c.connect(); return c }
    const session = (port: number, txn: string) => track(new pg.Client({ host: '127.0.0.1', port, user: up.deployment.user, password, database: db, application_name: `${TXN_PREFIX}${txn}` }))
    const [{ item, before }] = await one(cmb.primary.port, db, 'SELECT "ITEMNO" AS item, "LISTPRICE" AS before FROM "ITEMS" ORDER BY "ITEMNO" LIMIT 1')
    const upd = `UPDATE "ITEMS" SET "LISTPRICE" = "LISTPRICE" + $1 WHERE "ITEMNO" = ${Number(item)}`
    try {
      const watch: WatchedServer[] = []
      for (const s of up.deployment.sites) watch.push({ site: s.code, client: await track(client(s.primary.port, db)) })
      const t1 = { CMB: await session(cmb.primary.port, 'T1'), KDY: await session(kdy.primary.port, 'T1') }
      const t2 = { CMB: await session(cmb.primary.port, 'T2'), KDY: await session(kdy.primary.port, 'T2') }
      await t1.CMB.query('BEGIN'); await t1.KDY.query('BEGIN')
      await t1.CMB.query(upd, [1])
      await new Promise((r) => setTimeout(r, 5)) // T2 starts after T1: T2 is the younger
      await t2.CMB.query('BEGIN'); await t2.KDY.query('BEGIN')
      await t2.KDY.query(upd, [100])
      // each now waits for the other, at a different server: neither server sees a cycle
      const t1waits = t1.KDY.query(upd, [1]).then(() => 'granted', (e: Error) => e.message)
      const t2waits = t2.CMB.query(upd, [100]).then(() => 'granted', (e: Error) => e.message)
      const det = new GlobalDeadlockDetector(watch)
      let found: Awaited<ReturnType<GlobalDeadlockDetector['poll']>> = []
      let polls = 0
      for (; polls < 400 && !found.length; polls++) {
        found = await det.poll()
        if (!found.length) await new Promise((r) => setTimeout(r, 10))
      }
      expect(polls).toBeGreaterThanOrEqual(2) // confirmed on a second poll, never on the first sight
      expect(found).toHaveLength(1)
      expect(found[0].cycle).toEqual(['T1', 'T2'])
      expect(found[0].victim).toBe('T2')
      expect(found[0].cancelled).toEqual([{ site: 'CMB', pid: expect.any(Number) }])
      expect(new Set(found[0].edges.map((e) => e.site))).toEqual(new Set(['CMB', 'KDY']))
      expect(await t2waits).toMatch(/canceling statement due to user request/)
      await t2.CMB.query('ROLLBACK'); await t2.KDY.query('ROLLBACK')
      expect(await t1waits).toBe('granted')
      await t1.CMB.query('COMMIT'); await t1.KDY.query('COMMIT')
      for (const s of [cmb, kdy]) {
        const [{ after }] = await one(s.primary.port, db, 'SELECT "LISTPRICE" AS after FROM "ITEMS" WHERE "ITEMNO" = $1', [item])
        expect(after).toBeCloseTo(Number(before) + 1, 6)
      }
      expect(await det.poll()).toEqual([])
    } finally {
      for (const c of opened) await c.end().catch(() => {})
    }
  })

  it('backs a site up with pg_dump and a checksummed manifest; restores it after the database is dropped, refusing a damaged or foreign backup first', async () => {
    const out = join(dir, 'backups')
    const mbi = up.deployment.sites[1]
    const db = up.deployment.database
    const m = await pgBackup(dir, { site: 'MBI', outDir: out })
    expect(m.site).toBe('MBI')
    expect(m.tables['Sales_MBI'].rows).toBeGreaterThan(0)
    expect(readdirSync(out).filter((f) => f.endsWith('.partial'))).toEqual([])
    const manifest = join(out, `${m.file}.json`)
    const sums = async () => { const c = client(mbi.primary.port, db); await c.connect(); try { return await tableChecksums(c) } finally { await c.end() } }
    const before = await sums()
    expect(before).toEqual(m.tables)
    // a backup of another site, and a damaged file, are refused before anything changes
    await expect(pgRestore(dir, { manifest, site: 'KDY' })).rejects.toThrow(/this backup is of MBI, not KDY/)
    const bytes = readFileSync(join(out, m.file))
    const flipped = Buffer.from(bytes); flipped[Math.floor(flipped.length / 2)] ^= 0xff
    writeFileSync(join(out, m.file), flipped)
    await expect(pgRestore(dir, { manifest, site: 'MBI' })).rejects.toThrow(/does not match its SHA-256/)
    writeFileSync(join(out, m.file), bytes.subarray(0, bytes.length - 100))
    await expect(pgRestore(dir, { manifest, site: 'MBI' })).rejects.toThrow(/truncated/)
    expect(await sums()).toEqual(before)
    writeFileSync(join(out, m.file), bytes)
    // the disaster: the database is gone
    const admin = client(mbi.primary.port, 'postgres'); await admin.connect()
    try { await admin.query(`DROP DATABASE ${qid(db)} WITH (FORCE)`) } finally { await admin.end() }
    await expect(one(mbi.primary.port, db, 'SELECT 1')).rejects.toThrow(/does not exist/)
    const r = await pgRestore(dir, { manifest, site: 'MBI' })
    expect(r.tables).toBe(Object.keys(m.tables).length)
    expect(await sums()).toEqual(before)
  })

  it('fails KDY over to its synchronous standby with no acknowledged commit lost, keeps writing there, and fails back', async () => {
    const kdy = () => readDeployment(dir).sites.find((s) => s.code === 'KDY')!
    const db = up.deployment.database
    const old = kdy()
    // acknowledged commits at the primary, then the primary dies without a shutdown
    const c = client(old.primary.port, db); await c.connect()
    try { for (let i = 0; i < 20; i++) await c.query('UPDATE "Stock_KDY" SET "QTY" = "QTY" + 1 WHERE "STOCKCODE" = (SELECT MIN("STOCKCODE") FROM "Stock_KDY")') } finally { await c.end() }
    const [{ q }] = await one(old.primary.port, db, 'SELECT "QTY"::int AS q FROM "Stock_KDY" ORDER BY "STOCKCODE" LIMIT 1')
    expect(crashServer(dir, 'KDY.primary')).toBe(true)
    const f = await failover(dir, 'KDY')
    expect(f.oldPrimaryWasRunning).toBe(false)
    expect(f.port).toBe(old.standby!.port)
    const now = kdy()
    expect(now.primary.port).toBe(old.standby!.port)
    // RPO 0: every acknowledged update is on the promoted server, and it takes new writes
    expect((await one(now.primary.port, db, 'SELECT "QTY"::int AS q FROM "Stock_KDY" ORDER BY "STOCKCODE" LIMIT 1'))[0].q).toBe(q)
    await one(now.primary.port, db, 'UPDATE "Stock_KDY" SET "QTY" = "QTY" + 1 WHERE "STOCKCODE" = (SELECT MIN("STOCKCODE") FROM "Stock_KDY")')
    await expect(failover(dir, 'KDY')).rejects.toThrow(/nothing to promote/)
    // the old primary comes back as the new standby, then a planned fail back returns the roles
    await rebuildStandby(dir, 'KDY')
    const st = (await pgStatus(dir)).servers.filter((s) => s.site === 'KDY')
    expect(st.map((s) => [s.port, s.inRecovery])).toEqual([[old.standby!.port, false], [old.primary.port, true]])
    const back = await failover(dir, 'KDY')
    expect(back.oldPrimaryWasRunning).toBe(true)
    expect(kdy().primary.port).toBe(old.primary.port)
    expect((await one(old.primary.port, db, 'SELECT "QTY"::int AS q FROM "Stock_KDY" ORDER BY "STOCKCODE" LIMIT 1'))[0].q).toBe(q + 1)
    await rebuildStandby(dir, 'KDY')
    const again = (await pgStatus(dir)).servers.find((s) => s.id === 'KDY.primary')!
    expect(again.replication?.map((r) => `${r.state}/${r.sync}`)).toEqual(['streaming/sync'])
  }, 180_000)

  it('iddb pg: status as JSON, and destructive subcommands refused without --yes', async () => {
    const { run } = await import('../cli/commands/pg')
    let text = ''
    const orig = process.stdout.write.bind(process.stdout)
    process.stdout.write = ((chunk: string) => { text += chunk; return true }) as typeof process.stdout.write
    const capture = async (argv: string[]) => {
      text = ''
      try { expect(await run(argv)).toBe(0) } finally { process.stdout.write = orig }
      process.stdout.write = ((chunk: string) => { text += chunk; return true }) as typeof process.stdout.write
      return JSON.parse(text)
    }
    const cat = await capture(['catalog', '--data', dir, '--site', 'KDY', '--json']) as LiveLocalCatalog
    expect(cat.tables.map((t) => t.TABLE_NAME)).toContain('Sales_KDY')
    const st = await capture(['status', '--data', dir, '--json']) as { servers: { id: string; running: boolean }[] }
    process.stdout.write = orig
    expect(st.servers.filter((s) => s.running).map((s) => s.id).sort()).toEqual(['CMB.backup', 'CMB.primary', 'KDY.backup', 'KDY.primary', 'MBI.backup', 'MBI.primary'])
    await expect(run(['failover', '--data', dir, '--site', 'KDY'])).rejects.toThrow(/add --yes/)
    await expect(run(['crash', '--data', dir, '--server', 'KDY.primary'])).rejects.toThrow(/add --yes/)
    await expect(run(['restore', '--data', dir, '--site', 'KDY', '--from', 'x.json'])).rejects.toThrow(/add --yes/)
    await expect(run(['restore', '--data', dir, '--physical', '--from', join(dir, 'backups', 'KDY-base-x')])).rejects.toThrow(/add --yes/)
    expect((await pgStatus(dir)).servers.every((s) => s.running)).toBe(true)
  })

  it('pg down stops every server, status says so, and the servers start again with their data', async () => {
    const stopped = pgDown(dir)
    expect(stopped.sort()).toEqual(up.deployment.sites.flatMap((s) => [s.primary.id, s.standby.id]).sort())
    expect((await pgStatus(dir)).servers.every((s) => !s.running)).toBe(true)
    expect(pgDown(dir)).toEqual([])
    startDeployment(dir)
    const [{ n }] = await one(up.deployment.sites[2].primary.port, up.deployment.database, 'SELECT COUNT(*)::int AS n FROM "Sales_KDY"')
    expect(n).toBeGreaterThan(0)
  }, 120_000)

  it('refuses a second pg up in the same directory, and a directory without a deployment, changing nothing', async () => {
    await expect(pgUp({ dataDir: dir, sales: 0 })).rejects.toThrow(/already holds a PostgreSQL deployment/)
    const empty = mkdtempSync(join(tmpdir(), 'iddb-pg-none-'))
    try {
      await expect(pgStatus(empty)).rejects.toThrow(/holds no PostgreSQL deployment/)
      writeFileSync(join(empty, 'pg.json'), '{ not json')
      await expect(pgStatus(empty)).rejects.toThrow(/not valid JSON/)
    } finally { rmSync(empty, { recursive: true, force: true }) }
  })
})
