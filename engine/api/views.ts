/** Plain-data views the engine hands to hosts (worker → IPC → renderer, CLI --json). No classes, no functions. */
import type { ErrorInfo } from '../errors'
import type { LinkKind, ServerKind, SiteCode } from '../topology/types'

export type Health = 'ok' | 'degraded' | 'down'

export interface ServerView {
  id: string
  kind: ServerKind
  label: string
  status: 'up' | 'down'
  /** Set when the server refuses service until restored (a damaged commit log): the reason. Its status is 'down'. */
  needsRestore?: string
}

export interface SiteView {
  code: SiteCode
  name: string
  city: string
  hq: boolean
  health: Health
  lanBps: number
  x: number
  y: number
  clients: number
  staff: number
  servers: ServerView[]
  firewall: { enabled: boolean; allow: SiteCode[]; blocked: number }
}

export interface LinkView {
  id: string
  a: SiteCode
  b: SiteCode
  kind: LinkKind
  bandwidthBps: number
  delayMs: number
  encrypted: boolean
  state: 'up' | 'down' | 'degraded'
  bytes: number
  messages: number
  dropped: number
  /** Frames the receiving end refused (tampered or replayed). */
  rejected: number
  queueingMs: number
  utilisation: number
}

export interface TopologyView {
  profile: 'modern' | 'legacy'
  /** The deployment (engine/api/compare.ts): distributed fragments at their branches, or the legacy central database at HQ. */
  design: 'distributed' | 'legacy'
  sites: SiteView[]
  links: LinkView[]
}

export interface ClockView {
  /** Virtual time, epoch ms. */
  now: number
  /** Site-local wall time, "YYYY-MM-DD HH:MM:SS". */
  local: string
  speed: number
  running: boolean
  seed: number
  eventsFired: number
  traceHash: string
}

export interface EngineEventView {
  seq: number
  at: number
  kind: string
  site?: SiteCode
  message: string
}

export type JobStatus = 'running' | 'done' | 'failed' | 'cancelled'

export interface JobView {
  id: string
  kind: string
  label: string
  status: JobStatus
  /** 0..1 */
  progress: number
  detail?: string
  startedAt: number
  finishedAt?: number
  error?: ErrorInfo
  result?: unknown
}
