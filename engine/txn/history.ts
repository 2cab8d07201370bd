/**
 * Conflict-serializability checker over a recorded history (Elle-style, for the tests): builds the
 * conflict graph of the committed transactions (Ti → Tj when an operation of Ti precedes a conflicting
 * operation of Tj on the same item, at least one of them a write) and looks for a cycle.
 */
import { findCycles, type Wfg } from './wfg'

export interface Op { gid: string; item: string; op: 'r' | 'w' }

export function conflictGraph(history: readonly Op[], committed: ReadonlySet<string>): Wfg {
  const edges = new Map<string, Set<string>>()
  const add = (a: string, b: string) => {
    if (a === b) return
    let s = edges.get(a)
    if (!s) { s = new Set(); edges.set(a, s) }
    s.add(b)
  }
  const state = new Map<string, { writers: string[]; readers: string[] }>()
  for (const o of history) {
    if (!committed.has(o.gid)) continue
    let st = state.get(o.item)
    if (!st) { st = { writers: [], readers: [] }; state.set(o.item, st) }
    if (o.op === 'r') {
      for (const w of st.writers) add(w, o.gid)
      st.readers.push(o.gid)
    } else {
      for (const w of st.writers) add(w, o.gid)
      for (const r of st.readers) add(r, o.gid)
      st.writers = [o.gid]
      st.readers = []
    }
  }
  const g: Wfg = new Map()
  for (const [a, s] of edges) g.set(a, [...s])
  return g
}

export function checkSerializable(history: readonly Op[], committed: ReadonlySet<string>): { ok: boolean; cycle?: string[]; edges: number } {
  const g = conflictGraph(history, committed)
  let edges = 0
  for (const v of g.values()) edges += v.length
  const cycles = findCycles(g)
  return cycles.length ? { ok: false, cycle: cycles[0], edges } : { ok: true, edges }
}
