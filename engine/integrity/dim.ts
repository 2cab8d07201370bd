/**
 * The Distributed Integrity Manager (spec §5): one function, checkWrite, judges a write's row changes
 * against the declared constraints (constraints.ts) before the write commits. Every write path calls it
 * inside its own transaction with a DimLookup that knows how to look rows up from there:
 *   - the Query console's writes (engine/query/dml.ts): key lookups shipped to the sites over the simulated
 *     network (virtual time and bytes charged), S locks in the DTM's lock managers held over the apply;
 *   - local commits at a site (ticket-accepted sales, `sql SITE …` in scenarios, `iddb sql --local`): the
 *     site guard (guard.ts) at the commit point, lookups at the instant of the commit;
 *   - the DTM's global statements (engine/txn/dtm.ts): lookups run as reads of the same distributed
 *     transaction under strict 2PL (so a concurrent insert of the same key blocks or deadlocks, never both commit).
 *
 * The cheapest correct check per constraint: row checks (CHECK, fragment predicate) need no lookup; a
 * foreign key to ITEMS reads the ITEMS replica at the written site; EMPLOYEES is looked up at the written
 * site's own fragment first and only then at the other branches; a global key is looked up at the other
 * fragments of the relation (one batched request per site, sent in parallel).
 */
import { EngineError } from '../errors'
import type { SqlValue } from '../site/sqljs'
import type { TopologySpec } from '../topology/types'
import { fragments, KEY_BLOCKS, type FragmentDef, type KeyBlocks } from '../data/schema'
import { primaryCopySite } from '../site/replication'
import { constraintsOf, ownerFragments, referencesTo, type ConstraintDef, type DimRow } from './constraints'

/** One row change of a write at a fragment: insert (before null), delete (after null) or update. */
export interface RowChange { fragment: string; site: string; before: DimRow | null; after: DimRow | null }

/**
 * Does some row of `table` at `site` have column = value? With `block`: does some row of the key-block relation
 * `table` hold a range containing `value` owned by another branch than `block.branch` (LO <= value <= HI AND
 * owner <> branch; not a key lookup: the lookup S-locks the blocks table, so a reservation in flight is waited for).
 */
export interface Probe { site: string; table: string; column: string; value: SqlValue; key: boolean; block?: { kb: KeyBlocks; branch: string } }

/** How a write path looks rows up: answers a batch of probes (the implementation groups them per site). */
export interface DimLookup {
  /** The site the write runs at (probes there are local). */
  readonly site: string
  /** True when the written rows are already in their fragment (a commit-time guard): their own fragment is not probed for their key. */
  readonly applied?: boolean
  /** False when the path has judged the row rules (CHECK, fragment predicate) itself (the DTM's participants: checkRow). */
  readonly rowRules?: boolean
  /**
   * Relations whose primary key this write's caller has already proven unused across every fragment (a
   * ticket-accepted sale: the ticket protocol's vote proves the invoice number is nobody's sale). Their key is
   * probed only in the written fragment, so the write does not need the other branches to be reachable.
   */
  readonly provenKeys?: ReadonlySet<string>
  /**
   * Whether `value` of a block-allocated key (KEY_BLOCKS) lies in a block owned by `branch`, read in the blocks'
   * replica at the lookup's site (absent, or no replica there: false, and the global check is made). Any replica's
   * yes is true: blocks are append-only and disjoint, a lagging replica only lacks some.
   */
  readonly ownsBlock?: (kb: KeyBlocks, branch: string, value: SqlValue) => boolean
  /** The write is a block reservation (engine/integrity/blocks.ts), which has checked its new block itself. */
  readonly reserving?: boolean
  probe(probes: Probe[]): boolean[]
}

interface Need { c: ConstraintDef; ch: RowChange; kind: 'absent' | 'present'; probes: Probe[]; detail: string }

