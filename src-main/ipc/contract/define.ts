/**
 * Building blocks of the one IPC contract. A call is an input schema (validated at the boundary)
 * plus a phantom output type; an event is a phantom payload type. Everything else is derived.
 */
import { z } from 'zod'

export interface CallDef<I extends z.ZodType = z.ZodType, O = unknown> {
  readonly input: I
  /** Phantom: never read at run time, carries the output type. */
  readonly output: O
}

export interface EventDef<P = unknown> {
  /** Phantom: carries the payload type. */
  readonly payload: P
}

export function call<I extends z.ZodType>(input: I) {
  return { returns: <O>(): CallDef<I, O> => ({ input, output: undefined as unknown as O }) }
}

export function event<P>(): EventDef<P> {
  return { payload: undefined as unknown as P }
}

/** Site codes: three capital letters (topology is data; the handler checks the site exists). */
export const siteCode = z.string().regex(/^[A-Z]{3}$/, 'a site code is three capital letters, e.g. CMB')
export const noInput = z.object({}).strict()

/** Largest serialized payload accepted on any call (bytes of JSON). */
export const MAX_PAYLOAD_BYTES = 256 * 1024
