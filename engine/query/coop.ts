/**
 * Cooperative execution of a query. The execution code (engine/query/dqp.ts, exec.ts, dml.ts) is written as
 * generators that `yield` at safe points: between plan steps, between sub-queries, and every few hundred
 * rows stepped out of a sql.js statement or inserted into the assembly site's scratch database. A yielded
 * value may carry progress (steps done / total).
 *
 * - `runToEnd` drives a generator synchronously and ignores the yields: the fast path (point lookups,
 *   CLI, benches) pays only for a few generator objects.
 * - `drive` drives it asynchronously: at each yield it reports progress, checks the cancellation flag and,
 *   once the current slice has used SLICE_MS of wall time, yields to the event loop (setImmediate) so the
 *   engine worker keeps answering calls. Cancellation is thrown *into* the generator as EngineError
 *   CANCELLED, so its `finally` blocks free statements and scratch databases, and a write (a DTM transaction,
 *   see dml.ts) aborts its transaction before the commit: nothing of it is applied anywhere.
 *
 * Writes hold the event loop (checkpoints with `hold`): a write's transaction runs the simulation to its
 * outcome in one turn. A write is cancellable until it starts (the job's first turn); once it runs, a
 * cancellation seen at a checkpoint (only possible from inside the same turn) aborts its transaction.
 *
 * Inside one sql.js `step()` (sql.js exposes no progress handler) the statement guard (guard.ts) takes over:
 * the DQP's statements call it once per candidate row; it checks the same cancellation flag and the query's
 * budget and aborts the step. `drive` and `runGuarded` make the query's GuardScope the active one while the
 * generator runs.
 */
import { EngineError } from '../errors'
import { GuardScope, withScope, type QueryBudget } from './guard'

/**
 * Progress carried by a yield. `hold`: check cancellation only, do not yield to the event loop (a write in
 * progress: no other call may run between reading its before-images and applying them).
 */
export interface Tick { done: number; total: number; detail: string; hold?: boolean }
/** A checkpoint without progress that must not yield to the event loop (see Tick.hold). */
export const HOLD = 'hold' as const
/** undefined: a plain checkpoint. */
export type Yielded = Tick | typeof HOLD | undefined
export type QueryGen<T> = Generator<Yielded, T, void>

/** What the async driver needs from its host: a JobRunner job handle fits (see src-main/engine-host/jobs.ts). */
export interface Cooperation {
  readonly cancelled: boolean
  /** Progress 0..1 and a detail line. */
  progress(p: number, detail?: string): void
  /** Yields to the event loop (may throw CANCELLED). */
  yieldNow(): Promise<void>
}

/** Wall time of work between two yields to the event loop. */
export const SLICE_MS = 10
/** Rows stepped out of a statement (or inserted) between two checkpoints. */
export const ROWS_PER_CHECK = 256

export function cancelledError(detail = 'the query was cancelled'): EngineError {
  return new EngineError('CANCELLED', detail)
}

/** Runs a query generator to completion synchronously (no yields to the event loop, no cancellation). */
export function runToEnd<T>(g: QueryGen<T>): T {
  for (;;) {
    const r = g.next()
    if (r.done) return r.value
  }
}

/** No limit: internal callers (benches, scenarios, the engine's own work) that set no budget. */
export const UNLIMITED: QueryBudget = { maxRows: Number.POSITIVE_INFINITY, maxMs: Number.POSITIVE_INFINITY }

/** runToEnd under a budget: the statement guard stops the query with BUDGET_EXCEEDED when it is exceeded. */
export function runGuarded<T>(g: QueryGen<T>, budget: QueryBudget = UNLIMITED): T {
  const scope = new GuardScope(budget)
  return withScope(scope, () => {
    let r = g.next()
    while (!r.done) {
      const stop = scope.check()
      r = stop ? g.throw(stop) : g.next()
    }
    return r.value
  })
}

/**
 * Runs a query generator cooperatively: progress, cancellation and yields to the event loop every SLICE_MS.
 * The generator runs with a GuardScope over `budget` and `coop.cancelled`, so a statement stepping inside
 * sql.js is stopped too (guard.ts).
 */
export async function drive<T>(g: QueryGen<T>, coop: Cooperation, sliceMs = SLICE_MS, budget: QueryBudget = UNLIMITED): Promise<T> {
  let sliceStart = performance.now()
  let last: Tick | undefined
  const scope = new GuardScope(budget, () => coop.cancelled, () => cancelMessage(last))
  const step = (f: () => IteratorResult<Yielded, T>) => withScope(scope, f)
  let r = step(() => g.next())
  while (!r.done) {
    const v = r.value
    if (v && v !== HOLD) {
      last = v
      coop.progress(last.total > 0 ? last.done / last.total : 0, last.detail)
    }
    const hold = v === HOLD || !!(v && v.hold)
    let err: unknown
    if (coop.cancelled) err = cancelledError(cancelMessage(last))
    else if (scope.check()) err = scope.check()
    else if (!hold && performance.now() - sliceStart >= sliceMs) {
      try { await coop.yieldNow() } catch (e) { err = e }
      sliceStart = performance.now()
      if (!err && coop.cancelled) err = cancelledError(cancelMessage(last))
    }
    if (err !== undefined) {
      const info = err instanceof EngineError && err.code === 'CANCELLED' ? cancelledError(cancelMessage(last)) : err
      r = step(() => g.throw(info)) // finally blocks and compensation run inside the generator
    } else r = step(() => g.next())
  }
  return r.value
}

function cancelMessage(t: Tick | undefined): string {
  return t ? `the query was cancelled after ${t.done} of ${t.total} steps (${t.detail}); nothing was returned or changed` : 'the query was cancelled during its first step; nothing was returned or changed'
}

/** A Cooperation over an AbortSignal (tests, CLI). */
export function signalCooperation(signal: AbortSignal, onProgress: (p: number, detail?: string) => void = () => {}): Cooperation {
  return {
    get cancelled() { return signal.aborted },
    progress: onProgress,
    yieldNow: () => new Promise<void>((r) => setImmediate(r)),
  }
}
