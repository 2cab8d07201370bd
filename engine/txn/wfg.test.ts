import { describe, expect, it } from 'vitest'
import { cycleKey, findCycles, deadlockedComponents, unionWfg, type Wfg } from './wfg'
import { Rng } from '../sim/rng'

describe('wait-for graphs', () => {
  it('finds cross-site cycles only in the union of local WFGs', () => {
    const cmb: Wfg = new Map([['T1', ['T2']]])
    const kdy: Wfg = new Map([['T2', ['T1']], ['T3', ['T1']]])
    expect(findCycles(cmb)).toEqual([])
    expect(findCycles(kdy)).toEqual([])
    const g = unionWfg([cmb, kdy])
    const c = findCycles(g)
    expect(c).toHaveLength(1)
    expect(cycleKey(c[0])).toBe('T1>T2')
    expect(cycleKey(['T2', 'T3', 'T1'])).toBe(cycleKey(['T1', 'T2', 'T3']))
  })

  it('10k waiters: all planted cycles found, none invented, fast', () => {
    const rng = new Rng(7)
    const n = 10_000
    const g: Wfg = new Map()
    // a forest of waiters pointing to older transactions (acyclic) ...
    for (let i = 1; i < n; i++) g.set(`T${i}`, [`T${rng.int(0, i - 1)}`, ...(rng.chance(0.3) ? [`T${rng.int(0, i - 1)}`] : [])])
    expect(findCycles(g)).toEqual([])
    // ... plus 25 planted cycles of length 2..6
    const planted: string[][] = []
    for (let k = 0; k < 25; k++) {
      const len = 2 + (k % 5)
      const cyc = Array.from({ length: len }, (_, j) => `C${k}_${j}`)
      cyc.forEach((v, j) => g.set(v, [cyc[(j + 1) % len], `T${rng.int(0, n - 1)}`]))
      planted.push(cyc)
    }
    const t0 = performance.now()
    const found = findCycles(g)
    const ms = performance.now() - t0
    expect(found.map(cycleKey).sort()).toEqual(planted.map(cycleKey).sort())
    expect(deadlockedComponents(g)).toHaveLength(25)
    expect(ms).toBeLessThan(500) // generous on a loaded box; bench/txn.ts reports the real number
  })
})
