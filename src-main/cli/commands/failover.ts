/**
 * `iddb failover` (promote a site's backup server to primary; RPO and RTO printed) and `iddb failback` (the
 * original primary host, rejoined and caught up, is primary again). Both are destructive: --yes, or the site's
 * code typed at the prompt; refused without either when not at a terminal. `iddb failover --status` prints each
 * site's backup feed and lag. docs/FAILOVER.md.
 */
import { parseArgs } from 'node:util'
import { createInterface } from 'node:readline/promises'
import { Cluster } from '../../../engine/cluster'
import { EngineError } from '../../../engine/errors'
import { Failover } from '../../../engine/cluster/failover'
import type { FeedView, PromotionReport } from '../../../engine/api/failover'
import { UsageError, type CliCommand } from '../registry'
import { AS_USAGE, actAs } from '../actor'

const out = (s: string) => process.stdout.write(s)
const MAX_EVENTS = 5_000_000

function feedLine(v: FeedView): string {
  return `${v.site}: primary ${v.primaryHost} (${v.primaryUp ? 'up' : 'down'}), backup ${v.backupHost} (${v.backupUp ? 'up' : 'down'}${v.rejoin !== 'none' ? `, ${v.rejoin}` : ''}); ${v.mode} feed${v.degraded ? ' (degraded)' : ''}; lag ${v.lagBatches} batch(es), ${v.lagRows} row(s), ${v.lagMs} ms`
}

export function reportLine(r: PromotionReport): string {
  const rpo = r.rpoTxns === 0 ? 'RPO 0 (every committed transaction was on the backup)' : `RPO ${r.rpoTxns} committed transaction(s), ${r.rpoRows} row(s) lost (seq ${r.lostSeqs.join(', ')})`
  return `${r.site}: ${r.kind}: ${r.promotedHost} is primary and accepts writes; RTO ${r.rtoMs} ms (virtual); ${rpo}; ${r.mode} feed; 2PC: ${r.inDoubt} in doubt, ${r.coordinators} coordinator record(s) carried on; ${r.demotedHost} ${r.kind === 'failover' ? 'rejoins as backup once repaired' : 'is the backup'}`
}

function command(failback: boolean): CliCommand {
  const name = failback ? 'failback' : 'failover'
  return {
    name,
    summary: failback ? 'fail back: the original primary host (rejoined as backup, caught up) is primary again' : "promote a site's backup server to primary (RPO and RTO printed); --status shows the feeds",
    usage: `iddb ${name} --data DIR --site CODE [--yes] [--json] [--as USER]${failback ? '' : '\niddb failover --data DIR --status [--json]'}

${failback
    ? 'Promotes the original primary host of the site again, once it has rejoined as the backup and caught up\n(nothing committed is lost: the switchover waits for none and refuses while the backup lags).'
    : "Promotes the site's backup server: what it received over the LAN is applied, its image becomes the primary's,\nthe site's 2PC log copy is carried on, and the site accepts writes. Prints the RTO (virtual time from the\ncommand to accepting writes) and the RPO (committed transactions not on the backup: 0 with the synchronous feed).\nThe old primary rejoins as the backup when it is restored."}
Destructive: asks for the site's code at a terminal; --yes confirms without asking; refused otherwise.
${AS_USAGE}`,
    async run(argv) {
      const { values } = parseArgs({ args: argv, options: { data: { type: 'string' }, site: { type: 'string' }, yes: { type: 'boolean' }, json: { type: 'boolean' }, status: { type: 'boolean' }, as: { type: 'string' } }, strict: true })
      if (!values.data) throw new UsageError('--data DIR is required')
      if (values.status && !failback) {
        const c = await Cluster.open(values.data, { readOnly: true })
        try {
          const v = Failover.of(c).view()
          out(values.json ? `${JSON.stringify(v)}\n` : `${v.sites.map(feedLine).join('\n')}\n`)
        } finally { c.close({ checkpoint: false }) }
        return 0
      }
      if (!values.site) throw new UsageError('--site CODE is required (e.g. KDY)')
      const site = values.site.toUpperCase()
      const c = await Cluster.open(values.data)
      let changed = false
      try {
        c.site(site)
        let confirm = values.yes ? site : ''
        if (!values.yes) {
          if (!process.stdin.isTTY) throw new EngineError('BAD_INPUT', `${name} of ${site} not confirmed: pass --yes (or run it at a terminal and type ${site})`, { site })
          const rl = createInterface({ input: process.stdin, output: process.stderr })
          try { confirm = (await rl.question(`type ${site} to ${failback ? 'fail back' : 'promote its backup server'}: `)).trim() } finally { rl.close() }
        }
        await actAs(c, values.as, failback ? 'failover/failback' : 'failover/promote', { site, confirm }, async () => {
          if (confirm !== site) throw new EngineError('BAD_INPUT', `type the site's code ${site} to confirm (got "${confirm}")`, { site })
          const f = Failover.of(c)
          // a switchover (the primary runs) loses nothing: let the feed catch up first (it refuses while the backup lags)
          if (c.isServerUp(`${site}.primary`)) c.settle(60_000)
          const done = failback ? f.failback(site) : f.promote(site)
          c.sim.runUntilTrue(() => !f.feedView(site).promoting, MAX_EVENTS)
          const r = await done
          changed = true
          c.settle()
          out(values.json ? `${JSON.stringify(r)}\n` : `${reportLine(r)}\n`)
        })
      } finally { c.close({ checkpoint: changed }) }
      return 0
    },
  }
}

export const failover = command(false)
export const failback = command(true)
export const commands: CliCommand[] = [failover, failback]