const fmtVal = (v: SqlValue) => (v === null ? 'NULL' : typeof v === 'number' ? String(v) : `'${String(v)}'`)
export const fmtRow = (r: DimRow | null): string => (r ? `(${Object.entries(r).map(([k, v]) => `${k}=${fmtVal(v)}`).join(', ')})` : '()')

export function violation(c: ConstraintDef, ch: RowChange, why: string): EngineError {
  const row = ch.after ?? ch.before
  return new EngineError('CONSTRAINT_VIOLATION', `${c.kind} ${c.name} on ${c.relation}: ${why}; row ${fmtRow(row)} in ${ch.fragment} at ${ch.site} — nothing was changed`, { site: ch.site })
}

const fragIndex = new WeakMap<TopologySpec, Map<string, FragmentDef>>()
function fragmentNamed(topo: TopologySpec, name: string): FragmentDef | undefined {
  let m = fragIndex.get(topo)
  if (!m) { m = new Map(fragments(topo).map((f) => [f.name.toUpperCase(), f])); fragIndex.set(topo, m) }
  return m.get(name.toUpperCase())
}

const same = (a: SqlValue | undefined, b: SqlValue | undefined) => a === b || (a !== null && b !== null && a !== undefined && b !== undefined && String(a) === String(b))

/** Relations written by a change set that the DIM has something to check on (cheap pre-test for write paths). */
export function constrained(topo: TopologySpec, relation: string): boolean {
  return constraintsOf(topo, relation).length > 0 || referencesTo(topo, relation).length > 0
}

/**
 * Judges a batch of row changes (one statement, or one local transaction) and throws CONSTRAINT_VIOLATION
 * naming the first broken constraint, the row and the site. Changes of tables the DIM does not know
 * (catalogs, security tables, copies and vertical fragments, which are maintained from their sources) pass.
 */
export function checkWrite(topo: TopologySpec, look: DimLookup, changes: readonly RowChange[]): void {
  const g = checkSteps(topo, look, changes)
  let r = g.next()
  while (!r.done) r = g.next(look.probe(r.value))
}

/**
 * checkWrite as steps: yields each batch of probes (at most two) and takes their answers, so a path that
 * looks rows up asynchronously (the DTM: reads of the same transaction) drives it with its callbacks.
 * `look.probe` is not called; `look.site` and `look.applied` are used.
 */
