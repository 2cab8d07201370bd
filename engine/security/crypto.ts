/**
 * The cryptography the DDBMS uses (node:crypto only), in one place:
 *
 *  - Link keys: each end of a WAN link has an X25519 key pair made from 32 bytes of the cluster's seeded
 *    generator (so the same seed gives the same keys and the same run); the two ends' Diffie–Hellman secret
 *    goes through HKDF-SHA256 into one AES-256-GCM key and one 4-byte nonce salt per direction.
 *  - Sealing: AES-256-GCM, nonce = salt ‖ 64-bit per-direction counter, the clear frame header as additional
 *    authenticated data, a 16-byte tag. A receiver accepts a counter once (a sliding window of 64 behind the
 *    highest seen): a tampered frame fails its tag, a replayed one its counter.
 *  - SCRAM-SHA-256-style login (RFC 5802/7677 in spirit): the home site keeps StoredKey and ServerKey, derived
 *    from the salted password (scrypt); the client proves it knows the password without sending it, and the
 *    server proves it holds the verifier.
 */
import { createCipheriv, createDecipheriv, createHash, createHmac, createPrivateKey, createPublicKey, createSecretKey, diffieHellman, hkdfSync, scryptSync, timingSafeEqual, type KeyObject } from 'node:crypto'
import { Rng } from '../sim/rng'

export const GCM_TAG_BYTES = 16
const PKCS8_X25519 = Buffer.from('302e020100300506032b656e04220420', 'hex')

/** 32 bytes from a generator seeded by (seed, label): the same inputs give the same bytes. */
export function seededBytes(seed: number, label: string, n = 32): Buffer {
  let h = (seed ^ 0x9e3779b9) >>> 0
  for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 16777619) >>> 0
  const rng = new Rng(h)
  const out = Buffer.alloc(n)
  for (let i = 0; i < n; i += 4) out.writeUInt32BE(rng.nextU32(), i)
  return out
}

export interface X25519Pair { privateKey: KeyObject; publicKey: KeyObject; publicRaw: Buffer }

/** An X25519 key pair whose private scalar is the 32 given bytes (clamped by X25519 itself). */
export function x25519FromBytes(d: Buffer): X25519Pair {
  if (d.length !== 32) throw new RangeError('an X25519 private key is 32 bytes')
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_X25519, d]), format: 'der', type: 'pkcs8' })
  const publicKey = createPublicKey(privateKey)
  const spki = publicKey.export({ format: 'der', type: 'spki' })
  return { privateKey, publicKey, publicRaw: spki.subarray(spki.length - 32) }
}

export interface DirectionKey { key: KeyObject; salt: Buffer }
export interface LinkKeys { ab: DirectionKey; ba: DirectionKey; /** Both ends computed the same secret (a check of the exchange). */ agreed: boolean; fingerprint: string }

/**
 * The key exchange of one link (for one epoch: a link that went down and came back exchanges anew): each end's
 * pair from the seeded generator, each end's Diffie–Hellman with the other's public key, HKDF per direction.
 */
export function exchangeLinkKeys(seed: number, linkId: string, a: string, b: string, epoch: number): LinkKeys {
  const pa = x25519FromBytes(seededBytes(seed, `x25519 ${linkId} ${a} ${epoch}`))
  const pb = x25519FromBytes(seededBytes(seed, `x25519 ${linkId} ${b} ${epoch}`))
  const sa = diffieHellman({ privateKey: pa.privateKey, publicKey: pb.publicKey })
  const sb = diffieHellman({ privateKey: pb.privateKey, publicKey: pa.publicKey })
  const salt = Buffer.concat([Buffer.from(`iddb-link ${linkId} ${epoch}`), pa.publicRaw, pb.publicRaw])
  const dir = (from: string, to: string): DirectionKey => {
    const okm = Buffer.from(hkdfSync('sha256', sa, salt, `iddb ${from}>${to} aes-256-gcm`, 36))
    return { key: createSecretKey(okm.subarray(0, 32)), salt: Buffer.from(okm.subarray(32, 36)) }
  }
  return { ab: dir(a, b), ba: dir(b, a), agreed: timingSafeEqual(sa, sb), fingerprint: createHash('sha256').update(sa).digest('hex').slice(0, 16) }
}

/** One nonce buffer for every seal and open: createCipheriv/createDecipheriv copy the IV at once, and both run synchronously. */
const IV = Buffer.alloc(12)

function nonce(salt: Buffer, seq: number): Buffer {
  salt.copy(IV, 0, 0, 4)
  IV.writeUInt32BE(Math.floor(seq / 0x1_0000_0000), 4)
  IV.writeUInt32BE(seq >>> 0, 8)
  return IV
}

/**
 * Seals `plain` into `out` in place of a concatenation: out = aad (its first `aadLength` bytes, already written, the
 * clear header) ‖ ciphertext ‖ tag, so a frame is built with one allocation. `out` must be aadLength + plain + tag long.
 */
