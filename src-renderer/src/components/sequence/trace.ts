/**
 * One message trace for every sequence diagram (2PC timelines, ticket protocol runs): lanes (sites) and
 * events in order — a message sent, delivered or lost (paired by id), or a mark on a lane (a state change,
 * a log force, a decision). `traceFromTimeline` and `traceFromTickets` turn the engine's two trace formats
 * into it; `sequenceModel` lays it out one event a row, so no two labels share a row and the virtual time
 * of every row is on the axis.
 */
import type { TimelineEvent } from '../../../../engine/api/txn'
import type { TicketTraceEvent } from '../../../../engine/api/tickets'

export type TraceEvent =
  | { at: number; kind: 'send'; id: string; from: string; to: string; label: string; text: string }
  | { at: number; kind: 'deliver'; id: string }
  | { at: number; kind: 'drop'; id: string; reason: string }
  | { at: number; kind: 'mark'; site: string; mark: string; text: string; labelled: boolean }

export interface MessageTrace { lanes: string[]; events: TraceEvent[] }

export interface SeqArrow { id: string; from: string; to: string; label: string; text: string; t0: number; t1: number | null; lost: string | null; r0: number; r1: number | null }
export interface SeqMark { site: string; t: number; kind: string; text: string; labelled: boolean; r: number }
/** Every event has its own row (r), in order; rowTimes[r] is its virtual time. */
export interface SeqModel { sites: string[]; t0: number; t1: number; arrows: SeqArrow[]; marks: SeqMark[]; rowTimes: number[] }

/** A 2PC timeline (txn/timeline): messages carry their ids; state changes, log forces, timeouts and notes are marks. */
export function traceFromTimeline(events: readonly TimelineEvent[], sites: readonly string[]): MessageTrace {
  const out: TraceEvent[] = []
  for (const e of events) {
    if (e.kind === 'send' && e.id !== undefined && e.to) {
      const label = (e.msg ?? '').replace(/^(txn|dl)\./, '').toUpperCase()
      out.push({ at: e.at, kind: 'send', id: String(e.id), from: e.site, to: e.to, label, text: label })
    } else if (e.kind === 'deliver' && e.id !== undefined) out.push({ at: e.at, kind: 'deliver', id: String(e.id) })
    else if (e.kind === 'drop' && e.id !== undefined) out.push({ at: e.at, kind: 'drop', id: String(e.id), reason: e.detail ?? 'lost' })
    else if (e.kind !== 'send' && e.kind !== 'deliver' && e.kind !== 'drop') out.push({ at: e.at, kind: 'mark', site: e.site, mark: e.kind, text: e.detail ?? e.msg ?? e.kind, labelled: true })
  }
  return { lanes: [...sites], events: out }
}

/** A ticket trace (tickets/trace): sends pair with their delivery or loss in FIFO order per (from, to, message). */
export function traceFromTickets(sites: readonly string[], events: readonly TicketTraceEvent[]): MessageTrace {
  const open = new Map<string, string[]>()
  const out: TraceEvent[] = []
  const keyOf = (e: TicketTraceEvent) => `${e.from}>${e.to}|${e.detail.replace(/ lost: .*$/, '')}`
  let n = 0
  for (const e of events) {
    if (e.kind === 'send' && e.from && e.to) {
      const id = `m${++n}`
      const q = open.get(keyOf(e)) ?? []
      q.push(id)
      open.set(keyOf(e), q)
      out.push({ at: e.at, kind: 'send', id, from: e.from, to: e.to, label: e.msg ?? '', text: e.detail })
    } else if ((e.kind === 'deliver' || e.kind === 'drop') && e.from && e.to) {
      const id = open.get(keyOf(e))?.shift()
      if (!id) continue
      out.push(e.kind === 'deliver' ? { at: e.at, kind: 'deliver', id } : { at: e.at, kind: 'drop', id, reason: e.detail.replace(/^.* lost: /, '') })
    } else {
      out.push({ at: e.at, kind: 'mark', site: e.site ?? sites[0] ?? '', mark: e.kind, text: e.detail, labelled: e.kind === 'decide' || e.kind === 'elect' || e.kind === 'crash' || e.kind === 'submit' })
    }
  }
  return { lanes: [...sites], events: out }
}

export function sequenceModel(trace: MessageTrace): SeqModel {
  const arrows = new Map<string, SeqArrow>()
  const marks: SeqMark[] = []
  const rowTimes: number[] = []
  for (const e of trace.events) {
    if (e.kind === 'send') { arrows.set(e.id, { id: e.id, from: e.from, to: e.to, label: e.label, text: e.text, t0: e.at, t1: null, lost: null, r0: rowTimes.length, r1: null }); rowTimes.push(e.at) }
    else if (e.kind === 'deliver') { const a = arrows.get(e.id); if (a) { a.t1 = e.at; a.r1 = rowTimes.length; rowTimes.push(e.at) } }
    else if (e.kind === 'drop') { const a = arrows.get(e.id); if (a) a.lost = e.reason }
    else { marks.push({ site: e.site, t: e.at, kind: e.mark, text: e.text, labelled: e.labelled, r: rowTimes.length }); rowTimes.push(e.at) }
  }
  const all = [...trace.lanes]
  for (const a of arrows.values()) for (const s of [a.from, a.to]) if (!all.includes(s)) all.push(s)
  for (const m of marks) if (m.site && !all.includes(m.site)) all.push(m.site)
  const times = trace.events.map((e) => e.at)
  return { sites: all, t0: times.length ? Math.min(...times) : 0, t1: times.length ? Math.max(...times) : 0, arrows: [...arrows.values()], marks, rowTimes }
}
