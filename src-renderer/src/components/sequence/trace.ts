/**
 * Lays out the engine's message trace (engine/api/trace.ts: one type for 2PC timelines and ticket runs) for
 * SequenceDiagram: `sequenceModel` puts one event a row, so no two labels share a row and the virtual time of
 * every row is on the axis.
 */
import type { MessageTrace } from '../../../../engine/api/trace'

export { traceFromTickets, traceFromTimeline, type MessageTrace, type TraceEvent } from '../../../../engine/api/trace'

export interface SeqArrow { id: string; from: string; to: string; label: string; text: string; t0: number; t1: number | null; lost: string | null; r0: number; r1: number | null }
export interface SeqMark { site: string; t: number; kind: string; text: string; labelled: boolean; r: number }
/** Every event has its own row (r), in order; rowTimes[r] is its virtual time. */
export interface SeqModel { sites: string[]; t0: number; t1: number; arrows: SeqArrow[]; marks: SeqMark[]; rowTimes: number[] }

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