export function* checkSteps(topo: TopologySpec, look: Omit<DimLookup, 'probe'>, changes: readonly RowChange[]): Generator<Probe[], void, boolean[]> {
  const needs: Need[] = []
  // keys this batch removes from / puts into each fragment (a moved row is deleted here and inserted there)
  const deleted = new Map<string, Set<string>>()
  const inserted = new Map<string, Map<string, RowChange>>()
  const kv = (v: SqlValue) => String(v)
  const items: { ch: RowChange; f: FragmentDef }[] = []
  const prim = primaryCopySite(topo)
  for (const ch of changes) {
    const f = fragmentNamed(topo, ch.fragment)
    if (!f || f.kind === 'copy' || f.kind === 'vertical') continue
    // an eager item delete removes the row at every replica in one transaction: the primary copy's change stands for all
    if (f.kind === 'replica' && ch.site !== prim && changes.some((x) => x.site === prim && x.fragment === ch.fragment)) continue
    // a relation of key blocks is written only by a reservation (append-only, checked by it): see RSV_<blocks>
    const kbRel = KEY_BLOCKS.find((x) => x.blocks === f.relation)
    if (kbRel && !look.reserving) {
      const c = constraintsOf(topo, f.relation).find((x) => x.name === `RSV_${kbRel.blocks}`)
      if (c) throw violation(c, ch, ch.before ? `${kbRel.blocks} is append-only: a block is never changed or deleted` : `a block of ${kbRel.relation}.${kbRel.column} is added only by a reservation (reserve-invoices), which checks it lies above every block and holds no existing ${kbRel.column}`)
    }
    items.push({ ch, f })
  }
  for (const { ch, f } of items) {
    const key = ownKey(topo, f.relation)
    if (!key) continue
    if (ch.before && !(ch.after && same(ch.after[key], ch.before[key]))) {
      let s = deleted.get(f.name); if (!s) deleted.set(f.name, (s = new Set())); s.add(kv(ch.before[key]))
    }
  }
  for (const { ch, f } of items) {
    const rel = f.relation
    const cs = constraintsOf(topo, rel)
    const a = ch.after, b = ch.before
    if (a) {
      if (look.rowRules !== false) for (const c of cs) {
        if (c.kind === 'FRAGMENT' && c.fragment === f.name && !c.test!(a)) throw violation(c, ch, `${c.columns[0]} ${fmtVal(a[c.columns[0]] ?? null)} does not satisfy the fragment's predicate ${c.predicate}${routeHint(topo, f, a[c.columns[0]] ?? null)}`)
        if (c.kind === 'CHECK' && !c.test!(a)) throw violation(c, ch, `CHECK (${c.predicate}) is false`)
      }
      const pk = cs.find((c) => c.kind === 'PRIMARY KEY')
      if (pk) {
        const k = pk.columns[0]
        const v = a[k]
        if (v === null || v === undefined) throw violation(pk, ch, `${k} is NULL`)
        const changedKey = !b || !same(b[k], v)
        if (changedKey) {
          const mine = inserted.get(pk.relation) ?? new Map<string, RowChange>()
          inserted.set(pk.relation, mine)
          if (mine.has(kv(v))) throw violation(pk, ch, `${k} ${fmtVal(v)} is given twice by this write`)
          mine.set(kv(v), ch)
          const probes: Probe[] = []
          const kb = KEY_BLOCKS.find((x) => x.relation === rel && x.column === k)
          // a key in a block of the writing branch (its fragment's predicate value): unique where it is unique in that fragment
          const owned = !!kb && !!f.predicateValue && look.ownsBlock?.(kb, f.predicateValue, v) === true
          const proven = look.provenKeys?.has(rel) === true || owned
          for (const o of ownerFragments(topo, rel)) {
            if (proven && o.name !== f.name) continue
            if (deleted.get(o.name)?.has(kv(v))) continue
            if (o.name === f.name && look.applied) continue
            probes.push({ site: o.site, table: o.name, column: k, value: v, key: true })
          }
          if (probes.length) needs.push({ c: pk, ch, kind: 'absent', probes, detail: `${k} ${fmtVal(v)} already exists` })
          // a number outside the writing branch's own blocks must lie in nobody's block: the owner of a block sells its
          // numbers after checking only its own fragment, so it must be the only one who sells them. Looked up at the
          // blocks' primary copy (a replica may lack a block just reserved; the reservation's X lock is waited for).
          if (kb && !owned && f.predicateValue) {
            const bp = blocksPrimary(topo, kb)
            if (bp) needs.push({ c: pk, ch, kind: 'absent', probes: [{ site: bp.site, table: bp.name, column: kb.lo, value: v, key: false, block: { kb, branch: f.predicateValue } }], detail: `${k} ${fmtVal(v)} lies in another branch's block of ${kb.blocks} (only the block's owner sells its numbers)` })
          }
        }
      }
      for (const c of cs) {
        if (c.kind !== 'FOREIGN KEY') continue
        const col = c.columns[0]
        const v = a[col]
        if (v === null || v === undefined || (b && same(b[col], v))) continue
        needs.push({ c, ch, kind: 'present', probes: refProbes(topo, c.refRelation!, c.refColumns![0], v, f.site, look.site, deleted), detail: `${c.refRelation} has no row with ${c.refColumns![0]} ${fmtVal(v)}` })
      }
    }
    if (b) {
      // a referenced key leaves: nothing may still reference it (unless this batch puts it back, e.g. a moved row)
      for (const fk of referencesTo(topo, rel)) {
        const rc = fk.refColumns![0]
        const v = b[rc]
        if (v === null || v === undefined || (a && same(a[rc], v))) continue
        if (rel !== 'ITEMS' && inserted.get(rel)?.has(kv(v))) continue
        if (rel !== 'ITEMS' && items.some((x) => x.f.relation === rel && x.ch.after && same(x.ch.after[rc], v))) continue
        // ITEMS is replicated: its delete at one replica reaches every site, so every site's referencing fragment counts
        const probes = ownerFragments(topo, fk.relation).map((o) => ({ site: o.site, table: o.name, column: fk.columns[0], value: v, key: false }))
        needs.push({ c: fk, ch, kind: 'absent', probes, detail: `${fk.relation} rows still reference ${rc} ${fmtVal(v)}` })
      }
    }
  }
  if (!needs.length) return
  // round 1: every probe at the written site, and every probe of an 'absent' need; round 2: remote probes
  // of 'present' needs the local probes did not satisfy (EMPLOYEES at the other branches)
  function* round(pick: (n: Need, p: Probe) => boolean, open: Need[]): Generator<Probe[], Map<Need, boolean[]>, boolean[]> {
    const batch: Probe[] = [], owner: [Need, number][] = []
    for (const n of open) n.probes.forEach((p, i) => { if (pick(n, p)) { batch.push(p); owner.push([n, i]) } })
    const out = new Map<Need, boolean[]>()
    if (!batch.length) return out
    const ans = yield batch
    owner.forEach(([n, i], j) => { let a = out.get(n); if (!a) out.set(n, (a = [])); a[i] = ans[j] })
    return out
  }
  const r1 = yield* round((n, p) => n.kind === 'absent' || p.site === look.site || p.site === n.ch.site, needs)
  const open: Need[] = []
  for (const n of needs) {
    const got = r1.get(n) ?? []
    if (n.kind === 'absent') { if (got.some(Boolean)) throw violation(n.c, n.ch, `${n.detail} (${n.probes.filter((_, i) => got[i]).map((p) => `${p.table}@${p.site}`).join(', ')})`) }
    else if (!got.some(Boolean)) open.push(n)
  }
  const r2 = yield* round((n, p) => p.site !== look.site && p.site !== n.ch.site, open)
  for (const n of open) if (!(r2.get(n) ?? []).some(Boolean)) throw violation(n.c, n.ch, n.detail)
}

