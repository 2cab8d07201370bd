/** View model of the catalog console, derived from the engine's catalog/* outputs (pure, unit-tested). */
import type { AllocationMap } from '../../../src-main/ipc/contract/catalog'
import type { CallOutput } from '../../../src-main/ipc/contract'

export type { AllocationMap, BrowsePage, GlobalCatalogView, LocalCatalogView, TableRows } from '../../../src-main/ipc/contract/catalog'
export type FragmentationReport = CallOutput<'catalog/check'>
export type CheckResult = FragmentationReport['results'][number]
export type IntegrityReport = CallOutput<'catalog/checkIntegrity'>
export type FailingRow = CheckResult['failing'][number]

/** One fragment at one site, flattened for tables and the allocation map. */
export interface FragmentInfo {
  site: string
  relation: string
  name: string
  kind: 'replica' | 'horizontal' | 'vertical' | 'copy' | 'local'
  /** Rows per the site's local catalog; null when the site is down (unknown, not zero). */
  rows: number | null
  predicate: string | null
  projection: string
  copyOf: string | null
  refresh: 'sync' | 'scheduled' | null
}

export function fragmentsOf(map: AllocationMap): FragmentInfo[] {
  return map.relations.flatMap((r) => r.fragments.map((f) => ({
    site: f.site, relation: r.name, name: f.name, kind: f.kind, rows: f.nrows, predicate: f.predicate,
    projection: f.columns.join(', '), copyOf: f.copyOf, refresh: f.refresh,
  })))
}

/** Sum of known row counts (null rows are skipped) and whether any were unknown. */
export function totalRows(list: FragmentInfo[]): { rows: number; unknown: number } {
  let rows = 0, unknown = 0
  for (const f of list) { if (f.rows === null) unknown++; else rows += f.rows }
  return { rows, unknown }
}
