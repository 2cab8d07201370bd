import { z } from 'zod'
import type { PendingRefresh } from '../../../engine/api/schedules'
import { call, event, siteCode } from './define'
import type { JobView } from '../../../engine/api/views'
import { sessionToken } from './security'

type Cell = string | number | null

/** Fragmentation check results: the engine's own types (engine/api/checks.ts). */
export type { FailingRow, CheckResult, FragmentationReport } from '../../../engine/api/checks'
import type { FragmentationReport } from '../../../engine/api/checks'
export interface TableRows { columns: string[]; rows: Cell[][] }

export interface GlobalCatalogView {
  /** The site whose replica of the global catalog was read. */
  site: string
  views: TableRows // GLOBAL_VIEWS
  tables: TableRows // GLOBAL_TABLES
  columns: TableRows // GLOBAL_COLUMNS
  fragments: TableRows // FRAGMENT_TABLES (with NROWS, KIND, PREDICATE, PROJECTION, COPY_OF, REFRESH)
  fragmentColumns: TableRows // FRAGMENT_COLUMNS
  constraints: TableRows // GLOBAL_CONSTRAINTS (the Distributed Integrity Manager's declared constraints)
}

/** `check integrity` over the stored data: the engine's own types (engine/integrity/check.ts). */
export type { IntegrityReport, IntegrityViolation, ConstraintResult } from '../../../engine/api/integrity'
import type { IntegrityReport } from '../../../engine/api/integrity'
import type { KeyBlockView } from '../../../engine/api/integrity'

export interface LocalCatalogView { site: string; tables: TableRows; views: TableRows; columns: TableRows; indexes: TableRows }

export interface AllocationFragment {
  name: string
  site: string
  kind: 'replica' | 'horizontal' | 'vertical' | 'copy' | 'local'
  predicate: string | null
  columns: string[]
  copyOf: string | null
  refresh: 'sync' | 'scheduled' | null
  /** Row count from the site's local catalog; null when the site is down. */
  nrows: number | null
}
export interface AllocationMap {
  sites: { code: string; name: string; up: boolean; repository: boolean }[]
  relations: { name: string; distribution: string; key: string[]; columns: { name: string; type: string; len: number }[]; fragments: AllocationFragment[] }[]
  copies: {
    copy: string; site: string; source: string; sourceSite: string; lastRefreshAt: number | null; ageMs: number | null; nextRefreshAt: number; stale: boolean; rows: number
    /** Virtual time the data the copy holds was read at its source; how long it has not been current; a missed refresh waiting for its retry. */
    asOf: number | null; stalenessMs: number; pending: PendingRefresh | null; lastMode: 'incremental' | 'full' | null
  }[]
  replication: { id: string; origin: string; target: string; pending: number; applied: number; inflight: number }[]
  repositorySite: string
  /** Replica control per replicated relation and derived fragment (engine/site/replication.ts, docs/REPLICATION.md). */
  replicaControl: { relation: string; fragment: string; scheme: 'primary-copy' | 'derived'; primary: string; copies: string[]; source?: string; refresh?: 'sync' | 'scheduled' }[]
}

export interface BrowsePage extends TableRows {
  site: string; table: string; server: 'primary' | 'backup' | 'repository'; offset: number; total: number
  /** Columns left out because they are labelled above the session's level (never read). */
  hiddenColumns: string[]
}

/**
 * Every call returning stored data or statistics takes an optional `session`: read as that session (its level
 * applies: no read up; key ranges and row counts are labelled like what they describe); without it, as the
 * console's operator. Security tables (SEC_USERS: salts, hashes) are returned to nobody.
 */
const readAs = { session: sessionToken.optional() }

const tableName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, 'a table name like Sales_CMB')

export const catalogCalls = {
  /** The replicated global catalog as held at one site (default: the first site that is up). */
  'catalog/global': call(z.object({ site: siteCode.optional(), ...readAs }).strict()).returns<GlobalCatalogView>(),
  /** One site's local catalog (LCAT_*). */
  'catalog/local': call(z.object({ site: siteCode, ...readAs }).strict()).returns<LocalCatalogView>(),
  /** The fragment schema with its allocation (which fragment lives where), copies and replication state. */
  'catalog/fragments': call(z.object({ ...readAs }).strict()).returns<AllocationMap>(),
  /** Fragmentation checks (completeness, reconstruction, disjointness) with failing rows. */
  'catalog/check': call(z.object({ relation: z.string().regex(/^[A-Za-z_]{1,32}$/).optional(), ...readAs }).strict()).returns<FragmentationReport>(),
  /** `check integrity`: every declared constraint (GLOBAL_CONSTRAINTS) judged over the stored rows, with the violating rows. */
  'catalog/checkIntegrity': call(z.object({ limit: z.number().int().min(0).max(1000).default(200), ...readAs }).strict()).returns<IntegrityReport & { checkedAt: number }>(),
  /** The invoice-number blocks reserved by the branches (INVOICE_BLOCKS), as the replica at `site` holds them (default: the primary copy's site, or the first site up). */
  'integrity/blocks': call(z.object({ site: siteCode.optional() }).strict()).returns<{ site: string; blocks: KeyBlockView[] }>(),
  /** Reserves the next block of invoice numbers for a branch (one global transaction): its sales from the block are checked at the branch alone, so they go on while Colombo is down. */
  'integrity/reserveBlock': call(z.object({ site: siteCode, size: z.number().int().min(100).max(10_000_000).default(100_000) }).strict()).returns<KeyBlockView>(),
  /** A page of a table at a site (fragment, replica, catalog table), with the total row count. */
  'data/browse': call(z.object({
    site: siteCode,
    table: tableName,
    server: z.enum(['primary', 'backup', 'repository']).default('primary'),
    offset: z.number().int().min(0).default(0),
    limit: z.number().int().min(1).max(1000).default(100),
    orderBy: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/).optional(),
    desc: z.boolean().default(false),
    ...readAs,
  }).strict()).returns<BrowsePage>(),
  /** Replaces all data with a generated dataset, as a job (progress via job/progress). */
  'data/generate': call(z.object({ sales: z.number().int().min(0).max(2_000_000).default(20_000), seed: z.number().int().min(0).max(0xffffffff).optional() }).strict()).returns<JobView>(),
}

export const catalogEvents = {
  /** Data was regenerated or the catalogs changed a lot: consoles refetch. */
  'catalog/changed': event<{ reason: string }>(),
}
