/**
 * Where a site keeps its users: SEC_USERS in the site's own database (primary, and its backup through the
 * backup channel). Not a fragment of any global relation: no global name reaches it, it never goes to the
 * main repository or to other sites, and the catalogs do not list it.
 */
export const USERS_TABLE = 'SEC_USERS'
export const USERS_COLUMNS = ['USERNAME', 'CLEARANCE', 'SALT', 'HASH', 'CREATED_AT']
export const USERS_KEY = ['USERNAME']
export const USERS_DDL = `CREATE TABLE IF NOT EXISTS ${USERS_TABLE} (USERNAME TEXT PRIMARY KEY, CLEARANCE TEXT NOT NULL, SALT TEXT NOT NULL, HASH TEXT NOT NULL, CREATED_AT INTEGER)`

/**
 * Console identities (engine/security/identities.ts): a DSM user of SEC_USERS at the same home site, plus
 * its console role and, for a branch administrator, the site it runs. Kept and shipped like SEC_USERS.
 */
export const ROLES_TABLE = 'SEC_ROLES'
export const ROLES_COLUMNS = ['USERNAME', 'ROLE', 'SITE']
export const ROLES_KEY = ['USERNAME']
export const ROLES_DDL = `CREATE TABLE IF NOT EXISTS ${ROLES_TABLE} (USERNAME TEXT PRIMARY KEY, ROLE TEXT NOT NULL, SITE TEXT)`
