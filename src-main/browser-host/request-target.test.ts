import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { cookieValue, parseRequestTarget, MAX_TARGET_LENGTH } from './request-target'

describe('parseRequestTarget', () => {
  it('accepts origin-form targets and decodes the path', () => {
    expect(parseRequestTarget('/')).toMatchObject({ path: '/' })
    const t = parseRequestTarget('/ipc?token=a%2Bb&x=1')
    expect(t?.path).toBe('/ipc')
    expect(t?.query.get('token')).toBe('a+b')
    expect(parseRequestTarget('/assets/a%20b.js')?.path).toBe('/assets/a b.js')
  })

  it('refuses every other form and anything that does not decode', () => {
    for (const raw of ['//[', '//', '//evil.example/ipc', '/\\evil', 'http://[', 'http://127.0.0.1/', '*', '127.0.0.1:80', '', '/%', '/%E0%A4%A', '/a%00b', '/a%5cb', '/\u0000', '/a\tb', undefined, 42, null])
      expect(parseRequestTarget(raw), String(raw)).toBeNull()
    expect(parseRequestTarget('/' + 'a'.repeat(MAX_TARGET_LENGTH))).toBeNull()
  })

  it('never throws, and what it accepts starts with exactly one slash and holds no NUL', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (raw) => {
      const t = parseRequestTarget(raw)
      if (t) {
        expect(t.path.startsWith('/')).toBe(true)
        expect(t.path.includes('\u0000')).toBe(false)
      }
    }), { seed: 13, numRuns: 2000 })
  })
})

describe('cookieValue', () => {
  it('reads one cookie from a header, a duplicated header or garbage without throwing', () => {
    expect(cookieValue('a=1; iddb_asset=xyz; b=2', 'iddb_asset')).toBe('xyz')
    expect(cookieValue(['a=1', 'iddb_asset=q'], 'iddb_asset')).toBe('q')
    expect(cookieValue(undefined, 'iddb_asset')).toBeNull()
    expect(cookieValue('=;;;==', 'iddb_asset')).toBeNull()
    expect(cookieValue({ toString: 1 }, 'iddb_asset')).toBeNull()
  })
})
