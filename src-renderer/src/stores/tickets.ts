/**
 * Tickets console state: submit a ticket at one site (with retry sites), the same ticket at several sites at
 * once, per-server rTKT/aTKT/vTKT and Paxos role, history, and the message trace of the selected ticket.
 * Calls: tickets/*.
 */
import { defineStore } from 'pinia'
import { computed, ref, shallowRef } from 'vue'
import type { TicketRequestView, TicketStateView } from '../../../engine/api/tickets'
import type { TicketTraceView } from '../../../src-main/ipc/contract/ticket'
import { ipc } from '../ipc/client'
import { useAction } from '../composables/useAction'

export type { TicketRequestView, TicketStateView, TicketTraceView }

export const useTicketsStore = defineStore('tickets', () => {
  const state = shallowRef<TicketStateView | null>(null)
  const history = shallowRef<TicketRequestView[]>([])
  const trace = shallowRef<TicketTraceView | null>(null)
  const last = shallowRef<TicketRequestView[]>([])
  const selected = ref<string | null>(null)
  /** A submission's error stays on screen through the refreshes that follow it (they have their own). */
  const action = useAction()
  const loader = useAction()
  const error = computed(() => action.error.value ?? loader.error.value)
  const busy = computed(() => action.pending.value !== null)
  const ticket = ref('100001')

  async function refresh(): Promise<void> {
    await loader.run('refresh', async () => {
      const [s, h] = await Promise.all([ipc().call('tickets/state', {}), ipc().call('tickets/history', { limit: 200 })])
      state.value = s
      history.value = h
      if (selected.value) trace.value = await ipc().call('tickets/trace', { ticket: selected.value })
    })
  }

  async function select(t: string): Promise<void> {
    selected.value = t
    await loader.run('trace', async () => { trace.value = await ipc().call('tickets/trace', { ticket: t }) })
  }

  async function submit(site: string, retry: string[] = []): Promise<void> {
    const t = ticket.value.trim()
    await action.run('submit', async () => {
      const r = await ipc().call('tickets/submit', { site, ticket: t, retry })
      last.value = r.requests
      state.value = r.state
    })
    await select(t)
    await refresh()
  }

  async function submitConcurrent(sites: string[]): Promise<void> {
    const t = ticket.value.trim()
    await action.run('submit', async () => {
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
