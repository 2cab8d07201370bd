/**
 * One ECharts chart bound to an element for the life of a component: created on mount, its option set
 * from `option()` whenever that changes, resized only while the element is in the page with a size
 * (a ResizeObserver; a chart inside a hidden KeepAlive console is never resized, so it cannot go blank or
 * throw), resized again when its console is shown, disposed on unmount.
 */
import { onActivated, onBeforeUnmount, onMounted, shallowRef, watch, type Ref } from 'vue'
import type { EChartsType } from 'echarts/core'

export interface EChartsLib { init(el: HTMLElement, theme?: string, opts?: { renderer?: 'canvas' | 'svg' }): EChartsType }

export function useEChart(el: Ref<HTMLElement | null>, lib: EChartsLib, option: () => Record<string, unknown> | null, setup?: (c: EChartsType) => void) {
  const chart = shallowRef<EChartsType | null>(null)
  let ro: ResizeObserver | null = null
  let last: { w: number; h: number } | null = null

  /** Resizes to the element's box when it is shown and its size changed. */
  function fit(): void {
    const c = chart.value, e = el.value
    if (!c || !e || !e.isConnected) return
    const w = e.clientWidth, h = e.clientHeight
    if (w === 0 || h === 0) return
    if (last && last.w === w && last.h === h) return
    last = { w, h }
    c.resize()
  }

  function render(): void {
    const c = chart.value
    const o = option()
    if (c && o) c.setOption(o, { notMerge: true, lazyUpdate: false })
  }

  onMounted(() => {
    const c = lib.init(el.value!, undefined, { renderer: 'canvas' })
    chart.value = c
    last = { w: el.value!.clientWidth, h: el.value!.clientHeight }
    setup?.(c)
    ro = new ResizeObserver(() => fit())
    ro.observe(el.value!)
    render()
  })
  onActivated(() => fit())
  watch(option, render)
  onBeforeUnmount(() => { ro?.disconnect(); ro = null; chart.value?.dispose(); chart.value = null })
  return { chart, render, fit }
}
