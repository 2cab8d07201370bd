/**
 * Deadlock handling of the DTM. Local deadlocks (a cycle within one site's wait-for graph) are broken at
 * once, when a lock request waits. Global ones are found by a detector site (Colombo if alive, else the first
 * live site) that gathers every site's local WFG over the network each interval, unions them and confirms a
 * cycle on two consecutive polls before it picks a victim (youngest, oldest or fewest locks) and asks its
 * sites to abort it. Wound-wait, the prevention scheme, wounds a younger holder instead.
 */
import type { SimEvent } from '../sim/kernel'
import { cycleKey, findCycles, reaches, unionWfg, type Wfg } from './wfg'
import type { DeadlockRecord, PartState, WfgView } from '../api/txn'
import { gidOrder, type SiteRt, type Sub, type TxnKernel } from './kernel'
import type { TwoPcRuntime } from './twopc/runtime'

interface WfgReply { site: string; edges: [string, string[]][]; nodes: Record<string, { startAt: number; locks: number; sql?: string; state: PartState }> }

export class DeadlockDetector {
  readonly deadlocks: DeadlockRecord[] = []
  private deadlockSeq = 0
  private det = {
    timer: undefined as SimEvent | undefined,
    confirmTimer: undefined as SimEvent | undefined,
    round: 0,
    at: '' as string,
    collecting: undefined as undefined | { round: number; site: string; replies: Map<string, WfgReply>; expected: Set<string>; timer: SimEvent },
    prevKeys: new Set<string>(),
    lastGlobal: new Map() as Wfg,
    lastLocal: {} as Record<string, [string, string[]][]>,
    lastCycles: [] as string[][],
    polls: 0,
  }

  constructor(private readonly k: TxnKernel, private readonly tpc: TwoPcRuntime) {}

  dispose(): void {
    this.k.cluster.sim.cancel(this.det.timer)
    this.k.cluster.sim.cancel(this.det.confirmTimer)
  }
  private older(s: SiteRt, a: string, b: string): boolean {
    const sa = s.subs.get(a)?.startAt ?? Infinity
    const sb = s.subs.get(b)?.startAt ?? Infinity
    return sa < sb || (sa === sb && gidOrder(a, b) < 0)
  }

  onWait(s: SiteRt, sub: Sub): void {
    if (this.k.opts.scheme === 'wound-wait') {
      for (const b of s.locks.blockersOf(sub.gid)) {
        const bs = s.subs.get(b)
        if (bs && bs.m.phase === 'INITIAL' && this.older(s, sub.gid, b)) {
          this.deadlocks.push({ id: ++this.deadlockSeq, at: this.k.now, by: 'wound-wait', site: s.code, cycle: [sub.gid, b], victim: b, statements: [{ gid: sub.gid, site: s.code, sql: sub.waitingSql ?? '' }, { gid: b, site: s.code, sql: bs.stmts[bs.stmts.length - 1] ?? '' }] })
          this.trimDeadlocks()
          if (this.k.tlOn) this.k.note(b, { kind: 'note', site: s.code, detail: `wounded by older ${sub.gid}` })
          this.k.at(s, 0, 'txn.wound', () => this.tpc.abortFromSite(s, b, `wounded by older ${sub.gid} (wound-wait)`))
        }
      }
      return
    }
    // local deadlock: broken at once
    const path = reaches((v) => s.locks.blockersOf(v), sub.gid, sub.gid, 5000)
    if (path) {
      const victim = this.pickVictim(path, (g) => s.subs.get(g)?.startAt ?? 0, (g) => s.locks.heldCount(g))
      this.deadlocks.push({ id: ++this.deadlockSeq, at: this.k.now, by: 'local', site: s.code, cycle: path, victim, statements: path.map((g) => ({ gid: g, site: s.code, sql: s.subs.get(g)?.waitingSql ?? '' })) })
      this.trimDeadlocks()
      this.k.cluster.log('deadlock', `local deadlock at ${s.code}: ${path.join(' → ')} → ${path[0]}; victim ${victim}`, s.code)
      if (this.k.tlOn) this.k.note(victim, { kind: 'note', site: s.code, detail: 'chosen as deadlock victim (local WFG)' })
      this.k.at(s, 0, 'txn.victim', () => this.tpc.abortFromSite(s, victim, `deadlock victim at ${s.code}`))
      return
    }
    this.ensureDetector()
  }

