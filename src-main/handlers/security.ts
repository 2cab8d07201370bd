/** Handlers of the distributed security manager calls (engine/security). */
import { SecurityManager } from '../../engine/security/dsm'
import type { HandlerMap } from './context'
import { firewallView, setFirewallRules } from '../../engine/security/firewall'
import { runDrill } from '../../engine/security/intruder'
import { inspectPackets } from '../../engine/security/inspector'
import { dqpFor } from '../../engine/query/dqp'

type SecurityCall = 'security/state' | 'security/addUser' | 'security/removeUser' | 'security/setPassword' | 'security/login' | 'security/logout'
  | 'security/firewalls' | 'security/setFirewallRules' | 'security/intruderDrill' | 'security/packets'

export const securityHandlers: HandlerMap<SecurityCall> = {
  'security/state': async (ctx) => SecurityManager.of(ctx.cluster).state(),
  'security/addUser': async (ctx, { site, user, password, clearance }) => {
    const u = SecurityManager.of(ctx.cluster).addUser(site, user, password, clearance)
    ctx.emit('security/changed', { reason: `user ${user} added at ${site}` })
    return u
  },
  'security/removeUser': async (ctx, { site, user }) => {
    SecurityManager.of(ctx.cluster).removeUser(site, user)
    ctx.emit('security/changed', { reason: `user ${user} removed at ${site}` })
    return { removed: user }
  },
  'security/setPassword': async (ctx, { site, user, password }) => {
    SecurityManager.of(ctx.cluster).setPassword(site, user, password)
    ctx.emit('security/changed', { reason: `password of ${user} reset at ${site}` })
    return { user }
  },
  'security/login': async (ctx, { site, user, password, home, level }) => {
    const dsm = SecurityManager.of(ctx.cluster)
    try {
      const v = dsm.login(site, user, password, { home, level })
      ctx.cluster.log('security', `${user} logged in at ${site}: ${v.level} session ${v.id} (${v.via})`, site)
      return v
    } catch (e) {
      ctx.cluster.log('security', `login of ${user} at ${site} refused: ${e instanceof Error ? e.message : String(e)}`, site)
      throw e
    } finally {
      ctx.emit('security/changed', { reason: `login at ${site}` }) // refusals are audited too
    }
  },
  'security/logout': async (ctx, { session }) => {
    const s = SecurityManager.of(ctx.cluster).logout(session)
    ctx.emit('security/changed', { reason: `${s.user} logged out` })
    return s
  },
  'security/firewalls': async (ctx) => ctx.cluster.siteCodes.map((site) => firewallView(ctx.cluster, site)),
  'security/setFirewallRules': async (ctx, { site, rules }) => {
    const v = setFirewallRules(ctx.cluster, site, rules)
    ctx.emit('security/changed', { reason: `firewall rules of ${site} set` })
    return v
  },
  'security/intruderDrill': async (ctx) => {
    const dqp = await dqpFor(ctx.cluster)
    try {
      return await runDrill(ctx.cluster, { query: (site, sql) => dqp.run(site, sql) })
    } finally {
      ctx.emit('security/changed', { reason: 'intruder drill' })
    }
  },
  'security/packets': async (ctx, { link, limit }) => inspectPackets(ctx.cluster, link, limit),
}
