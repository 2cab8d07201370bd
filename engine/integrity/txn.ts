/**
 * The DIM inside a DTM transaction: the key and foreign-key checks of a statement's row changes, run as reads
 * of the same transaction (strict 2PL), after the statement's fragment-level operations have computed the row
 * images at their participants and before the statement is reported done.
 *
 * Each batch of lookups (checkSteps in dim.ts yields at most two) is grouped per site; the sites are asked in
 * parallel, over the simulated network (virtual time and bytes charged; a lookup at the coordinator's own site
 * costs no hop). Every lookup is S-locked under the transaction's id in the site's lock manager — a row lock on
 * each looked-up key value, present or not, for a key lookup; a table S lock for a lookup of referencing rows —
 * so it waits for a concurrent writer of the same key (and takes part in deadlock detection and lock timeouts).
 *   - A fragment the transaction has written (at that site) is looked up with an ordinary fragment-level
 *     SELECT … WHERE col IN (?, …) of its sub-transaction there (it sees the transaction's own writes), its locks
 *     held to the end of the transaction.
 *   - Every other fragment of a site is looked up with one `dim.lookup` request for the site: the site takes the
 *     S locks, reads its committed rows, releases the locks it took (those the transaction already held there
 *     stay) and answers. A site asked only this way does not become a participant (no PREPARE, no vote). This is safe because the write being judged holds its own X locks (the written keys,
 *     IX on the written fragment) to the end of its transaction, and every conflicting write's check reads through
 *     them: a concurrent insert of the same key elsewhere must look the key up here, in the written fragment, and
 *     waits for this transaction; a concurrent delete of the referenced item or employee must look for referencing
 *     rows in the written fragment, and waits likewise. So of two conflicting transactions one always sees the
 *     other's committed row (or they deadlock and one is aborted): never both commit.
 */
import type { Cluster } from '../cluster'
import { EngineError, toErrorInfo, type ErrorInfo } from '../errors'
import type { SqlValue } from '../site/sqljs'
import { blockTest, checkSteps, type Probe, type RowChange } from './dim'
import { Dim, groupBySite } from './index'
import type { LockManager, LockMode } from '../txn/lock'

/** How the DIM reads inside the transaction (the DTM gives it). */
export interface TxnReader {
  /** The coordinator's site. */
  origin: string
  /** The site's primary is up and reachable from the origin. */
  reachable(site: string): boolean
  /** A fragment-level SELECT with parameters, as an operation of the transaction at `site`. */
  read(site: string, sql: string, params: SqlValue[], cb: (r: { ok: boolean; rows?: Record<string, unknown>[]; error?: ErrorInfo }) => void): void
  /** The transaction's id (the owner of the lookups' locks). */
  gid: string
  /** The transaction has written `table` at `site` (its own writes there must be seen: the lookup reads through its sub-transaction). */
  wrote(site: string, table: string): boolean
  /** The site's lock manager (the DTM's). */
  locks(site: string): LockManager
  lockTimeoutMs: number
  /** Called when a lookup waits for a lock (the DTM's deadlock detector learns of the wait). */
  onWait(): void
  /** How long the coordinator waits for a lookup's answer. */
  answerTimeoutMs: number
}

const qi = (n: string) => `"${n.replace(/"/g, '""')}"`

/** One SELECT per (site, fragment, column): the values that are there. */
interface Lookup { site: string; table: string; column: string; values: SqlValue[]; at: number[]; block?: Probe['block'] }

function lookups(probes: readonly Probe[]): Map<string, Lookup[]> {
  const out = new Map<string, Lookup[]>()
  for (const [site, list] of groupBySite(probes)) {
    const by = new Map<string, Lookup>()
    for (const { p, i } of list) {
      const k = `${p.table}\u0000${p.column}\u0000${p.block ? p.block.branch : ''}`
      let l = by.get(k)
      if (!l) by.set(k, (l = { site, table: p.table, column: p.column, values: [], at: [], ...(p.block ? { block: p.block } : {}) }))
      l.values.push(p.value)
      l.at.push(i)
    }
    out.set(site, [...by.values()])
  }
  return out
}

