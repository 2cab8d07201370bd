/**
 * Views of the distributed security manager (engine/security), shared with the renderer.
 * Levels are ordered: a session at level L reads data labelled ≤ L (no read up) and writes data labelled
 * from L up to the user's clearance (no write down).
 */
export const LEVELS = ['PUBLIC', 'INTERNAL', 'CONFIDENTIAL', 'SECRET'] as const
export type Level = (typeof LEVELS)[number]

export function levelRank(l: Level): number { return LEVELS.indexOf(l) }

export interface SecurityUserView { name: string; home: string; clearance: Level; createdAt: number | null }

/** A logged-in session; `token` is only ever returned to whoever logged in (never in lists or logs). */
export interface SessionView {
  id: string
  user: string
  home: string
  site: string
  clearance: Level
  level: Level
  since: number
  /** How the credential was checked: at the site itself, or by the user's home site over an encrypted link. */
  via: string
}

export interface LoginView extends SessionView { token: string; virtualMs: number }

export interface LabelView { relation: string; column: string | null; level: Level }

export interface AuditEntryView { at: number; site: string; user: string; action: string; ok: boolean; detail: string }

export interface SecurityStateView {
  levels: Level[]
  users: SecurityUserView[]
  sessions: SessionView[]
  labels: LabelView[]
  audit: AuditEntryView[]
}
