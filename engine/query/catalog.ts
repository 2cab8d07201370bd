/**
 * The DQP's view of the global catalog: names (global relations, global views, fragment names,
 * fragment@SITE), the pieces a reference is reconstructed from (union of horizontal fragments; the
 * copies of a piece: primary fragment, replica, vertical fragment, scheduled copy, main repository)
 * and the statistics used for pruning and estimates (NROWS, LKEY/HKEY, PCT_UNIQUE).
 */
import { EngineError } from '../errors'
import { fragments, globalRelations, globalViews, type FragmentDef, type RelationDef, type ColType } from '../data/schema'
import type { SiteCode, TopologySpec } from '../topology/types'

export interface NameTarget {
  kind: 'relation' | 'fragment' | 'fragmentAt'
  relation: RelationDef
  /** Columns visible through this name. */
  columns: string[]
  key: string[]
  fragment?: FragmentDef
  site?: SiteCode
  /** How the user wrote it, for messages. */
  display: string
}

/** One physical copy of a piece's rows. */
export interface Copy {
  site: SiteCode
  server: 'primary' | 'repository'
  table: string
  columns: string[]
  /** Fragment name this copy belongs to (for messages and EXPLAIN). */
  fragment: string
  /** SQL predicate the copy needs to return only this piece's rows (repository holds whole relations). */
  restrict?: string
  /** Authoritative copy, or a replica/copy that may lag. */
  role: 'authoritative' | 'replica' | 'vertical' | 'scheduled-copy' | 'repository'
}

/** A logical part of a reference's rows (the reference's rows are the union of its pieces). */
export interface Piece {
  name: string
  /** Horizontal predicate (column = value) of the piece, for pruning. */
  predicateColumn?: string
  predicateValue?: string
  predicate?: string
  copies: Copy[]
}

export class QueryCatalog {
  readonly relations: RelationDef[]
  readonly fragments: FragmentDef[]
  readonly views: { name: string; sql: string }[]
  readonly repositorySite: SiteCode
  private relByName = new Map<string, RelationDef>()
  private fragByName = new Map<string, FragmentDef[]>()
  private viewByName = new Map<string, { name: string; sql: string }>()
  private pieceCache = new Map<string, Piece[]>()

  constructor(readonly topo: TopologySpec) {
    this.relations = globalRelations(topo)
    this.fragments = fragments(topo)
    this.views = globalViews(topo)
    this.repositorySite = topo.sites.find((s) => s.repository)?.code ?? topo.sites[0].code
    for (const r of this.relations) this.relByName.set(r.name.toUpperCase(), r)
    for (const f of this.fragments) {
      const k = f.name.toUpperCase()
      this.fragByName.set(k, [...(this.fragByName.get(k) ?? []), f])
    }
    for (const v of this.views) this.viewByName.set(v.name.toUpperCase(), v)
  }

  relation(name: string): RelationDef | undefined { return this.relByName.get(name.toUpperCase()) }
  view(name: string): { name: string; sql: string } | undefined { return this.viewByName.get(name.toUpperCase()) }
  fragmentsNamed(name: string): FragmentDef[] { return this.fragByName.get(name.toUpperCase()) ?? [] }

  colType(rel: RelationDef, col: string): ColType {
    return rel.columns.find((c) => c.name === col)?.type ?? 'TEXT'
  }
  colLen(rel: RelationDef, col: string): number {
    return rel.columns.find((c) => c.name === col)?.len ?? 16
  }