/**
 * Judges `changes` (one statement's row changes) in the transaction that made them; `done()` when they hold,
 * `done(error)` with CONSTRAINT_VIOLATION naming the constraint, the row and the site (or the reason a lookup
 * could not be made: a site down, the transaction aborted while it waited).
 */
export function checkInTxn(cluster: Cluster, rd: TxnReader, changes: readonly RowChange[], done: (err?: ErrorInfo) => void): void {
  const dim = Dim.of(cluster)
  if (!dim.enabled || !changes.length) return done()
  dim.stats.checks++
  const gen = checkSteps(cluster.topology, { site: rd.origin, applied: true, rowRules: false, ownsBlock: dim.ownsBlockAt(rd.origin), reserving: dim.reserving.has(rd.gid) }, changes)
  const fail = (e: unknown) => {
    const info = toErrorInfo(e)
    if (info.code === 'CONSTRAINT_VIOLATION') { dim.stats.violations++; cluster.log('integrity', info.message, info.site) }
    done(info)
  }
  const step = (answers?: boolean[]): void => {
    let r: IteratorResult<Probe[], void>
    try { r = answers ? gen.next(answers) : gen.next() } catch (e) { return fail(e) }
    if (r.done) return done()
    const probes = r.value
    const out = probes.map(() => false)
    const bySite = lookups(probes)
    dim.stats.probes += probes.length
    for (const [site, ls] of bySite) {
      if (site !== rd.origin) dim.stats.remoteProbes += ls.reduce((a, l) => a + l.values.length, 0)
      if (!rd.reachable(site)) {
        return fail(new EngineError('UNREACHABLE', `the integrity check of ${ls.map((l) => l.table).join(', ')} needs ${site}, which is down or unreachable from ${rd.origin}; nothing was changed`, { site }))
      }
    }
    let open = bySite.size
    let failed = false
    const siteDone = (err?: ErrorInfo) => {
      if (failed) return
      if (err) { failed = true; return fail(err) }
      if (--open === 0) step(out)
    }
    const mark = (l: Lookup, hit: Set<string>) => l.values.forEach((v, k) => { if (hit.has(String(v))) out[l.at[k]] = true })
    for (const [site, ls] of bySite) {
      const own = ls.filter((l) => !l.block && rd.wrote(site, l.table)), short = ls.filter((l) => !own.includes(l))
      let parts = (own.length ? 1 : 0) + (short.length ? 1 : 0)
      const partDone = (err?: ErrorInfo) => { if (err) return siteDone(err); if (--parts === 0) siteDone() }
      if (short.length) lookupAt(cluster, rd, site, short, (err, hits) => { if (!err) short.forEach((l, j) => mark(l, hits![j])); partDone(err) })
      if (!own.length) continue
      const next = (j: number): void => {
        if (failed) return
        if (j === own.length) return partDone()
        const l = own[j]
        rd.read(l.site, lookupSql(l), l.values, (res) => {
          if (failed) return
          if (!res.ok) return partDone(res.error ?? new EngineError('INTERNAL', `integrity lookup at ${l.site} failed`))
          const col = l.column.toUpperCase()
          mark(l, new Set((res.rows ?? []).map((x) => String(x[col] ?? x[l.column]))))
          next(j + 1)
        })
      }
      next(0)
    }
  }
  step()
}

const lookupSql = (l: Lookup) => (l.block
  // the looked-up values that lie in another branch's block
  ? `SELECT x.v FROM (${l.values.map(() => 'SELECT ? AS v').join(' UNION ALL ')}) AS x WHERE ${blockTest(l.table, l.block.kb, 'x.v')}`
  : `SELECT ${qi(l.column)} FROM ${qi(l.table)} WHERE ${qi(l.column)} IN (${l.values.map(() => '?').join(', ')})`)
const lookupParams = (l: Lookup): SqlValue[] => (l.block ? [...l.values, l.block.branch] : l.values)

/**
 * One `dim.lookup` request to a site where the transaction has no sub-transaction: S locks (waiting for
 * writers, up to the lock timeout), the committed rows read, the locks released, the answer sent back. Lost
 * messages and crashed sites end in a timeout at the coordinator.
 */
