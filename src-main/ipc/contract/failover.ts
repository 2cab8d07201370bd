/** Failover (docs/FAILOVER.md): each site's backup feed, promotion by hand, fail back, automatic failover. */
import { z } from 'zod'
import { call, noInput, siteCode } from './define'
import type { FailoverView, PromotionReport } from '../../../engine/api/failover'

/** The site's code typed by the administrator (checked again by the handler). */
const confirm = z.string().max(16)

export const failoverCalls = {
  'failover/get': call(noInput).returns<FailoverView>(),
  /** Promote a site's backup server to primary; returns once it accepts writes, with RPO and RTO. */
  'failover/promote': call(z.object({ site: siteCode, confirm }).strict()).returns<PromotionReport>(),
  /** Fail back: the original primary host, rejoined as backup and caught up, is primary again. */
  'failover/failback': call(z.object({ site: siteCode, confirm }).strict()).returns<PromotionReport>(),
  'failover/setFeed': call(z.object({ site: siteCode, mode: z.enum(['sync', 'async']) }).strict()).returns<FailoverView>(),
  'failover/setAuto': call(z.object({
    enabled: z.boolean(),
    checks: z.number().int().min(1).max(100).optional(),
    intervalMs: z.number().min(10).max(600_000).optional(),
  }).strict()).returns<FailoverView>(),
}
