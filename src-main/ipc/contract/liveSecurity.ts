/**
 * Security over live servers (src-main/pg/roles.ts): in live mode each user is a PostgreSQL role at their home
 * site's server, which checks their password with SCRAM-SHA-256. The Security console's live panel lists every
 * site's user roles as the server reports them — never a verifier, only its kind.
 */
import { noInput, call } from './define'

export interface LiveRoleView {
  /** The role at the server (`iddb_u_<user>`). */
  role: string
  user: string
  /** Whether the engine knows this user at this home site (a role it does not know is dropped when live mode opens). */
  known: boolean
  clearance: string | null
  canLogin: boolean
  /** The kind of password verifier the server holds (from pg_authid.rolpassword's prefix). */
  /** 'unreadable': the console's login at that server is not a superuser and may not read pg_authid (an attached server). */
  verifier: 'SCRAM-SHA-256' | 'md5' | 'other' | 'none' | 'unreadable'
  /** Tables the role may read whole. */
  tablesWhole: number
  /** Tables it may read only some columns of (the labelled columns above its clearance left out). */
  tablesPartly: string[]
  /** Connections the role has open at the server now. */
  connections: number
}

export interface LiveRoleSiteView {
  site: string
  server: string
  host: string
  port: number
  up: boolean
  /** The server's password_encryption setting. */
  passwordEncryption: string | null
  /** The authentication methods of the server's `host` lines in pg_hba.conf. */
  hostAuth: string[]
  roles: LiveRoleView[]
  error: string | null
}

export interface LiveRolesView { deployment: string; sites: LiveRoleSiteView[] }

export const liveSecurityCalls = {
  /** Live mode only (UNSUPPORTED in the simulation): every site's user roles at its server. */
  'security/liveRoles': call(noInput).returns<LiveRolesView>(),
}
