/**
 * What crosses a WAN link, byte for byte. A frame is
 *
 *   outer header (16 bytes, in clear, authenticated): "ID", version, flags (1 = sealed), 64-bit counter, length
 *   record: one or more messages, each a 4-byte length + its inner part
 *   inner part: the DDBMS header (48 bytes: message id, origin, destination, body length, kind) + the body
 *
 * Messages that queue behind a busy transmitter travel in one record (one seal, one tag). On an encrypted link
 * the record is AES-256-GCM ciphertext followed by its 16-byte tag (the counter is the nonce's variable part); on
 * a plain link (the legacy network) it is sent as it is. The body is the message's serialized payload (its `wire`
 * encoding, or a descriptor padded to the declared size).
 */
export const OUTER_HEADER_BYTES = 16
export const INNER_HEADER_BYTES = 48
const KIND_BYTES = 32
export const FLAG_SEALED = 1
export const RECORD_LENGTH_BYTES = 4

/** How many inner parts splitRecord finds in a record (without taking them out). */
export function recordCount(rec: Buffer): number {
  let n = 0, at = 0
  while (at + RECORD_LENGTH_BYTES <= rec.length) {
    const len = rec.readUInt32BE(at)
    if (at + RECORD_LENGTH_BYTES + len > rec.length) break
    n++
    at += RECORD_LENGTH_BYTES + len
  }
  return n
}

/** The inner parts of a record (a cut-off record gives those that are whole). */
export function splitRecord(rec: Buffer): Buffer[] {
  const out: Buffer[] = []
  let at = 0
  while (at + RECORD_LENGTH_BYTES <= rec.length) {
    const n = rec.readUInt32BE(at)
    if (at + RECORD_LENGTH_BYTES + n > rec.length) break
    out.push(rec.subarray(at + RECORD_LENGTH_BYTES, at + RECORD_LENGTH_BYTES + n))
    at += RECORD_LENGTH_BYTES + n
  }
  return out
}

export function innerPlain(id: number, from: string, to: string, kind: string, body: Buffer | string, declared: number): Buffer {
  const ascii = typeof body === 'string' && isAscii(body)
  const bodyLen = typeof body === 'string' ? (ascii ? body.length : Buffer.byteLength(body)) : body.length
  const len = Math.max(declared, bodyLen)
  // from the pool (most messages are small); every byte not written below is zeroed (short fields, padding)
  const b = Buffer.allocUnsafe(INNER_HEADER_BYTES + len)
  b.writeUInt32BE(id >>> 0, 0)
  putLatin1(b, from, 4, 4)
  putLatin1(b, to, 8, 4)
  b.writeUInt32BE(len, 12)
  putLatin1(b, kind, 16, KIND_BYTES)
  if (typeof body === 'string') {
    if (ascii) putLatin1(b, body, INNER_HEADER_BYTES, bodyLen)
    else b.write(body, INNER_HEADER_BYTES, 'utf8')
  } else body.copy(b, INNER_HEADER_BYTES)
  const end = INNER_HEADER_BYTES + bodyLen
  if (end < b.length) b.fill(0, end)
  return b
}

/** Whether a string is plain ASCII (its UTF-8 bytes are its char codes). */
function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false
  return true
}

/** b.write(s, at, n, 'latin1') for a field of n bytes, the rest of the field zeroed (no encoder call for these few bytes). */
function putLatin1(b: Buffer, s: string, at: number, n: number): void {
  const k = Math.min(s.length, n)
  for (let i = 0; i < k; i++) b[at + i] = s.charCodeAt(i) & 0xff
  for (let i = k; i < n; i++) b[at + i] = 0
}

export function outerHeader(flags: number, seq: number, length: number): Buffer {
  return writeOuter(Buffer.allocUnsafe(OUTER_HEADER_BYTES), flags, seq, length)
}

/** Writes the outer header at the start of `frame` (a frame being built in one buffer) and returns the frame. */
export function writeOuter(frame: Buffer, flags: number, seq: number, length: number): Buffer {
  frame[0] = 0x49 // 'I'
  frame[1] = 0x44 // 'D'
  frame[2] = 1
  frame[3] = flags
  frame.writeUInt32BE(Math.floor(seq / 0x1_0000_0000), 4)
  frame.writeUInt32BE(seq >>> 0, 8)
  frame.writeUInt32BE(length, 12)
  return frame
}

export interface OuterHeader { version: number; sealed: boolean; seq: number; length: number }

export function readOuter(frame: Buffer): OuterHeader | undefined {
  if (frame.length < OUTER_HEADER_BYTES || frame[0] !== 0x49 || frame[1] !== 0x44) return undefined
  return { version: frame[2], sealed: (frame[3] & FLAG_SEALED) !== 0, seq: frame.readUInt32BE(4) * 0x1_0000_0000 + frame.readUInt32BE(8), length: frame.readUInt32BE(12) }
}

export interface InnerHeader { id: number; from: string; to: string; bodyLength: number; kind: string }

const cstr = (b: Buffer, at: number, n: number) => { const s = b.toString('latin1', at, at + n); const z = s.indexOf('\0'); return z >= 0 ? s.slice(0, z) : s }

/** The DDBMS header and body of a plain inner part (as a reader of the wire would decode it). */
export function readInner(inner: Buffer): { header: InnerHeader; body: Buffer } | undefined {
  if (inner.length < INNER_HEADER_BYTES) return undefined
  const header = { id: inner.readUInt32BE(0), from: cstr(inner, 4, 4), to: cstr(inner, 8, 4), bodyLength: inner.readUInt32BE(12), kind: cstr(inner, 16, KIND_BYTES) }
  return { header, body: inner.subarray(INNER_HEADER_BYTES) }
}

/** The body's text up to its zero padding (bodies are UTF-8 text or JSON; padding is zeros). */
export function bodyText(body: Buffer): string {
  const z = body.indexOf(0)
  return body.toString('utf8', 0, z >= 0 ? z : body.length)
}
