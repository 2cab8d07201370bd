/**
 * Key-block reservations (issue 14): a branch reserves a range of invoice numbers while Colombo is reachable, so
 * that its sales from that range are decidable at the branch alone — the DIM checks a number of the writing
 * branch's own block in that branch's fragment only (engine/integrity/dim.ts; the relation of blocks and the key
 * it allocates are data in engine/data/schema.ts, KEY_BLOCKS).
 *
 * A reservation is one global transaction of the DTM, begun at the reserving branch (strict 2PL, 2PC):
 *   1. it reads every block at the primary copy (a table S lock there, turned into X by its insert: reservations
 *      are serialized);
 *   2. it reads every fragment of the allocated relation for the range (table S locks at every branch, held to
 *      its end: a sale of a number in the range either committed before — and is seen, refusing the block — or
 *      waits for the reservation, and then finds the number in the new block, owned by someone else: refused);
 *   3. it inserts the block, above every block reserved so far (blocks are append-only and never overlap).
 * The DIM refuses every other write of the blocks relation (RSV_<blocks>), so no block can be added unchecked.
 */
import type { Cluster } from '../cluster'
import { EngineError } from '../errors'
import { KEY_BLOCKS, branchFragment, type KeyBlocks } from '../data/schema'
import { Dtm, type ExecResult, type CommitResult } from '../txn/dtm'
import { Dim } from './index'

import type { KeyBlockView } from '../api/integrity'
export type { KeyBlockView } from '../api/integrity'

export interface ReserveOptions {
  /** First number of the block (default: one above the highest block; for the first block, the next multiple of its size above every stored number). */
  lo?: number
  /** How many numbers (default 10,000). */
  size?: number
  /** Which block-allocated key (default the first of KEY_BLOCKS: SALES.INVNO in INVOICE_BLOCKS). */
  relation?: string
}

const MAX_EVENTS = 5_000_000
const MAX_KEY = 999_999_999_999_999

/** The blocks as the replica at `site` holds them (lagging replicas lack the newest ones). */
export function keyBlocksAt(cluster: Cluster, site: string, kb: KeyBlocks = KEY_BLOCKS[0]): KeyBlockView[] {
  const q = (n: string) => `"${n}"`
  const rows = cluster.siteStore(site).readPrepared(`SELECT BLOCKNO, ${q(kb.owner)}, ${q(kb.lo)}, ${q(kb.hi)} FROM ${q(kb.blocks)} ORDER BY ${q(kb.lo)}`, [])
  return rows.map((r) => ({ blockno: Number(r[0]), branch: String(r[1]), lo: Number(r[2]), hi: Number(r[3]) }))
}

/**
 * Reserves a block of numbers for `branch` (a global transaction begun there; see the header). Refused, with
 * nothing changed, when the range is not above every block, holds an existing row of any branch, or a site it
 * must read (the primary copy, every branch's fragment) cannot be reached.
 */
