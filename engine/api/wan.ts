/** Views of the WAN's defences (firewall rule tables, the intruder drill, the packet inspector) as the console gets them. */
import type { FirewallRule, SiteCode } from '../topology/types'

export interface FirewallLogEntry { at: number; site: SiteCode; from: string; service: string; port: number; rule: string }

export interface FirewallView { site: SiteCode; enabled: boolean; allow: SiteCode[]; rules: FirewallRule[]; blocked: number; log: FirewallLogEntry[] }

export interface ProbeResult { site: SiteCode; service: string; port: number; outcome: 'blocked' | 'open' | 'closed'; rule: string; at: number }

export interface SniffFinding { kind: 'credential' | 'unit-prices'; frame: number; detail: string }

export interface SniffReport {
  link: string
  frames: number
  sealed: number
  plain: number
  /** Credentials read in clear (each redacted in `findings`). */
  credentials: number
  /** Unit prices read in clear. */
  unitPrices: number
  findings: SniffFinding[]
  /** What a sealed frame gives away: the first ciphertext bytes. */
  ciphertextSample?: string
}

export interface DrillReport {
  profile: 'modern' | 'legacy'
  host: string
  probes: ProbeResult[]
  sniffs: SniffReport[]
  /** The drill's own traffic and how it ended (never a secret). */
  traffic: string[]
  summary: string
}

export interface PacketView {
  link: string
  at: number
  from: string
  to: string
  seq: number
  sealed: boolean
  bytes: number
  /** The clear outer header as decoded. */
  header: string
  /** Plain frames only: the DDBMS message kind read from the inner header. */
  kind?: string
  /** Hex of the first ciphertext bytes (sealed) or the redacted text of the body (plain). */
  excerpt: string
  /** Secrets found in clear (their values redacted): e.g. "password", "token". */
  secrets: string[]
  outcome?: string
}
