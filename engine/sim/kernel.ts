/**
 * Deterministic discrete-event simulation kernel: one virtual clock, one event queue, one seeded PRNG.
 * Events at the same virtual time fire in the order they were scheduled (FIFO by sequence number),
 * so the same seed and the same script give the same run, event for event (see traceHash).
 */
import { Rng } from './rng'
import { assert } from '../assert'

/** Monday 2026-11-23 08:30 at Colombo (UTC+05:30), as epoch milliseconds. */
export const DEFAULT_START_MS = Date.UTC(2026, 10, 23, 3, 0, 0)
/** Sites report local wall time in Colombo/Mumbai/Kandy time (all UTC+05:30). */
export const SITE_UTC_OFFSET_MIN = 330

export interface SimEvent {
  time: number
  seq: number
  kind: string
  run: () => void
  cancelled: boolean
  /** Daemon events (periodic housekeeping such as scheduled refreshes) do not keep runUntilIdle/runUntilTrue going. */
  daemon?: boolean
  done?: boolean
  /** Position in the queue (-1 once it left it): cancel() removes an event at once, so the queue holds live events only. */
  idx: number
}

export interface TraceEntry { time: number; kind: string; detail?: string }

export class Simulator {
  private heap: SimEvent[] = []
  private seqNo = 0
  /** Pending, not cancelled, non-daemon events. */
  private live = 0
  private nowMs: number
  readonly rng: Rng
  readonly seed: number
  private hash = 0x811c9dc5
  private fired = 0
  /** Optional bounded in-memory trace (for replay diagnostics and tests). */
  traceLimit = 0
  readonly trace: TraceEntry[] = []

  constructor(opts: { seed?: number; startMs?: number } = {}) {
    this.seed = (opts.seed ?? 1) >>> 0
    this.rng = new Rng(this.seed)
    this.nowMs = opts.startMs ?? DEFAULT_START_MS
  }

  get now(): number { return this.nowMs }
  get eventsFired(): number { return this.fired }
  get pending(): number { return this.heap.length }
  /** FNV-1a over every fired event's (time, kind, detail): equal hashes ⇔ identical runs in practice. */
  get traceHash(): string { return (this.hash >>> 0).toString(16).padStart(8, '0') }

  /** Schedules `run` after `delayMs` of virtual time. Returns a handle that can be cancelled. */
  schedule(delayMs: number, kind: string, run: () => void, opts?: { daemon?: boolean }): SimEvent {
    if (!(delayMs >= 0) || !Number.isFinite(delayMs)) throw new Error(`bad delay ${delayMs} for ${kind}`)
    // every field set here (done too), so all events share one shape
    const ev: SimEvent = { time: this.nowMs + delayMs, seq: this.seqNo++, kind, run, cancelled: false, daemon: !!opts?.daemon, done: false, idx: -1 }
    if (!ev.daemon) this.live++
    this.push(ev)
    return ev
  }

  /** Schedules a daemon event: it fires when time passes it, but does not keep runUntilIdle going. */
  scheduleDaemon(delayMs: number, kind: string, run: () => void): SimEvent {
    return this.schedule(delayMs, kind, run, { daemon: true })
  }

  /** Pending non-daemon events. */
  get livePending(): number { return this.live }

  at(timeMs: number, kind: string, run: () => void): SimEvent {
    return this.schedule(Math.max(0, timeMs - this.nowMs), kind, run)
  }

  cancel(ev: SimEvent | undefined): void {
    if (!ev || ev.cancelled || ev.done) return
    ev.cancelled = true
    if (!ev.daemon) this.live--
    if (ev.idx >= 0) this.remove(ev.idx)
  }

  /**
   * Mixes a fact into the trace hash: the time, the kind and the details (the event kind is mixed
   * automatically when an event fires). Numbers and strings are hashed as they are, without building text.
   */
  record(kind: string, a?: string | number, b?: string | number, c?: string | number, d?: string | number, e?: string | number): void {
    this.mixNum(this.nowMs)
    this.mixKey(kind)
    if (a !== undefined) this.mixFact(a)
    if (b !== undefined) this.mixFact(b)
    if (c !== undefined) this.mixFact(c)
    if (d !== undefined) this.mixFact(d)
    if (e !== undefined) this.mixFact(e)
    if (this.traceLimit > 0) {
      const detail = [a, b, c, d, e].filter((x) => x !== undefined)
      this.trace.push({ time: this.nowMs, kind, ...(detail.length ? { detail: detail.join(':') } : {}) })
      if (this.trace.length > this.traceLimit) this.trace.shift()
    }
  }

  /** Fires the next event; false when the queue is empty. */
  step(): boolean {
    for (;;) {
      const ev = this.pop()
      if (!ev) return false
      if (ev.cancelled) continue // (cancel() removes events; kept for safety)
      ev.done = true
      if (!ev.daemon) this.live--
      if (ev.time < this.nowMs) assert(false, () => `virtual time is monotonic: event ${ev.kind} at ${ev.time} fired at ${this.nowMs}`)
      this.nowMs = ev.time
      this.fired++
      this.record(ev.kind)
      ev.run()
      return true
    }
  }

