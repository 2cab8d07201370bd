/** Nemesis faults and failure drills (engine/cluster/nemesis.ts, engine/cluster/drills.ts). */
import { z } from 'zod'
import { call, noInput, siteCode } from './define'
import type { NemesisView } from '../../../engine/api/nemesis'
import type { DrillView } from '../../../engine/api/drills'
import { DRILL_CATEGORIES } from '../../../engine/api/drills'

const linkId = z.string().regex(/^[A-Z]{3}-[A-Z]{3}$/, 'a link id looks like CMB-KDY')
const probability = z.number().min(0).max(1)
/** The text the administrator typed to confirm a destructive action: the engine checks it equals the site's code. */
const confirm = z.string().max(16)

export const nemesisCalls = {
  'nemesis/get': call(noInput).returns<NemesisView>(),
  'nemesis/failMedia': call(z.object({ site: siteCode, kind: z.enum(['corrupt', 'lost']).default('corrupt'), confirm }).strict()).returns<NemesisView>(),
  'nemesis/lan': call(z.object({
    site: siteCode,
    state: z.enum(['up', 'down', 'degraded']),
    extraDelayMs: z.number().min(0).max(60_000).default(0),
    lossRate: probability.default(0),
  }).strict()).returns<NemesisView>(),
  'nemesis/partition': call(z.object({ groups: z.array(z.array(siteCode).min(1).max(32)).min(1).max(32) }).strict()).returns<NemesisView>(),
  'nemesis/heal': call(noInput).returns<NemesisView>(),
  'nemesis/linkChaos': call(z.object({ link: linkId, duplicate: probability.optional(), reorder: probability.optional() }).strict()).returns<NemesisView>(),
  'nemesis/skew': call(z.object({ site: siteCode, offsetMs: z.number().int().min(-7 * 86_400_000).max(7 * 86_400_000) }).strict()).returns<NemesisView>(),
  'drill/get': call(noInput).returns<DrillView | null>(),
  'drill/start': call(z.object({ category: z.enum(DRILL_CATEGORIES), site: siteCode.optional(), confirm: confirm.optional() }).strict()).returns<DrillView>(),
  'drill/finish': call(noInput).returns<DrillView>(),
}
