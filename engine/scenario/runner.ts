/**
 * Scenario scripts: a small line-based language that drives the engine deterministically and checks
 * expectations (docs/SCENARIOS.md). One command per line; `#` starts a comment. Commands live in an
 * extensible table: other layers add theirs with registerCommand('ticket', …) / registerExpectation(…).
 *
 * Same seed + same script ⇒ same run ⇒ same traceHash.
 */
import { Cluster } from '../cluster'
import { EngineError, toErrorInfo, type ErrorInfo } from '../errors'
import { formatSiteTime, nextLocalTime } from '../sim/kernel'
import { defaultTopology, legacyDesignTopology, legacyTopology, withBranch } from '../topology/default'
import type { TopologySpec } from '../topology/types'
import type { QueryResult } from '../site/sqljs'
import { Dtm } from '../txn/dtm'
import { siteWrite } from '../txn/autocommit'
import { ConsoleIdentities, localAdmin } from '../security/identities'
import { isRole, type Actor } from '../security/roles'
import { checkIntegrity } from '../integrity/check'

export interface LineResult { line: number; text: string; ok: boolean; skipped?: boolean; message?: string; at?: string }
export interface ScenarioResult {
  ok: boolean
  lines: LineResult[]
  failed?: { line: number; text: string; reason: string }
  traceHash: string
  seed: number
  clock: string
}

/** What commands see. `last` is the outcome of the last command that produced a result. */
export interface ScenarioContext {
  cluster: Cluster
  seed: number
  /** Outcome of the last result-producing command (sql, check, …): rows, or an error. */
  last?: { result?: QueryResult & { changes?: number }; error?: ErrorInfo; value?: unknown; ok?: boolean; source: string }
  /** The user subsequent commands act as (`as USER`); security layers read it. */
  user?: string
  /** The console role commands act as (`role …`; default: the HQ DBA), checked like console actions (roles.ts). */
  actor?: Actor
  /** Free-form state other layers keep per scenario (e.g. open transactions). */
  state: Map<string, unknown>
  /** Output lines (echo, command notes). */
  out: string[]
  /** The text of the next command line (lets a command defer its error to an `expect error` line). */
  nextLine?: string
}

export interface CommandDef {
  /** First word of the line. */
  name: string
  usage: string
  summary: string
  /** args: the words after the command; rest: the raw text after the command word. */
  run(ctx: ScenarioContext, args: string[], rest: string): void | Promise<void>
  /** The console action the command is (roles.ts ACTIONS name and its input): checked for the scenario's role and audited. */
  action?(args: string[], rest: string): { action: string; input: Record<string, unknown> } | undefined
}
export interface ExpectationDef {
  name: string
  usage: string
  /** Return undefined when it holds, else the reason it does not. */
  check(ctx: ScenarioContext, args: string[], rest: string): string | undefined | Promise<string | undefined>
}

const commands = new Map<string, CommandDef>()
const expectations = new Map<string, ExpectationDef>()

/**
 * Registers a verb. A second verb of the same name is a programming error (two modules' `feed` verbs once
 * replaced each other silently), unless it says it replaces the first (`{ replace: true }`, e.g. the security
 * layer's `sql` running as the logged-in session).
 */
export function registerCommand(def: CommandDef, opts: { replace?: boolean } = {}): void {
  const k = def.name.toLowerCase()
  if (commands.has(k) && !opts.replace) throw new Error(`scenario verb "${k}" is registered twice`)
  commands.set(k, def)
}
export function registerExpectation(def: ExpectationDef): void {
  const k = def.name.toLowerCase()
  if (expectations.has(k)) throw new Error(`scenario expectation "${k}" is registered twice`)
  expectations.set(k, def)
}
export function listCommands(): { name: string; usage: string; summary: string }[] {
  return [...commands.values()].map(({ name, usage, summary }) => ({ name, usage, summary }))
}
export function listExpectations(): { name: string; usage: string }[] { return [...expectations.values()].map(({ name, usage }) => ({ name, usage })) }

/** Splits a line into words; "double quoted" words keep their spaces. */
export function words(s: string): string[] {
  const out: string[] = []
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g
  let m
  while ((m = re.exec(s))) out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2])
  return out
}

