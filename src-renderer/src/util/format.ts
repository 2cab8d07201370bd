/** Number/unit formatting for the console (pure; unit-tested). */

function trim(n: number, digits: number): string {
  return n.toFixed(digits).replace(/\.?0+$/, '')
}

/** 1544000 → "1.544 Mbit/s", 128000 → "128 kbit/s", 1e9 → "1 Gbit/s". */
export function formatBps(bps: number): string {
  if (!Number.isFinite(bps)) return '—'
  if (bps >= 1e9) return `${trim(bps / 1e9, 3)} Gbit/s`
  if (bps >= 1e6) return `${trim(bps / 1e6, 3)} Mbit/s`
  if (bps >= 1e3) return `${trim(bps / 1e3, 3)} kbit/s`
  return `${trim(bps, 0)} bit/s`
}

/** Bytes with binary-free SI units: 1234 → "1.23 kB". */
export function formatBytes(b: number): string {
  if (!Number.isFinite(b)) return '—'
  if (b >= 1e9) return `${(b / 1e9).toFixed(2)} GB`
  if (b >= 1e6) return `${(b / 1e6).toFixed(2)} MB`
  if (b >= 1e3) return `${(b / 1e3).toFixed(2)} kB`
  return `${b} B`
}

/** Milliseconds: 4 → "4 ms", 5180 → "5.18 s", 0.25 → "0.25 ms". */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return '—'
  if (ms >= 60_000) return `${trim(ms / 60_000, 1)} min`
  if (ms >= 1000) return `${trim(ms / 1000, 2)} s`
  if (ms < 1 && ms > 0) return `${trim(ms, 2)} ms`
  return `${trim(ms, 1)} ms`
}

export function formatPct(x: number, digits = 1): string {
  if (!Number.isFinite(x)) return '—'
  return `${(x * 100).toFixed(digits)}%`
}

/** Thousands separators with thin spaces avoided (plain commas) for monospace columns. */
export function formatInt(n: number): string {
  if (!Number.isFinite(n)) return '—'
  return Math.round(n).toLocaleString('en-US')
}

/** "T1 1.544 Mbit/s" */
export function linkBandwidthLabel(l: { kind: string; bandwidthBps: number }): string {
  return `${l.kind} ${formatBps(l.bandwidthBps)}`
}

/** Site-local wall time (UTC+05:30, as the engine's clock shows it) of a virtual instant. */
export const SITE_UTC_OFFSET_MIN = 330
export function formatSiteTime(ms: number, withDate = true): string {
  const t = new Date(ms + SITE_UTC_OFFSET_MIN * 60_000)
  const z = (n: number, w = 2) => String(n).padStart(w, '0')
  const time = `${z(t.getUTCHours())}:${z(t.getUTCMinutes())}:${z(t.getUTCSeconds())}.${z(t.getUTCMilliseconds(), 3)}`
  return withDate ? `${t.getUTCFullYear()}-${z(t.getUTCMonth() + 1)}-${z(t.getUTCDate())} ${time}` : time
}
