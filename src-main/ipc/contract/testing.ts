/**
 * Calls for tests and benchmarks only, kept out of the shipped contract (`calls` in ./index.ts): a host serves
 * them only when its process runs with IDDB_TEST_CALLS=1 (the e2e global set-up, the ui bench, the worker
 * tests); otherwise they are UNKNOWN_CALL like any name the contract does not declare. The Electron main process
 * and preload never list them. Their handlers: src-main/handlers/testing.ts; they still need a rule in
 * engine/security/roles.ts and a sample in src-main/testing/fuzz.ts, since test hosts serve them.
 */
import { z } from 'zod'
import { call } from './define'
import type { JobView } from '../../../engine/api/views'

export const testCalls = {
  /** Keeps the engine busy for `ms` of wall time as a chunked job (responsiveness tests, the ui bench's load). */
  'jobs/busy': call(z.object({ ms: z.number().int().min(1).max(60_000) }).strict()).returns<JobView>(),
}

/** The environment variable that turns the test-only calls on (engine-host/test-calls.ts reads it). */
export const TEST_CALLS_ENV = 'IDDB_TEST_CALLS'
