/**
 * Where a site keeps its users: SEC_USERS in the site's own database (primary, and its backup through the
 * backup channel). Not a fragment of any global relation: no global name reaches it, it never goes to the
 * main repository or to other sites, and the catalogs do not list it.
 */
export const USERS_TABLE = 'SEC_USERS'
export const USERS_COLUMNS = ['USERNAME', 'CLEARANCE', 'SALT', 'HASH', 'CREATED_AT']
export const USERS_KEY = ['USERNAME']
export const USERS_DDL = `CREATE TABLE IF NOT EXISTS ${USERS_TABLE} (USERNAME TEXT PRIMARY KEY, CLEARANCE TEXT NOT NULL, SALT TEXT NOT NULL, HASH TEXT NOT NULL, CREATED_AT INTEGER)`
