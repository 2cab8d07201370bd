/** The nemesis faults in force (engine/cluster/nemesis.ts), as the console and CLI show them. */
import type { SiteCode } from '../topology/types'

export interface NemesisSiteView {
  code: SiteCode
  lan: { state: 'up' | 'down' | 'degraded'; extraDelayMs: number; lossRate: number }
  /** The site clock's offset from the virtual clock (ms) and what it reads. */
  skewMs: number
  clock: string
  /** A media failure injected and not yet repaired: found by an access (detected) or still unnoticed (null). */
  media?: { kind: 'lost' | 'corrupt'; detected: string | null; injectedAt: number }
  /** Why the primary refuses service until restored (media failure, damaged log), or null. */
  needsRestore: string | null
}

export interface NemesisLinkView { id: string; duplicate: number; reorder: number; duplicated: number; reordered: number; partitioned: boolean }

export interface NemesisView { sites: NemesisSiteView[]; links: NemesisLinkView[]; partition: SiteCode[][] | null }
