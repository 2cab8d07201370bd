/** Plain-data views of the ticket layer (engine/ticket) for hosts and the renderer. No classes, no functions. */
import type { SiteCode } from '../topology/types'

export type Outcome = 'pending' | 'accepted' | 'rejected' | 'timeout'

export interface TicketTraceEvent {
  at: number
  kind: 'submit' | 'send' | 'deliver' | 'drop' | 'decide' | 'client' | 'crash' | 'restart' | 'elect'
  msg?: string
  from?: SiteCode
  to?: SiteCode
  site?: SiteCode
  detail: string
}

export interface AttemptView { site: SiteCode; at: number; answer?: string; outcome: Outcome }

export interface TicketRequestView {
  id: number
  ticket: string
  client: string
  submittedAt: number
  decidedAt?: number
  outcome: Outcome
  /** Site that accepted the ticket (if any is known to this client). */
  acceptedAt?: SiteCode
  mode?: 'conflict-free' | 'conflict' | 'learned' | 'sold'
  answer: string
  attempts: AttemptView[]
}

export interface TicketServerView {
  site: SiteCode
  up: boolean
  role: 'follower' | 'candidate' | 'leader'
  leader: SiteCode
  ballot: number
  logLength: number
  rTKT: { ticket: string; client: string; status: string }[]
  aTKT: { ticket: string; votedFor: SiteCode | '-' }[]
  vTKT: { ticket: string; winner: SiteCode | '-'; how: string }[]
  claims: { ticket: string; phase: string; replies: { from: SiteCode; votedFor: SiteCode | '-' }[] }[]
}

export interface TicketStateView { n: number; majority: number; rule: string; servers: TicketServerView[] }

