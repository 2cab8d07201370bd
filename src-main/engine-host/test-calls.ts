import { TEST_CALLS_ENV } from '../ipc/contract/testing'

/** Whether this process (host or engine worker: the worker inherits the host's environment) serves the test-only calls. */
export function testCallsEnabled(): boolean {
  return process.env[TEST_CALLS_ENV] === '1'
}
