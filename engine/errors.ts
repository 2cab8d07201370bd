/** Errors that cross every boundary (engine → worker → IPC → renderer/CLI) as plain data. */
export type ErrorCode =
  | 'BAD_INPUT'
  | 'UNKNOWN_SITE'
  | 'UNKNOWN_LINK'
  | 'UNKNOWN_TABLE'
  | 'SQL_ERROR'
  | 'UNSUPPORTED'
  | 'SITE_DOWN'
  | 'UNREACHABLE'
  | 'FIREWALL_BLOCKED'
  | 'AUTH_FAILED'
  | 'ACCESS_DENIED'
  | 'CONFLICT'
  | 'ABORTED'
  | 'TIMEOUT'
  | 'CANCELLED'
  /** A query went over its session's budget of rows examined or wall time (engine/query/guard.ts). */
  | 'BUDGET_EXCEEDED'
  /** The engine worker was restarted by the host's watchdog; the call's outcome is unknown (engine-host/client.ts). */
  | 'ENGINE_RESTARTED'
  | 'NOT_READY'
  | 'CORRUPT_DATA'
  | 'NOT_FOUND'
  | 'PAYLOAD_TOO_LARGE'
  | 'UNKNOWN_CALL'
  | 'EXPECTATION_FAILED'
  /** A write would break a declared constraint (engine/integrity): the message names the constraint, the row and the site. */
  | 'CONSTRAINT_VIOLATION'
  | 'INTERNAL'

export interface ErrorInfo {
  code: ErrorCode
  message: string
  site?: string
  /** Optional extra, e.g. the character offset of a SQL error. */
  position?: number
}

export class EngineError extends Error {
  readonly code: ErrorCode
  readonly site?: string
  readonly position?: number
  constructor(code: ErrorCode, message: string, opts: { site?: string; position?: number } = {}) {
    super(message)
    this.name = 'EngineError'
    this.code = code
    this.site = opts.site
    this.position = opts.position
  }
  toInfo(): ErrorInfo {
    const info: ErrorInfo = { code: this.code, message: this.message }
    if (this.site !== undefined) info.site = this.site
    if (this.position !== undefined) info.position = this.position
    return info
  }
}

/** Turns anything thrown into ErrorInfo, never leaking stack traces across the boundary. */
export function toErrorInfo(e: unknown): ErrorInfo {
  if (e instanceof EngineError) return e.toInfo()
  if (e && typeof e === 'object' && 'code' in e && 'message' in e && typeof (e as ErrorInfo).message === 'string') {
    const o = e as ErrorInfo
    return { code: (o.code as ErrorCode) ?? 'INTERNAL', message: o.message, ...(o.site ? { site: o.site } : {}) }
  }
  return { code: 'INTERNAL', message: e instanceof Error ? e.message : String(e) }
}

/** Invariant assertion: a broken invariant is a bug, reported loudly. */
export function invariant(cond: unknown, message: string): asserts cond {
  if (!cond) throw new EngineError('INTERNAL', `invariant violated: ${message}`)
}
