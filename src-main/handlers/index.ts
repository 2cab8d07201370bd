/**
 * Every call's handler, merged. Typed as HandlerMap<CallName>: a call declared in the contract without
 * a handler here is a type error. Domains add one spread line each (small insertions only).
 */
import type { CallName } from '../ipc/contract'
import type { HandlerMap } from './context'
import { systemHandlers } from './system'
import { topologyHandlers } from './topology'
import { catalogHandlers } from './catalog'
import { replicationHandlers } from './replication'
import { queryHandlers } from './query'
import { exportHandlers } from './export'
import { txnHandlers } from './txn'
import { ticketHandlers } from './ticket'
import { securityHandlers } from './security'
import { consoleHandlers } from './console'
import { backupHandlers } from './backup'
import { failoverHandlers } from './failover'
import { nemesisHandlers } from './nemesis'
import { scheduleHandlers } from './schedule'
import { compareHandlers } from './compare'
import { liveOpsHandlers } from './liveops'
import { liveDeadlockHandlers } from './liveDeadlock'
import { liveSecurityHandlers } from './liveSecurity'
import { liveReplHandlers } from './liveRepl'
import { withAuthz } from './authz'

export const handlers: HandlerMap<CallName> = withAuthz({
  ...systemHandlers,
  ...topologyHandlers,
  ...catalogHandlers,
  ...replicationHandlers,
  ...queryHandlers,
  ...exportHandlers,
  ...txnHandlers,
  ...ticketHandlers,
  ...securityHandlers,
  ...consoleHandlers,
  ...backupHandlers,
  ...failoverHandlers,
  ...nemesisHandlers,
  ...scheduleHandlers,
  ...compareHandlers,
  ...liveOpsHandlers,
  ...liveDeadlockHandlers,
  ...liveSecurityHandlers,
  ...liveReplHandlers,
})

export type { HandlerContext, HandlerMap, Handler } from './context'