  /** Runs every event up to and including `timeMs`, then sets the clock to `timeMs`. */
  runUntil(timeMs: number, maxEvents = Infinity): number {
    let n = 0
    while (this.heap.length && n < maxEvents) {
      const top = this.heap[0]
      // a cancelled event on top must not let step() fire a later event past timeMs
      if (top.cancelled) { this.pop(); continue }
      if (top.time > timeMs) break
      if (this.step()) n++
    }
    if (n < maxEvents && this.nowMs < timeMs) this.nowMs = timeMs
    return n
  }

  advance(deltaMs: number, maxEvents = Infinity): number { return this.runUntil(this.nowMs + deltaMs, maxEvents) }

  /** Runs until no event is left (or `maxEvents` fired). Periodic timers must be stoppable or this never ends. */
  runUntilIdle(maxEvents = 10_000_000): number {
    let n = 0
    while (n < maxEvents && this.live > 0 && this.step()) n++
    return n
  }

  /** Runs until `pred()` holds or no event is left; returns whether it holds. */
  runUntilTrue(pred: () => boolean, maxEvents = 10_000_000): boolean {
    let n = 0
    while (!pred()) {
      if (n++ >= maxEvents || this.live <= 0 || !this.step()) return pred()
    }
    return true
  }

  /** Sets the clock directly (restoring a persisted cluster). Only allowed forward or on an empty queue. */
  restoreClock(timeMs: number): void {
    if (this.heap.some((e) => !e.cancelled && !e.daemon && e.time < timeMs)) throw new Error('restoreClock past pending events')
    this.nowMs = timeMs
  }

  // ---- trace hash (FNV-1a over 32-bit words and string hashes) ------------------------------------
  private readonly f64 = new Float64Array(1)
  private readonly i32 = new Int32Array(this.f64.buffer)
  /** String hashes of the recurring strings (event kinds, site codes); bounded. */
  private readonly keyHash = new Map<string, number>()

  private mixWord(w: number): void { this.hash = Math.imul(this.hash ^ w, 16777619) >>> 0 }
  private mixNum(x: number): void {
    if ((x | 0) === x) { this.mixWord(x); return }
    this.f64[0] = x
    this.mixWord(this.i32[0])
    this.mixWord(this.i32[1])
  }
  private mixFact(x: string | number): void {
    if (typeof x === 'number') this.mixNum(x)
    else this.mixKey(x)
  }
  private mixKey(s: string): void {
    let k = this.keyHash.get(s)
    if (k === undefined) {
      k = 0x811c9dc5
      for (let i = 0; i < s.length; i++) k = Math.imul(k ^ s.charCodeAt(i), 16777619)
      k = (k ^ s.length) >>> 0
      if (this.keyHash.size < 4096) this.keyHash.set(s, k)
    }
    this.mixWord(k)
  }

  // ---- the queue: a binary heap on (time, seq) that knows each event's position -----------------
  private less(a: SimEvent, b: SimEvent): boolean { return a.time < b.time || (a.time === b.time && a.seq < b.seq) }
  private place(ev: SimEvent, i: number): void { this.heap[i] = ev; ev.idx = i }
  private siftUp(i: number): void {
    const h = this.heap
    const ev = h[i]
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!this.less(ev, h[p])) break
      this.place(h[p], i)
      i = p
    }
    this.place(ev, i)
  }
  private siftDown(i: number): void {
    const h = this.heap
    const n = h.length
    const ev = h[i]
    for (;;) {
      const l = 2 * i + 1
      if (l >= n) break
      const r = l + 1
      const m = r < n && this.less(h[r], h[l]) ? r : l
      if (!this.less(h[m], ev)) break
      this.place(h[m], i)
      i = m
    }
    this.place(ev, i)
  }
  private push(ev: SimEvent): void {
    this.heap.push(ev)
    this.siftUp(this.heap.length - 1)
  }
  private remove(i: number): void {
    const h = this.heap
    const ev = h[i]
    ev.idx = -1
    const last = h.pop()!
    if (i === h.length) return
    this.place(last, i)
    if (i > 0 && this.less(last, h[(i - 1) >> 1])) this.siftUp(i)
    else this.siftDown(i)
  }
  private pop(): SimEvent | undefined {
    const h = this.heap
    if (!h.length) return undefined
    const top = h[0]
    this.remove(0)
    return top
  }
}

/** Local wall-clock parts of a virtual instant at the sites (UTC+05:30). */
export function siteLocalTime(ms: number): { y: number; mo: number; d: number; h: number; mi: number; s: number; dow: number } {
  const t = new Date(ms + SITE_UTC_OFFSET_MIN * 60_000)
  return { y: t.getUTCFullYear(), mo: t.getUTCMonth() + 1, d: t.getUTCDate(), h: t.getUTCHours(), mi: t.getUTCMinutes(), s: t.getUTCSeconds(), dow: t.getUTCDay() }
}

export function formatSiteTime(ms: number): string {
  const p = siteLocalTime(ms)
  const z = (n: number) => String(n).padStart(2, '0')
  return `${p.y}-${z(p.mo)}-${z(p.d)} ${z(p.h)}:${z(p.mi)}:${z(p.s)}`
}

/** Next instant strictly after `ms` whose site-local time is hh:mm. */
export function nextLocalTime(ms: number, hh: number, mm: number): number {
  const off = SITE_UTC_OFFSET_MIN * 60_000
  const local = new Date(ms + off)
  let candidate = Date.UTC(local.getUTCFullYear(), local.getUTCMonth(), local.getUTCDate(), hh, mm) - off
  if (candidate <= ms) candidate += 86_400_000
  return candidate
}
