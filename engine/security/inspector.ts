/**
 * The packet inspector: what crossed a WAN link, frame by frame, as a reader of the wire sees it — the clear
 * outer header, the size, and either a ciphertext excerpt (sealed link) or a plaintext excerpt (the legacy
 * network). It never shows a secret: in a plaintext body, passwords, session tokens, hashes, salts, proofs and
 * long hex strings are replaced by a marker that says they *would* be readable.
 */
import type { Cluster } from '../cluster'
import type { CapturedFrame } from '../net/network'
import { OUTER_HEADER_BYTES, bodyText, readInner, readOuter, splitRecord } from '../net/frame'
import { EngineError } from '../errors'
import type { PacketView } from '../api/wan'

export type { PacketView } from '../api/wan'


const SECRET_KEY = /^(password|passwd|pass|pwd|token|session|hash|salt|proof|v|storedkey|serverkey|secret|key)$/i
export const REDACTED = '‹credential in clear (redacted)›'
const HEX_RUN = /\b[0-9a-f]{24,}\b/gi

/** A body's text with every secret replaced; returns the names of what was redacted. */
export function redact(text: string): { text: string; secrets: string[] } {
  const secrets = new Set<string>()
  let out: string
  try {
    const walk = (v: unknown): unknown => {
      if (Array.isArray(v)) return v.map(walk)
      if (v && typeof v === 'object') {
        return Object.fromEntries(Object.entries(v).map(([k, x]) => (SECRET_KEY.test(k) ? (secrets.add(k.toLowerCase()), [k, REDACTED]) : [k, walk(x)])))
      }
      return v
    }
    out = JSON.stringify(walk(JSON.parse(text)))
  } catch {
    // not (whole) JSON: redact "key": "value" pairs as they stand
    out = text.replace(/"([A-Za-z]+)"\s*:\s*"[^"]*"?/g, (m, k: string) => (SECRET_KEY.test(k) ? (secrets.add(k.toLowerCase()), `"${k}":"${REDACTED}"`) : m))
  }
  out = out.replace(HEX_RUN, () => { secrets.add('hex string'); return '‹hex redacted›' })
  return { text: out, secrets: [...secrets] }
}

/** One captured frame as the inspector shows it. */
export function packetView(f: CapturedFrame, excerptChars = 160): PacketView {
  const h = readOuter(f.frame)
  const base = { link: f.link, at: f.at, from: f.from, to: f.to, seq: f.seq, sealed: f.sealed, bytes: f.bytes, ...(f.outcome ? { outcome: f.note ? `${f.outcome} (${f.note})` : f.outcome } : {}) }
  const header = h ? `ID v${h.version} ${h.sealed ? 'sealed' : 'plain'} seq=${h.seq} len=${h.length}` : 'not a DDBMS frame'
  const rest = f.frame.subarray(OUTER_HEADER_BYTES)
  if (f.sealed || !h) return { ...base, header, excerpt: rest.subarray(0, 32).toString('hex') + (rest.length > 32 ? '…' : ''), secrets: [] }
  const parts = splitRecord(rest).map(readInner).filter((x) => x !== undefined)
  if (!parts.length) return { ...base, header, excerpt: '', secrets: [] }
  const secrets = new Set<string>()
  const texts = parts.map((p) => { const r = redact(bodyText(p.body)); r.secrets.forEach((x) => secrets.add(x)); return `${p.header.kind}: ${r.text}` })
  const first = parts[0].header
  const kinds = [...new Set(parts.map((p) => p.header.kind))]
  return {
    ...base, header: `${header} · ${parts.length > 1 ? `${parts.length} messages` : `${first.kind} #${first.id} ${first.from}→${first.to}`}`,
    kind: kinds.join(', '), excerpt: texts.join(' | ').slice(0, excerptChars), secrets: [...secrets],
  }
}

/** The newest frames of one link (or of every link), newest first. */
export function inspectPackets(cluster: Cluster, link?: string, limit = 50): PacketView[] {
  const ids = link ? [link] : [...cluster.net.links.keys()]
  if (link && !cluster.net.links.has(link)) throw new EngineError('UNKNOWN_LINK', `unknown link ${link}; links are ${[...cluster.net.links.keys()].join(', ')}`)
  const frames = ids.flatMap((id) => cluster.net.captured(id))
  frames.sort((a, b) => b.at - a.at || b.seq - a.seq)
  return frames.slice(0, Math.max(1, Math.min(500, limit))).map((f) => packetView(f))
}
