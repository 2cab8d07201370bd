/**
 * The live cluster's design and its switch (system/design, system/setDesign): which design a cluster was built as,
 * and re-initialising the live cluster as another one with the same seed and data size. The console identities
 * (their security rows: salted verifiers, roles) are carried into the new cluster, so the same people log in again;
 * their sessions end with the old cluster. With a data directory the old cluster is closed and its files moved
 * aside while the new one is built there; if the build fails they are put back and the old cluster reopened.
 */
import { existsSync, renameSync, rmSync } from 'node:fs'
import { EngineError } from '../../engine/errors'
import { Cluster } from '../../engine/cluster'
import type { CompareReport, Design, RequestTrace } from '../../engine/api/compare'
import { ConsoleIdentities } from '../../engine/security/identities'
import { ROLES_TABLE, USERS_TABLE } from '../../engine/security/schema'
import type { HandlerContext } from './context'
import type { JobHandle } from '../engine-host/jobs'
import { designTopology } from '../../engine/topology/default'

/** The design a cluster was built as. */
export function designOf(c: Cluster): Design { return c.design }

/** Each design's request traces in a report. */
export function tracesOf(r: CompareReport): Record<Design, RequestTrace[]> {
  return { distributed: r.results.distributed.traces, legacy: r.results.legacy.traces }
}

/** A console identity's security rows at its home site (the salted verifier, never a password). */
export interface IdentityRows { home: string; user: unknown[]; role: unknown[] }

export function identityRows(c: Cluster): IdentityRows[] {
  const out: IdentityRows[] = []
  for (const id of ConsoleIdentities.of(c).identities()) {
    const store = c.siteStore(id.home)
    const user = store.query(`SELECT USERNAME, CLEARANCE, SALT, HASH, CREATED_AT FROM ${USERS_TABLE} WHERE USERNAME = ?`, [id.name]).rows[0]
    const role = store.query(`SELECT USERNAME, ROLE, SITE FROM ${ROLES_TABLE} WHERE USERNAME = ?`, [id.name]).rows[0]
    if (user && role) out.push({ home: id.home, user, role })
  }
  return out
}

export function restoreIdentities(c: Cluster, rows: IdentityRows[]): void {
  for (const r of rows) {
    if (!c.siteCodes.includes(r.home)) continue // a design without that site keeps no identity there
    const store = c.siteStore(r.home)
    store.exec(`INSERT OR REPLACE INTO ${USERS_TABLE} (USERNAME, CLEARANCE, SALT, HASH, CREATED_AT) VALUES (?, ?, ?, ?, ?)`, r.user as never[])
    store.exec(`INSERT OR REPLACE INTO ${ROLES_TABLE} (USERNAME, ROLE, SITE) VALUES (?, ?, ?)`, r.role as never[])
  }
}

/** Builds the live cluster anew as `design` (same seed, same number of sales) and makes it the one every call sees. */
export async function reinitialise(ctx: HandlerContext, design: Design, job: JobHandle): Promise<Cluster> {
  const old = ctx.cluster
  const seed = old.sim.seed
  const sales = old.lastGenerate?.totalSales ?? 0
  const ids = identityRows(old)
  const dir = ctx.dataDir
  const aside = dir ? `${dir}.before-${design}` : null
  const opts = { seed, sales, onProgress: (p: number, d?: string) => job.progress(p * 0.95, d), isCancelled: () => job.cancelled }
  if (dir && aside) {
    old.close()
    rmSync(aside, { recursive: true, force: true })
    renameSync(dir, aside)
  }
  let next: Cluster
  try {
    next = await Cluster.start({ ...opts, topology: designTopology(design), ...(dir ? { dataDir: dir } : {}) }).ready
    restoreIdentities(next, ids)
    if (dir) next.checkpoint()
  } catch (e) {
    if (dir && aside) {
      rmSync(dir, { recursive: true, force: true })
      if (existsSync(aside)) renameSync(aside, dir)
      ctx.replaceCluster!(await Cluster.open(dir)) // the old cluster, as it was
    }
    throw e instanceof EngineError ? e : new EngineError('INTERNAL', `could not build the ${design} design: ${(e as Error).message}`)
  }
  ctx.replaceCluster!(next)
  if (aside) rmSync(aside, { recursive: true, force: true })
  job.progress(1, `the cluster is the ${design} design (seed ${seed}, ${sales.toLocaleString('en')} sales)`)
  return next
}
