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
