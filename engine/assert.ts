/**
 * Invariant checks. An invariant that fails is a bug in the engine, not bad input: it throws an INTERNAL
 * EngineError naming the invariant (never a silent return), so the call fails clearly and changes nothing
 * more. Pass a function for a message that is costly to build (hot paths).
 */
import { EngineError } from './errors'

export function assert(cond: unknown, msg: string | (() => string)): asserts cond {
  if (!cond) throw new EngineError('INTERNAL', `internal invariant violated: ${typeof msg === 'function' ? msg() : msg}`)
}