  private trimDeadlocks(): void { if (this.deadlocks.length > 500) this.deadlocks.shift() }

  private pickVictim(cycle: string[], startOf: (g: string) => number, locksOf: (g: string) => number): string {
    const sorted = [...cycle].sort((a, b) => (startOf(a) - startOf(b)) || gidOrder(a, b))
    if (this.k.opts.victim === 'oldest') return sorted[0]
    if (this.k.opts.victim === 'fewest-locks') return [...sorted].reverse().sort((a, b) => locksOf(a) - locksOf(b))[0]
    return sorted[sorted.length - 1]
  }

  /** The site that runs global detection: Colombo (HQ) if alive, else the first live site. */
  detectorSite(): string | undefined {
    const order = [...this.k.cluster.topology.sites].sort((a, b) => Number(b.hq) - Number(a.hq)).map((x) => x.code)
    return order.find((c) => this.k.up(c))
  }

  ensureDetector(): void {
    if (this.k.opts.scheme !== 'detect' || this.det.timer) return
    this.det.timer = this.k.cluster.sim.schedule(this.k.opts.detectIntervalMs, 'dl.tick', () => this.detectorTick())
  }

  private anyWaiting(): boolean {
    for (const s of this.k.sites.values()) if (s.locks.waiterCount > 0) return true
    return false
  }

  private detectorTick(): void {
    this.det.timer = undefined
    if (!this.anyWaiting() && !this.det.prevKeys.size) { this.det.prevKeys.clear(); return }
    this.poll()
    this.ensureDetector()
  }

  /** One gathering round: the detector site asks every site for its local WFG over the network. */
  poll(): void {
    const at = this.detectorSite()
    if (!at) return
    if (this.det.collecting) this.analyze()
    const round = ++this.det.round
    const ds = this.k.rt(at)
    this.det.at = at
    const col = { round, site: at, replies: new Map<string, WfgReply>(), expected: new Set<string>(), timer: undefined as unknown as SimEvent }
    this.det.collecting = col
    col.timer = this.k.at(ds, this.k.opts.gatherTimeoutMs, 'dl.gatherTimeout', () => { if (this.det.collecting === col) this.analyze() })
    for (const code of this.k.sites.keys()) {
      col.expected.add(code)
      this.k.send(at, code, 'dl.collect', `dl#${round}`, 16, () => {
        const s = this.k.rt(code)
        const rep = this.localWfgReply(s)
        this.k.send(code, at, 'dl.wfg', `dl#${round}`, 16 + rep.edges.length * 24, () => {
          if (this.det.collecting !== col) return
          col.replies.set(code, rep)
          if (col.replies.size === col.expected.size) this.analyze()
        })
      })
    }
  }

  private localWfgReply(s: SiteRt): WfgReply {
    const g = s.locks.waitsFor()
    const nodes: WfgReply['nodes'] = {}
    for (const [a, bs] of g) for (const x of [a, ...bs]) {
      if (nodes[x]) continue
      const sub = s.subs.get(x)
      nodes[x] = { startAt: sub?.startAt ?? 0, locks: s.locks.heldCount(x), sql: sub?.waitingSql, state: sub?.state ?? 'INITIAL' }
    }
    return { site: s.code, edges: [...g], nodes }
  }

