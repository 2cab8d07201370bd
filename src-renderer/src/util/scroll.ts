/**
 * Scroll scaling for very long virtual lists: browsers lose pixel precision far down a very tall
 * element (1M rows × 22 px = 22M px), so the real scroll height is capped and mapped linearly.
 */
export interface ScrollScale { realHeight: number; scale: number }

/** `scale` maps real scrollTop → virtual offset (virtual = real × scale) so both ends line up. */
export function scrollScale(virtualHeight: number, viewport: number, maxReal: number): ScrollScale {
  const realHeight = Math.min(virtualHeight, maxReal)
  const scale = virtualHeight > realHeight && realHeight > viewport ? (virtualHeight - viewport) / (realHeight - viewport) : 1
  return { realHeight, scale }
}