/** "2h", "30m", "15s", "250ms", "1d", "1h30m" → ms */
export function parseDuration(s: string): number {
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy
  let total = 0, m, used = 0
  while ((m = re.exec(s))) { total += Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'ms']; used = re.lastIndex }
  if (!used || used !== s.length) throw new EngineError('BAD_INPUT', `bad duration "${s}" (e.g. 2h, 30m, 15s, 250ms, 1d, 1h30m)`)
  return total
}

const need = (args: string[], n: number, usage: string) => {
  if (args.length < n) throw new EngineError('BAD_INPUT', `usage: ${usage}`)
}

// ---- built-in commands ----------------------------------------------------------------------
registerCommand({
  name: 'advance', usage: 'advance DURATION', summary: 'advance virtual time (events fire on the way)',
  run: (ctx, a) => { need(a, 1, 'advance 2h'); ctx.cluster.sim.advance(parseDuration(a[0])) },
})
registerCommand({
  name: 'at', usage: 'at HH:MM', summary: 'advance to the next HH:MM (site local time)',
  run: (ctx, a) => {
    const m = /^(\d{1,2}):(\d{2})$/.exec(a[0] ?? '')
    if (!m) throw new EngineError('BAD_INPUT', 'usage: at 12:00')
    const sim = ctx.cluster.sim
    const target = nextLocalTime(sim.now - 1, Number(m[1]), Number(m[2]))
    sim.runUntil(target)
  },
})
const failRestore = (verb: 'fail' | 'restore'): CommandDef => ({
  name: verb, usage: `${verb} site|link|server ID`, summary: `${verb} a site, a WAN link or one server`,
  action: ([what, id]) => (what === 'site' || what === 'link' || what === 'server' ? { action: `topology/${verb}${what[0].toUpperCase()}${what.slice(1)}`, input: { [what]: id } } : undefined),
  run: (ctx, a) => {
    need(a, 2, `${verb} site KDY | ${verb} link CMB-KDY | ${verb} server CMB.backup`)
    const c = ctx.cluster
    const [what, id] = a
    if (what === 'site') { c.site(id); verb === 'fail' ? c.failSite(id) : c.restoreSite(id) }
    else if (what === 'link') verb === 'fail' ? c.failLink(id) : c.restoreLink(id)
    else if (what === 'server') verb === 'fail' ? c.failServer(id) : c.restoreServer(id)
    else throw new EngineError('BAD_INPUT', `${verb} what? site, link or server`)
  },
})
registerCommand(failRestore('fail'))
registerCommand(failRestore('restore'))
registerCommand({
  name: 'degrade', usage: 'degrade link ID [delay=MS] [bandwidth=FACTOR] [loss=RATE]', summary: 'degrade a WAN link',
  action: (a) => ({ action: 'topology/degradeLink', input: { link: a[1] } }),
  run: (ctx, a) => {
    need(a, 2, 'degrade link CMB-KDY delay=200 bandwidth=0.5 loss=0.1')
    const kv = Object.fromEntries(a.slice(2).map((x) => x.split('=')))
    ctx.cluster.degradeLink(a[1], { extraDelayMs: Number(kv.delay ?? 0), bandwidthFactor: Number(kv.bandwidth ?? 1), lossRate: Number(kv.loss ?? 0) })
  },
})
/** `sql SITE STATEMENT` (engine/security/scenario.ts runs it as the current session when there is one). */
export const sqlCommand: CommandDef = {
  name: 'sql', usage: 'sql SITE STATEMENT', summary: "run a statement at one site's primary (local tables and catalogs)",
  action: (a, rest) => ({ action: 'query/run', input: { site: a[0], sql: rest.slice(rest.indexOf(a[0] ?? '') + (a[0] ?? '').length).trim() } }),
  run: (ctx, a, rest) => {
    need(a, 2, 'sql CMB SELECT COUNT(*) FROM Sales_CMB')
    const site = a[0]
    const sql = rest.slice(rest.indexOf(site) + site.length).trim()
    try {
      // a write on a fragment held there is a one-statement transaction (the DTM's locks), anything else runs as is
      const r = siteWrite(Dtm.of(ctx.cluster), site, sql) ?? ctx.cluster.siteStore(site).exec(sql)
      ctx.last = { result: r, source: `sql ${site}` }
    } catch (e) {
      ctx.last = { error: toErrorInfo(e), source: `sql ${site}` }
      if (!/^\s*expect\s+error\b/i.test(ctx.nextLine ?? '')) throw e
    }
  },
}
registerCommand(sqlCommand)
registerCommand({
  name: 'role', usage: 'role hq-dba | role branch-admin SITE | role auditor', summary: 'act in the following commands as a console role (default: the HQ DBA); refusals can be expected with expect error ACCESS_DENIED',
  run: (ctx, a) => {
    const role = a[0] ?? ''
    if (!isRole(role)) throw new EngineError('BAD_INPUT', 'usage: role hq-dba | role branch-admin KDY | role auditor')
    if (role === 'branch-admin') { need(a, 2, 'role branch-admin KDY'); ctx.cluster.site(a[1]) }
    ctx.actor = { user: `scenario-${role}`, role, site: role === 'branch-admin' ? a[1] : null, clearance: 'SECRET', level: 'SECRET' }
  },
})
registerCommand({ name: 'as', usage: 'as USER', summary: 'act as USER in the following commands', run: (ctx, a) => { need(a, 1, 'as alice'); ctx.user = a[0] } })
registerCommand({ name: 'settle', usage: 'settle [MAXDURATION]', summary: 'run until backups, repository and replicas have caught up', run: (ctx, a) => { ctx.cluster.settle(a[0] ? parseDuration(a[0]) : 60_000) } })
registerCommand({
  name: 'refresh', usage: 'refresh COPY | refresh schedule COPY HH:MM|eod…', summary: 'refresh a scheduled copy now (e.g. Stock_MBI), or set its refresh times',
  action: (a) => (a[0] === 'schedule' ? { action: 'replication/setRefreshSchedule', input: { copy: a[1] } } : { action: 'replication/refreshCopy', input: { copy: a[0] } }),
  run: (ctx, a) => {
    if (a[0] === 'schedule') { need(a, 3, 'refresh schedule Stock_MBI 12:00 eod'); ctx.cluster.setRefreshSchedule(a[1], a.slice(2)); return }
    need(a, 1, 'refresh Stock_MBI'); ctx.cluster.refreshCopy(a[0])
  },
})
registerCommand({
  name: 'recover', usage: 'recover SITE from backup|repository', summary: "recover a site's primary from its backup, or a branch's fragments from the main repository",
  action: (a) => ({ action: 'replication/recover', input: { site: a[0], from: a[2] } }),
  run: (ctx, a) => {
    need(a, 3, 'recover KDY from backup')
    if (a[2] === 'backup') ctx.cluster.recoverFromBackup(a[0])
    else if (a[2] === 'repository') ctx.cluster.restoreFromRepository(a[0])
    else throw new EngineError('BAD_INPUT', 'recover SITE from backup|repository')
  },
})
registerCommand({ name: 'checkpoint', usage: 'checkpoint', summary: 'write every database image (persistent clusters)', run: (ctx) => ctx.cluster.checkpoint() })
registerCommand({ name: 'echo', usage: 'echo TEXT', summary: 'print a line', run: (ctx, _a, rest) => { ctx.out.push(rest) } })
registerCommand({
  name: 'check', usage: 'check fragmentation [RELATION] | check integrity', summary: 'run the fragmentation checks, or every declared constraint over the stored data (then: expect ok)',
  run: (ctx, a) => {
    if (a[0] === 'integrity') {
      const rep = checkIntegrity(ctx.cluster)
      ctx.last = { value: rep, ok: rep.ok, source: 'check integrity' }
      if (!rep.ok) ctx.out.push(rep.violations.slice(0, 20).map((v) => `${v.constraint} ${v.fragment}@${v.site}: ${v.detail}`).join('; '))
      return
    }
    if (a[0] !== 'fragmentation') throw new EngineError('BAD_INPUT', 'usage: check fragmentation [SALES] | check integrity')
    const rep = ctx.cluster.checkFragmentation(a[1])
    ctx.last = { value: rep, ok: rep.ok, source: 'check fragmentation' }
    if (!rep.ok) ctx.out.push(rep.results.filter((r) => !r.ok).map((r) => `${r.relation} ${r.check}: ${r.detail}`).join('; '))
  },
})
registerCommand({
  name: 'expect', usage: 'expect WHAT ...', summary: 'assert something; the script fails at the first unmet expectation',
  run: async (ctx, a, rest) => {
    need(a, 1, 'expect rows 3')
    const def = expectations.get(a[0].toLowerCase())
    if (!def) throw new EngineError('BAD_INPUT', `unknown expectation "${a[0]}"; known: ${[...expectations.keys()].join(', ')}`)
    const why = await def.check(ctx, a.slice(1), rest.replace(/^\S+\s*/, ''))
    if (why !== undefined) throw new EngineError('EXPECTATION_FAILED', why)
  },
})

