/**
 * The engine's layer order (docs/ENGINE-LAYERS.md), enforced: a module imports only from its own layer or a
 * lower one, and nothing in engine/ imports from outside it (src-main, src-renderer). One inversion is
 * allowed: `import type` of the Cluster façade (engine/cluster.ts) from any layer — subsystems are handed
 * their cluster by it; a type-only import is erased, so it adds no load order and no runtime cycle.
 *
 * Each engine file belongs to exactly one layer: an exact file entry wins over a file pattern, which wins
 * over a folder (the longer of two folders). A file that no entry places is an error (place a new folder here when you create it).
 */
import path, { join } from 'node:path'
import { existsSync } from 'node:fs'

const ROOT = path.resolve(import.meta.dirname, '..')

/** Lowest first. Paths are relative to the repository; `*` matches within one path segment. */
export const LAYERS = [
  {
    name: 'contract',
    why: 'plain types and data every layer shares: errors, invariants, the view types, the topology and the fragmentation schema',
    paths: ['engine/errors.ts', 'engine/assert.ts', 'engine/api/', 'engine/topology/', 'engine/data/schema.ts', 'engine/security/schema.ts', 'engine/security/firewall.ts'],
  },
  { name: 'kernel', why: 'the virtual clock, the event queue, seeded randomness', paths: ['engine/sim/'] },
  { name: 'network', why: 'links, routers, frames; link encryption', paths: ['engine/net/', 'engine/security/crypto.ts'] },
  {
    name: 'storage',
    why: 'durable files and logs, the sql.js database wrapper and its statement guard, the SQL parser',
    paths: ['engine/storage/', 'engine/site/db.ts', 'engine/site/sqljs.ts', 'engine/query/guard.ts', 'engine/query/parse.ts'],
  },
  { name: 'catalog', why: "each site's catalog tables, and the declared global constraints they list (GLOBAL_CONSTRAINTS)", paths: ['engine/catalog/', 'engine/integrity/constraints.ts'] },
  {
    name: 'site',
    why: "a site's servers (primary, backup, repository) with their catalog, replication between them, data generation and checks, the cluster's on-disk images",
    paths: ['engine/site/', 'engine/data/', 'engine/storage/persist.ts'],
  },
  {
    name: 'subsystems',
    why: 'the DDBMS components: query processor, transaction manager, ticket service, security manager, integrity manager',
    paths: ['engine/query/', 'engine/txn/', 'engine/ticket/', 'engine/security/', 'engine/integrity/'],
  },
  {
    name: 'cluster',
    why: 'the Cluster façade, its lifecycle, recovery, fault injection, subsystem registry and events; view builders; backups and failover',
    paths: ['engine/cluster.ts', 'engine/cluster/', 'engine/api/builders/', 'engine/backup/'],
  },
  { name: 'scenario', why: 'the scenario runner and the verbs each subsystem adds to it; the legacy-vs-distributed comparison, which runs a scripted business day on whole clusters', paths: ['engine/scenario/', 'engine/*/scenario.ts', 'engine/*/*-scenario.ts', 'engine/compare/'] },
  {
    name: 'harness',
    why: 'tests and the programs and kits they run (they may build a whole cluster)',
    paths: ['engine/**/*.test.ts', 'engine/*/testkit.ts', 'engine/*/kill-child*.ts', 'engine/txn/invariants.ts'],
  },
]

const FACADE = 'engine/cluster.ts'

function compile(p) {
  const kind = p.endsWith('/') ? 1 : p.includes('*') ? 2 : 3
  const re = new RegExp('^' + p.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*\*\//g, '(?:.*/)?').replace(/\*/g, '[^/]*') + (kind === 1 ? '' : '$'))
  return { kind, re }
}
const ENTRIES = LAYERS.flatMap((l, rank) => l.paths.map((p) => ({ rank, layer: l.name, pattern: p, ...compile(p) })))

/** The layer of a repository-relative engine path, or undefined. */
export function layerOf(rel) {
  let best
  for (const e of ENTRIES) if (e.re.test(rel) && (!best || e.kind > best.kind || (e.kind === best.kind && e.pattern.length > best.pattern.length))) best = e
  return best
}

function resolveTs(fromAbs, spec) {
  let t = path.resolve(path.dirname(fromAbs), spec)
  if (/\.(c|m)?js$/.test(t)) t = t.replace(/\.(c|m)?js$/, '.ts')
  else if (!t.endsWith('.ts') && !t.endsWith('.json')) t = existsSync(`${t}.ts`) || !existsSync(join(t, 'index.ts')) ? `${t}.ts` : join(t, 'index.ts')
  return path.relative(ROOT, t).split(path.sep).join('/')
}

export default {
  meta: {
    type: 'problem',
    docs: { description: 'engine modules import only from their own layer or a lower one (docs/ENGINE-LAYERS.md)' },
    schema: [],
  },
  create(context) {
    const rel = path.relative(ROOT, context.filename).split(path.sep).join('/')
    if (!rel.startsWith('engine/') || !rel.endsWith('.ts')) return {}
    const from = layerOf(rel)
    const check = (node, source, typeOnly) => {
      if (typeof source !== 'string' || !source.startsWith('.')) return
      if (!from) { context.report({ node, message: `${rel} is in no layer: place it in eslint-rules/engine-layers.js (docs/ENGINE-LAYERS.md)` }); return }
      const target = resolveTs(context.filename, source)
      if (!target.startsWith('engine/')) {
        if (from.layer !== 'harness') context.report({ node, message: `the engine imports nothing outside engine/ (${source})` })
        return
      }
      if (typeOnly && target === FACADE) return
      const to = layerOf(target)
      if (!to) return // reported at that file
      if (to.rank > from.rank) {
        context.report({ node, message: `layer ${from.layer} (${rel}) must not import layer ${to.layer} (${target}): lower layers never import higher ones (docs/ENGINE-LAYERS.md)` })
      }
    }
    const allType = (node) => node.importKind === 'type' || node.exportKind === 'type' ||
      (node.specifiers?.length > 0 && node.specifiers.every((s) => s.importKind === 'type' || s.exportKind === 'type'))
    return {
      ImportDeclaration: (node) => check(node, node.source.value, allType(node)),
      ExportNamedDeclaration: (node) => node.source && check(node, node.source.value, allType(node)),
      ExportAllDeclaration: (node) => check(node, node.source.value, node.exportKind === 'type'),
      ImportExpression: (node) => node.source.type === 'Literal' && check(node, node.source.value, false),
    }
  },
}