  /** Resolves a table name as written: global relation > fragment name > fragment@SITE placeholder. */
  resolve(nameUpper: string, atRefs: Map<string, { fragment: string; site: string }>): NameTarget {
    const rel = this.relation(nameUpper)
    if (rel) return { kind: 'relation', relation: rel, columns: rel.columns.map((c) => c.name), key: rel.key, display: rel.name }
    const at = atRefs.get(nameUpper)
    if (at) {
      const f = this.fragmentsNamed(at.fragment).find((x) => x.site === at.site)
      if (!f) {
        const where = this.fragmentsNamed(at.fragment).map((x) => x.site)
        throw new EngineError('UNKNOWN_TABLE', where.length
          ? `fragment ${at.fragment} is not allocated at ${at.site} (it is at ${where.join(', ')})`
          : `no fragment named ${at.fragment}`)
      }
      const r = this.relation(f.relation)!
      return { kind: 'fragmentAt', relation: r, columns: f.columns, key: r.key, fragment: f, site: f.site, display: `${f.name}@${f.site}` }
    }
    const fr = this.fragmentsNamed(nameUpper)
    if (fr.length) {
      const f = fr[0]
      const r = this.relation(f.relation)!
      return { kind: 'fragment', relation: r, columns: f.columns, key: r.key, fragment: f, display: f.name }
    }
    throw new EngineError('UNKNOWN_TABLE', `no global relation, view or fragment named ${nameUpper}; global names are ${[...this.relations.map((r) => r.name), ...this.views.map((v) => v.name)].join(', ')}`)
  }

  private repoCopy(f: FragmentDef, rel: RelationDef, restrictToPiece: boolean): Copy {
    return {
      site: this.repositorySite, server: 'repository', table: rel.name, columns: rel.columns.map((c) => c.name), fragment: `${f.name} (main repository)`,
      ...(restrictToPiece && f.predicate ? { restrict: f.predicate } : {}), role: 'repository',
    }
  }

  /** The pieces whose union reconstructs what a name denotes, each with its usable copies. */
  pieces(t: NameTarget): Piece[] {
    const key = `${t.kind}:${t.display}`
    const hit = this.pieceCache.get(key)
    if (hit) return hit
    const out: Piece[] = []
    const rel = t.relation
    const cp = (f: FragmentDef, role: Copy['role']): Copy => ({ site: f.site, server: 'primary', table: f.name, columns: f.columns, fragment: f.name, role })
    if (t.kind === 'fragmentAt') {
      out.push({ name: `${t.fragment!.name}@${t.site}`, copies: [cp(t.fragment!, 'authoritative')] })
    } else if (t.kind === 'fragment') {
      const fs = this.fragmentsNamed(t.fragment!.name)
      const f = fs[0]
      const copies = fs.map((x) => cp(x, fs.length > 1 ? 'replica' : 'authoritative'))
      // the main repository holds every branch's records; a scheduled copy is its own thing (no repository stand-in)
      if (f.kind === 'horizontal' || f.kind === 'local' || f.kind === 'replica') copies.push(this.repoCopy(f, rel, f.kind === 'horizontal'))
      out.push({ name: f.name, predicateColumn: f.predicateColumn, predicateValue: f.predicateValue, predicate: f.predicate, copies })
    } else if (rel.distribution === 'horizontal') {
      for (const f of this.fragments.filter((x) => x.relation === rel.name && x.kind === 'horizontal')) {
        out.push({ name: f.name, predicateColumn: f.predicateColumn, predicateValue: f.predicateValue, predicate: f.predicate, copies: [cp(f, 'authoritative'), this.repoCopy(f, rel, true)] })
      }
    } else {
      const fs = this.fragments.filter((x) => x.relation === rel.name)
      const copies: Copy[] = []
      for (const f of fs) {
        const role: Copy['role'] = f.kind === 'replica' ? 'replica' : f.kind === 'vertical' ? 'vertical' : f.kind === 'copy' ? 'scheduled-copy' : 'authoritative'
        copies.push(cp(f, role))
      }
      const main = fs.find((f) => f.kind === 'local' || f.kind === 'replica') ?? fs[0]
      copies.push(this.repoCopy(main, rel, false))
      const name = fs.length === 1 || rel.distribution !== 'replicated' ? (fs.find((f) => f.kind === 'local')?.name ?? rel.name) : rel.name
      out.push({ name, copies })
    }
    this.pieceCache.set(key, out)
    return out
  }
}
