/**
 * The layout check: every text or control whose content overflows its own box (scrollWidth > clientWidth)
 * — a label cut off, a button clipped, a cell truncating a date — on the page as it is now. Elements that
 * scroll by design carry `data-scroller`; text cut with an ellipsis on purpose carries its full text in a
 * `title`. Returns one line per finding (empty: none).
 */
import type { Page } from '@playwright/test'

export async function overflowing(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const out: string[] = []
    const sel = 'button, label, th, td, h1, h2, h3, a, .badge, .cell, [data-testid], [aria-label], .panel'
    for (const el of Array.from(document.querySelectorAll<HTMLElement>(sel))) {
      if (el.closest('[data-scroller]') && !el.matches('button, .badge')) continue
      if (['INPUT', 'SELECT', 'TEXTAREA', 'CANVAS', 'svg'].includes(el.tagName) || el instanceof SVGElement) continue
      if (el.classList.contains('cm-content') || el.closest('.cm-editor')) continue
      const r = el.getBoundingClientRect()
      if (r.width === 0 || r.height === 0 || el.clientWidth === 0) continue
      if (el.scrollWidth <= el.clientWidth + 1) continue
      const cs = getComputedStyle(el)
      if (cs.textOverflow === 'ellipsis' && el.title) continue
      // the element that sticks out, for the report: the deepest descendant past the right edge
      let culprit: Element = el
      let far = r.right + 1
      for (const d of Array.from(el.querySelectorAll('*'))) {
        const dr = d.getBoundingClientRect()
        if (dr.width > 0 && dr.right > far) { far = dr.right; culprit = d }
      }
      const where = culprit === el ? '' : ` (sticking out: ${culprit.tagName.toLowerCase()}.${String((culprit as HTMLElement).className || '').trim().split(/\s+/).join('.')} "${(culprit.textContent ?? '').trim().slice(0, 30)}")`
      const id = el.dataset.testid ? `[data-testid=${el.dataset.testid}]` : `${el.tagName.toLowerCase()}${el.className && typeof el.className === 'string' ? `.${el.className.trim().split(/\s+/).join('.')}` : ''}`
      out.push(`${id} "${(el.textContent ?? '').trim().replace(/\s+/g, ' ').slice(0, 50)}" ${el.scrollWidth} > ${el.clientWidth}${where}`)
    }
    return out
  })
}
