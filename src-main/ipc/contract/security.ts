/**
 * Distributed security manager calls (spec §8): users at their home site, logins checked there (locally, or by
 * the home site over the encrypted WAN), sessions at a chosen security level, the data labels and the audit log.
 * A login returns the session token once; lists never carry tokens or password material. Queries and
 * statements run as a session when they pass its token (`session`); without one they run as the console's
 * operator, the trusted subject.
 */
import { z } from 'zod'
import { call, event, noInput, siteCode } from './define'
import { LEVELS, type LoginView, type SecurityStateView, type SecurityUserView, type SessionView } from '../../../engine/api/security'
import type { DrillReport, FirewallView, PacketView } from '../../../engine/api/wan'

export type { LoginView, SecurityStateView, SecurityUserView, SessionView, FirewallView, DrillReport, PacketView }

export const level = z.enum(LEVELS)
/** A session token as 'security/login' returned it. */
export const sessionToken = z.string().regex(/^[0-9a-f]{32}$/, 'not a session token (log in to get one)')
const userName = z.string().min(1, 'the user name is empty').max(32)
const password = z.string().min(1, 'the password is empty').max(128)
const linkId = z.string().regex(/^[A-Z]{3}-[A-Z]{3}$/, 'a link id looks like CMB-KDY')
/** One row of a router's inbound rule table (the engine checks the service and host names). */
const firewallRule = z.object({ action: z.enum(['allow', 'deny']), from: z.string().min(1).max(64), service: z.string().min(1).max(16) }).strict()

export const securityCalls = {
  'security/state': call(noInput).returns<SecurityStateView>(),
  /** Adds a user at their home site (stored there as a SCRAM verifier from the salted scrypt hash, never the password). */
  'security/addUser': call(z.object({ site: siteCode, user: userName, password, clearance: level }).strict()).returns<SecurityUserView>(),
  'security/removeUser': call(z.object({ site: siteCode, user: userName }).strict()).returns<{ removed: string }>(),
  /** The operator sets a user's new password at their home site (their sessions are closed). */
  'security/setPassword': call(z.object({ site: siteCode, user: userName, password }).strict()).returns<{ user: string }>(),
  /** Logs a user in at `site`; `home` (default: `site`) is where the user is kept and the password is checked. */
  'security/login': call(z.object({ site: siteCode, user: userName, password, home: siteCode.optional(), level: level.optional() }).strict()).returns<LoginView>(),
  'security/logout': call(z.object({ session: sessionToken }).strict()).returns<SessionView>(),
  /** Every site router's firewall: its rule table (first match decides, default deny), blocked count and log. */
  'security/firewalls': call(noInput).returns<FirewallView[]>(),
  /** Replaces one site's rule table (validated: bad input changes nothing). */
  'security/setFirewallRules': call(z.object({ site: siteCode, rules: z.array(firewallRule).max(64) }).strict()).returns<FirewallView>(),
  /** Runs the intruder drill: probes every router, makes WAN traffic, sniffs every link (never returns a secret). */
  'security/intruderDrill': call(noInput).returns<DrillReport>(),
  /** The newest frames that crossed a link (or every link): header, size, ciphertext or redacted plaintext excerpt. */
  'security/packets': call(z.object({ link: linkId.optional(), limit: z.number().int().min(1).max(500).optional() }).strict()).returns<PacketView[]>(),
}

export const securityEvents = {
  /** Users, sessions or the audit log changed. */
  'security/changed': event<{ reason: string }>(),
}
