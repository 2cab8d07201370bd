import { describe, expect, it } from 'vitest'
import { Cluster } from '../cluster'
import { SecurityManager } from './dsm'
import { scramLogin, parseStored } from './auth'
import { exchangeLinkKeys, open, saltedPassword, scramVerifier } from './crypto'
import { OUTER_HEADER_BYTES, readInner, readOuter, splitRecord } from '../net/frame'
import type { CapturedFrame } from '../net/network'

const PASSWORD = 'kandy-pass-1'

/** Opens a captured sealed frame with the link's keys (as only the link's two ends can). */
function plaintextOf(c: Cluster, f: CapturedFrame): Buffer {
  const l = c.net.link(f.link)
  const keys = exchangeLinkKeys(c.sim.seed, l.spec.id, l.spec.a, l.spec.b, l.epoch)
  const h = readOuter(f.frame)!
  const inner = open(f.from === l.spec.a ? keys.ab : keys.ba, h.seq, f.frame.subarray(0, OUTER_HEADER_BYTES), f.frame.subarray(OUTER_HEADER_BYTES))
  if (!inner) throw new Error('frame does not open')
  return inner
}

describe('a login that crosses the WAN never carries the password', () => {
  it('every frame of a remote login, sealed and opened, lacks the password, the salted password and the stored verifier', async () => {
    const c = await Cluster.create({ seed: 51, sales: 0 })
    const dsm = SecurityManager.of(c)
    dsm.addUser('KDY', 'nimal', PASSWORD, 'INTERNAL')
    c.settle()
    const before = c.net.captured('CMB-KDY').length
    const s = dsm.login('CMB', 'nimal', PASSWORD, { home: 'KDY' })
    expect(s.clearance).toBe('INTERNAL')
    const frames = c.net.captured('CMB-KDY').slice(before)
    const row = c.siteInternals('KDY').primary.query("SELECT SALT, HASH FROM SEC_USERS WHERE USERNAME = 'nimal'").rows[0]
    const salted = saltedPassword(PASSWORD, Buffer.from(String(row[0]), 'hex'))
    const v = parseStored(String(row[1])).v
    const secrets = [Buffer.from(PASSWORD), salted, Buffer.from(salted.toString('hex')), Buffer.from(salted.toString('base64')),
      v.storedKey, Buffer.from(v.storedKey.toString('hex')), Buffer.from(v.storedKey.toString('base64')), v.serverKey, Buffer.from(v.serverKey.toString('hex')), Buffer.from(v.serverKey.toString('base64'))]
    const kinds: string[] = []
    for (const f of frames) {
      const plain = plaintextOf(c, f)
      for (const inner of splitRecord(plain)) {
        const { header, body } = readInner(inner)!
        kinds.push(header.kind)
        expect(body.length).toBeGreaterThan(0)
      }
      for (const x of secrets) { expect(f.frame.includes(x)).toBe(false); expect(plain.includes(x)).toBe(false) }
    }
    expect(kinds).toEqual(['auth.first', 'auth.challenge', 'auth.proof', 'auth.final'])
    // the wrong password is refused by the home site's check of the proof
    expect(() => dsm.login('CMB', 'nimal', 'wrong-pass-9', { home: 'KDY' })).toThrow(/wrong user name or password/)
    expect(() => dsm.login('CMB', 'nobody', PASSWORD, { home: 'KDY' })).toThrow(/wrong user name or password/)
  })

  it('the client refuses a home site that cannot prove it holds the verifier', async () => {
    const c = await Cluster.create({ seed: 52, sales: 0 })
    const salt = Buffer.alloc(16, 7)
    const real = scramVerifier(saltedPassword(PASSWORD, salt))
    const impostor = { storedKey: real.storedKey, serverKey: Buffer.alloc(32, 1) } // a stolen StoredKey is not enough
    const u = { name: 'nimal', clearance: 'INTERNAL' as const, salt: salt.toString('hex'), hash: '' }
    expect(scramLogin(c, 'CMB', 'KDY', 'nimal', PASSWORD, { lookup: () => ({ u, v: real }) })).toEqual({ clearance: 'INTERNAL' })
    expect(() => scramLogin(c, 'CMB', 'KDY', 'nimal', PASSWORD, { lookup: () => ({ u, v: impostor }) })).toThrow(/could not prove/)
  })

  it('users stored in the old format (the salted password itself) still log in, and are rewritten as a verifier', async () => {
    const c = await Cluster.create({ seed: 53, sales: 0 })
    const salt = Buffer.alloc(16, 3)
    const old = saltedPassword(PASSWORD, salt).toString('hex')
    const db = c.siteStore('KDY')
    db.exec("INSERT INTO SEC_USERS (USERNAME, CLEARANCE, SALT, HASH, CREATED_AT) VALUES ('old', 'PUBLIC', ?, ?, 0)", [salt.toString('hex'), old])
    db.exec("INSERT INTO SEC_USERS (USERNAME, CLEARANCE, SALT, HASH, CREATED_AT) VALUES ('old2', 'PUBLIC', ?, ?, 0)", [salt.toString('hex'), old])
    const dsm = SecurityManager.of(c)
    expect(dsm.login('KDY', 'old', PASSWORD).user).toBe('old')
    expect(dsm.login('CMB', 'old2', PASSWORD, { home: 'KDY' }).user).toBe('old2')
    const rows = db.query("SELECT HASH FROM SEC_USERS WHERE USERNAME IN ('old', 'old2')").rows
    for (const [h] of rows) { expect(String(h)).toMatch(/^scram1:[0-9a-f]{64}:[0-9a-f]{64}$/); expect(String(h)).not.toContain(old) }
    expect(dsm.login('KDY', 'old', PASSWORD).user).toBe('old') // and again from the new format
    expect(() => dsm.login('KDY', 'old', 'wrong-pass-9')).toThrow(/wrong user name or password/)
  })
})