// ---- built-in expectations ------------------------------------------------------------------
const lastResult = (ctx: ScenarioContext): QueryResult => {
  if (!ctx.last) throw new EngineError('BAD_INPUT', 'nothing to check yet (run sql first)')
  if (ctx.last.error) throw new EngineError('EXPECTATION_FAILED', `${ctx.last.source} failed: ${ctx.last.error.code} ${ctx.last.error.message}`)
  if (!ctx.last.result) throw new EngineError('BAD_INPUT', `${ctx.last.source} produced no rows to check`)
  return ctx.last.result
}
const sameValue = (got: unknown, want: string) => {
  const w = want.replace(/^'(.*)'$/, '$1')
  if (w.toUpperCase() === 'NULL') return got === null
  if (typeof got === 'number' && w.trim() !== '' && !Number.isNaN(Number(w))) return Math.abs(got - Number(w)) < 1e-9 * Math.max(1, Math.abs(got))
  return String(got) === w
}
registerExpectation({
  name: 'rows', usage: 'expect rows N',
  check: (ctx, a) => { const r = lastResult(ctx); return r.rows.length === Number(a[0]) ? undefined : `expected ${a[0]} rows, got ${r.rows.length}` },
})
registerExpectation({
  name: 'value', usage: 'expect value V   (first column of the first row)',
  check: (ctx, _a, rest) => {
    const r = lastResult(ctx)
    if (!r.rows.length) return `expected value ${rest}, got no rows`
    const got = r.rows[0][0]
    return sameValue(got, rest.trim()) ? undefined : `expected value ${rest.trim()}, got ${JSON.stringify(got)}`
  },
})
registerExpectation({
  name: 'changes', usage: 'expect changes N',
  check: (ctx, a) => { const r = lastResult(ctx) as { changes?: number }; return r.changes === Number(a[0]) ? undefined : `expected ${a[0]} changed rows, got ${r.changes}` },
})
registerExpectation({
  name: 'error', usage: 'expect error CODE',
  check: (ctx, a) => {
    if (!ctx.last?.error) return `expected error ${a[0]}, but ${ctx.last?.source ?? 'the last command'} succeeded`
    return ctx.last.error.code === a[0] ? undefined : `expected error ${a[0]}, got ${ctx.last.error.code}: ${ctx.last.error.message}`
  },
})
registerExpectation({
  name: 'ok', usage: 'expect ok   (the last check passed)',
  check: (ctx) => (ctx.last?.ok === true ? undefined : `${ctx.last?.source ?? 'nothing'} did not pass${ctx.out.length ? `: ${ctx.out[ctx.out.length - 1]}` : ''}`),
})
registerExpectation({
  name: 'stale', usage: 'expect stale COPY',
  check: (ctx, a) => (ctx.cluster.copyStatus(a[0]).stale ? undefined : `${a[0]} is fresh (same rows as its source)`),
})
registerExpectation({
  name: 'fresh', usage: 'expect fresh COPY',
  check: (ctx, a) => (ctx.cluster.copyStatus(a[0]).stale ? `${a[0]} is stale (differs from its source)` : undefined),
})
registerExpectation({
  name: 'site', usage: 'expect site CODE up|down',
  check: (ctx, a) => { const up = ctx.cluster.isSiteUp(a[0]); return (a[1] === 'up') === up ? undefined : `${a[0]} is ${up ? 'up' : 'down'}` },
})
registerExpectation({
  name: 'count', usage: 'expect count SITE TABLE N  (rows in a table at a site primary; backup: SITE.backup, repository: CMB.repository)',
  check: (ctx, a) => {
    const [where, table, n] = a
    const [site, role] = where.split('.')
    const st = ctx.cluster.siteStore(site)
    const db = role === 'backup' ? st.backup : role === 'repository' ? st.repository : undefined
    const got = db ? db.count(table) : st.count(table)
    return got === Number(n) ? undefined : `expected ${n} rows in ${table} at ${where}, got ${got}`
  },
})
/** Site-local clock time as HH:MM:SS.mmm. */
export const clockText = (ms: number) => `${formatSiteTime(ms).slice(11, 19)}.${String(Math.floor(((ms % 1000) + 1000) % 1000)).padStart(3, '0')}`
registerExpectation({
  name: 'time', usage: 'expect time HH:MM[:SS[.mmm]]   (site-local clock, at the resolution given)',
  check: (ctx, a) => {
    if (!/^\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?$/.test(a[0] ?? '')) throw new EngineError('BAD_INPUT', 'usage: expect time 09:30 | 09:30:05 | 09:30:05.250')
    const full = clockText(ctx.cluster.sim.now)
    const want = a[0].includes('.') ? a[0].replace(/\.(\d+)$/, (_m, d: string) => `.${d.padEnd(3, '0')}`) : a[0]
    return full.startsWith(want) && (want.length === 5 || want.length === 8 || want.length === 12) ? undefined : `clock is ${full.slice(0, want.length)} (${full})`
  },
})
registerExpectation({
  name: 'cell', usage: 'expect cell ROW COL V   (ROW from 1; COL a column name or a number from 1)',
  check: (ctx, a) => {
    const r = lastResult(ctx)
    const [row, col] = [Number(a[0]), a[1] ?? '']
    if (!Number.isInteger(row) || row < 1 || !col || a.length < 3) throw new EngineError('BAD_INPUT', 'usage: expect cell 2 QTY 45   or   expect cell 2 3 45')
    const ci = /^\d+$/.test(col) ? Number(col) - 1 : r.columns.findIndex((c) => c.toUpperCase() === col.toUpperCase())
    if (ci < 0 || ci >= r.columns.length) return `no column ${col} (columns: ${r.columns.join(', ')})`
    if (row > r.rows.length) return `row ${row} does not exist (${r.rows.length} rows)`
    const want = a.slice(2).join(' ')
    const got = r.rows[row - 1][ci]
    return sameValue(got, want) ? undefined : `expected cell ${row} ${r.columns[ci]} to be ${want}, got ${JSON.stringify(got)}`
  },
})

