/**
 * Benchmark harness (driven by `iddb bench` / `npm run bench`). Each group lives in bench/<group>.ts and
 * exports `group = { name, run(ctx) => Promise<Record<string, number>> }`; keys are "<group>.<metric>".
 * To add a group: one import line and one entry in GROUPS.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus, totalmem, platform, release } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { group as ui } from './ui'
import { group as engine } from './engine'
import { group as query } from './query'
import { group as txn } from './txn'
import { group as ticket } from './ticket'
import { group as security } from './security'
import { group as wan } from './wan'
import { group as guard } from './guard'
import { group as backup } from './backup'
import { group as pgSites } from './pg'
import { group as dim } from './dim'
import { group as compare } from './compare'

export interface BenchContext {
  /** Repository root (where package.json and out/ live). */
  root: string
  log(message: string): void
}

export interface BenchGroup {
  name: string
  run(ctx: BenchContext): Promise<Record<string, number>>
}

export const GROUPS: BenchGroup[] = [engine, ui, txn, query, ticket, security, wan, guard, backup, pgSites, dim, compare]

/** The repository root: the first ancestor of the bundle (or cwd) holding package.json. */
export function repoRoot(): string {
  const starts = [typeof __dirname === 'string' ? __dirname : '', process.cwd()].filter(Boolean)
  for (const s of starts) {
    let d = resolve(s)
    for (;;) {
      if (existsSync(join(d, 'package.json')) && existsSync(join(d, 'bench'))) return d
      const up = dirname(d)
      if (up === d) break
      d = up
    }
  }
  return process.cwd()
}

export function machine(): string {
  const c = cpus()
  return `${c[0]?.model?.trim() ?? 'unknown CPU'} ×${c.length}, ${Math.round(totalmem() / 2 ** 30)} GiB, ${platform()} ${release()}, node ${process.version}`
}

function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v)
  return Number.isInteger(v) ? String(v) : v.toFixed(Math.abs(v) >= 100 ? 1 : 3)
}

export async function runBench(opts: { only?: string; out?: string }): Promise<number> {
  const root = repoRoot()
  const groups = opts.only ? GROUPS.filter((g) => g.name === opts.only) : GROUPS
  if (opts.only && !groups.length) {
    process.stderr.write(`iddb bench: no group "${opts.only}"; groups are ${GROUPS.map((g) => g.name).join(', ')}\n`)
    return 2
  }
  const ctx: BenchContext = { root, log: (m) => process.stderr.write(`  ${m}\n`) }
  const results: Record<string, number> = {}
  let failed = 0
  for (const g of groups) {
    process.stderr.write(`bench ${g.name} …\n`)
    const t0 = performance.now()
    try {
      const r = await g.run(ctx)
      // a key already qualified ("area.metric", e.g. security.*) is kept; a bare one gets the group's name
      for (const [k, v] of Object.entries(r)) results[k.includes('.') ? k : `${g.name}.${k}`] = v
      process.stderr.write(`bench ${g.name} done in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`)
    } catch (e) {
      failed++
      process.stderr.write(`bench ${g.name} FAILED: ${e instanceof Error ? e.message : String(e)}\n`)
    }
  }
  const keys = Object.keys(results)
  const w = Math.max(6, ...keys.map((k) => k.length))
  process.stdout.write(`${'metric'.padEnd(w)}  value\n${'-'.repeat(w)}  ${'-'.repeat(12)}\n`)
  for (const k of keys) process.stdout.write(`${k.padEnd(w)}  ${fmt(results[k])}\n`)

  const out = resolve(root, opts.out ?? 'bench/results.json')
  let previous: Record<string, unknown> = {}
  if (opts.only && existsSync(out)) {
    try { previous = JSON.parse(readFileSync(out, 'utf8')) } catch { previous = {} }
    for (const k of Object.keys(previous)) if (k.startsWith(`${opts.only}.`)) delete previous[k]
  }
  const merged: Record<string, unknown> = { ...previous, ...results, machine: machine(), date: new Date().toISOString() }
  writeFileSync(out, JSON.stringify(merged, null, 2) + '\n')
  process.stderr.write(`wrote ${out}\n`)
  return failed ? 1 : 0
}
