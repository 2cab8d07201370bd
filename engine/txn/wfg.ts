/**
 * Wait-for graphs: cycle finding by Tarjan's strongly connected components (iterative, linear time),
 * one elementary cycle extracted per non-trivial component. Used by every site for its local WFG and by
 * the global detector for the union of the local WFGs.
 */
export type Wfg = Map<string, string[]>

/** Union of several adjacency maps (a node's edge lists are concatenated; duplicates are harmless). */
export function unionWfg(parts: Iterable<Iterable<[string, string[]]>>): Wfg {
  const out: Wfg = new Map()
  for (const p of parts) for (const [a, bs] of p) {
    const e = out.get(a)
    out.set(a, e ? e.concat(bs) : bs)
  }
  return out
}

/**
 * Strongly connected components with more than one node (or a self-loop): the deadlocked groups.
 * Iterative Tarjan over integer ids (compressed adjacency), linear in nodes + edges.
 */
export function deadlockedComponents(g: Wfg): string[][] {
  const id = new Map<string, number>()
  const names: string[] = []
  const intern = (v: string) => { let i = id.get(v); if (i === undefined) { i = names.length; id.set(v, i); names.push(v) } return i }
  for (const a of g.keys()) intern(a)
  let m = 0
  for (const bs of g.values()) { m += bs.length; for (const b of bs) intern(b) }
  const n = names.length
  const start = new Int32Array(n + 1)
  const adj = new Int32Array(m)
  {
    let k = 0
    for (let v = 0; v < n; v++) {
      start[v] = k
      const bs = g.get(names[v])
      if (bs) for (const b of bs) adj[k++] = id.get(b)!
    }
    start[n] = k
  }
  const index = new Int32Array(n).fill(-1)
  const low = new Int32Array(n)
  const onStack = new Uint8Array(n)
  const stack = new Int32Array(n)
  let sp = 0
  const work = new Int32Array(n)
  const pos = new Int32Array(n)
  let next = 0
  const out: string[][] = []
  for (let root = 0; root < n; root++) {
    if (index[root] >= 0) continue
    if (start[root] === start[root + 1]) { index[root] = next++; continue } // no successors: trivial
    let wp = 0
    work[wp++] = root
    index[root] = low[root] = next++
    pos[root] = start[root]
    stack[sp++] = root; onStack[root] = 1
    while (wp) {
      const v = work[wp - 1]
      if (pos[v] < start[v + 1]) {
        const w = adj[pos[v]++]
        if (index[w] < 0) {
          index[w] = low[w] = next++
          pos[w] = start[w]
          stack[sp++] = w; onStack[w] = 1
          work[wp++] = w
        } else if (onStack[w] && index[w] < low[v]) low[v] = index[w]
        continue
      }
      wp--
      if (wp) { const p = work[wp - 1]; if (low[v] < low[p]) low[p] = low[v] }
      if (low[v] === index[v]) {
        let w: number
        let size = 0
        const comp: string[] = []
        do { w = stack[--sp]; onStack[w] = 0; size++; comp.push(names[w]) } while (w !== v)
        if (size > 1) out.push(comp)
        else for (let k = start[v]; k < start[v + 1]; k++) if (adj[k] === v) { out.push(comp); break }
      }
    }
  }
  return out
}

/** One elementary cycle inside a strongly connected component (BFS back to the start). */
export function cycleIn(g: Wfg, comp: string[]): string[] {
  const inComp = new Set(comp)
  const start = [...comp].sort()[0]
  const prev = new Map<string, string>()
  const q = [start]
  const seen = new Set([start])
  while (q.length) {
    const v = q.shift()!
    for (const w of g.get(v) ?? []) {
      if (!inComp.has(w)) continue
      if (w === start) {
        const path = [v]
        while (path[0] !== start) path.unshift(prev.get(path[0])!)
        return path
      }
      if (!seen.has(w)) { seen.add(w); prev.set(w, v); q.push(w) }
    }
  }
  return [start]
}

/** All deadlocks: one cycle per deadlocked component. */
export function findCycles(g: Wfg): string[][] {
  return deadlockedComponents(g).map((c) => cycleIn(g, c))
}

/** Whether `from` reaches `target` (local detection at the moment a request waits). */
export function reaches(g: (v: string) => string[], from: string, target: string, limit = 100_000): string[] | undefined {
  const prev = new Map<string, string>()
  const stack = [from]
  const seen = new Set([from])
  let n = 0
  while (stack.length && n++ < limit) {
    const v = stack.pop()!
    for (const w of g(v)) {
      if (w === target) {
        const path = [v]
        while (path[0] !== from) path.unshift(prev.get(path[0])!)
        return path
      }
      if (!seen.has(w)) { seen.add(w); prev.set(w, v); stack.push(w) }
    }
  }
  return undefined
}

/** Canonical name of a cycle (rotation-independent), to confirm it across two polls. */
export function cycleKey(cycle: string[]): string {
  let best = 0
  for (let i = 1; i < cycle.length; i++) if (cycle[i] < cycle[best]) best = i
  return [...cycle.slice(best), ...cycle.slice(0, best)].join('>')
}
