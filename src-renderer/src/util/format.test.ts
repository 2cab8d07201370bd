import { describe, expect, it } from 'vitest'
import { formatBps, formatBytes, formatInt, formatMs, formatPct, linkBandwidthLabel } from './format'

describe('format', () => {
  it('bandwidth', () => {
    expect(formatBps(1_544_000)).toBe('1.544 Mbit/s')
    expect(formatBps(128_000)).toBe('128 kbit/s')
    expect(formatBps(1_000_000_000)).toBe('1 Gbit/s')
    expect(linkBandwidthLabel({ kind: 'T1', bandwidthBps: 1_544_000 })).toBe('T1 1.544 Mbit/s')
  })
  it('bytes, ms, pct, int', () => {
    expect(formatBytes(512)).toBe('512 B')
    expect(formatBytes(1234)).toBe('1.23 kB')
    expect(formatMs(4)).toBe('4 ms')
    expect(formatMs(5180)).toBe('5.18 s')
    expect(formatPct(0.123)).toBe('12.3%')
    expect(formatInt(1000000)).toBe('1,000,000')
  })
})

import { formatSiteTime } from './format'
describe('formatSiteTime', () => {
  it('is UTC+05:30', () => {
    expect(formatSiteTime(Date.UTC(2026, 10, 23, 3, 0, 0))).toBe('2026-11-23 08:30:00.000')
    expect(formatSiteTime(Date.UTC(2026, 10, 23, 3, 0, 0, 5), false)).toBe('08:30:00.005')
  })
})
