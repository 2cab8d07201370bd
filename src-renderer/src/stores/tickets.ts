/**
 * Tickets console state: submit a ticket at one site (with retry sites), the same ticket at several sites at
 * once, per-server rTKT/aTKT/vTKT and Paxos role, history, and the message trace of the selected ticket.
 * Calls: tickets/*.
 */
import { defineStore } from 'pinia'
import { ref, shallowRef } from 'vue'
import type { ErrorInfo } from '../../../engine/errors'
import type { TicketRequestView, TicketStateView } from '../../../engine/api/tickets'
import type { TicketTraceView } from '../../../src-main/ipc/contract/ticket'
import { ipc, toIpcError } from '../ipc/client'

export type { TicketRequestView, TicketStateView, TicketTraceView }

export const useTicketsStore = defineStore('tickets', () => {
  const state = shallowRef<TicketStateView | null>(null)
  const history = shallowRef<TicketRequestView[]>([])
  const trace = shallowRef<TicketTraceView | null>(null)
  const last = shallowRef<TicketRequestView[]>([])
  const selected = ref<string | null>(null)
  const error = ref<ErrorInfo | null>(null)
  const busy = ref(false)
  const ticket = ref('100001')

  async function guard<T>(fn: () => Promise<T>): Promise<T | undefined> {
    try { error.value = null; return await fn() } catch (e) { error.value = toIpcError(e).info; return undefined } finally { busy.value = false }
  }

  async function refresh(): Promise<void> {
    await guard(async () => {
      const [s, h] = await Promise.all([ipc().call('tickets/state', {}), ipc().call('tickets/history', { limit: 200 })])
      state.value = s
      history.value = h
      if (selected.value) trace.value = await ipc().call('tickets/trace', { ticket: selected.value })
    })
  }

  async function select(t: string): Promise<void> {
    selected.value = t
    await guard(async () => { trace.value = await ipc().call('tickets/trace', { ticket: t }) })
  }

  async function submit(site: string, retry: string[] = []): Promise<void> {
    busy.value = true
    const t = ticket.value.trim()
    await guard(async () => {
      const r = await ipc().call('tickets/submit', { site, ticket: t, retry })
      last.value = r.requests
      state.value = r.state
    })
    await select(t)
    await refresh()
  }

  async function submitConcurrent(sites: string[]): Promise<void> {
    busy.value = true
    const t = ticket.value.trim()
    await guard(async () => {
      const r = await ipc().call('tickets/submitConcurrent', { sites, ticket: t })
      last.value = r.requests
      state.value = r.state
    })
    await select(t)
    await refresh()
  }

  /** Next invoice number (the console's "new ticket" button). */
  function nextTicket(): void {
    const n = Number(ticket.value)
    ticket.value = Number.isFinite(n) ? String(n + 1) : `${ticket.value}-2`
  }

  return { state, history, trace, last, selected, error, busy, ticket, refresh, select, submit, submitConcurrent, nextTicket }
})