// ---- running ---------------------------------------------------------------------------------
export interface RunOptions {
  seed?: number
  /** Sales rows generated for the scenario's cluster (default 2,000; `sales N` in the script overrides). */
  sales?: number
  /** Use this cluster instead of creating one (directives are then ignored). */
  cluster?: Cluster
  topology?: TopologySpec
}

const DIRECTIVES = ['seed', 'sales', 'profile', 'design', 'branch']

/** Directives allowed before the first command: seed N, sales N, profile legacy, design legacy|distributed, branch CODE NAME x=.. y=.. staff=.. link=CMB:6 */
function applyDirective(d: { seed?: number; sales?: number; topo: TopologySpec }, w: string[]): boolean {
  const k = w[0].toLowerCase()
  if (k === 'seed') { d.seed = Number(w[1]); if (!Number.isInteger(d.seed)) throw new EngineError('BAD_INPUT', 'usage: seed 42'); return true }
  if (k === 'sales') { d.sales = Number(w[1]); if (!(d.sales >= 0)) throw new EngineError('BAD_INPUT', 'usage: sales 20000'); return true }
  if (k === 'profile') { d.topo = w[1] === 'legacy' ? legacyTopology() : defaultTopology(); return true }
  if (k === 'design') {
    if (w[1] !== 'legacy' && w[1] !== 'distributed') throw new EngineError('BAD_INPUT', 'usage: design legacy   or   design distributed')
    d.topo = w[1] === 'legacy' ? legacyDesignTopology(d.topo.profile === 'legacy' ? d.topo : legacyTopology()) : { ...d.topo, design: 'distributed' }
    return true
  }
  if (k === 'branch') {
    const kv = Object.fromEntries(w.slice(3).map((x) => x.split('=')))
    const links = (kv.link ?? kv.links ?? '').split(',').filter(Boolean).map((x: string) => { const [to, ms] = x.split(':'); return { to, delayMs: Number(ms ?? 10) } })
    d.topo = withBranch(d.topo, { code: w[1], name: w[2] ?? w[1], city: w[2] ?? w[1], lanBps: 1e9, lanDelayMs: 0.2, x: Number(kv.x ?? 50), y: Number(kv.y ?? 50), clients: Number(kv.clients ?? 4), staff: Number(kv.staff ?? 10), links })
    return true
  }
  return false
}

