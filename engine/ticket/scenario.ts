/**
 * Scenario-language commands for tickets (registered in engine/scenario's command table):
 *   ticket submit CMB 1001            a POS client at CMB presents ticket 1001 (waits for its answer)
 *   ticket submit CMB,MBI 1001        the same ticket presented at CMB and MBI at once (concurrent claimants)
 *   ticket retry CMB>KDY 1001         present at CMB, retry at KDY after the client timeout
 *   ticket submit CMB 1001 &          present without waiting (the clock does not move; `advance` lets it run)
 *   ticket crash KDY at submit|vote|decide [restart after 2s]   crash KDY's ticket server when it reaches the step
 *   expect ticket 1001 accepted|rejected [at SITE]
 */
import { registerCommand, registerExpectation, parseDuration, type ScenarioContext } from '../scenario/runner'
import { EngineError } from '../errors'
import { ticketsOf, TICKET_STEPS, type TicketStep } from './index'

const WAIT_MS = 60_000

function run(ctx: ScenarioContext, sitesSpec: string, ticket: string, retry: boolean, noWait = false): void {
  const svc = ticketsOf(ctx.cluster)
  const sites = sitesSpec.split(retry ? '>' : ',').map((s) => s.trim().toUpperCase()).filter(Boolean)
  const views = retry ? [svc.present(ticket, sites)] : sites.map((s) => svc.present(ticket, [s]))
  if (noWait) { ctx.last = { value: views, source: `ticket ${sitesSpec} ${ticket} &` }; return }
  const until = ctx.cluster.sim.now + WAIT_MS
  ctx.cluster.sim.runUntilTrue(() => views.every((v) => v.outcome !== 'pending') || ctx.cluster.sim.now >= until, 5_000_000)
  for (const v of views) ctx.out.push(`ticket ${ticket} at ${v.attempts.map((a) => a.site).join('>')}: ${v.answer}`)
  ctx.last = { value: views.map((v) => ({ ...v })), ok: views.some((v) => v.outcome === 'accepted'), source: `ticket ${sitesSpec} ${ticket}` }
}

registerCommand({
  name: 'ticket', usage: 'ticket submit CMB[,MBI…] TKT [&] | ticket retry CMB>KDY TKT [&] | ticket crash SITE at submit|vote|decide [restart after 2s]', summary: 'present a ticket (invoice number) at one or several sites at once, or with retry after a timeout (& : without waiting); or crash a ticket server at a protocol step',
  run: (ctx, a) => {
    if (a[0]?.toLowerCase() === 'crash') {
      if (a.length < 4 || a[2] !== 'at' || !(TICKET_STEPS as readonly string[]).includes(a[3])) throw new EngineError('BAD_INPUT', `usage: ticket crash KDY at vote [restart after 2s]; steps: ${TICKET_STEPS.join(', ')}`)
      const restart = a[4] === 'restart' && a[5] === 'after' ? parseDuration(a[6] ?? '') : undefined
      ticketsOf(ctx.cluster).crashAt(a[1].toUpperCase(), a[3] as TicketStep, restart === undefined ? {} : { restartAfterMs: restart })
      return
    }
    if (a.length < 3 || !['submit', 'retry'].includes(a[0].toLowerCase())) throw new EngineError('BAD_INPUT', 'usage: ticket submit CMB 1001   or   ticket submit CMB,MBI 1001   or   ticket retry CMB>KDY 1001')
    run(ctx, a[1], a[2], a[0].toLowerCase() === 'retry', a[3] === '&')
  },
})

registerExpectation({
  name: 'ticket', usage: 'expect ticket TKT accepted|rejected [at SITE]',
  check: (ctx, a) => {
    const [tkt, want, at, site] = a
    if (!tkt || !['accepted', 'rejected'].includes(want?.toLowerCase())) throw new EngineError('BAD_INPUT', 'usage: expect ticket 1001 accepted [at CMB]')
    const o = ticketsOf(ctx.cluster).outcomeOf(tkt)
    if (!o.decided) return `ticket ${tkt} is not decided yet`
    if (o.soldAt) return want.toLowerCase() === 'accepted' ? `ticket ${tkt} was rejected: it is already a sale at ${o.soldAt}` : undefined
    if (want.toLowerCase() === 'accepted') {
      if (!o.winner) return `ticket ${tkt} was rejected (voided by conflicting claims)`
      if (o.owed) return `ticket ${tkt} was won by ${o.owed} but not accepted: its sale could not be written (owed)`
      if (at?.toLowerCase() === 'at' && site && o.winner !== site.toUpperCase()) return `ticket ${tkt} was accepted at ${o.winner}, not ${site.toUpperCase()}`
      return undefined
    }
    return o.winner ? `ticket ${tkt} was accepted at ${o.winner}` : undefined
  },
})
