import { describe, expect, it } from 'vitest'
import { LockManager, compatible, supremum } from './lock'
import { checkSerializable } from './history'

describe('lock manager', () => {
  it('compatibility matrix of IS/IX/S/X and upgrades', () => {
    expect(compatible('IS', 'IX')).toBe(true)
    expect(compatible('IX', 'IX')).toBe(true)
    expect(compatible('IX', 'S')).toBe(false)
    expect(compatible('S', 'S')).toBe(true)
    expect(compatible('S', 'X')).toBe(false)
    expect(compatible('IS', 'X')).toBe(false)
    expect(supremum('IS', 'IX')).toBe('IX')
    expect(supremum('S', 'IX')).toBe('X')
    expect(supremum('S', 'S')).toBe('S')
  })

  it('FIFO queue: a later shared request does not overtake a waiting exclusive one', () => {
    const lm = new LockManager()
    const granted: string[] = []
    expect(lm.acquire('A', 'r', 'S', () => granted.push('A'))).toBe(true)
    expect(lm.acquire('B', 'r', 'X', () => granted.push('B'))).toBe(false)
    expect(lm.acquire('C', 'r', 'S', () => granted.push('C'))).toBe(false) // compatible with A but queued behind B
    expect(lm.blockersOf('C')).toEqual(['B'])
    expect(lm.blockersOf('B')).toEqual(['A'])
    for (const g of lm.releaseAll('A')) g()
    expect(granted).toEqual(['B'])
    for (const g of lm.releaseAll('B')) g()
    expect(granted).toEqual(['B', 'C'])
  })

  it('strict 2PL bookkeeping: held locks are kept until releaseAll; upgrade goes first in the queue', () => {
    const lm = new LockManager()
    lm.acquire('A', 'T', 'IS', () => {}); lm.acquire('A', 'r1', 'S', () => {})
    lm.acquire('B', 'T', 'IS', () => {}); lm.acquire('B', 'r1', 'S', () => {})
    const order: string[] = []
    expect(lm.acquire('C', 'r1', 'X', () => order.push('C'))).toBe(false)
    expect(lm.acquire('A', 'r1', 'X', () => order.push('A-up'))).toBe(false) // upgrade waits for B only
    expect(lm.blockersOf('A')).toEqual(['B'])
    for (const g of lm.releaseAll('B')) g()
    expect(order).toEqual(['A-up'])
    expect(lm.heldLocks('A').map((l) => `${l.mode} ${l.resource}`).sort()).toEqual(['IS T', 'X r1'])
    for (const g of lm.releaseAll('A')) g()
    expect(order).toEqual(['A-up', 'C'])
    expect(lm.waitsFor().size).toBe(0)
  })

  it('cancelled waits unblock the queue behind them', () => {
    const lm = new LockManager()
    lm.acquire('A', 'r', 'X', () => {})
    const got: string[] = []
    lm.acquire('B', 'r', 'X', () => got.push('B'))
    lm.acquire('C', 'T', 'IX', () => got.push('C-T'))
    expect(lm.acquire('D', 'T', 'S', () => got.push('D'))).toBe(false)
    for (const g of lm.cancelWait('D')) g()
    for (const g of lm.releaseAll('A')) g()
    expect(got).toEqual(['B'])
    expect(lm.isWaiting('D')).toBe(false)
  })
})

describe('history checker', () => {
  it('accepts a serial history and rejects a non-serializable interleaving', () => {
    const ok = [
      { gid: 'T1', item: 'x', op: 'r' as const }, { gid: 'T1', item: 'x', op: 'w' as const },
      { gid: 'T2', item: 'x', op: 'r' as const }, { gid: 'T2', item: 'y', op: 'w' as const },
    ]
    expect(checkSerializable(ok, new Set(['T1', 'T2'])).ok).toBe(true)
    const lostUpdate = [
      { gid: 'T1', item: 'x', op: 'r' as const }, { gid: 'T2', item: 'x', op: 'r' as const },
      { gid: 'T1', item: 'x', op: 'w' as const }, { gid: 'T2', item: 'x', op: 'w' as const },
    ]
    const r = checkSerializable(lostUpdate, new Set(['T1', 'T2']))
    expect(r.ok).toBe(false)
    expect(r.cycle!.sort()).toEqual(['T1', 'T2'])
    // aborted transactions do not count
    expect(checkSerializable(lostUpdate, new Set(['T1'])).ok).toBe(true)
  })
})
