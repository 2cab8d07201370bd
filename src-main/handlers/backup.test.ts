/** Backups and restores through the handlers: a job each, saved and uploaded in chunks, restore confirmed by the site's code. */
import { describe, expect, it } from 'vitest'
import { Cluster } from '../../engine/cluster'
import { JobRunner } from '../engine-host/jobs'
import { calls, type CallInput, type CallName, type CallOutput } from '../ipc/contract'
import { handlers } from './index'
import type { HandlerContext } from './context'
import { localAdmin } from '../../engine/security/identities'
import { sha256 } from '../../engine/backup/format'
import { BACKUP_CHUNK_BYTES, type BackupJobResult, type RestoreJobResult } from '../ipc/contract/backup'

async function setup() {
  const cluster = await Cluster.create({ seed: 8, sales: 3000 })
  const jobs = new JobRunner(() => {})
  const ctx: HandlerContext = { cluster, jobs, host: 'cli', dataDir: null, actor: localAdmin('test'), emit: () => {}, clock: { speed: 0, setSpeed: () => {} } }
  const run = <N extends CallName>(name: N, input: CallInput<N>): Promise<CallOutput<N>> =>
    (handlers[name] as (c: HandlerContext, i: unknown) => Promise<CallOutput<N>>)(ctx, calls[name].input.parse(input))
  return { cluster, jobs, run }
}

describe('backup/* handlers', () => {
  it('takes a backup as a job, saves it in chunks, uploads it back, plans and restores it', async () => {
    const { cluster, jobs, run } = await setup()
    const job = await run('backup/take', { sites: ['KDY'] })
    expect(job).toMatchObject({ kind: 'backup', status: 'running' })
    const end = await jobs.wait(job.id)
    expect(end.status).toBe('done')
    const res = end.result as BackupJobResult
    expect(res.bytes).toBe(res.backup.files[0].bytes)
    expect(res.rows).toBeGreaterThan(0)
    expect(res.durationMs).toBeGreaterThanOrEqual(0)
    expect((await run('backup/list', {})).map((b) => b.key)).toEqual([res.backup.key])

    // save: every chunk of the file, reassembled, has the manifest's checksum
    const read = async (file: 'KDY.sqlite' | 'manifest.json') => {
      const parts: Buffer[] = []
      for (let off = 0, total = 1; off < total;) {
        const c = await run('backup/read', { key: res.backup.key, file, offset: off })
        expect(c.length).toBeLessThanOrEqual(BACKUP_CHUNK_BYTES)
        parts.push(Buffer.from(c.data, 'base64'))
        total = c.total
        off += c.length
      }
      return Buffer.concat(parts)
    }
    const db = await read('KDY.sqlite')
    expect(db.length).toBeGreaterThan(BACKUP_CHUNK_BYTES) // more than one chunk
    expect(sha256(db)).toBe(res.backup.files[0].sha256)
    const manifest = await read('manifest.json')
    expect(JSON.parse(manifest.toString('utf8')).id).toBe(res.backup.id)

    // a sale after the backup
    cluster.siteStore('KDY').exec("INSERT INTO Sales_KDY VALUES (990001, 'KDY', 1001, 1, 2.5, 2.5, '2026-11-23 10:00:00', 100)")

    // upload the kept files back (the manifest last, or first: the backup appears when all have arrived)
    const up = async (file: 'KDY.sqlite' | 'manifest.json', bytes: Buffer) => {
      let state
      for (let off = 0; off < bytes.length; off += BACKUP_CHUNK_BYTES) {
        state = await run('backup/upload', { upload: 'u1', file, offset: off, total: bytes.length, data: bytes.subarray(off, off + BACKUP_CHUNK_BYTES).toString('base64') })
      }
      return state!
    }
    expect((await up('manifest.json', manifest)).backup).toBeNull()
    await expect(run('backup/upload', { upload: 'u1', file: 'KDY.sqlite', offset: 5, total: db.length, data: '' })).rejects.toMatchObject({ code: 'BAD_INPUT' })
    const uploaded = (await up('KDY.sqlite', db)).backup!
    expect(uploaded).toMatchObject({ origin: 'uploaded', id: res.backup.id })
    expect(uploaded.key).not.toBe(res.backup.key)

    const plan = await run('backup/plan', { key: uploaded.key, site: 'KDY' })
    expect(plan).toMatchObject({ site: 'KDY', lostCommits: 1, changes: 1 })
    await expect(run('backup/plan', { key: uploaded.key, site: 'CMB' })).rejects.toMatchObject({ code: 'BAD_INPUT', message: expect.stringContaining('holds KDY, not CMB') })
    await expect(run('backup/restore', { key: uploaded.key, site: 'KDY', confirm: 'yes' })).rejects.toMatchObject({ code: 'BAD_INPUT', message: expect.stringContaining('type the site\'s code KDY') })
    expect(cluster.siteStore('KDY').query('SELECT COUNT(*) FROM Sales_KDY WHERE INVNO = 990001').rows).toEqual([[1]])
    const rj = await run('backup/restore', { key: uploaded.key, site: 'KDY', confirm: 'KDY' })
    const rend = await jobs.wait(rj.id)
    expect(rend).toMatchObject({ kind: 'restore', status: 'done' })
    expect((rend.result as RestoreJobResult).rows).toBe(1)
    expect(cluster.siteStore('KDY').query('SELECT COUNT(*) FROM Sales_KDY WHERE INVNO = 990001').rows).toEqual([[0]])
  })

  it('a cancelled backup job ends cancelled and holds nothing; an unknown site is refused before a job starts', async () => {
    const { jobs, run } = await setup()
    const job = await run('backup/take', { sites: 'all' })
    await run('jobs/cancel', { id: job.id })
    expect((await jobs.wait(job.id)).status).toBe('cancelled')
    expect(await run('backup/list', {})).toEqual([])
    await expect(run('backup/take', { sites: ['ZZZ'] })).rejects.toMatchObject({ code: 'UNKNOWN_SITE' })
    await expect(run('backup/read', { key: 'nope', file: 'manifest.json', offset: 0 })).rejects.toMatchObject({ code: 'NOT_FOUND' })
  })

  it('replication/recover from the repository waits for the commits it lacks, or refuses while they cannot arrive (issue 17, bug 4)', async () => {
    const { cluster: c, run } = await setup()
    const sale = (n: number) => `INSERT INTO Sales_KDY VALUES (${n}, 'KDY', 1001, 1, 5, 5, 'x', 80)`
    const count = (n: number) => c.siteStore('KDY').query('SELECT COUNT(*) FROM Sales_KDY WHERE INVNO = ?', [n]).rows[0][0]
    c.failLink('CMB-KDY'); c.failLink('MBI-KDY')
    c.siteStore('KDY').exec(sale(860001))
    await expect(run('replication/recover', { site: 'KDY', from: 'repository', confirm: 'KDY' })).rejects.toMatchObject({ code: 'CONFLICT', message: expect.stringContaining('would discard record') })
    expect(count(860001)).toBe(1)
    c.restoreLink('CMB-KDY'); c.restoreLink('MBI-KDY') // the repository still lags: the recovery waits for it
    const r = await run('replication/recover', { site: 'KDY', from: 'repository', confirm: 'KDY' })
    expect(r.rows).toBeGreaterThan(0)
    expect(count(860001)).toBe(1)
    expect(c.siteStore('CMB').repository!.query('SELECT COUNT(*) FROM SALES WHERE INVNO = 860001').rows).toEqual([[1]])
  })
})
