/**
 * The legacy-vs-distributed comparison and the live cluster's design (calls compare/*, system/design,
 * system/setDesign). A comparison is an engine job (progress and cancel through the jobs store) whose result is
 * the CompareReport; both runs' requests are kept by the engine and listed page by page here, so one can be opened
 * in the Query console (its SQL) or the Transactions console (its transaction id). The form holds what the user
 * may change before a run: the day's hours, the rates, the outages and each design's link profiles.
 */
import { defineStore } from 'pinia'
import { computed, reactive, ref, shallowRef } from 'vue'
import type { JobView } from '../../../engine/api/views'
import type { CompareOptions, Design, LinkProfile, RequestKind, RequestTrace } from '../../../engine/api/compare'
import { DESIGNS, REQUEST_KINDS } from '../../../engine/api/compare'
import type { CompareDefaults, CompareReportView, DesignView, RequestPage } from '../../../src-main/ipc/contract/compare'
import { ipc } from '../ipc/client'
import { useActions } from '../composables/useAction'
import { useJobsStore } from './jobs'
import { useAuthStore } from './auth'

export type Window = { fromHour: number; toHour: number }

/** The run's form: every field the user may change (the engine checks the bounds again). */
export interface CompareForm {
  seed: number | null
  fromHour: number
  toHour: number
  rateScale: number
  rates: Record<RequestKind, number>
  hqOutage: Window | null
  kdyLinkOutage: Window | null
  links: Record<Design, LinkProfile[]>
}

/** A form holding the engine's defaults (compare/defaults): a run with it unchanged is the business day. */
export function formOf(d: CompareDefaults): CompareForm {
  return {
    seed: null, fromHour: d.fromHour, toHour: d.toHour, rateScale: 1,
    rates: Object.fromEntries(REQUEST_KINDS.map((k) => [k, 1])) as Record<RequestKind, number>,
    hqOutage: d.hqOutage ? { ...d.hqOutage } : null, kdyLinkOutage: d.kdyLinkOutage ? { ...d.kdyLinkOutage } : null,
    links: { distributed: d.links.distributed.map((l) => ({ ...l })), legacy: d.links.legacy.map((l) => ({ ...l })) },
  }
}

const EMPTY: CompareDefaults = { fromHour: 0, toHour: 24, hqOutage: null, kdyLinkOutage: null, links: { distributed: [], legacy: [] } }

/** The options a form asks for: only what differs from the engine's defaults is sent (links only when changed). */
export function optionsOf(f: CompareForm, defaults: Record<Design, LinkProfile[]>): CompareOptions {
  const o: CompareOptions = { fromHour: f.fromHour, toHour: f.toHour, hqOutage: f.hqOutage ? { ...f.hqOutage } : null, kdyLinkOutage: f.kdyLinkOutage ? { ...f.kdyLinkOutage } : null }
  if (typeof f.seed === 'number' && Number.isInteger(f.seed)) o.seed = f.seed
  if (f.rateScale !== 1) o.rateScale = f.rateScale
  const rates = Object.fromEntries(REQUEST_KINDS.filter((k) => f.rates[k] !== 1).map((k) => [k, f.rates[k]]))
  if (Object.keys(rates).length) o.rates = rates
  const links: Partial<Record<Design, LinkProfile[]>> = {}
  for (const d of DESIGNS) {
    const changed = f.links[d].filter((l) => {
      const def = defaults[d].find((x) => x.linkId === l.linkId)
      return !def || def.bandwidthBps !== l.bandwidthBps || def.delayMs !== l.delayMs
    })
    if (changed.length) links[d] = changed.map((l) => ({ ...l }))
  }
  if (Object.keys(links).length) o.links = links
  return o
}

const PAGE = 100

