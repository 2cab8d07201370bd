/** Handlers of the console identity and audit calls (engine/security/identities.ts, audit.ts). */
import { EngineError } from '../../engine/errors'
import { ConsoleIdentities } from '../../engine/security/identities'
import { AuditLog } from '../../engine/security/audit'
import type { HandlerContext, HandlerMap } from './context'

type ConsoleCall = 'console/status' | 'console/setup' | 'console/login' | 'console/resume' | 'console/logout'
  | 'console/identities' | 'console/addIdentity' | 'console/removeIdentity' | 'audit/search' | 'audit/verify'

const ids = (ctx: HandlerContext) => ConsoleIdentities.of(ctx.cluster)
const changed = (ctx: HandlerContext, reason: string) => ctx.emit('security/changed', { reason })

export const consoleHandlers: HandlerMap<ConsoleCall> = {
  'console/status': async (ctx) => ids(ctx).status(),
  'console/setup': async (ctx, { user, password }) => {
    const v = ids(ctx).setup(user, password)
    changed(ctx, 'console set up')
    return v
  },
  'console/login': async (ctx, { user, password, level }) => {
    try { return ids(ctx).login(user, password, level) } finally { changed(ctx, `console login of ${user}`) }
  },
  'console/resume': async (ctx, { token }) => ({ ...ids(ctx).sessionOf(token), token }),
  'console/logout': async (ctx) => {
    if (!ctx.actorToken) throw new EngineError('AUTH_FAILED', 'not logged in')
    const v = ids(ctx).logout(ctx.actorToken)
    changed(ctx, `${v.name} logged out of the console`)
    return v
  },
  'console/identities': async (ctx) => ids(ctx).identities(),
  'console/addIdentity': async (ctx, input) => {
    const v = ids(ctx).add(input)
    changed(ctx, `console identity ${input.user} added`)
    return v
  },
  'console/removeIdentity': async (ctx, { user }) => {
    ids(ctx).remove(user)
    changed(ctx, `console identity ${user} removed`)
    return { removed: user }
  },
  'audit/search': async (ctx, { limit, ...q }) => {
    const log = AuditLog.of(ctx.cluster)
    const entries = log.search({ ...q, limit })
    return { entries, total: log.size }
  },
  'audit/verify': async (ctx) => AuditLog.of(ctx.cluster).verify(),
}
