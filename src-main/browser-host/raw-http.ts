/**
 * Test helper: talk to a server over a raw TCP socket (node:net), for requests no HTTP client would send.
 * Resolves with everything the server wrote once it closes the socket, or once `settleMs` of silence
 * follows a first answer, bounded by `timeoutMs` (then `timedOut` is true).
 */
import { connect } from 'node:net'

export interface RawReply { data: Buffer; text: string; status: number | null; closed: boolean; timedOut: boolean }

export function rawExchange(port: number, chunks: (string | Buffer)[], opts: { timeoutMs?: number; settleMs?: number } = {}): Promise<RawReply> {
  const timeoutMs = opts.timeoutMs ?? 5_000
  const settleMs = opts.settleMs ?? 200
  return new Promise((resolve) => {
    const parts: Buffer[] = []
    let done = false
    let settle: NodeJS.Timeout | undefined
    const sock = connect(port, '127.0.0.1')
    const finish = (closed: boolean, timedOut: boolean) => {
      if (done) return
      done = true
      clearTimeout(limit)
      clearTimeout(settle)
      sock.destroy()
      const data = Buffer.concat(parts)
      const text = data.toString('latin1')
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text)
      resolve({ data, text, status: m ? Number(m[1]) : null, closed, timedOut })
    }
    const limit = setTimeout(() => finish(false, true), timeoutMs)
    sock.on('connect', () => { for (const c of chunks) sock.write(c) })
    sock.on('data', (d) => {
      parts.push(d)
      clearTimeout(settle)
      settle = setTimeout(() => finish(false, false), settleMs)
    })
    sock.on('error', () => finish(true, false))
    sock.on('close', () => finish(true, false))
  })
}

export interface WsFrameSpec {
  opcode: number
  payload: Buffer
  fin?: boolean
  /** RSV1..3 bits (0..7): set without an extension they are a protocol error. */
  rsv?: number
  /** Clients must mask; an unmasked client frame is a protocol error. */
  mask?: boolean
  /** Claim this payload length instead of the real one (e.g. far beyond the limit). */
  claimedLength?: bigint
}

/** Encodes one WebSocket frame as a client would (RFC 6455 §5.2), honouring the deliberate faults in `spec`. */
export function encodeWsFrame(spec: WsFrameSpec, maskKey = Buffer.from([0x12, 0x34, 0x56, 0x78])): Buffer {
  const mask = spec.mask ?? true
  const len = spec.claimedLength ?? BigInt(spec.payload.length)
  const head: number[] = [((spec.fin ?? true) ? 0x80 : 0) | ((spec.rsv ?? 0) & 7) << 4 | (spec.opcode & 0x0f)]
  let ext = Buffer.alloc(0)
  if (len < 126n) head.push((mask ? 0x80 : 0) | Number(len))
  else if (len < 65536n) { head.push((mask ? 0x80 : 0) | 126); ext = Buffer.alloc(2); ext.writeUInt16BE(Number(len)) }
  else { head.push((mask ? 0x80 : 0) | 127); ext = Buffer.alloc(8); ext.writeBigUInt64BE(BigInt.asUintN(64, len)) }
  const body = Buffer.from(spec.payload)
  if (mask) for (let i = 0; i < body.length; i++) body[i] ^= maskKey[i & 3]
  return Buffer.concat([Buffer.from(head), ext, mask ? maskKey : Buffer.alloc(0), body])
}

/** A WebSocket handshake request for `target`, with the headers given (null: leave that header out). */
export function upgradeRequest(port: number, target: string, headers: Record<string, string | null> = {}): string {
  const base: Record<string, string | null> = {
    Host: `127.0.0.1:${port}`, Upgrade: 'websocket', Connection: 'Upgrade', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', ...headers,
  }
  return `GET ${target} HTTP/1.1\r\n${Object.entries(base).filter(([, v]) => v !== null).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`
}
