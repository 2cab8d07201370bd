/**
 * Live mode's Catalog console and failure drills (contract/liveops.ts): each site's local catalog as read from
 * its server (when, from which server, with count(*) beside the statistics), ANALYZE; every server's state, stop
 * (typed confirmation) and start, the console's links to the sites cut and restored, a site's backends and ending one. The servers' state is read again on
 * topology changes and every few seconds of engine ticks while the Topology console is open; a stop or a start
 * also reloads the live badge's servers (system/info) and the topology.
 */
import { defineStore } from 'pinia'
import { ref } from 'vue'
import type { LiveBackend, LiveCatalogRead, LiveKillResult, LiveLinkState, LiveServerState } from '../../../src-main/ipc/contract/liveops'
import { ipc } from '../ipc/client'
import { useAction } from '../composables/useAction'
import { useLiveRefresh } from '../composables/useLiveRefresh'
import { useConnectionStore } from './connection'
import { useTopologyStore } from './topology'

export type { LiveBackend, LiveCatalogRead, LiveLinkState, LiveServerState }

export const useLiveOpsStore = defineStore('liveOps', () => {
  // ---- the Catalog console: local catalogs read from the servers ----
  const catalogs = ref<Record<string, LiveCatalogRead>>({})
  const catalogAction = useAction()

  async function readCatalog(site: string, analyze = false): Promise<void> {
    const r = await catalogAction.run(analyze ? `ANALYZE at ${site} and read again` : `read ${site}'s catalog`, () => ipc().call('liveCatalog/site', { site, analyze }))
    if (r) catalogs.value = { ...catalogs.value, [site]: r }
  }

  // ---- the Topology console: live failure drills ----
  const servers = ref<LiveServerState[]>([])
  const backends = ref<{ site: string; server: string; backends: LiveBackend[] } | null>(null)
  const lastKill = ref<LiveKillResult | null>(null)
  const lastStart = ref<{ server: string; ms: number } | null>(null)
  const drillAction = useAction()
  const refreshing = useAction()

  const links = ref<LiveLinkState[]>([])
  const { refresh, start, stop } = useLiveRefresh(async () => {
    const v = await refreshing.run('servers', async () => ({ servers: await ipc().call('liveDrill/servers', {}), links: await ipc().call('liveDrill/links', {}) }))
    if (v) { servers.value = v.servers; links.value = v.links }
  }, { tickMs: 5000 })

  /** After a server changed: the badge's servers and the topology follow. */
  function followUp(): void {
    void useConnectionStore().loadInfo()
    void useTopologyStore().refresh()
    if (backends.value) void loadBackends(backends.value.site)
  }

  async function stopServer(server: string, confirm: string): Promise<void> {
    const r = await drillAction.run(`stop ${server}`, () => ipc().call('liveDrill/stopServer', { server, confirm }))
    if (r) servers.value = r.servers
    followUp()
  }
  async function startServer(server: string): Promise<void> {
    const r = await drillAction.run(`start ${server}`, () => ipc().call('liveDrill/startServer', { server }))
    if (r) { servers.value = r.servers; lastStart.value = { server: r.server, ms: r.ms } }
    followUp()
  }
  /** Cuts (or restores) the console's link to a site's server: its connections reset, new ones refused. */
  async function setLink(site: string, cut: boolean): Promise<void> {
    const r = await drillAction.run(`${cut ? 'cut' : 'restore'} the link to ${site}`, () => ipc().call(cut ? 'liveDrill/cutLink' : 'liveDrill/restoreLink', { site }))
    if (r) links.value = links.value.map((l) => (l.site === r.site ? r : l))
    followUp()
  }
  async function loadBackends(site: string): Promise<void> {
    const r = await drillAction.run(`backends at ${site}`, () => ipc().call('liveDrill/backends', { site }))
    if (r) backends.value = r
  }
  async function killBackend(site: string, pid?: number): Promise<void> {
    const r = await drillAction.run(`end backend ${pid ?? 'of the query processor'} at ${site}`, () => ipc().call('liveDrill/killBackend', pid === undefined ? { site } : { site, pid }))
    if (r) lastKill.value = r
    await loadBackends(site)
  }

  return {
    catalogs, catalogError: catalogAction.error, catalogPending: catalogAction.pending, readCatalog,
    servers, links, backends, lastKill, lastStart, error: drillAction.error, pending: drillAction.pending, refreshError: refreshing.error,
    refresh, start, stop, stopServer, startServer, setLink, loadBackends, killBackend,
  }
})
