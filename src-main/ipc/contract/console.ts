/**
 * Console identity and audit calls (spec §8, engine/security/identities.ts, roles.ts, audit.ts). The console acts
 * as an identity: the first run creates the HQ DBA (`console/setup`), `console/login` opens a console session whose
 * token the transport binds to its connection (browser-host WebSocket, Electron window) and attaches to every later
 * call; `console/resume` binds an existing session to a new connection (after a reconnect or a reload). Before
 * that, only the `open` calls of the roles table answer (ping, host info, status, setup, login, resume).
 */
import { z } from 'zod'
import { call, noInput, siteCode } from './define'
import { level } from './security'
import { ROLES, type AuditEntry, type AuditVerdict, type ConsoleIdentityView, type ConsoleLoginView, type ConsoleSessionView, type ConsoleStatusView } from '../../../engine/api/console'

export type { AuditEntry, AuditVerdict, ConsoleIdentityView, ConsoleLoginView, ConsoleSessionView, ConsoleStatusView }

const userName = z.string().min(1, 'the user name is empty').max(32)
const password = z.string().min(1, 'the password is empty').max(128)
export const consoleToken = z.string().regex(/^[0-9a-f]{32}$/, 'not a console session token')

export const consoleCalls = {
  'console/status': call(noInput).returns<ConsoleStatusView>(),
  /** First run only (no HQ DBA yet): creates the HQ DBA at HQ with clearance SECRET and logs it in. */
  'console/setup': call(z.object({ user: userName.default('hqdba'), password }).strict()).returns<ConsoleLoginView>(),
  'console/login': call(z.object({ user: userName, password, level: level.optional() }).strict()).returns<ConsoleLoginView>(),
  'console/resume': call(z.object({ token: consoleToken }).strict()).returns<ConsoleLoginView>(),
  'console/logout': call(noInput).returns<ConsoleSessionView>(),
  'console/identities': call(noInput).returns<ConsoleIdentityView[]>(),
  'console/addIdentity': call(z.object({ user: userName, password, role: z.enum(ROLES), site: siteCode.optional(), clearance: level.optional() }).strict()).returns<ConsoleIdentityView>(),
  'console/removeIdentity': call(z.object({ user: userName }).strict()).returns<{ removed: string }>(),
  'audit/search': call(z.object({
    user: z.string().max(32).optional(),
    site: z.string().max(64).optional(),
    action: z.string().max(64).optional(),
    text: z.string().max(200).optional(),
    from: z.number().min(0).optional(),
    to: z.number().min(0).optional(),
    ok: z.boolean().optional(),
    limit: z.number().int().min(1).max(2000).default(200),
  }).strict()).returns<{ entries: AuditEntry[]; total: number }>(),
  'audit/verify': call(noInput).returns<AuditVerdict>(),
}
