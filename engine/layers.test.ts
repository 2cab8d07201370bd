import { describe, it, expect } from 'vitest'
import { readdirSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import { RuleTester } from 'eslint'
import tseslint from 'typescript-eslint'
import rule, { LAYERS, layerOf } from '../eslint-rules/engine-layers.js'

const ROOT = resolve(import.meta.dirname, '..')
RuleTester.describe = describe
RuleTester.it = it
RuleTester.itOnly = it.only
const tester = new RuleTester({ languageOptions: { parser: tseslint.parser, ecmaVersion: 'latest', sourceType: 'module' } })
const at = (file: string, code: string) => ({ filename: join(ROOT, file), code })

describe('the engine layer rule (docs/ENGINE-LAYERS.md)', () => {
  tester.run('iddb/engine-layers', rule, {
    valid: [
      at('engine/cluster.ts', "import { Dtm } from './txn/dtm'"),
      at('engine/txn/dtm.ts', "import type { Cluster } from '../cluster'"),
      at('engine/txn/dtm.ts', "import { type Cluster } from '../cluster'"),
      at('engine/site/site.ts', "import { CatalogManager } from '../catalog/catalog'"),
      at('engine/security/mls.ts', "import { parseSql } from '../query/parse'"),
      at('engine/integrity/dim.ts', "import { Dqp } from '../query/dqp'"),
      at('engine/backup/backup.ts', "import { Cluster } from '../cluster'"),
      at('engine/txn/scenario.ts', "import { registerVerb } from '../scenario/runner'"),
      at('engine/txn/bank.test.ts', "import { Cluster } from '../cluster'"),
      at('engine/query/dqp.ts', "import pkg from 'node-sql-parser'"),
    ],
    invalid: [
      { ...at('engine/site/site.ts', "import { Cluster } from '../cluster'"), errors: [{ message: /layer site .* must not import layer cluster/ }] },
      { ...at('engine/net/network.ts', "export { Dtm } from '../txn/dtm'"), errors: [{ message: /layer network .* must not import layer subsystems/ }] },
      { ...at('engine/storage/files.ts', "import type { Site } from '../site/site'"), errors: [{ message: /layer storage .* must not import layer site/ }] },
      { ...at('engine/sim/kernel.ts', "const m = import('../query/dqp')"), errors: [{ message: /layer kernel .* must not import layer subsystems/ }] },
      { ...at('engine/integrity/dim.ts', "import { backup } from '../backup/backup'"), errors: [{ message: /layer subsystems .* must not import layer cluster/ }] },
      { ...at('engine/txn/dtm.ts', "import { runScenario } from '../scenario'"), errors: [{ message: /must not import layer scenario/ }] },
      { ...at('engine/query/dqp.ts', "import { Cluster } from '../cluster'"), errors: [{ message: /must not import layer cluster/ }] },
      { ...at('engine/query/exec.ts', "import { invoke } from '../../src-main/ipc/contract'"), errors: [{ message: /imports nothing outside engine/ }] },
      { ...at('engine/newthing/x.ts', "import { EngineError } from '../errors'"), errors: [{ message: /is in no layer/ }] },
    ],
  })

  it('places every engine file in exactly one layer, lowest first as documented', () => {
    const files: string[] = []
    const walk = (d: string) => { for (const f of readdirSync(d, { withFileTypes: true })) { const p = join(d, f.name); if (f.isDirectory()) walk(p); else if (p.endsWith('.ts')) files.push(relative(ROOT, p)) } }
    walk(join(ROOT, 'engine'))
    expect(files.filter((f) => !layerOf(f))).toEqual([])
    expect(LAYERS.map((l) => l.name)).toEqual(['contract', 'kernel', 'network', 'storage', 'catalog', 'site', 'subsystems', 'cluster', 'scenario', 'harness'])
    expect(layerOf('engine/site/db.ts')!.layer).toBe('storage')
    expect(layerOf('engine/site/site.ts')!.layer).toBe('site')
    expect(layerOf('engine/api/views.ts')!.layer).toBe('contract')
    expect(layerOf('engine/api/builders/views.ts')!.layer).toBe('cluster')
    expect(layerOf('engine/security/scenario.ts')!.layer).toBe('scenario')
  })
})
