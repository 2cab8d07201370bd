/**
 * `iddb pg up --wan t1`: each branch's servers behind the modelled WAN. Every site other than the console's
 * gets a network namespace of its own, joined to the root namespace by a veth pair with a private /30, and
 * netem on both ends of the pair shaping it to the topology's link between the console's site and that branch
 * (its one-way delay, its bandwidth): a round trip from the console to the branch then costs the link's delay
 * twice and a bulk read its bytes at the link's rate, as in the simulation. Needs root, `ip netns` and `tc`
 * with netem; wanUnavailableReason() says why not, and `--wan` without it is refused before anything is made.
 */
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { resolve } from 'node:path'
import { EngineError } from '../../engine/errors'
import type { SiteCode, TopologySpec } from '../../engine/topology/types'
import type { PgDeployment } from './servers'

export type WanKind = 't1'

/** One branch behind its shaped link (recorded in pg.json). */
export interface WanSite {
  site: SiteCode
  netns: string
  /** The veth end in the root namespace, and its address (the console reaches the branch from it). */
  rootIf: string; rootAddr: string
  /** The veth end inside the namespace, and its address (the branch's servers listen on it). */
  nsIf: string; nsAddr: string
  /** The pair's /30 (pg_hba allows it). */
  net: string
  /** The link shaped (from the topology): one-way delay and bandwidth. */
  link: string; delayMs: number; bandwidthBps: number
}

export interface WanSetup { kind: WanKind; consoleSite: SiteCode; sites: WanSite[] }

const run = (args: string[]): { ok: boolean; err: string } => {
  const r = spawnSync(args[0], args.slice(1), { encoding: 'utf8', timeout: 20_000 })
  return { ok: !r.error && r.status === 0, err: (r.error?.message ?? (r.stderr || r.stdout)).trim() }
}

function must(args: string[]): void {
  const r = run(args)
  if (!r.ok) throw new EngineError('INTERNAL', `${args.join(' ')} failed: ${r.err}`)
}

let cachedReason: string | null | undefined

/**
 * Why servers cannot be placed behind a modelled WAN here (null when they can): root, `ip netns add` of a
 * probe namespace, a veth pair, and `tc qdisc add … netem` on it must all work. Leaves nothing behind.
 */
export function wanUnavailableReason(): string | null {
  if (cachedReason !== undefined) return cachedReason
  cachedReason = probe()
  return cachedReason
}

function probe(): string | null {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return '--wan needs root (network namespaces and tc)'
  if (!run(['ip', '-V']).ok) return '--wan needs the ip command (iproute2)'
  if (!run(['tc', '-V']).ok) return '--wan needs the tc command (iproute2)'
  const ns = `iddb-probe-${process.pid}`
  const a = `iwp${process.pid % 100000}a`, b = `iwp${process.pid % 100000}b`
  try {
    const add = run(['ip', 'netns', 'add', ns])
    if (!add.ok) return `ip netns add does not work here: ${add.err}`
    const veth = run(['ip', 'link', 'add', a, 'type', 'veth', 'peer', 'name', b, 'netns', ns])
    if (!veth.ok) return `cannot make a veth pair into a namespace: ${veth.err}`
    const q = run(['tc', 'qdisc', 'add', 'dev', a, 'root', 'netem', 'delay', '1ms', 'rate', '1mbit'])
    if (!q.ok) return `tc netem does not work here (kernel module sch_netem?): ${q.err}`
    return null
  } finally {
    run(['ip', 'link', 'del', a])
    run(['ip', 'netns', 'del', ns])
  }
}

/** A deployment directory's own short tag: namespaces and interfaces of two deployments never clash. */
const tagOf = (dataDir: string): string => createHash('sha256').update(resolve(dataDir)).digest('hex').slice(0, 6)

/**
 * The plan for a deployment (nothing made yet): each site except the console's, with the topology's link from
 * the console's site to it. A branch without a direct link to the console's site is a clear error.
 */
