/**
 * The page's style nonce (no 'unsafe-inline' in the CSP): whoever serves index.html puts a fresh nonce on
 * `<meta property="csp-nonce">` (Vite's html.cspNonce) and in the CSP header. Code that must create a
 * <style> element at run time (CodeMirror, through EditorView.cspNonce) gives it this nonce.
 * The `nonce` property, not the attribute: browsers hide nonce attributes from scripts once applied.
 */
export function pageNonce(doc: Document = document): string {
  const meta = doc.querySelector('meta[property="csp-nonce"]') as (HTMLMetaElement & { nonce?: string }) | null
  return meta?.nonce || meta?.getAttribute('nonce') || ''
}