/** The primary copy of a key-block relation (where a block just reserved is sure to be). */
function blocksPrimary(topo: TopologySpec, kb: KeyBlocks): FragmentDef | undefined {
  const reps = fragments(topo).filter((f) => f.relation === kb.blocks)
  const prim = primaryCopySite(topo)
  return reps.find((f) => f.site === prim) ?? reps[0]
}

/** The SQL of a block probe's existence test for one value (parameters: value, value, branch). */
export function blockTest(table: string, kb: KeyBlocks, v = '?'): string {
  const q = (n: string) => `"${n.replace(/"/g, '""')}"`
  return `EXISTS (SELECT 1 FROM ${q(table)} WHERE ${q(kb.lo)} <= ${v} AND ${q(kb.hi)} >= ${v} AND ${q(kb.owner)} <> ?)`
}

/** A relation of key blocks (KEY_BLOCKS): every write of it is shown to the DIM (only a reservation may make one). */
const isBlocks = (relation: string) => KEY_BLOCKS.some((x) => x.blocks === relation)

function ownKey(topo: TopologySpec, relation: string): string | undefined {
  return constraintsOf(topo, relation).find((c) => c.kind === 'PRIMARY KEY')?.columns[0]
}

function routeHint(topo: TopologySpec, f: FragmentDef, v: SqlValue): string {
  const right = fragments(topo).find((x) => x.relation === f.relation && x.kind === 'horizontal' && x.predicateValue === String(v))
  return right ? ` (that row belongs in ${right.name}; write ${f.relation} to have it routed)` : ''
}

