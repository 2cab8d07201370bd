/**
 * Views of the console's identities and audit log (engine/security/identities.ts, roles.ts, audit.ts), shared with
 * the renderer. The console acts as an identity: the HQ DBA (every site), a branch administrator (its own site)
 * or an auditor (reads only).
 */
import type { Level } from './security'

export const ROLES = ['hq-dba', 'branch-admin', 'auditor'] as const
export type Role = (typeof ROLES)[number]
export const ROLE_LABELS: Record<Role, string> = { 'hq-dba': 'HQ DBA', 'branch-admin': 'branch administrator', auditor: 'auditor' }

export interface ConsoleIdentityView { name: string; role: Role; site: string | null; home: string; clearance: Level }
export interface ConsoleSessionView extends ConsoleIdentityView { id: string; level: Level; since: number }
/** Returned once, to the transport that logged in (it binds `token` to its connection). */
export interface ConsoleLoginView extends ConsoleSessionView { token: string }
export interface ConsoleStatusView { setupNeeded: boolean; hq: string; roles: { role: Role; label: string }[]; note: string | null }

/** One audit entry: numbered from 1, chained by sha-256 (prev → hash). Never a password or a session token. */
export interface AuditEntry { seq: number; at: number; site: string; user: string; action: string; ok: boolean; detail: string; prev: string; hash: string }
export type AuditVerdict = { ok: true; count: number; head: string } | { ok: false; count: number; entry: number; reason: string }
