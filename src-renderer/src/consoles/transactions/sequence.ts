/**
 * The 2PC timeline as a sequence diagram: one lifeline per site, arrows for messages (send → deliver,
 * or a cross where it was lost), dots for state changes, log forces and timeouts, on the virtual time axis.
 */
import type { TimelineEvent } from '../../../../engine/api/txn'

export interface SeqArrow { id: number; from: string; to: string; msg: string; t0: number; t1: number | null; lost: string | null; r0: number; r1: number | null }
export interface SeqMark { site: string; t: number; kind: TimelineEvent['kind']; text: string; r: number }
/** Every event has its own row (r), in order; rowTimes[r] is its virtual time. */
export interface SeqModel { sites: string[]; t0: number; t1: number; arrows: SeqArrow[]; marks: SeqMark[]; rowTimes: number[] }

export function sequenceModel(events: readonly TimelineEvent[], sites: readonly string[]): SeqModel {
  const arrows = new Map<number, SeqArrow>()
  const marks: SeqMark[] = []
  const rowTimes: number[] = []
  for (const e of events) {
    if (e.kind === 'send' && e.id !== undefined && e.to) { arrows.set(e.id, { id: e.id, from: e.site, to: e.to, msg: e.msg ?? '', t0: e.at, t1: null, lost: null, r0: rowTimes.length, r1: null }); rowTimes.push(e.at) }
    else if (e.kind === 'deliver' && e.id !== undefined) { const a = arrows.get(e.id); if (a) { a.t1 = e.at; a.r1 = rowTimes.length; rowTimes.push(e.at) } }
    else if (e.kind === 'drop' && e.id !== undefined) { const a = arrows.get(e.id); if (a) a.lost = e.detail ?? 'lost' }
    else { marks.push({ site: e.site, t: e.at, kind: e.kind, text: e.detail ?? e.msg ?? e.kind, r: rowTimes.length }); rowTimes.push(e.at) }
  }
  const all = [...sites]
  for (const a of arrows.values()) for (const s of [a.from, a.to]) if (!all.includes(s)) all.push(s)
  const times = events.map((e) => e.at)
  return { sites: all, t0: times.length ? Math.min(...times) : 0, t1: times.length ? Math.max(...times) : 0, arrows: [...arrows.values()], marks, rowTimes }
}
