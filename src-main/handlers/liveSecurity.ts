/** Security over live servers (src-main/pg/roles.ts): the Security console's live panel of each site's user roles. */
import { EngineError } from '../../engine/errors'
import { LiveRoles } from '../pg/roles'
import type { HandlerMap } from './context'

export const liveSecurityHandlers: HandlerMap<'security/liveRoles'> = {
  'security/liveRoles': async (ctx) => {
    const roles = ctx.live ? LiveRoles.of(ctx.cluster) : null
    if (!roles) throw new EngineError('UNSUPPORTED', ctx.live ? 'the live servers\' roles are not set up yet (the engine is still opening live mode)' : 'server roles exist only in live mode (npm start -- --pg DIR): the simulation keeps its users at the sites')
    return roles.view()
  },
}
