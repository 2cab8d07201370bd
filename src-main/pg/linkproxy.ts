/**
 * The links between the console and its sites' servers, as TCP forwarders the console's connections go through
 * (live mode's "make a link unreachable" drill, `liveDrill/cutLink` / `restoreLink`). One loopback listener per
 * site forwards every connection to the site's server; the DQP's reads, the DTM's stores and the replication
 * applier reach the site through it (LiveSites), so a cut link is what those connections really meet:
 *
 *   - cut: every connection through the link is torn down at once (both sockets destroyed: the client sees the
 *     connection reset, the server a client gone, so a transaction open on it is rolled back there and a prepared
 *     one stays prepared), and every new connection is reset as soon as it is accepted — the console learns of it
 *     at its next call, as UNREACHABLE, within a round trip rather than after a timeout;
 *   - restore: connections are forwarded again; the bridge opens a new session on its next call.
 *
 * The forwarders run in a worker thread of their own: the engine thread waits in Atomics.wait while its
 * synchronous bridge (syncbridge.ts) runs a statement, so a forwarder on the engine thread's event loop could never
 * forward that statement. Control calls are synchronous for the same reason (a cut is in force when cut() returns).
 * What goes round the link: the console's logins (roles.ts), its server monitor (deadlocks, catalog, drills,
 * backups) connect to the servers directly — the drill cuts the data path, not the administrator's own hands.
 */
import { Worker, receiveMessageOnPort, MessageChannel, type MessagePort } from 'node:worker_threads'
import { EngineError } from '../../engine/errors'
import type { LiveLinkState } from '../ipc/contract/liveops'

export interface LinkTarget { host: string; port: number }

export type LinkState = LiveLinkState

const WORKER_SOURCE = String.raw`
'use strict'
const net = require('node:net')
const { workerData } = require('node:worker_threads')
const { port, flag: sab, targets } = workerData
const flag = new Int32Array(sab)
function send(m) { port.postMessage(m); Atomics.add(flag, 0, 1); Atomics.notify(flag, 0) }
const links = new Map()
function kill(l) { for (const [a, b] of l.pairs) { a.destroy(); b.destroy() } l.pairs.clear() }
function state(site) { const l = links.get(site); return { site, port: l.port, target: { ...l.target }, cut: l.cut, connections: l.pairs.size, refused: l.refused } }
let pending = Object.keys(targets).length
for (const site of Object.keys(targets)) {
  const l = { target: { ...targets[site] }, cut: false, pairs: new Map(), refused: 0, port: 0 }
  links.set(site, l)
  l.server = net.createServer({ noDelay: true }, (client) => {
    client.on('error', () => {})
    if (l.cut) { l.refused++; client.resetAndDestroy ? client.resetAndDestroy() : client.destroy(); return }
    const upstream = net.connect({ host: l.target.host, port: l.target.port, noDelay: true })
    upstream.on('error', () => client.destroy())
    client.on('error', () => upstream.destroy())
    l.pairs.set(client, upstream)
    const gone = () => { l.pairs.delete(client); client.destroy(); upstream.destroy() }
    client.on('close', gone)
    upstream.on('close', gone)
    client.pipe(upstream)
    upstream.pipe(client)
  })
  l.server.listen(0, '127.0.0.1', () => {
    l.port = l.server.address().port
    if (--pending === 0) send({ id: 0, ok: true, links: [...links.keys()].map(state) })
  })
}
port.on('message', (m) => {
  const l = links.get(m.site)
  if (m.t === 'close') { for (const x of links.values()) { kill(x); x.server.close() } send({ id: m.id, ok: true }); port.close(); return }
  if (m.t === 'states') { send({ id: m.id, ok: true, links: [...links.keys()].map(state) }); return }
  if (!l) { send({ id: m.id, ok: false, error: 'no link to ' + m.site }); return }
  if (m.t === 'cut') { l.cut = true; kill(l) }
  else if (m.t === 'restore') l.cut = false
  else if (m.t === 'retarget') { l.target = { host: m.host, port: m.port }; kill(l) }
  send({ id: m.id, ok: true, links: [state(m.site)] })
})
`

type Reply = { id: number; ok: true; links?: LinkState[] } | { id: number; ok: false; error: string }

const CONTROL_MS = 5_000

export class LinkProxies {
  private seq = 0
  private closed = false
  private states = new Map<string, LinkState>()

  private constructor(private worker: Worker, private port: MessagePort, private flag: Int32Array) {}

  /** Starts one forwarder per site, each listening on a free loopback port; returns once all listen. */
  static start(targets: Record<string, LinkTarget>): LinkProxies {
    const sab = new SharedArrayBuffer(4)
    const { port1, port2 } = new MessageChannel()
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { port: port2, flag: sab, targets }, transferList: [port2] })
    worker.unref()
    const p = new LinkProxies(worker, port1, new Int32Array(sab))
    const r = p.wait(0)
    if (!r.ok) throw new EngineError('INTERNAL', `the link forwarders did not start: ${r.error}`)
    for (const s of r.links ?? []) p.states.set(s.site, s)
    return p
  }

  private wait(id: number): Reply {
    const deadline = performance.now() + CONTROL_MS
    for (;;) {
      const seen = Atomics.load(this.flag, 0)
      for (let m = receiveMessageOnPort(this.port); m; m = receiveMessageOnPort(this.port)) {
        const r = m.message as Reply
        if (r.id === id) return r
      }
      const left = deadline - performance.now()
      if (left <= 0) throw new EngineError('INTERNAL', 'the link forwarders did not answer')
      Atomics.wait(this.flag, 0, seen, left)
    }
  }

  private call(m: { t: string; site?: string; host?: string; port?: number }): LinkState[] {
    if (this.closed) throw new EngineError('NOT_READY', 'the links are closed')
    const id = ++this.seq
    this.port.postMessage({ ...m, id })
    const r = this.wait(id)
    if (!r.ok) throw new EngineError('UNKNOWN_SITE', r.error, m.site ? { site: m.site } : undefined)
    for (const s of r.links ?? []) this.states.set(s.site, s)
    return r.links ?? []
  }

  /** The loopback port the console's connections to `site` go to. */
  portOf(site: string): number {
    const s = this.states.get(site)
    if (!s) throw new EngineError('UNKNOWN_SITE', `no link to ${site}`, { site })
    return s.port
  }

  /** Where the link to `site` leads now (the site's server). */
  targetOf(site: string): LinkTarget | undefined { return this.states.get(site)?.target }

  /** Every link as the forwarders report it now. */
  list(): LinkState[] { return this.call({ t: 'states' }) }

  cut(site: string): LinkState { return this.call({ t: 'cut', site })[0] }
  restore(site: string): LinkState { return this.call({ t: 'restore', site })[0] }
  /** The site's server moved (a failover): the link leads there from now on; connections through it are ended. */
  retarget(site: string, target: LinkTarget): LinkState { return this.call({ t: 'retarget', site, host: target.host, port: target.port })[0] }

  close(): void {
    if (this.closed) return
    try { this.call({ t: 'close' }) } catch { /* the worker is gone already */ }
    this.closed = true
    void this.worker.terminate()
  }
}
