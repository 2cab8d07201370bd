/** The failure drills (engine/cluster/drills.ts): one per failure category of the spec (§6), as the console shows them. */
import type { SiteCode } from '../topology/types'

export const DRILL_CATEGORIES = ['transaction', 'system', 'media', 'communication'] as const
export type DrillCategory = typeof DRILL_CATEGORIES[number]

export interface DrillInfo {
  category: DrillCategory
  title: string
  /** What the drill does. */
  description: string
  /** What to watch while it runs, and where. */
  watch: string[]
  /** Destructive (a site's data must be restored): the console asks for the site's code, scenarios and the CLI for --yes. */
  destructive: boolean
}

export const DRILLS: readonly DrillInfo[] = [
  {
    category: 'transaction', title: 'Transaction failures', destructive: false,
    description: 'Distributed transfers between the branches’ stock fragments, started in pairs that lock the same rows in opposite order (global deadlocks), and every fourth one aborted by the application after its first write.',
    watch: ['Transactions console: deadlock victims chosen by the global wait-for graph and aborted', 'aborted transfers leave no trace: their first writes are rolled back at every site', 'the committed transfers stay'],
  },
  {
    category: 'system', title: 'System (site) failure', destructive: false,
    description: 'The same transfers run while the target site fails (router, application and database servers) in the middle of two-phase commit; the repair restarts it, and its recovery manager redoes the log and resolves in-doubt transactions.',
    watch: ['Topology: the site and its links turn red', 'Transactions: participants in READY are in doubt and hold their locks; coordinators in WAIT time out and abort', 'after the repair: in-doubt transactions resolved from the coordinators and the 2PC log'],
  },
  {
    category: 'media', title: 'Media failure', destructive: true,
    description: 'The target site’s primary database medium is corrupted while transfers run. Nothing notices at once: the next access reads the damaged image, and the site refuses service saying a restore is needed. The repair recovers the primary from its backup server (its image, then the commit log redone).',
    watch: ['Topology: the site is up until the next transfer touches it, then its primary refuses service (CORRUPT_DATA: restore needed)', 'transfers touching the site abort; the others commit', 'after the repair: every transfer committed before the failure is there'],
  },
  {
    category: 'communication', title: 'Communication failure', destructive: false,
    description: 'Every WAN link duplicates some messages and reorders others (some are held back so later ones overtake them); then the target site is partitioned from the others while transfers run. The repair heals the partition.',
    watch: ['Topology: the links to the partitioned site go down', 'transfers across the partition time out and abort, or wait in doubt', 'after healing: every site agrees on every outcome'],
  },
]

export interface DrillCheck { name: string; ok: boolean; detail: string }

export interface DrillReport {
  /** Nothing committed was lost and every check passed. */
  ok: boolean
  /** Committed changes missing or wrong after the repair (rows whose quantity differs from what the committed transfers made it). */
  lost: number
  committed: number
  aborted: number
  checks: DrillCheck[]
  /** Virtual time from the start to the end of the check. */
  durationMs: number
}

export interface DrillView {
  id: number
  category: DrillCategory
  site: SiteCode
  startedAt: number
  phase: 'running' | 'checked'
  /** What happened, in order (virtual time, text). */
  steps: { at: number; text: string }[]
  transfers: { started: number; committed: number; aborted: number; planned: number }
  report?: DrillReport
}