/**
 * Where a referenced value is looked for. A replicated relation (ITEMS): first in the replica at the checking site
 * (`lookSite`: the coordinator, or the committing site), then — only when it is absent there (a new item replication
 * has not carried yet) — at the primary copy. The local replica's yes is sound because a delete of a referenced row
 * is eager (engine/txn/global.ts: it removes the row at every replica inside its own 2PC transaction, each replica
 * X-locking it, after that replica has applied every earlier change of the primary copy): a row present and
 * S-lockable at any replica exists. Others at the owner fragments, the written site's first.
 */
function refProbes(topo: TopologySpec, refRel: string, col: string, v: SqlValue, site: string, lookSite: string, deleted: Map<string, Set<string>>): Probe[] {
  const reps = fragments(topo).filter((f) => f.relation === refRel && f.kind === 'replica')
  if (reps.length) {
    const prim = primaryCopySite(topo)
    const primary = reps.find((f) => f.site === prim) ?? reps[0]
    const local = reps.find((f) => f.site === lookSite && f.site !== primary.site)
    return [...(local ? [local] : []), primary].map((f) => ({ site: f.site, table: f.name, column: col, value: v, key: true }))
  }
  const owners = ownerFragments(topo, refRel).filter((o) => !deleted.get(o.name)?.has(String(v)))
  owners.sort((a, b) => (a.site === site ? -1 : 0) - (b.site === site ? -1 : 0))
  return owners.map((o) => ({ site: o.site, table: o.name, column: col, value: v, key: true }))
}

/** Row images of a fragment's value arrays (fragment column order) as DimRows. */
export function rowOf(columns: readonly string[], values: readonly SqlValue[]): DimRow {
  const r: DimRow = {}
  for (let i = 0; i < columns.length; i++) r[columns[i].toUpperCase()] = values[i] ?? null
  return r
}

/** The refusal of a row written into a fragment whose predicate it does not satisfy (for paths that route before the DIM sees the row). */
export function fragmentViolation(topo: TopologySpec, fragment: string, row: DimRow, site: string): EngineError {
  const c = constraintsOf(topo, fragmentNamed(topo, fragment)?.relation ?? '').find((x) => x.kind === 'FRAGMENT' && x.fragment === fragment)
  if (!c) return new EngineError('BAD_INPUT', `row ${fmtRow(row)} does not belong in ${fragment}`, { site })
  const col = c.columns[0]
  return violation(c, { fragment, site, before: null, after: row }, `${col} ${fmtVal(row[col] ?? null)} does not satisfy the fragment's predicate ${c.predicate}${routeHint(topo, fragmentNamed(topo, fragment)!, row[col] ?? null)}`)
}

/**
 * Whether an UPDATE (of `setCols`) or DELETE on a relation can break a constraint, so the write path must
 * give the DIM the rows' images: an UPDATE touching no constrained column, a DELETE of rows nothing references, cannot.
 */
export function needsImages(topo: TopologySpec, relation: string, kind: 'update' | 'delete', setCols: readonly string[]): boolean {
  if (isBlocks(relation)) return true
  if (kind === 'delete') return referencesTo(topo, relation).length > 0
  const cols = new Set<string>()
  for (const c of constraintsOf(topo, relation)) for (const x of c.columns) cols.add(x)
  for (const fk of referencesTo(topo, relation)) for (const x of fk.refColumns!) cols.add(x)
  return setCols.some((c) => cols.has(c.toUpperCase()))
}

