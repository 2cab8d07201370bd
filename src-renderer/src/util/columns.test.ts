import { describe, expect, it } from 'vitest'
import { CHAR_PX, MAX_COL_PX, MIN_COL_PX, columnWidths } from './columns'

describe('columnWidths', () => {
  it('fits dates whole and keeps narrow number columns narrow, within bounds', () => {
    const w = columnWidths(['INVNO', 'QTY', 'SOLD_AT', 'NOTE'], [[1, 2, '2025-11-23 09:00:00', 'x'.repeat(500)], [12345, 3, '2025-11-23 09:09:51', null]])
    expect(w[2]).toBeGreaterThanOrEqual('2025-11-23 09:00:00'.length * CHAR_PX)
    expect(w[1]).toBe(MIN_COL_PX)
    expect(w[0]).toBeLessThan(w[2])
    expect(w[3]).toBe(MAX_COL_PX)
  })
})