function lookupAt(cluster: Cluster, rd: TxnReader, site: string, ls: Lookup[], cb: (err?: ErrorInfo, hits?: Set<string>[]) => void): void {
  const sim = cluster.sim
  let over = false
  const finish = (err?: ErrorInfo, hits?: Set<string>[]) => { if (over) return; over = true; sim.cancel(timer); cb(err, hits) }
  const timer = sim.schedule(rd.answerTimeoutMs, 'dim.lookupTimeout', () => finish({ code: 'TIMEOUT', message: `the integrity lookup of ${ls.map((l) => l.table).join(', ')} at ${site} got no answer in ${rd.answerTimeoutMs} ms; nothing was changed`, site }))
  const hop = (from: string, to: string, kind: string, bytes: number, then: () => void) => {
    if (from === to) { sim.schedule(0, kind, () => { if (cluster.isServerUp(`${to}.primary`)) then() }); return }
    try {
      cluster.net.send({ from, to, kind, bytes, payload: rd.gid, onDeliver: () => { if (cluster.isServerUp(`${to}.primary`)) then() } })
    } catch (e) { finish({ ...toErrorInfo(e), site }) }
  }
  const reqBytes = 32 + ls.reduce((a, l) => a + l.table.length + l.column.length + 8 * l.values.length, 0)
  hop(rd.origin, site, 'dim.lookup', reqBytes, () => {
    const locks = rd.locks(site)
    const want: [string, LockMode][] = []
    for (const l of ls) {
      // a key lookup locks the key values (present or not); a lookup of referencing rows locks the fragment
      const key = cluster.siteInternals(site).tables.find((t) => t.name === l.table)?.rel.key
      if (!l.block && key?.length === 1 && key[0].toUpperCase() === l.column.toUpperCase()) { want.push([`T:${l.table}`, 'IS']); for (const v of l.values) want.push([`R:${l.table}:${String(v)}`, 'S']) } else want.push([`T:${l.table}`, 'S'])
    }
    const epochDown = () => !cluster.isServerUp(`${site}.primary`)
    // locks the transaction already holds here (its sub-transaction's) stay; only the lookup's own are short
    const had = new Set(locks.heldLocks(rd.gid).map((h) => h.resource))
    let lockTimer: ReturnType<typeof sim.schedule> | undefined
    const answer = (err?: ErrorInfo, hits?: Set<string>[]) => {
      sim.cancel(lockTimer)
      for (const g of locks.cancelWait(rd.gid)) g()
      for (const [res] of want) if (!had.has(res)) for (const g of locks.release(rd.gid, res)) g()
      hop(site, rd.origin, 'dim.lookup.reply', 16 + 8 * (hits?.reduce((a, h) => a + h.size, 0) ?? 0), () => finish(err, hits))
    }
    const take = (i: number): void => {
      for (; i < want.length; i++) {
        const next = i + 1
        if (locks.acquire(rd.gid, want[i][0], want[i][1], () => { sim.cancel(lockTimer); if (!epochDown()) take(next) }, sim.now)) continue
        rd.onWait()
        lockTimer = sim.schedule(rd.lockTimeoutMs, 'dim.lookupLockTimeout', () => {
          if (!locks.isWaiting(rd.gid)) return
          const holders = locks.blockersOf(rd.gid)
          answer({ code: 'TIMEOUT', message: `${want[i][0].replace(/^[RT]:/, '')} at ${site} stayed locked by ${holders.join(', ') || 'another transaction'} for ${rd.lockTimeoutMs} ms during an integrity lookup; nothing was changed`, site })
        })
        return
      }
      let hits: Set<string>[]
      try {
        const st = cluster.siteStore(site)
        hits = ls.map((l) => new Set(st.readPrepared(lookupSql(l), lookupParams(l)).map((r) => String(r[0]))))
      } catch (e) { return answer({ ...toErrorInfo(e), site }) }
      answer(undefined, hits)
    }
    take(0)
  })
}
