/**
 * The authorization wrapper every IPC call goes through (the worker dispatches to `handlers`, which index.ts wraps
 * with this). It resolves the acting identity from the console token the transport bound to the connection
 * (ctx.actorToken → ConsoleIdentities.actorOf → ctx.actor), then lets the engine decide
 * (ConsoleIdentities.audited → enforce → roles.ts authorizeAction): a refusal is audited and thrown as
 * ACCESS_DENIED naming the role and the site (AUTH_FAILED before login); an audited action's outcome is recorded.
 * The handler then runs with `ctx.actor` set (its DSM session token in `ctx.actor.session`).
 */
import { ConsoleIdentities } from '../../engine/security/identities'
import { authorizeAction } from '../../engine/security/roles'
import { AuditLog } from '../../engine/security/audit'
import type { HostCallName } from '../ipc/contract'
import type { HandlerContext, HandlerMap } from './context'

type AnyHandler = (ctx: HandlerContext, input: unknown) => Promise<unknown>

export function withAuthz<M extends Partial<HandlerMap<HostCallName>>>(map: M): M {
  const out: Record<string, AnyHandler> = {}
  for (const [name, h] of Object.entries(map) as [string, AnyHandler][]) {
    out[name] = async (ctx, input) => {
      const ids = ConsoleIdentities.of(ctx.cluster)
      // a transport's call carries the token it bound; in-process callers (tests) may pass an actor directly
      let actor = ctx.actor ?? null
      if (ctx.actorToken) {
        try { actor = ids.actorOf(ctx.actorToken) } catch (e) {
          // an ended session may still log in again; anything else gets "the console session has ended"
          if (!authorizeAction(null, name, (input ?? {}) as Record<string, unknown>).ok) throw e
          actor = null
        }
      }
      const inner: HandlerContext = { ...ctx, actor }
      const log = AuditLog.of(ctx.cluster)
      const before = log.size
      try {
        return await ids.audited(actor, name, (input ?? {}) as Record<string, unknown>, () => h(inner, input))
      } finally {
        if (log.size !== before) ctx.emit('security/changed', { reason: `audited: ${name}` }) // the console's audit search follows
      }
    }
  }
  return out as M
}
