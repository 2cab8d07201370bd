/**
 * THE list of consoles. The shell builds the navigation and the view from it.
 *
 * A console whose engine part exists has `component` (a lazy import of its folder's main component).
 * One without has `needs`, and the shell shows an honest empty state naming what is missing.
 * To plug a console in, give its entry a component, e.g.
 *   component: () => import('../consoles/query/QueryConsole.vue'),
 */
import type { Component } from 'vue'

export interface ConsoleDef {
  id: string
  label: string
  /** Short glyph for the navigation. */
  glyph: string
  /** One line saying what the console is for (shown under its title and in the empty state). */
  summary: string
  component?: () => Promise<Component | { default: Component }>
  /** What has to be built before this console can show anything real. */
  needs?: string
}

export const consoles: ConsoleDef[] = [
  { id: 'topology', label: 'Topology', glyph: '◈', summary: 'Sites, servers and WAN links with their live state; fail and restore them.', component: () => import('../consoles/topology/TopologyConsole.vue') },
  { id: 'catalog', label: 'Catalog', glyph: '▦', summary: 'Global and fragment schema, allocation, local catalogs, fragment data and fragmentation checks.', component: () => import('../consoles/catalog/CatalogConsole.vue') },
  { id: 'query', label: 'Query', glyph: '❯', summary: 'Global SQL with its distributed plan, data shipped per link and per-site work.', component: () => import('../consoles/query/QueryConsole.vue') },
  { id: 'transactions', label: 'Transactions', glyph: '⇄', summary: 'Distributed transactions: locks (strict 2PL) and two-phase commit states per site.', component: () => import('../consoles/transactions/TransactionsConsole.vue') },
  { id: 'deadlocks', label: 'Deadlocks', glyph: '↻', summary: 'Local and global wait-for graphs, detected cycles and chosen victims.', component: () => import('../consoles/deadlocks/DeadlocksConsole.vue') },
  { id: 'replication', label: 'Replication & Backup', glyph: '❐', summary: 'Replication streams to backups, the main repository and replicas; scheduled copies; backup servers.', component: () => import('../consoles/replication/ReplicationConsole.vue') },
  { id: 'security', label: 'Security', glyph: '⚑', summary: 'Firewalls and WAN encryption; users, logins checked at the home site, sessions by level, data labels and the audit log.', component: () => import('../consoles/security/SecurityConsole.vue') },
  { id: 'tickets', label: 'Tickets', glyph: '✓', summary: 'POS sales carrying tickets, validated at most once across servers (US 7,231,368 B2, fixed).', component: () => import('../consoles/tickets/TicketsConsole.vue') },
  { id: 'backups', label: 'Backups', glyph: '⛁', summary: 'Backups by hand (a site or every site at one cut) to SQLite files, restores confirmed by the site\'s code, and the jobs that ran them.', component: () => import('../consoles/backup/BackupConsole.vue') },
  { id: 'jobs', label: 'Jobs', glyph: '☰', summary: 'Every backup, restore, refresh and recovery, scheduled or by hand: status, start, duration, rows, bytes and errors.', component: () => import('../consoles/jobs/JobsConsole.vue') },
  { id: 'compare', label: 'Compare', glyph: '⚖', summary: 'The legacy centralized design against the distributed one over a business day: response times, WAN bytes, availability, recovery and costs.', component: () => import('../consoles/compare/CompareConsole.vue') },
  { id: 'events', label: 'Events', glyph: '≡', summary: 'The engine event log: failures, recoveries, messages and protocol steps.', component: () => import('../consoles/events/EventsConsole.vue') },
]

export const DEFAULT_CONSOLE = 'topology'

export function findConsole(id: string): ConsoleDef {
  return consoles.find((c) => c.id === id) ?? consoles.find((c) => c.id === DEFAULT_CONSOLE)!
}