/** Who a scenario acts as until it says `role …`. */
const SCENARIO_DBA: Actor = localAdmin('scenario')

/** Checks a command's console action for the scenario's role; a refusal is the expected outcome when `expect error` follows. */
async function allowed(ctx: ScenarioContext, act: { action: string; input: Record<string, unknown> }, source: string): Promise<boolean> {
  try {
    ConsoleIdentities.of(ctx.cluster).enforce(ctx.actor ?? SCENARIO_DBA, act.action, act.input)
    return true
  } catch (e) {
    ctx.last = { error: toErrorInfo(e), source }
    if (!/^\s*expect\s+error\b/i.test(ctx.nextLine ?? '')) throw e
    return false
  }
}

export async function runScenario(text: string, opts: RunOptions = {}): Promise<ScenarioResult> {
  const src = text.split(/\r?\n/)
  const lines: LineResult[] = []
  const d = { seed: opts.seed, sales: opts.sales, topo: opts.topology ?? defaultTopology() }
  let ctx: ScenarioContext | undefined = opts.cluster ? { cluster: opts.cluster, seed: opts.cluster.sim.seed, state: new Map(), out: [] } : undefined
  let failed: ScenarioResult['failed']
  const cmdLines = src.map((t, i) => ({ t: t.replace(/(^|\s)#.*$/, '').trim(), i })).filter((x) => x.t)
  for (let n = 0; n < cmdLines.length; n++) {
    const { t, i } = cmdLines[n]
    const lineNo = i + 1
    if (failed) { lines.push({ line: lineNo, text: t, ok: false, skipped: true }); continue }
    const w = words(t)
    try {
      if (!ctx && applyDirective(d, w)) { lines.push({ line: lineNo, text: t, ok: true }); continue }
      if (opts.cluster && !commands.has(w[0].toLowerCase()) && DIRECTIVES.includes(w[0].toLowerCase())) {
        lines.push({ line: lineNo, text: t, ok: true, message: 'directive ignored: the scenario runs on a given (persisted) cluster' })
        continue
      }
      if (!ctx) {
        const seed = d.seed ?? opts.seed ?? 1
        const cluster = await Cluster.create({ seed, topology: d.topo, sales: d.sales ?? 2000 })
        ctx = { cluster, seed, state: new Map(), out: [] }
      }
      const def = commands.get(w[0].toLowerCase())
      if (!def) throw new EngineError('BAD_INPUT', `unknown command "${w[0]}"; commands: ${[...commands.keys()].join(', ')}`)
      ctx.nextLine = cmdLines[n + 1]?.t
      const outBefore = ctx.out.length
      const args = w.slice(1), rest = t.slice(t.indexOf(w[0]) + w[0].length).trim()
      const act = def.action?.(args, rest)
      if (!act) await def.run(ctx, args, rest)
      else if (await allowed(ctx, act, t)) {
        const c = ctx
        await ConsoleIdentities.of(c.cluster).audited(c.actor ?? SCENARIO_DBA, act.action, act.input, () => def.run(c, args, rest))
      }
      lines.push({ line: lineNo, text: t, ok: true, at: formatSiteTime(ctx.cluster.sim.now), ...(ctx.out.length > outBefore ? { message: ctx.out.slice(outBefore).join('\n') } : {}) })
    } catch (e) {
      const info = toErrorInfo(e)
      const reason = info.code === 'EXPECTATION_FAILED' ? info.message : `${info.code}: ${info.message}`
      failed = { line: lineNo, text: t, reason }
      lines.push({ line: lineNo, text: t, ok: false, message: reason, ...(ctx ? { at: formatSiteTime(ctx.cluster.sim.now) } : {}) })
    }
  }
  if (!ctx) {
    const cluster = await Cluster.create({ seed: d.seed ?? opts.seed ?? 1, topology: d.topo, sales: 0 })
    ctx = { cluster, seed: cluster.sim.seed, state: new Map(), out: [] }
  }
  return { ok: !failed, lines, ...(failed ? { failed } : {}), traceHash: ctx.cluster.sim.traceHash, seed: ctx.seed, clock: formatSiteTime(ctx.cluster.sim.now) }
}