export function reserveKeyBlock(cluster: Cluster, branch: string, opts: ReserveOptions = {}): KeyBlockView {
  const kb = opts.relation ? KEY_BLOCKS.find((x) => x.relation === opts.relation!.toUpperCase()) : KEY_BLOCKS[0]
  if (!kb) throw new EngineError('BAD_INPUT', `${opts.relation} has no key allocated in blocks (${KEY_BLOCKS.map((x) => `${x.relation}.${x.column}`).join(', ')})`)
  const br = branch.toUpperCase()
  if (!cluster.topology.sites.some((s) => s.code === br) || !branchFragment(cluster.topology, kb.relation, br)) throw new EngineError('BAD_INPUT', `no branch ${branch}: branches are ${cluster.topology.sites.map((s) => s.code).join(', ')}`)
  const size = opts.size ?? 10_000
  if (!Number.isInteger(size) || size < 1 || size > 1_000_000_000) throw new EngineError('BAD_INPUT', `a block's size must be a whole number 1..1000000000, got ${size}`)
  if (opts.lo !== undefined && (!Number.isInteger(opts.lo) || opts.lo < 1 || opts.lo + size - 1 > MAX_KEY)) throw new EngineError('BAD_INPUT', `a block's first number must be a whole number ≥ 1 (and the block end ≤ ${MAX_KEY}), got ${opts.lo}`)
  const dtm = Dtm.of(cluster)
  const sim = cluster.sim
  const dim = Dim.of(cluster)
  const origin = cluster.topology.sites.find((s) => s.code === br)!.code
  const gid = dtm.begin(origin)
  dim.reserving.add(gid)
  const run = (sql: string): ExecResult => {
    let r: ExecResult | undefined
    dtm.execGlobal(gid, sql, [], (x) => { r = x })
    sim.runUntilTrue(() => r !== undefined, MAX_EVENTS)
    if (!r) throw new EngineError('TIMEOUT', `the reservation's ${sql.slice(0, 60)} got no answer; nothing changed`)
    if (!r.ok) { const e = r.error!; throw new EngineError(e.code, `the block reservation for ${br} was refused: ${e.message}; nothing changed`, e.site ? { site: e.site } : {}) }
    return r
  }
  try {
    const blocks = run(`SELECT BLOCKNO, ${kb.lo} AS LO, ${kb.hi} AS HI FROM ${kb.blocks}`).rows ?? []
    const top = blocks.reduce((m, b) => Math.max(m, Number(b.HI)), 0)
    const lastNo = blocks.reduce((m, b) => Math.max(m, Number(b.BLOCKNO)), 0)
    let lo = opts.lo
    if (lo === undefined) {
      if (blocks.length) lo = top + 1
      else {
        // the first block: above every number stored in any branch's fragment (read under this transaction's locks),
        // rounded up to a multiple of the block's size
        const max = Number(run(`SELECT MAX(${kb.column}) AS M FROM ${kb.relation}`).rows?.[0]?.M ?? 0)
        lo = (Math.floor(max / size) + 1) * size
      }
    }
    const hi = lo + size - 1
    if (lo <= top) throw new EngineError('CONSTRAINT_VIOLATION', `RSV_${kb.blocks}: a new block must lie above every block reserved so far (the highest ends at ${top}); ${lo}..${hi} was not reserved, nothing changed`)
    const used = run(`SELECT ${kb.column} FROM ${kb.relation} WHERE ${kb.column} >= ${lo} AND ${kb.column} <= ${hi}`).rows ?? []
    if (used.length) {
      const nums = used.map((x) => Number(x[kb.column])).sort((a, b) => a - b)
      throw new EngineError('CONSTRAINT_VIOLATION', `RSV_${kb.blocks}: ${lo}..${hi} holds ${used.length} existing ${kb.relation}.${kb.column} (${nums.slice(0, 5).join(', ')}${nums.length > 5 ? ', …' : ''}); a block must hold none — start it above ${nums[nums.length - 1]}; nothing changed`)
    }
    const blockno = lastNo + 1
    run(`INSERT INTO ${kb.blocks} (BLOCKNO, ${kb.owner}, ${kb.lo}, ${kb.hi}) VALUES (${blockno}, '${br}', ${lo}, ${hi})`)
    let commit: CommitResult | undefined
    dtm.commit(gid, (c) => { commit = c })
    sim.runUntilTrue(() => commit !== undefined, MAX_EVENTS)
    if (!commit || commit.outcome !== 'COMMIT') throw new EngineError(commit?.outcome === 'ABORT' ? 'ABORTED' : 'TIMEOUT', `the block reservation for ${br} (transaction ${gid}) ${commit ? `ended ${commit.outcome}${commit.reason ? `: ${commit.reason}` : ''}` : 'has no outcome yet'}`)
    // the block reaches the branch's replica through replication (bounded wait in virtual time)
    const deadline = sim.now + 30_000
    sim.runUntilTrue(() => sim.now >= deadline || !cluster.isServerUp(`${origin}.primary`) || keyBlocksAtSafe(cluster, origin, kb).some((b) => b.blockno === blockno), MAX_EVENTS)
    cluster.log('integrity', `${kb.blocks}: block ${blockno} ${lo}..${hi} reserved for ${br}`, br)
    return { blockno, branch: br, lo, hi }
  } catch (e) {
    try { dtm.abort(gid, e instanceof Error ? e.message : String(e)) } catch { /* already ended */ }
    throw e
  } finally {
    dim.reserving.delete(gid)
  }
}

function keyBlocksAtSafe(cluster: Cluster, site: string, kb: KeyBlocks): KeyBlockView[] {
  try { return keyBlocksAt(cluster, site, kb) } catch { return [] }
}