export function planWan(dataDir: string, kind: WanKind, topo: TopologySpec, consoleSite: SiteCode): WanSetup {
  if (kind !== 't1') throw new EngineError('BAD_INPUT', `unknown --wan ${String(kind)} (known: t1)`)
  if (!topo.sites.some((s) => s.code === consoleSite)) throw new EngineError('UNKNOWN_SITE', `the console's site ${consoleSite} is not in the topology`)
  const tag = tagOf(dataDir)
  // 10.213.<tag byte>.0/24, one /30 per branch (.1 root side, .2 the namespace)
  const third = parseInt(tag.slice(0, 2), 16)
  const branches = topo.sites.filter((s) => s.code !== consoleSite)
  if (branches.length > 63) throw new EngineError('BAD_INPUT', `--wan supports at most 63 branches (${branches.length})`)
  return {
    kind, consoleSite,
    sites: branches.map((s, i) => {
      const l = topo.links.find((x) => (x.a === consoleSite && x.b === s.code) || (x.b === consoleSite && x.a === s.code))
      if (!l) throw new EngineError('BAD_INPUT', `--wan: the topology has no link between the console's site ${consoleSite} and ${s.code}`)
      const code = s.code.toLowerCase().replace(/[^a-z0-9]/g, '').slice(0, 6)
      return {
        site: s.code, netns: `iddb-${tag}-${s.code}`,
        rootIf: `iw${tag}${code}r`.slice(0, 15), nsIf: `iw${tag}${code}n`.slice(0, 15),
        rootAddr: `10.213.${third}.${4 * i + 1}`, nsAddr: `10.213.${third}.${4 * i + 2}`, net: `10.213.${third}.${4 * i}/30`,
        link: l.id, delayMs: l.delayMs, bandwidthBps: l.bandwidthBps,
      }
    }),
  }
}

/** netem's arguments for a link: its one-way delay and its rate (bit/s). */
const netem = (w: WanSite): string[] => ['netem', 'delay', `${w.delayMs}ms`, 'rate', `${w.bandwidthBps}bit`, 'limit', '100000']

/** Makes the namespaces, veths, addresses and netem shaping of the plan; on failure removes what it made. */
export function setUpWan(w: WanSetup): void {
  const why = wanUnavailableReason()
  if (why) throw new EngineError('UNSUPPORTED', why)
  const existing = run(['ip', 'netns', 'list']).err
  try {
    for (const s of w.sites) {
      if (new RegExp(`^${s.netns}\\b`, 'm').test(existing)) throw new EngineError('CONFLICT', `network namespace ${s.netns} already exists (a deployment in this directory still runs? iddb pg down)`)
      must(['ip', 'netns', 'add', s.netns])
      must(['ip', '-n', s.netns, 'link', 'set', 'lo', 'up'])
      must(['ip', 'link', 'add', s.rootIf, 'type', 'veth', 'peer', 'name', s.nsIf, 'netns', s.netns])
      must(['ip', 'addr', 'add', `${s.rootAddr}/30`, 'dev', s.rootIf])
      must(['ip', '-n', s.netns, 'addr', 'add', `${s.nsAddr}/30`, 'dev', s.nsIf])
      must(['ip', 'link', 'set', s.rootIf, 'up'])
      must(['ip', '-n', s.netns, 'link', 'set', s.nsIf, 'up'])
      // both directions: a request waits the link's delay going, its answer the same coming back
      must(['tc', 'qdisc', 'add', 'dev', s.rootIf, 'root', ...netem(s)])
      must(['ip', 'netns', 'exec', s.netns, 'tc', 'qdisc', 'add', 'dev', s.nsIf, 'root', ...netem(s)])
    }
  } catch (e) {
    tearDownWan(w)
    throw e
  }
}

/** Whether every namespace of the plan exists (after `pg down` they do not; startDeployment makes them again). */
export function wanPresent(w: WanSetup): boolean {
  const list = run(['ip', 'netns', 'list']).err
  return w.sites.every((s) => new RegExp(`^${s.netns}\\b`, 'm').test(list))
}

/** Removes the plan's veths and namespaces (those that exist); returns the namespaces removed. */
export function tearDownWan(w: WanSetup): string[] {
  const removed: string[] = []
  for (const s of w.sites) {
    run(['ip', 'link', 'del', s.rootIf]) // deleting one end removes its peer
    if (run(['ip', 'netns', 'del', s.netns]).ok) removed.push(s.netns)
  }
  return removed
}

/**
 * The address a deployment's server is reached at: its own (under --wan, or an attached server), else the
 * deployment's host. By port only for `pg up`'s servers, whose ports are unique; attached servers (which may all
 * listen on 5432) are asked for by the server itself.
 */
export function hostOf(d: Pick<PgDeployment, 'host' | 'sites'>, server: number | { host?: string }): string {
  if (typeof server !== 'number') return server.host ?? d.host
  for (const s of d.sites) for (const x of [s.primary, s.standby]) if (x && x.port === server && x.host) return x.host
  return d.host
}

/** The argv prefix that runs a program inside a server's namespace (none for a server in the root namespace). */
export const inNetns = (netns: string | undefined): string[] => (netns ? ['ip', 'netns', 'exec', netns] : [])