export function sealInto(k: DirectionKey, seq: number, out: Buffer, aadLength: number, plain: Buffer): void {
  if (out.length !== aadLength + plain.length + GCM_TAG_BYTES) throw new RangeError('sealInto: the output is not header + plaintext + tag long')
  const c = createCipheriv('aes-256-gcm', k.key, nonce(k.salt, seq))
  c.setAAD(out.subarray(0, aadLength))
  let at = aadLength + c.update(plain).copy(out, aadLength)
  at += c.final().copy(out, at)
  c.getAuthTag().copy(out, at)
}

/** Ciphertext ‖ tag of `plain`, authenticated together with `aad` (the clear header). */
export function seal(k: DirectionKey, seq: number, aad: Buffer, plain: Buffer): Buffer {
  const out = Buffer.allocUnsafe(aad.length + plain.length + GCM_TAG_BYTES)
  aad.copy(out, 0)
  sealInto(k, seq, out, aad.length, plain)
  return out.subarray(aad.length)
}

/** The plaintext, or undefined when the tag does not verify (tampered, wrong key, wrong counter or header). */
export function open(k: DirectionKey, seq: number, aad: Buffer, sealed: Buffer): Buffer | undefined {
  if (sealed.length < GCM_TAG_BYTES) return undefined
  try {
    const d = createDecipheriv('aes-256-gcm', k.key, nonce(k.salt, seq))
    d.setAAD(aad)
    d.setAuthTag(sealed.subarray(sealed.length - GCM_TAG_BYTES))
    const head = d.update(sealed.subarray(0, sealed.length - GCM_TAG_BYTES))
    const tail = d.final()
    return tail.length ? Buffer.concat([head, tail]) : head
  } catch {
    return undefined
  }
}

/** Anti-replay: accepts each counter once, within 64 behind the highest accepted (as IPsec's window). */
export class ReplayWindow {
  private highest = -1
  private bits = 0n
  /** True (and remembered) for a counter never accepted before and not too old; false for a replay. */
  accept(seq: number): boolean {
    if (seq > this.highest) {
      const shift = this.highest < 0 ? 64 : seq - this.highest
      this.bits = shift >= 64 ? 1n : ((this.bits << BigInt(shift)) | 1n) & 0xffff_ffff_ffff_ffffn
      this.highest = seq
      return true
    }
    const back = this.highest - seq
    if (back >= 64) return false
    const bit = 1n << BigInt(back)
    if (this.bits & bit) return false
    this.bits |= bit
    return true
  }
}

// ---- SCRAM-SHA-256-style login ---------------------------------------------------------------------------
const hmac = (key: Buffer, text: string | Buffer): Buffer => createHmac('sha256', key).update(text).digest()
const sha256 = (b: Buffer): Buffer => createHash('sha256').update(b).digest()
export const SCRYPT = { N: 16384, r: 8, p: 1 } as const
export const SALTED_BYTES = 32

/** SaltedPassword: scrypt of the password with the user's salt (the format SEC_USERS always used for HASH). */
export function saltedPassword(password: string, salt: Buffer): Buffer { return scryptSync(password, salt, SALTED_BYTES, SCRYPT) }

export interface ScramVerifier { storedKey: Buffer; serverKey: Buffer }

/** What the home site keeps: StoredKey = H(HMAC(SP, "Client Key")), ServerKey = HMAC(SP, "Server Key"). */
export function scramVerifier(salted: Buffer): ScramVerifier {
  return { storedKey: sha256(hmac(salted, 'Client Key')), serverKey: hmac(salted, 'Server Key') }
}

/** The client's proof for `authMessage`: ClientKey ⊕ HMAC(StoredKey, AuthMessage), and the server signature it expects. */
export function scramClientProof(salted: Buffer, authMessage: string): { proof: Buffer; expectServer: Buffer } {
  const clientKey = hmac(salted, 'Client Key')
  const sig = hmac(sha256(clientKey), authMessage)
  const proof = Buffer.alloc(clientKey.length)
  for (let i = 0; i < proof.length; i++) proof[i] = clientKey[i] ^ sig[i]
  return { proof, expectServer: hmac(hmac(salted, 'Server Key'), authMessage) }
}

/** The server's check of a proof: recovers ClientKey and compares its hash with StoredKey; returns its own signature. */
export function scramServerCheck(v: ScramVerifier, authMessage: string, proof: Buffer): { ok: boolean; serverSignature: Buffer } {
  const sig = hmac(v.storedKey, authMessage)
  let ok = proof.length === sig.length
  if (ok) {
    const clientKey = Buffer.alloc(sig.length)
    for (let i = 0; i < sig.length; i++) clientKey[i] = proof[i] ^ sig[i]
    ok = timingSafeEqual(sha256(clientKey), v.storedKey)
  }
  return { ok, serverSignature: hmac(v.serverKey, authMessage) }
}

/** Constant-time equality of two buffers of possibly different length. */
export function sameBytes(a: Buffer, b: Buffer): boolean { return a.length === b.length && timingSafeEqual(a, b) }
