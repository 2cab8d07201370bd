/**
 * A branch restored from the Colombo main repository must never lose a commit the repository has not received
 * (issue 17, bug 4): the restore replaces the branch's fragments with the repository's rows, so every branch
 * commit must be in the repository first. `repositoryGap` says what is missing; `assertRepositoryHolds` refuses
 * with the reason; `waitForRepository` runs the simulation (bounded) until the repository has caught up.
 */
import { EngineError } from '../errors'
import type { Cluster } from '../cluster'
import type { SiteCode } from '../topology/types'

/** The branch's last commit and the last one the main repository has applied (null: nothing missing). */
export function repositoryGap(cluster: Pick<Cluster, 'topology' | 'siteInternals'>, code: SiteCode): { applied: number; seq: number } | null {
  const hq = cluster.topology.sites.find((x) => x.repository)?.code
  if (!hq) return null
  const repo = cluster.siteInternals(hq).repository
  if (!repo || code === hq) return null
  const applied = repo.getMetaNum(`src.${code}`)
  const seq = cluster.siteInternals(code).seq
  return applied < seq ? { applied, seq } : null
}

export function gapError(code: SiteCode, gap: { applied: number; seq: number }, when = 'restoring now'): EngineError {
  return new EngineError('CONFLICT', `the main repository holds ${code}'s commits up to record ${gap.applied}, but ${code} has committed up to ${gap.seq}: ${when} would discard record(s) ${gap.applied + 1}–${gap.seq}. Restore the link to Colombo and let the repository catch up first`, { site: code })
}

export function assertRepositoryHolds(cluster: Pick<Cluster, 'topology' | 'siteInternals'>, code: SiteCode): void {
  const gap = repositoryGap(cluster, code)
  if (gap) throw gapError(code, gap)
}

/** Runs the simulation until the repository holds every commit of the branch, or maxMs of virtual time pass; true if it does. */
export function waitForRepository(cluster: Cluster, code: SiteCode, maxMs = 60_000): boolean {
  if (!repositoryGap(cluster, code)) return true
  const end = cluster.sim.now + maxMs
  cluster.replication.kick()
  cluster.sim.runUntilTrue(() => !repositoryGap(cluster, code) || cluster.sim.now >= end, 2_000_000)
  return !repositoryGap(cluster, code)
}