  private analyze(): void {
    const col = this.det.collecting
    if (!col) return
    this.det.collecting = undefined
    this.k.cluster.sim.cancel(col.timer)
    this.det.polls++
    const g = unionWfg([...col.replies.values()].map((r) => r.edges))
    const nodes: Record<string, WfgReply['nodes'][string] & { sites: string[] }> = {}
    for (const r of col.replies.values()) for (const [k, v] of Object.entries(r.nodes)) {
      const n = nodes[k] ?? (nodes[k] = { ...v, sites: [] })
      n.locks = Math.max(n.locks, v.locks)
      if (v.sql) { n.sql = v.sql; n.sites.push(r.site) }
      if (v.startAt) n.startAt = v.startAt
    }
    this.det.lastGlobal = g
    this.det.lastLocal = Object.fromEntries([...col.replies].map(([k, r]) => [k, r.edges]))
    const cycles = findCycles(g)
    this.det.lastCycles = cycles
    const keys = new Set<string>()
    let suspects = 0
    for (const cyc of cycles) {
      const key = cycleKey(cyc)
      if (this.det.prevKeys.has(key)) {
        const victim = this.pickVictim(cyc, (x) => nodes[x]?.startAt ?? 0, (x) => nodes[x]?.locks ?? 0)
        const rec: DeadlockRecord = {
          id: ++this.deadlockSeq, at: this.k.now, by: 'global', site: col.site, cycle: cyc, victim,
          statements: cyc.map((x) => ({ gid: x, site: nodes[x]?.sites[0] ?? '', sql: nodes[x]?.sql ?? '' })),
        }
        this.deadlocks.push(rec)
        this.trimDeadlocks()
        this.k.cluster.log('deadlock', `global deadlock found at ${col.site}: ${cyc.join(' → ')} → ${cyc[0]}; victim ${victim}`, col.site)
        const targets = new Set([victim.split('-')[0], ...(nodes[victim]?.sites ?? [])])
        for (const t of targets) {
          this.k.send(col.site, t, 'dl.abort', victim, 24, () => {
            const ts = this.k.rt(t)
            if (this.k.tlOn) this.k.note(victim, { kind: 'note', site: t, detail: 'deadlock victim (global WFG)' })
            const c = ts.coords.get(victim)
            if (c && c.m.phase === 'INITIAL') this.tpc.globalAbort(ts, c, `deadlock victim (cycle ${cyc.join(' → ')})`)
            const sub = ts.subs.get(victim)
            if (sub && sub.m.phase === 'INITIAL') this.tpc.abortFromSite(ts, victim, 'deadlock victim')
          })
        }
      } else { keys.add(key); suspects++ }
    }
    this.det.prevKeys = keys
    if (suspects && !this.det.confirmTimer) {
      // confirm on a second poll soon, so that a real deadlock stands for less than two intervals
      this.det.confirmTimer = this.k.cluster.sim.schedule(this.k.opts.detectIntervalMs / 2, 'dl.confirm', () => { this.det.confirmTimer = undefined; this.poll() })
    }
  }

  /** The omniscient union of the local WFGs right now (tests and the console's live view). */
  currentGlobalWfg(): Wfg {
    return unionWfg([...this.k.sites.values()].filter((s) => this.k.up(s.code)).map((s) => [...s.locks.waitsFor()]))
  }

  wfgView(): WfgView {
    const local: WfgView['local'] = {}
    const nodeInfo = new Map<string, WfgView['nodes'][number]>()
    for (const s of this.k.sites.values()) {
      const edges = this.k.up(s.code) ? [...s.locks.waitsFor()] : []
      local[s.code] = edges.flatMap(([a, bs]) => bs.map((b) => ({ from: a, to: b })))
      for (const [a, bs] of edges) for (const x of [a, ...bs]) {
        const sub = s.subs.get(x)
        const n = nodeInfo.get(x) ?? { gid: x, origin: x.split('-')[0], startAt: sub?.startAt ?? 0, waitingAt: [] as string[], sql: [] as string[] }
        if (sub?.startAt) n.startAt = sub.startAt
        if (a === x) { n.waitingAt.push(s.code); if (sub?.waitingSql) n.sql.push(`${s.code}: ${sub.waitingSql}`) }
        nodeInfo.set(x, n)
      }
    }
    const g = this.currentGlobalWfg()
    const cycles = findCycles(g)
    const global = [...g].flatMap(([a, bs]) => bs.map((b) => ({ from: a, to: b })))
    // where each wait is, and for which lock: the edge labels of the console's graph
    const waits = global.flatMap(({ from, to }) => [...this.k.sites.values()].flatMap((s) => {
      if (!local[s.code]?.some((e) => e.from === from && e.to === to)) return []
      const w = s.locks.waitingRequest(from)
      return [{ from, to, site: s.code, lock: w ? `${w.mode} ${w.resource}` : '?' }]
    }))
    return {
      at: this.k.now, detector: this.detectorSite() ?? null, scheme: this.k.opts.scheme, intervalMs: this.k.opts.detectIntervalMs,
      nodes: [...nodeInfo.values()], global, waits, local, cycles,
      lastPoll: { round: this.det.round, at: this.det.at, cycles: this.det.lastCycles, suspects: [...this.det.prevKeys] },
    }
  }

}
