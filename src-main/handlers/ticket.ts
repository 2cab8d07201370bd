import type { HandlerMap } from './context'
import { ticketsOf, type TicketRequestView } from '../../engine/ticket/index'
import type { Cluster } from '../../engine/cluster'

const WAIT_MS = 60_000

/** Runs the simulation until every request is answered (or timed out), bounded in virtual time. */
function settle(cluster: Cluster, views: TicketRequestView[]): void {
  const until = cluster.sim.now + WAIT_MS
  cluster.sim.runUntilTrue(() => views.every((v) => v.outcome !== 'pending') || cluster.sim.now >= until, 5_000_000)
}

export const ticketHandlers: HandlerMap<'tickets/submit' | 'tickets/submitConcurrent' | 'tickets/state' | 'tickets/history' | 'tickets/trace'> = {
  'tickets/submit': async (ctx, input) => {
    const svc = ticketsOf(ctx.cluster)
    const v = svc.present(input.ticket, [input.site, ...input.retry], { client: input.client, sale: input.sale })
    settle(ctx.cluster, [v])
    ctx.emit('tickets/changed', { ticket: input.ticket })
    return { requests: [structuredClone(v)], state: svc.stateView() }
  },
  'tickets/submitConcurrent': async (ctx, input) => {
    const svc = ticketsOf(ctx.cluster)
    const vs = input.sites.map((s) => svc.present(input.ticket, [s], { sale: input.sale }))
    settle(ctx.cluster, vs)
    ctx.emit('tickets/changed', { ticket: input.ticket })
    return { requests: vs.map((v) => structuredClone(v)), state: svc.stateView() }
  },
  'tickets/state': async (ctx) => ticketsOf(ctx.cluster).stateView(),
  'tickets/history': async (ctx, input) => ticketsOf(ctx.cluster).history(input.limit),
  'tickets/trace': async (ctx, input) => {
    const svc = ticketsOf(ctx.cluster)
    return { ticket: input.ticket, sites: svc.codes, events: svc.traceOf(input.ticket), outcome: svc.outcomeOf(input.ticket) }
  },
}