/** The row checks (CHECK constraints, the fragment's predicate) of one after-image at its fragment: for a path that computes images itself. */
export function checkRow(topo: TopologySpec, fragment: string, site: string, after: DimRow, opts: { predicate?: boolean } = {}): void {
  const f = fragmentNamed(topo, fragment)
  if (!f || f.kind === 'copy' || f.kind === 'vertical') return
  const ch: RowChange = { fragment: f.name, site, before: null, after }
  for (const c of constraintsOf(topo, f.relation)) {
    if (c.kind === 'FRAGMENT' && opts.predicate !== false && c.fragment === f.name && !c.test!(after)) throw violation(c, ch, `${c.columns[0]} ${fmtVal(after[c.columns[0]] ?? null)} does not satisfy the fragment's predicate ${c.predicate}${routeHint(topo, f, after[c.columns[0]] ?? null)}`)
    if (c.kind === 'CHECK' && !c.test!(after)) throw violation(c, ch, `CHECK (${c.predicate}) is false`)
  }
}

/** Whether an UPDATE (of `setCols`) or DELETE needs lookups elsewhere (keys, foreign keys, referenced keys), not only row checks. */
export function needsLookups(topo: TopologySpec, relation: string, kind: 'update' | 'delete', setCols: readonly string[]): boolean {
  if (isBlocks(relation)) return true
  if (kind === 'delete') return referencesTo(topo, relation).length > 0
  const cols = lookupColumns(topo, relation)
  return setCols.some((c) => cols.has(c.toUpperCase()))
}

/** The columns of a relation whose change needs lookups: its keys, its foreign keys, and the keys referenced by others' (per topology). */
function lookupColumns(topo: TopologySpec, relation: string): Set<string> {
  let m = lookupCols.get(topo)
  if (!m) { m = new Map(); lookupCols.set(topo, m) }
  let cols = m.get(relation)
  if (!cols) {
    cols = new Set<string>()
    for (const c of constraintsOf(topo, relation)) if (c.kind === 'PRIMARY KEY' || c.kind === 'FOREIGN KEY') for (const x of c.columns) cols.add(x)
    for (const fk of referencesTo(topo, relation)) for (const x of fk.refColumns!) cols.add(x)
    m.set(relation, cols)
  }
  return cols
}
const lookupCols = new WeakMap<TopologySpec, Map<string, Set<string>>>()

/**
 * Whether a write of `kind` on fragment `table` needs its row images sent to the DIM for lookups elsewhere (keys
 * unique across fragments, foreign keys, rows that reference a deleted key). The DTM's participant asks this
 * before it ships images back with a statement's result; writes that cannot break such a constraint ship none.
 */
export function imagesNeeded(topo: TopologySpec, table: string, kind: 'insert' | 'update' | 'delete', setCols: readonly string[] = []): boolean {
  const f = fragmentNamed(topo, table)
  if (!f || f.kind === 'copy' || f.kind === 'vertical') return false
  if (isBlocks(f.relation)) return true
  if (kind !== 'insert') return needsLookups(topo, f.relation, kind, setCols)
  let m = insertNeeds.get(topo)
  if (!m) { m = new Map(); insertNeeds.set(topo, m) }
  let v = m.get(f.name)
  if (v === undefined) {
    v = constraintsOf(topo, f.relation).some((c) => c.kind === 'FOREIGN KEY' || (c.kind === 'PRIMARY KEY' && ownerFragments(topo, f.relation).length > 1))
    m.set(f.name, v)
  }
  return v
}
const insertNeeds = new WeakMap<TopologySpec, Map<string, boolean>>()

/** The refusal of a key already present in the written fragment itself (the participant finds it in its own rows). */
export function duplicateKey(topo: TopologySpec, table: string, site: string, row: DimRow, key: string): EngineError | undefined {
  const f = fragmentNamed(topo, table)
  const pk = f ? constraintsOf(topo, f.relation).find((c) => c.kind === 'PRIMARY KEY') : undefined
  if (!f || !pk) return undefined
  return violation(pk, { fragment: f.name, site, before: null, after: row }, `${key} ${fmtVal(row[key] ?? null)} already exists (${f.name}@${site})`)
}
