/** Result shapes of the fragmentation checks (pure types: the renderer type-checks them through the IPC contract). */
export type CellValue = string | number | null | Uint8Array

export interface FailingRow { fragment?: string; site?: string; key: CellValue[]; reason: string; row?: CellValue[] }
export interface CheckResult {
  relation: string
  check: 'completeness' | 'reconstruction' | 'disjointness' | 'replica-consistency'
  ok: boolean
  skipped?: string
  detail: string
  failing: FailingRow[]
  failingCount: number
}
export interface FragmentationReport { ok: boolean; checkedAt?: number; results: CheckResult[] }
