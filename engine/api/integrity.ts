/** Result shapes of `check integrity` (pure types: the renderer type-checks them through the IPC contract). */
export type IntegrityCell = string | number | null | Uint8Array

export interface IntegrityViolation { constraint: string; kind: string; relation: string; fragment: string; site: string; row: Record<string, IntegrityCell>; detail: string }
export interface ConstraintResult { constraint: string; kind: string; relation: string; ok: boolean; violations: number; checkedRows: number }
export interface IntegrityReport { ok: boolean; constraints: ConstraintResult[]; violations: IntegrityViolation[]; skippedSites: string[] }

/** A reserved block of invoice numbers (INVOICE_BLOCKS): the branch's sales numbered in it are checked at the branch alone. */
export interface KeyBlockView { blockno: number; branch: string; lo: number; hi: number }