export const useCompareStore = defineStore('compare', () => {
  const actions = useActions(['run', 'requests', 'open', 'design', 'switch'] as const)
  const jobs = useJobsStore()
  /** Shallow: a report is large and never edited. */
  const report = shallowRef<CompareReportView | null>(null)
  /** The engine's defaults; null until loaded (the form is shown once they are). */
  const defaults = ref<CompareDefaults | null>(null)
  const form = reactive<CompareForm>(formOf(EMPTY))
  const job = ref<JobView | null>(null)
  const running = computed(() => (job.value ? jobs.byId[job.value.id] ?? job.value : null))
  const cancelled = ref<string | null>(null)
  /** The request list: one run's requests, filtered, a page at a time. */
  const filter = reactive<{ design: Design; branch: string; kind: RequestKind | ''; failedOnly: boolean }>({ design: 'distributed', branch: '', kind: '', failedOnly: false })
  const page = shallowRef<RequestPage | null>(null)
  const opened = ref<RequestTrace | null>(null)
  /** The live cluster's design (the status bar shows it). */
  const design = ref<DesignView | null>(null)
  const switchJob = ref<JobView | null>(null)
  const switching = computed(() => (switchJob.value ? jobs.byId[switchJob.value.id] ?? switchJob.value : null))

  async function load(): Promise<void> {
    await actions.run('run', async () => {
      const [d, last] = await Promise.all([ipc().call('compare/defaults', {}), ipc().call('compare/last', {})])
      if (!defaults.value) Object.assign(form, formOf(d))
      defaults.value = d
      if (last) report.value = last
    }, 'load the comparison')
    if (report.value) await loadRequests(0)
  }

  /** Turns an outage on (at the engine's default hours, else the day's first hour) or off. */
  function toggleOutage(key: 'hqOutage' | 'kdyLinkOutage', on: boolean): void {
    const d = defaults.value?.[key]
    form[key] = on ? (d ? { ...d } : { fromHour: form.fromHour, toHour: Math.min(24, form.fromHour + 1) }) : null
  }

  function resetForm(): void { if (defaults.value) Object.assign(form, formOf(defaults.value)) }

  async function waitJob(j: JobView, label: string): Promise<JobView> {
    jobs.upsert(j)
    const end = await jobs.waitFor(j.id)
    if (end.status !== 'done') throw end.error ?? { code: 'CANCELLED', message: `${label} ${end.status}` }
    return end
  }

  /** Runs the day on both designs with the form's options; keeps the report and shows the first page of requests. */
  async function run(): Promise<CompareReportView | null> {
    cancelled.value = null
    const r = await actions.run('run', async () => {
      const j = await ipc().call('compare/run', optionsOf(form, defaults.value?.links ?? EMPTY.links))
      job.value = j
      const end = await waitJob(j, 'the comparison')
      return end.result as CompareReportView
    }, 'run the comparison')
    if (!r && actions.errors.run?.code === 'CANCELLED') { cancelled.value = actions.errors.run.message; actions.clear('run') }
    job.value = null
    if (r) { report.value = r; opened.value = null; await loadRequests(0) }
    return r ?? null
  }

  async function cancel(): Promise<void> { if (job.value) await jobs.cancel(job.value.id) }

  async function loadRequests(offset = 0): Promise<void> {
    const r = await actions.run('requests', () => ipc().call('compare/requests', {
      design: filter.design, ...(filter.branch ? { branch: filter.branch } : {}), ...(filter.kind ? { kind: filter.kind } : {}),
      failedOnly: filter.failedOnly, offset, limit: PAGE,
    }))
    if (r) page.value = r
  }

  async function open(d: Design, id: number): Promise<RequestTrace | null> {
    const r = await actions.run('open', () => ipc().call('compare/request', { design: d, id }))
    if (r) opened.value = r
    return r ?? null
  }

  async function loadDesign(): Promise<void> {
    const r = await actions.run('design', () => ipc().call('system/design', {}), 'read the design')
    if (r) design.value = r
  }

  let off: (() => void) | null = null
  /** Loads the live design and follows it: a design switch (or any regeneration) announces itself on catalog/changed. */
  async function watchDesign(): Promise<void> {
    if (!off) off = ipc().on('catalog/changed', () => { void loadDesign() })
    await loadDesign()
  }

  /** Re-initialises the live cluster as `d` (confirmed by typing its name); the engine refuses it while jobs run. */
  async function setDesign(d: Design, confirm: string): Promise<boolean> {
    const r = await actions.run('switch', async () => {
      const j = await ipc().call('system/setDesign', { design: d, confirm })
      switchJob.value = j
      return waitJob(j, `the switch to the ${d} design`)
    }, `switch to the ${d} design`)
    switchJob.value = null
    // the new cluster does not know this tab's console session: the switch is done, the identity logs in again
    if (!r && actions.errors.switch?.code === 'AUTH_FAILED') {
      actions.clear('switch')
      const auth = useAuthStore()
      // while the new cluster loads its data the engine says so (console/status): ask again until it has
      for (let i = 0; i < 600; i++) {
        await auth.resume()
        if (auth.phase !== 'setup' || !/still loading/.test(auth.status?.note ?? '')) break
        await new Promise((ok) => setTimeout(ok, 500))
      }
      return true
    }
    await loadDesign()
    return !!r
  }

  return {
    report, form, defaults, running, cancelled, filter, page, opened, design, switching,
    errors: actions.errors, pending: actions.pending, PAGE,
    load, resetForm, toggleOutage, run, cancel, loadRequests, open, loadDesign, watchDesign, setDesign,
  }
})
