/**
 * Backup schedules (schedule/*), the replication schedules (replication/schedules, setRefreshSchedule,
 * setFeedSchedule) and the engine's job history (jobs/history, pushed on jobs/changed): every backup,
 * restore, refresh and recovery, scheduled or by hand, as the engine recorded it.
 */
import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import type { BackupScheduleView, EngineJobView, FeedSchedule, JobFilter, ReplicationSchedulesView, ScheduleRecurrence } from '../../../engine/api/schedules'
import { ipc } from '../ipc/client'
import { useAction, useActions } from '../composables/useAction'

const KEEP = 500

export const useSchedulesStore = defineStore('schedules', () => {
  const schedules = ref<BackupScheduleView[]>([])
  const replication = ref<ReplicationSchedulesView | null>(null)
  const jobsById = ref<Record<string, EngineJobView>>({})
  const filter = ref<JobFilter>({})
  const actions = useActions(['schedule', 'refresh', 'feed'] as const)
  const loader = useAction()
  let off: (() => void) | null = null

  const jobs = computed(() => Object.values(jobsById.value)
    .filter((j) => (!filter.value.kind || j.kind === filter.value.kind) && (!filter.value.site || j.site === filter.value.site) && (!filter.value.status || j.status === filter.value.status))
    .sort((a, b) => Number(b.id.slice(3)) - Number(a.id.slice(3))))

  function upsert(j: EngineJobView): void {
    const next = { ...jobsById.value, [j.id]: j }
    const ids = Object.keys(next)
    if (ids.length > KEEP) for (const id of ids.sort((a, b) => Number(a.slice(3)) - Number(b.slice(3))).slice(0, ids.length - KEEP)) delete next[id]
    jobsById.value = next
  }

  async function loadJobs(): Promise<void> {
    await loader.run('jobs', async () => { for (const j of await ipc().call('jobs/history', {})) upsert(j) })
  }
  async function loadSchedules(): Promise<void> {
    await loader.run('schedules', async () => { schedules.value = await ipc().call('schedule/list', {}) })
  }
  async function loadReplication(): Promise<void> {
    await loader.run('replication', async () => { replication.value = await ipc().call('replication/schedules', {}) })
  }

  let users = 0
  /** Follows the engine's job history (a scheduled run also changes its schedule's last run); paired with stop(). */
  function start(): Promise<void> {
    users++
    if (!off) off = ipc().on('jobs/changed', (j) => { upsert(j); if (j.kind === 'backup' && j.schedule) void loadSchedules() })
    return Promise.all([loadJobs(), loadSchedules()]).then(() => undefined)
  }
  function stop(): void { users = Math.max(0, users - 1); if (!users) { off?.(); off = null } }

  async function create(site: string, recurrence: ScheduleRecurrence, retain: number): Promise<boolean> {
    const r = await actions.run('schedule', () => ipc().call('schedule/create', { site, recurrence, retain }), 'create schedule')
    await loadSchedules()
    return r !== undefined
  }
  async function update(s: BackupScheduleView, patch: { to?: string; recurrence?: ScheduleRecurrence; retain?: number }): Promise<boolean> {
    const r = await actions.run('schedule', () => ipc().call('schedule/update', { id: s.id, site: s.site, ...patch }), `edit ${s.id}`)
    await loadSchedules()
    return r !== undefined
  }
  async function pause(s: BackupScheduleView, paused: boolean): Promise<void> {
    await actions.run('schedule', () => ipc().call('schedule/pause', { id: s.id, site: s.site, paused }), `${paused ? 'pause' : 'resume'} ${s.id}`)
    await loadSchedules()
  }
  async function remove(s: BackupScheduleView): Promise<void> {
    await actions.run('schedule', () => ipc().call('schedule/delete', { id: s.id, site: s.site }), `delete ${s.id}`)
    await loadSchedules()
  }
  async function setRefresh(copy: string, times: string[]): Promise<boolean> {
    const r = await actions.run('refresh', () => ipc().call('replication/setRefreshSchedule', { copy, times }), `set ${copy} schedule`)
    await loadReplication()
    return r !== undefined
  }
  async function setFeed(schedule: FeedSchedule): Promise<boolean> {
    const r = await actions.run('feed', () => ipc().call('replication/setFeedSchedule', { schedule }), 'set feed schedule')
    await loadReplication()
    return r !== undefined
  }

  return {
    schedules, replication, jobs, filter, errors: actions.errors, pending: actions.pending, loadError: loader.error,
    start, stop, loadJobs, loadSchedules, loadReplication, create, update, pause, remove, setRefresh, setFeed, upsert,
  }
})
