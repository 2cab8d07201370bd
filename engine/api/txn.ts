/** Plain-data views of the distributed transaction manager (engine/txn) for hosts and the renderer. */
export type Protocol = 'centralized' | 'linear' | 'distributed'
export type DeadlockScheme = 'detect' | 'wound-wait'
export type VictimPolicy = 'youngest' | 'oldest' | 'fewest-locks'
export type CoordState = 'INITIAL' | 'WAIT' | 'COMMIT' | 'ABORT'
export type PartState = 'INITIAL' | 'READY' | 'COMMIT' | 'ABORT'
export type Vote = 'YES' | 'NO' | 'RO'
export type Decision = 'COMMIT' | 'ABORT'

export interface TimelineEvent {
  at: number
  kind: 'send' | 'deliver' | 'drop' | 'state' | 'log' | 'timeout' | 'note'
  site: string
  to?: string
  msg?: string
  id?: number
  detail?: string
}

export interface DeadlockRecord {
  id: number
  at: number
  by: 'local' | 'global' | 'wound-wait'
  site: string
  cycle: string[]
  victim: string
  statements: { gid: string; site: string; sql: string }[]
}

/** Monitoring record of a transaction (what the console lists; not used by the protocol). */
export interface TxnInfo {
  gid: string
  origin: string
  protocol: Protocol
  startAt: number
  endAt?: number
  coordState: CoordState
  outcome?: Decision | 'UNKNOWN'
  reason?: string
  sites: Record<string, PartState | 'RO'>
  statements: { site: string; sql: string; at: number; ok?: boolean; error?: string; rows?: number }[]
}

/**
 * A hand resolution of an in-doubt participant (a heuristic decision) and, once the coordinator's decision is
 * known, whether they agree (damage: the sites may now disagree and need repair by hand).
 */
export interface HeuristicReport {
  gid: string; site: string; heuristic: Decision; by: string; at: number
  decision?: Decision; damage?: boolean; detectedAt?: number
}

export interface InDoubtView {
  gid: string; site: string; coordinator: string; participants: string[]; protocol: Protocol; state: 'READY'
  since: number; ageMs: number; inquiries: number; locks: string[]; writes: number
}

export interface TxnView {
  gid: string; origin: string; protocol: Protocol; coordinatorState: CoordState; outcome?: Decision | 'UNKNOWN'; reason?: string
  startAt: number; endAt?: number; ageMs: number
  sites: { site: string; state: PartState | 'RO'; locksHeld: number; waitingFor?: string }[]
  statements: TxnInfo['statements']
  /** Hand resolutions of this transaction (heuristic decisions) and their comparison with the coordinator's. */
  heuristics?: HeuristicReport[]
}

export interface WfgView {
  at: number; detector: string | null; scheme: DeadlockScheme; intervalMs: number
  nodes: { gid: string; origin: string; startAt: number; waitingAt: string[]; sql: string[] }[]
  global: { from: string; to: string }[]
  /** Each wait of the global graph where it is: the site, and the lock the waiter asked for there (e.g. 'X Stock_KDY:3'). */
  waits?: { from: string; to: string; site: string; lock: string }[]
  local: Record<string, { from: string; to: string }[]>
  cycles: string[][]
  lastPoll: { round: number; at: string; cycles: string[][]; suspects: string[] }
}
