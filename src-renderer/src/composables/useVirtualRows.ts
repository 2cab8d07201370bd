/**
 * The virtual scrolling every grid uses (query results, the data browser, the event log): only the rows in
 * view (plus `overscan`) are rendered, in one window placed at `windowTop` inside a spacer `height` tall.
 * Very long lists (1M rows) keep their real scroll height under `maxPx` and map scroll offsets linearly
 * (util/scroll.ts), so the last row is reachable and the browser keeps pixel precision.
 */
import { computed, onBeforeUnmount, onMounted, ref, type Ref } from 'vue'
import { elementScroll, observeElementOffset, useVirtualizer, type Virtualizer } from '@tanstack/vue-virtual'
import { scrollScale } from '../util/scroll'

export const MAX_SCROLL_PX = 8_000_000

export function useVirtualRows(scroller: Ref<HTMLElement | null>, count: () => number, rowPx: number, overscan = 12, maxPx = MAX_SCROLL_PX) {
  const viewportH = ref(0)
  const realTop = ref(0)
  const scaling = computed(() => scrollScale(count() * rowPx, viewportH.value, maxPx))
  const scale = computed(() => scaling.value.scale)
  const virtualizer = useVirtualizer(computed(() => ({
    count: count(),
    getScrollElement: () => scroller.value,
    estimateSize: () => rowPx,
    overscan,
    observeElementOffset: (inst: Virtualizer<HTMLElement, Element>, cb: (offset: number, isScrolling: boolean) => void) =>
      observeElementOffset(inst, (off, isScrolling) => { realTop.value = off; cb(off * scale.value, isScrolling) }),
    scrollToFn: (offset: number, opts: Parameters<typeof elementScroll>[1], inst: Virtualizer<HTMLElement, Element>) =>
      elementScroll(offset / scale.value, { ...opts, adjustments: (opts.adjustments ?? 0) / scale.value }, inst),
  })))
  const items = computed(() => virtualizer.value.getVirtualItems())
  /** The spacer's real height (px). */
  const height = computed(() => scaling.value.realHeight)
  /** Where the first rendered row sits, in real pixels. */
  const windowTop = computed(() => {
    const first = items.value[0]
    if (!first) return 0
    return Math.round(realTop.value + (first.start - realTop.value * scale.value))
  })
  /** Scrolls so that row `i` (0-based) is at the top. */
  function scrollToRow(i: number): void {
    if (scroller.value) scroller.value.scrollTop = Math.round((Math.max(0, Math.min(count() - 1, i)) * rowPx) / scale.value)
  }
  let ro: ResizeObserver | null = null
  onMounted(() => {
    if (!scroller.value) return
    viewportH.value = scroller.value.clientHeight
    ro = new ResizeObserver(() => { viewportH.value = scroller.value?.clientHeight ?? 0 })
    ro.observe(scroller.value)
  })
  onBeforeUnmount(() => ro?.disconnect())
  return { items, height, windowTop, scale, scrollToRow }
}
