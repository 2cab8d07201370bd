/**
 * The test-only calls' handlers (contract/testing.ts): merged into a worker's table only when test calls are on
 * (IDDB_TEST_CALLS=1); checked against the roles table like every other call.
 */
import type { TestCallName } from '../ipc/contract'
import { busyWork } from '../engine-host/jobs'
import type { HandlerMap } from './context'
import { withAuthz } from './authz'

export const testHandlers: HandlerMap<TestCallName> = withAuthz({
  'jobs/busy': async (ctx, { ms }) => ctx.jobs.start('busy', `busy for ${ms} ms`, (job) => busyWork(job, ms)),
})
