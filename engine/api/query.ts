/** Plain-data views of a distributed query run (cross IPC, printed by the CLI, drawn by the console). Pure types: the renderer type-checks this file. Owned by the DQP. */
/** A SQL value as sql.js returns it (kept local: the renderer type-checks this file). */
export type SqlValue = string | number | null | Uint8Array

export type RequestClass = 'remote request' | 'remote transaction' | 'distributed transaction' | 'distributed request'

export interface FragmentDecision {
  ref: string
  fragment: string
  status: 'used' | 'pruned'
  reason?: string
  site?: string
  server?: 'primary' | 'repository'
  role?: string
  /** How stale the copy read is (ms), when it is a copy that lags. */
  stalenessMs?: number
  note?: string
}

export interface JoinDecision {
  ref: string
  reducer: string
  on: string
  chosen: 'semijoin' | 'ship-whole'
  estMsChosen: number
  estMsAlternative: number
  estBytesSemijoin: number
  estBytesShipWhole: number
  /** Distinct join keys the reducer actually produced (the choice is confirmed with them at run time). */
  actualKeys?: number
}

export interface PlanStep {
  id: number
  kind: 'request' | 'subquery' | 'ship' | 'semijoin-keys' | 'assemble' | 'result' | 'write'
  site: string
  to?: string
  fragment?: string
  sql?: string
  estRows?: number
  actualRows?: number
  estBytes?: number
  actualBytes?: number
  /** Route of a shipment, e.g. ['KDY','CMB']. */
  route?: string[]
  startMs: number
  endMs: number
  note?: string
}

export interface PlanView {
  statement: 'select' | 'insert' | 'update' | 'delete'
  querySite: string
  assemblySite: string
  strategy: 'single-site' | 'ship-to-assembly' | 'partial-aggregation' | 'write'
  requestClass: RequestClass
  fragments: FragmentDecision[]
  joins: JoinDecision[]
  steps: PlanStep[]
  finalSql?: string
  estRows?: number
  actualRows?: number
  notes: string[]
  sitesInvolved: string[]
  /** EXPLAIN: the query was not run; the steps' times, rows and bytes are the optimizer's estimates (no actual figures). */
  estimated?: boolean
}

export interface QueryRunResult {
  columns: string[]
  rows: SqlValue[][]
  rowCount: number
  requestClass: RequestClass
  plan: PlanView
  /** Bytes this query put on each link (WAN link id, or LAN:<SITE>). */
  perLinkBytes: Record<string, number>
  virtualMs: number
  wallMs: number
  explain?: string
  changes?: number
  /** A write's DTM transaction: its id, the sites that held its sub-transactions, and its commit (2PC) latency in virtual ms. */
  txn?: { gid: string; sites: string[]; commitMs: number }
}
