import { EngineError } from '../../engine/errors'
import type { HandlerContext, HandlerMap } from './context'
import { jobLog } from '../../engine/cluster/joblog'
import { formatSiteTime } from '../../engine/sim/kernel'
import type { RecoveryResult } from '../ipc/contract/replication'
import { waitForRepository } from '../../engine/backup/repository'

type ReplicationCall = 'replication/recover' | 'replication/refreshCopy'

/** Transfers are simulated: run the virtual clock until the data has arrived (bounded), like a query does. */
const MAX_EVENTS = 2_000_000

export const replicationHandlers: HandlerMap<ReplicationCall> = {
  'replication/recover': async (ctx, input) => {
    const c = ctx.cluster
    c.site(input.site) // UNKNOWN_SITE for a well-formed code that is not in the topology
    // a restore replaces the site's data: it goes ahead only when the administrator typed the site's code
    if (input.confirm !== input.site) throw new EngineError('BAD_INPUT', `type the site's code ${input.site} to confirm the recovery from ${input.from === 'backup' ? 'its backup server' : 'the main repository'}: it replaces ${input.site}'s data (got "${input.confirm}")`, { site: input.site })
    // recorded in the engine's job history (the Jobs page): virtual start and end, rows, or the error
    const rec = jobLog(c).start({ kind: 'recovery', site: input.site, label: `recovery of ${input.site} from ${input.from === 'backup' ? 'its backup server' : 'the main repository'}` })
    try {
      const r = await recover(ctx, input)
      rec.done({ rows: r.rows, detail: r.message })
      return r
    } catch (e) { rec.fail(e); throw e }
  },
  'replication/refreshCopy': async (ctx, { copy }) => {
    const c = ctx.cluster
    c.copyStatus(copy) // UNKNOWN_TABLE before anything runs
    const t0 = c.sim.now
    const id = c.refreshCopy(copy)
    c.sim.runUntilTrue(() => jobLog(c).get(id)?.status !== 'running', MAX_EVENTS)
    const j = jobLog(c).get(id)!
    const st = c.copyStatus(copy)
    if (j.status !== 'done') {
      const when = j.nextRetryAt === null ? '' : `; pending, retried at ${formatSiteTime(j.nextRetryAt).slice(11, 19)} or when the path returns`
      throw new EngineError('UNREACHABLE', `the refresh of ${copy} was missed: ${j.error?.message ?? j.status}${when}`, { site: st.site })
    }
    ctx.emit('catalog/changed', { reason: `${copy} refreshed` })
    return { copy, site: st.site, rows: st.rows, virtualMs: c.sim.now - t0, refreshedAt: st.lastRefreshAt ?? c.sim.now, changed: j.rows, bytes: j.bytes, mode: j.detail?.startsWith('incremental') ? 'incremental' as const : 'full' as const }
  },
}

async function recover(ctx: HandlerContext, { site, from }: { site: string; from: 'backup' | 'repository'; confirm: string }): Promise<RecoveryResult> {
    const c = ctx.cluster
    const t0 = c.sim.now
    let rows: number
    if (from === 'backup') {
      rows = c.recoverFromBackup(site).redone
      // media recovery gave the primary a good image again: it goes back into service
      if (!c.isServerUp(`${site}.primary`)) c.restoreServer(`${site}.primary`)
    } else {
      let restored: number | undefined
      let refused: EngineError | undefined
      waitForRepository(c, site) // the repository first receives every commit of the branch (or the restore is refused)
      c.restoreFromRepository(site, (n) => { restored = n }, (e) => { refused = e })
      c.sim.runUntilTrue(() => restored !== undefined || refused !== undefined, MAX_EVENTS)
      if (refused) throw refused
      if (restored === undefined) throw new EngineError('UNREACHABLE', `the restore of ${site} from the main repository did not arrive (see the event log)`, { site })
      rows = restored
    }
    ctx.emit('catalog/changed', { reason: `${site} recovered from ${from}` })
    const view = c.topologyView()
    ctx.emit('topology/changed', view)
    // a recovery ends with the site serving, or says what is left to do for that
    const serving = c.isSiteUp(site)
    const down = view.sites.find((s) => s.code === site)!.servers.filter((v) => v.status !== 'up' && v.kind !== 'backup' && v.kind !== 'repository').map((v) => v.id)
    const stepLeft = serving ? null : `${site} is still down (${down.join(', ')} down): restore the site to service to serve again`
    const done = from === 'backup'
      ? `${site}.primary reloaded from ${site}.backup; ${rows} log record(s) redone`
      : `${site} restored from the main repository: ${rows} rows`
    const message = `${done}; ${serving ? `${site} is serving` : `step left: ${stepLeft}`}`
    return { site, from, rows, virtualMs: c.sim.now - t0, message, serving, stepLeft }
}
