/**
 * The audit log as the console searches it (engine/security/audit.ts): filter by user, site, action, text and a
 * site-time range; verify the hash chain. Calls: audit/search, audit/verify; refreshes on security/changed.
 */
import { defineStore } from 'pinia'
import { reactive, ref, shallowRef } from 'vue'
import type { AuditEntry, AuditVerdict } from '../../../src-main/ipc/contract/console'
import { ipc } from '../ipc/client'
import { useAction } from '../composables/useAction'
import { SITE_UTC_OFFSET_MIN } from '../util/format'

export type { AuditEntry, AuditVerdict }

export interface AuditFilter { user: string; site: string; action: string; text: string; from: string; to: string; outcome: '' | 'ok' | 'refused' }

/** "2026-11-21T09:30" in site time (datetime-local) → virtual ms; '' → undefined. */
export function siteTimeToMs(s: string): number | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(s.trim())
  if (!m) return undefined
  return Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +(m[6] ?? 0)) - SITE_UTC_OFFSET_MIN * 60_000
}

export const useAuditStore = defineStore('audit', () => {
  const filter = reactive<AuditFilter>({ user: '', site: '', action: '', text: '', from: '', to: '', outcome: '' })
  const entries = shallowRef<AuditEntry[]>([])
  const total = ref(0)
  const action = useAction()
  const verdict = shallowRef<AuditVerdict | null>(null)
  let off: (() => void) | null = null

  async function search(): Promise<void> {
    const f = filter
    const from = siteTimeToMs(f.from), to = siteTimeToMs(f.to)
    const r = await action.run('search', () => ipc().call('audit/search', {
      ...(f.user.trim() ? { user: f.user.trim() } : {}), ...(f.site.trim() ? { site: f.site.trim().toUpperCase() } : {}),
      ...(f.action.trim() ? { action: f.action.trim() } : {}), ...(f.text.trim() ? { text: f.text.trim() } : {}),
      ...(from !== undefined ? { from } : {}), ...(to !== undefined ? { to: to + 59_999 } : {}),
      ...(f.outcome ? { ok: f.outcome === 'ok' } : {}), limit: 500,
    }))
    if (r) { entries.value = r.entries; total.value = r.total }
  }

  async function verify(): Promise<void> {
    const v = await action.run('verify', () => ipc().call('audit/verify', {}))
    if (v) verdict.value = v
  }

  function start(): Promise<void> {
    off ??= ipc().on('security/changed', () => { void search() })
    return search()
  }

  function clear(): void {
    Object.assign(filter, { user: '', site: '', action: '', text: '', from: '', to: '', outcome: '' })
    void search()
  }

  return { filter, entries, total, error: action.error, pending: action.pending, verdict, search, verify, start, clear }
})
