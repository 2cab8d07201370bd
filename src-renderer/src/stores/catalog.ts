/**
 * Catalogs and fragment data: the replicated global catalog (global + fragment schema), the allocation
 * map, each site's local catalog, paged browsing of any table at a site, the fragmentation checks and
 * data generation (a job), `check integrity` over the declared constraints (catalog/checkIntegrity).
 * Calls: catalog/global, catalog/fragments, catalog/local, catalog/check, catalog/checkIntegrity,
 * data/browse, data/generate; refetches on catalog/changed. "Read as" (`readAs`): the data and catalog calls go
 * as a session opened in the Security console (its level applies in the engine) or as the operator.
 */
import { defineStore } from 'pinia'
import { computed, ref, shallowRef } from 'vue'
import type { ErrorInfo } from '../../../engine/errors'
import type { JobView } from '../../../engine/api/views'
import type { KeyBlockView } from '../../../engine/api/integrity'
import { ipc, toIpcError } from '../ipc/client'
import { useSecurityStore } from './security'
import { useAction } from '../composables/useAction'
import { fragmentsOf, type AllocationMap, type BrowsePage, type FragmentationReport, type FragmentInfo, type GlobalCatalogView, type IntegrityReport, type LocalCatalogView } from './catalogModel'

export type { BrowsePage, FragmentationReport, FragmentInfo, GlobalCatalogView, IntegrityReport, LocalCatalogView } from './catalogModel'

/** Rows per data/browse page (the contract allows up to 1000). */
export const BROWSE_PAGE = 200

export type BrowseServer = 'primary' | 'backup' | 'repository'

export const useCatalogStore = defineStore('catalog', () => {
  const global = shallowRef<GlobalCatalogView | null>(null)
  const allocation = shallowRef<AllocationMap | null>(null)
  const local = ref<Record<string, LocalCatalogView>>({})
  const check = shallowRef<FragmentationReport | null>(null)
  const integrity = shallowRef<IntegrityReport | null>(null)
  const integrityChecker = useAction()
  const checkingIntegrity = computed(() => integrityChecker.pending.value !== null)
  const integrityError = integrityChecker.error
  const loader = useAction()
  const checker = useAction()
  const generator = useAction()
  const checking = computed(() => checker.pending.value !== null)
  const loading = ref(false)
  const error = loader.error
  const checkError = checker.error
  const generateError = generator.error
  /** Bumped on catalog/changed so open data browsers reload. */
  const dataVersion = ref(0)
  let off: (() => void) | null = null

  /** The id of the session (opened in this console) the catalog and data calls read as; null: the operator. */
  const readAs = ref<string | null>(null)
  /** `{ session: token }` for the chosen session; a session closed since it was picked is refused, never read as the operator. */
  function as(): { session?: string } {
    if (!readAs.value) return {}
    const token = useSecurityStore().tokenOf(readAs.value)
    if (!token) throw { code: 'AUTH_FAILED', message: `session ${readAs.value} is no longer open in this console: log in again or read as the operator` } satisfies ErrorInfo
    return { session: token }
  }

  const fragments = computed<FragmentInfo[]>(() => (allocation.value ? fragmentsOf(allocation.value) : []))
  const repositorySite = computed(() => allocation.value?.repositorySite ?? null)

  async function loadGlobal(site?: string): Promise<void> {
    await loader.run('loadGlobal', async () => { global.value = await ipc().call('catalog/global', { ...(site ? { site } : {}), ...as() }) })
  }

  async function loadFragments(): Promise<void> {
    await loader.run('loadFragments', async () => { allocation.value = await ipc().call('catalog/fragments', as()) })
  }

  async function loadLocal(site: string): Promise<void> {
    await loader.run('loadLocal', async () => { local.value = { ...local.value, [site]: await ipc().call('catalog/local', { site, ...as() }) } })
  }

  async function load(): Promise<void> {
    loading.value = true
    try { await Promise.all([loadGlobal(), loadFragments()]) } finally { loading.value = false }
  }

  function start(): Promise<void> {
    if (!off) {
      off = ipc().on('catalog/changed', () => {
        dataVersion.value++
        void load()
        for (const s of Object.keys(local.value)) void loadLocal(s)
      })
    }
    return load()
  }

  function stop(): void { off?.(); off = null }

  /** Picks who the catalog and data calls read as, and reloads what is shown. */
  function setReadAs(id: string | null): void {
    readAs.value = id
    dataVersion.value++
    void load()
    for (const s of Object.keys(local.value)) void loadLocal(s)
  }

  /** One page of a table at a site's server. Throws IpcError (the browser shows it). */
  async function browse(site: string, table: string, offset: number, limit = BROWSE_PAGE, server: BrowseServer = 'primary'): Promise<BrowsePage> {
    try {
      return await ipc().call('data/browse', { site, table, server, offset, limit, ...as() })
    } catch (e) { throw toIpcError(e) }
  }

  /** Runs the fragmentation checks (completeness, reconstruction, disjointness). */
  async function runCheck(relation?: string): Promise<void> {
    await checker.run('check', async () => { check.value = await ipc().call('catalog/check', { ...(relation ? { relation } : {}), ...as() }) })
  }

  /** `check integrity`: every declared constraint over the stored rows, with the violating rows. */
  async function runIntegrityCheck(): Promise<void> {
    await integrityChecker.run('integrity', async () => { integrity.value = await ipc().call('catalog/checkIntegrity', { limit: 200, ...as() }) })
  }

  /** The invoice-number blocks the branches reserved (their sales from them are checked at the branch alone). */
  const blocks = shallowRef<{ site: string; blocks: KeyBlockView[] } | null>(null)
  const blocker = useAction()
  async function loadBlocks(): Promise<void> {
    await blocker.run('invoice-number blocks', async () => { blocks.value = await ipc().call('integrity/blocks', {}) })
  }
  /** Reserves the next block of `size` invoice numbers for a branch (a global transaction: Colombo and every branch must answer). */
  async function reserveBlock(site: string, size: number): Promise<KeyBlockView | null> {
    const b = await blocker.run(`reserve invoice numbers for ${site}`, () => ipc().call('integrity/reserveBlock', { site, size }))
    if (b) blocks.value = { site: blocks.value?.site ?? site, blocks: [...(blocks.value?.blocks ?? []), b] }
    return b ?? null
  }

  /** Replaces all data with a generated dataset; returns the job (progress arrives on job/progress). */
  async function generate(sales: number): Promise<JobView | null> {
    return (await generator.run('generate', () => ipc().call('data/generate', { sales }))) ?? null
  }

  return {
    global, allocation, local, check, checking, loading, error, checkError, generateError, dataVersion, fragments, repositorySite, readAs,
    load, start, stop, loadGlobal, loadFragments, loadLocal, browse, runCheck, generate, setReadAs,
    integrity, checkingIntegrity, integrityError, runIntegrityCheck,
    blocks, blocksError: blocker.error, blocksPending: blocker.pending, loadBlocks, reserveBlock,
  }
})
