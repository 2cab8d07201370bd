import { z } from 'zod'
import { call, event, noInput, siteCode } from './define'
import type { TicketRequestView, TicketStateView, TicketTraceEvent } from '../../../engine/api/tickets'

const ticket = z.string().regex(/^[A-Za-z0-9._:-]{1,64}$/, 'a ticket (invoice number) is 1–64 letters, digits or . _ : -')
const sale = z.object({ itemNo: z.number().int().min(0).optional(), qty: z.number().int().min(1).max(1_000_000).optional(), unitPrice: z.number().min(0).optional(), empNo: z.number().int().optional() }).strict().optional()

export interface TicketSubmitResult { requests: TicketRequestView[]; state: TicketStateView }
export interface TicketTraceView { ticket: string; sites: string[]; events: TicketTraceEvent[]; outcome: { decided: boolean; winner?: string; voided?: boolean; acceptedAt: string[] } }

export const ticketCalls = {
  /** A POS client presents a ticket at `site`; on timeout it retries at each of `retry` in turn. Runs until answered. */
  'tickets/submit': call(z.object({ site: siteCode, ticket, client: z.string().max(64).optional(), retry: z.array(siteCode).max(8).default([]), sale }).strict()).returns<TicketSubmitResult>(),
  /** The same ticket presented at several sites at once (concurrent claimants). */
  'tickets/submitConcurrent': call(z.object({ sites: z.array(siteCode).min(1).max(8), ticket, sale }).strict()).returns<TicketSubmitResult>(),
  'tickets/state': call(noInput).returns<TicketStateView>(),
  'tickets/history': call(z.object({ limit: z.number().int().min(1).max(2000).default(200) }).strict()).returns<TicketRequestView[]>(),
  'tickets/trace': call(z.object({ ticket }).strict()).returns<TicketTraceView>(),
}

export const ticketEvents = {
  'tickets/changed': event<{ ticket: string }>(),
}
