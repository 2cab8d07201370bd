/** Lays out a ticket trace as a message sequence diagram on the virtual time axis (pure, testable). */
import type { TicketTraceEvent } from '../../../../engine/api/tickets'

export interface SeqArrow { from: number; to: number; t0: number; t1: number; label: string; kind: string; lost: boolean }
export interface SeqMark { lane: number; t: number; label: string; kind: string }
export interface SeqLayout { lanes: string[]; arrows: SeqArrow[]; marks: SeqMark[]; t0: number; t1: number }

/** Pairs each send with its delivery (or loss) in FIFO order per (from, to, label). */
export function layoutTrace(sites: string[], events: TicketTraceEvent[]): SeqLayout {
  const lane = (s?: string) => Math.max(0, sites.indexOf(s ?? ''))
  const open = new Map<string, TicketTraceEvent[]>()
  const arrows: SeqArrow[] = []
  const marks: SeqMark[] = []
  const keyOf = (e: TicketTraceEvent) => `${e.from}>${e.to}|${e.detail.replace(/ lost: .*$/, '')}`
  for (const e of events) {
    if (e.kind === 'send') { const k = keyOf(e); const q = open.get(k) ?? []; q.push(e); open.set(k, q) }
    else if ((e.kind === 'deliver' || e.kind === 'drop') && e.from && e.to) {
      const q = open.get(keyOf(e))
      const s = q?.shift()
      arrows.push({ from: lane(e.from), to: lane(e.to), t0: s?.at ?? e.at, t1: e.at, label: s?.detail ?? e.detail, kind: e.msg ?? '', lost: e.kind === 'drop' })
    } else marks.push({ lane: lane(e.site), t: e.at, label: e.detail, kind: e.kind })
  }
  for (const q of open.values()) for (const s of q) arrows.push({ from: lane(s.from), to: lane(s.to), t0: s.at, t1: s.at, label: `${s.detail} (in flight)`, kind: s.msg ?? '', lost: true })
  const times = events.map((e) => e.at)
  return { lanes: sites, arrows, marks, t0: times.length ? Math.min(...times) : 0, t1: times.length ? Math.max(...times) : 0 }
}

/** A text label to place: centred on cx, baseline wanted at cy, w pixels wide. */
export interface LabelBox { cx: number; cy: number; w: number }

/**
 * Places labels so that no two overlap: each keeps its wanted baseline if it is free, otherwise moves by whole
 * line heights (down, up, further down, …) up to `maxShift` pixels; a label that finds no room is left out
 * (null; its arrow still carries the text as a tooltip). `fixed` boxes (lane marks) are obstacles placed first.
 */
export function placeLabels(boxes: LabelBox[], opts: { h: number; maxShift: number; fixed?: LabelBox[] }): (number | null)[] {
  const placed: { x0: number; x1: number; y0: number; y1: number }[] = []
  const rect = (b: LabelBox, y: number) => ({ x0: b.cx - b.w / 2 - 2, x1: b.cx + b.w / 2 + 2, y0: y - opts.h, y1: y })
  const free = (r: { x0: number; x1: number; y0: number; y1: number }) =>
    placed.every((p) => r.x1 <= p.x0 || r.x0 >= p.x1 || r.y1 <= p.y0 || r.y0 >= p.y1)
  for (const f of opts.fixed ?? []) placed.push(rect(f, f.cy))
  const out: (number | null)[] = new Array(boxes.length).fill(null)
  const order = boxes.map((_, i) => i).sort((a, b) => boxes[a].cy - boxes[b].cy || a - b)
  const steps = Math.floor(opts.maxShift / opts.h)
  for (const i of order) {
    const b = boxes[i]
    for (let k = 0; k <= 2 * steps; k++) {
      const shift = (k % 2 === 1 ? 1 : -1) * Math.ceil(k / 2) * opts.h
      const r = rect(b, b.cy + shift)
      if (!free(r)) continue
      placed.push(r)
      out[i] = b.cy + shift
      break
    }
  }
  return out
}
