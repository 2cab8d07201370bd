import { describe, expect, it } from 'vitest'
import { scrollScale } from './scroll'

describe('scrollScale', () => {
  it('is the identity for lists that fit', () => {
    expect(scrollScale(200_000 * 22, 600, 8_000_000)).toEqual({ realHeight: 4_400_000, scale: 1 })
  })
  it('maps the last real scroll position onto the last virtual one (1M rows)', () => {
    const virt = 1_000_000 * 22
    const { realHeight, scale } = scrollScale(virt, 600, 8_000_000)
    expect(realHeight).toBe(8_000_000)
    expect((realHeight - 600) * scale).toBeCloseTo(virt - 600, 6)
    expect(0 * scale).toBe(0)
  })
})
