/**
 * The one message trace every sequence diagram draws, for 2PC and the ticket protocol alike: lanes (sites) and
 * events in order — a message sent, delivered or lost (paired by id), or a mark on a lane (a state change, a log
 * force, a decision, a crash). `traceFromTimeline` (txn/timeline, engine/api/txn.ts) and `traceFromTickets`
 * (tickets/trace, engine/api/tickets.ts) turn the two protocols' recorded events into it; the console lays it out
 * (src-renderer/src/components/sequence/).
 */
import type { TimelineEvent } from './txn'
import type { TicketTraceEvent } from './tickets'

export type TraceEvent =
  | { at: number; kind: 'send'; id: string; from: string; to: string; label: string; text: string }
  | { at: number; kind: 'deliver'; id: string }
  | { at: number; kind: 'drop'; id: string; reason: string }
  | { at: number; kind: 'mark'; site: string; mark: string; text: string; labelled: boolean }

export interface MessageTrace { lanes: string[]; events: TraceEvent[] }

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
