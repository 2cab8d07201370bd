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
