// @vitest-environment happy-dom
import { describe, expect, it } from 'vitest'
import { pageNonce } from './csp'

describe('pageNonce', () => {
  it('reads the nonce the host put on <meta property="csp-nonce">, or nothing', () => {
    expect(pageNonce()).toBe('')
    const meta = document.createElement('meta')
    meta.setAttribute('property', 'csp-nonce')
    meta.setAttribute('nonce', 'QUJDREVGR0hJSktMTU5PUA==')
    document.head.append(meta)
    expect(pageNonce()).toBe('QUJDREVGR0hJSktMTU5PUA==')
    meta.remove()
  })
})
