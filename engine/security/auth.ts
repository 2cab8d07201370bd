/**
 * Password verification at the home site, and the login that crosses the WAN (spec §8).
 *
 * SEC_USERS.HASH holds the user's SCRAM verifier, `scram1:<StoredKey hex>:<ServerKey hex>`, derived from the
 * salted password scrypt(password, SALT). Rows written before that format hold the salted password itself (hex);
 * they still log in, and are rewritten in the new format the first time the home site uses them.
 *
 * A login at another site never sends the password nor anything equivalent to it (SCRAM-SHA-256 in spirit):
 *   client → home  auth.first      {user, cnonce}
 *   home → client  auth.challenge  {nonce = cnonce + snonce, salt, scrypt parameters}
 *   client → home  auth.proof      {nonce, proof = ClientKey ⊕ HMAC(StoredKey, AuthMessage)}
 *   home → client  auth.final      {ok, clearance, server signature HMAC(ServerKey, AuthMessage)}
 * The client refuses a home site whose signature does not verify. Each message is a real body on the wire (and
 * sealed on every encrypted link like any other).
 */
import { randomBytes } from 'node:crypto'
import { EngineError } from '../errors'
import type { Cluster } from '../cluster'
import type { Level } from '../api/security'
import type { SiteCode } from '../topology/types'
import { SCRYPT, saltedPassword, sameBytes, scramClientProof, scramServerCheck, scramVerifier, type ScramVerifier } from './crypto'
import { USERS_TABLE } from './schema'

const PREFIX = 'scram1:'

export function formatVerifier(v: ScramVerifier): string { return `${PREFIX}${v.storedKey.toString('hex')}:${v.serverKey.toString('hex')}` }

/** The verifier stored for a new password (with its salt). */
export function newCredential(password: string): { salt: string; hash: string } {
  const salt = randomBytes(16)
  return { salt: salt.toString('hex'), hash: formatVerifier(scramVerifier(saltedPassword(password, salt))) }
}

/** A stored HASH as a verifier; `legacy` when it is the old format (the salted password itself). */
export function parseStored(hash: string): { v: ScramVerifier; legacy: boolean } {
  if (hash.startsWith(PREFIX)) {
    const [sk, svk] = hash.slice(PREFIX.length).split(':')
    return { v: { storedKey: Buffer.from(sk, 'hex'), serverKey: Buffer.from(svk, 'hex') }, legacy: false }
  }
  return { v: scramVerifier(Buffer.from(hash, 'hex')), legacy: true }
}

export interface StoredUser { name: string; clearance: Level; salt: string; hash: string }

/** The verifier of a user at their home site; an old-format row is migrated in place (one local write). */
export function verifierOf(cluster: Cluster, home: SiteCode, u: StoredUser): ScramVerifier {
  const p = parseStored(u.hash)
  if (p.legacy) cluster.siteStore(home).exec(`UPDATE ${USERS_TABLE} SET HASH = ? WHERE USERNAME = ?`, [formatVerifier(p.v), u.name])
  return p.v
}

/** The local check at the home site: the password's StoredKey against the verifier (constant time). */
export function checkPassword(v: ScramVerifier, password: string, salt: Buffer): boolean {
  return sameBytes(scramVerifier(saltedPassword(password, salt)).storedKey, v.storedKey)
}

const b64 = (b: Buffer) => b.toString('base64')
const authMessage = (user: string, cnonce: string, nonce: string, salt: string) => `n=${user},r=${cnonce},r=${nonce},s=${salt},i=${SCRYPT.N},c=biws,r=${nonce}`

/** What the home site needs from the DSM: its users, and a failure to report for an unknown user. */
export interface HomeSite {
  lookup(user: string): { u: StoredUser; v: ScramVerifier } | undefined
}

/**
 * Runs the challenge–response between `site` (holding the password the user typed) and `home` over the
 * network, in virtual time. Returns the clearance, or undefined for a wrong name or password; throws when the
 * home site cannot be reached or does not prove itself.
 */
export function scramLogin(cluster: Cluster, site: SiteCode, home: SiteCode, user: string, password: string, homeSite: HomeSite): { clearance: Level } | undefined {
  const net = cluster.net
  let answer: { ok: boolean; clearance?: Level; error?: EngineError } | undefined
  const fail = (reason: string) => { answer ??= { ok: false, error: new EngineError('UNREACHABLE', `${home} did not answer: ${reason}`, { site: home }) } }
  const send = (from: SiteCode, to: SiteCode, kind: string, body: object, then: () => void) => {
    const wire = JSON.stringify(body)
    try {
      net.send({ from, to, kind, payload: null, bytes: wire.length, wire: () => wire, onDeliver: then, onDrop: fail })
    } catch (e) { fail(e instanceof Error ? e.message : String(e)) }
  }
  const cnonce = b64(randomBytes(18))
  send(site, home, 'auth.first', { user, cnonce }, () => {
    // at the home site: the user's salt (an unknown user gets a salt of its own and is refused at the proof)
    let found: ReturnType<HomeSite['lookup']>
    try { found = homeSite.lookup(user) } catch (e) { answer ??= { ok: false, error: e instanceof EngineError ? e : new EngineError('INTERNAL', String(e)) }; return }
    const salt = found ? found.u.salt : randomBytes(16).toString('hex')
    const nonce = cnonce + b64(randomBytes(18))
    send(home, site, 'auth.challenge', { nonce, salt, n: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p }, () => {
      // at the login site: the proof from the password; the salted password stays here
      const am = authMessage(user, cnonce, nonce, salt)
      const { proof, expectServer } = scramClientProof(saltedPassword(password, Buffer.from(salt, 'hex')), am)
      send(site, home, 'auth.proof', { nonce, proof: b64(proof) }, () => {
        const check = found ? scramServerCheck(found.v, am, proof) : undefined
        const ok = !!check?.ok
        const reply = ok ? { ok, clearance: found!.u.clearance, v: b64(check!.serverSignature) } : { ok: false, e: 'invalid-proof' }
        send(home, site, 'auth.final', reply, () => {
          if (!ok) { answer ??= { ok: false }; return }
          if (!sameBytes(Buffer.from((reply as { v: string }).v, 'base64'), expectServer)) {
            answer ??= { ok: false, error: new EngineError('AUTH_FAILED', `${home} could not prove it holds ${user}'s verifier: login refused`, { site }) }
            return
          }
          answer ??= { ok: true, clearance: found!.u.clearance }
        })
      })
    })
  })
  cluster.sim.runUntilTrue(() => answer !== undefined, 1_000_000)
  if (!answer) throw new EngineError('TIMEOUT', `${home} did not answer the login request`, { site: home })
  if (answer.error) throw answer.error
  return answer.ok ? { clearance: answer.clearance! } : undefined
}
