/**
 * Two-phase commit as pure state machines (the way engine/ticket/core.ts is built): a coordinator and a
 * participant per transaction and site. Every handler takes the machine's state and one input and pushes its
 * outputs — messages, log writes, the participant's data effects (apply, release locks), the answer to the
 * application, heuristic reports — into an `Out` collector. No clock, no network, no storage: the model
 * checker (modelcheck.ts) composes these machines over every interleaving, crash and message loss.
 *
 *   coordinator  INITIAL → WAIT → COMMIT | ABORT          participant  INITIAL → READY → COMMIT | ABORT
 *
 * The rules (spec §5, issue 11):
 *  - coordinator in WAIT times out → global ABORT, in all three topologies. That is safe because the
 *    coordinator is the one point of decision in every topology: in the linear topology the chain's last
 *    member hands the collected votes back to the coordinator; in the distributed topology every participant
 *    sends its vote to every other participant and to the coordinator, and the coordinator is a voter whose
 *    vote is cast last (YES = COMMIT once every participant voted yes, NO = ABORT on a NO or on its WAIT
 *    timeout). A participant that learns of a NO vote aborts at once (the coordinator can never commit then).
 *  - participant in INITIAL times out → local abort (it will vote NO).
 *  - participant in READY is blocked until it learns the decision: it asks the coordinator and its peers
 *    (cooperative termination; peers answer with a decision they learned, or — not having voted — abort and
 *    answer ABORT; a hand-resolved (heuristic) peer answers nothing).
 *  - the decision, ABORT included, is re-sent until every participant has acknowledged it; then END.
 *  - a participant that learns ABORT releases its locks at once, in INITIAL as in READY.
 *  - a participant without writes votes RO (read-only): it releases its locks at once and takes no phase two;
 *    the coordinator commits when every vote is YES or RO and sends the decision only to the YES voters.
 *  - a hand resolution is a heuristic decision: logged as HEURISTIC, never taught to anyone; when the
 *    coordinator's decision arrives and differs, the participant reports heuristic damage (and so does the
 *    coordinator, from the acknowledgement).
 */
export type Topology = 'centralized' | 'linear' | 'distributed'
export type Decision = 'COMMIT' | 'ABORT'
/** RO: a read-only participant (no writes): it releases its locks when it votes and takes no phase two. */
export type Vote = 'YES' | 'NO' | 'RO'
export type CoordPhase = 'INITIAL' | 'WAIT' | 'COMMIT' | 'ABORT'
export type PartPhase = 'NONE' | 'INITIAL' | 'READY' | 'COMMIT' | 'ABORT' | 'RO'

export type Msg =
  | { t: 'PREPARE'; tx: string; from: string; to: string; votes: Record<string, Vote> }
  | { t: 'VOTE'; tx: string; from: string; to: string; vote: Vote; votes?: Record<string, Vote> }
  | { t: 'DECISION'; tx: string; from: string; to: string; d: Decision }
  | { t: 'ACK'; tx: string; from: string; to: string; d: Decision; heuristic?: Decision }
  | { t: 'QUERY'; tx: string; from: string; to: string }
  | { t: 'REPLY'; tx: string; from: string; to: string; d?: Decision }

export type LogRec =
  | { role: 'coord'; type: 'WAIT' | 'COMMIT' | 'ABORT' | 'END'; force: boolean }
  | { role: 'part'; type: 'READY' | 'COMMIT' | 'ABORT' | 'RO'; force: boolean }
  | { role: 'part'; type: 'HEURISTIC'; decision: Decision; force: true }

export interface Heuristic { tx: string; site: string; heuristic: Decision; decision: Decision; damage: boolean }

export interface Out {
  send(m: Msg): void
  log(site: string, tx: string, rec: LogRec): void
  /** Participant: apply the transaction's writes (a commit). */
  apply(site: string, tx: string): void
  /** Participant: release the transaction's locks. */
  release(site: string, tx: string): void
  /** Coordinator: the application's answer (after the decision's log record is stable). */
  answer(tx: string, d: Decision, reason: string): void
  /** A heuristic decision met the coordinator's. */
  heuristic?(h: Heuristic): void
}

export interface CoordState {
  tx: string
  site: string
  topology: Topology
  participants: string[]
  phase: CoordPhase
  votes: Record<string, Vote>
  /** Participants whose acknowledgement of the decision is still awaited. */
  owed: string[]
  ended: boolean
}

export interface PartState {
  tx: string
  site: string
  coord: string
  topology: Topology
  participants: string[]
  phase: PartPhase
  /** Votes this participant knows of (its own, peers', the chain's). */
  votes: Record<string, Vote>
  /** Set when the phase was reached by hand (a heuristic decision). */
  heuristic?: Decision
}

export function newCoord(tx: string, site: string, topology: Topology, participants: string[]): CoordState {
  return { tx, site, topology, participants: [...participants], phase: 'INITIAL', votes: {}, owed: [], ended: false }
}

/** A participant that did its work (holding its locks), waiting for PREPARE. */
export function newPart(tx: string, site: string, coord: string, topology: Topology, participants: string[]): PartState {
  return { tx, site, coord, topology, participants: [...participants], phase: 'INITIAL', votes: {} }
}

export class ProtocolViolation extends Error {}
function invariant(ok: boolean, what: string): void { if (!ok) throw new ProtocolViolation(what) }

// ---- coordinator ---------------------------------------------------------------------------------

/** A statement of the transaction reached a site (INITIAL only): that site takes part in the commit. */
export function coordEnlist(c: CoordState, site: string): void {
  invariant(c.phase === 'INITIAL', `${c.tx}: ${site} enlisted in ${c.phase}`)
  if (!c.participants.includes(site)) c.participants.push(site)
}

/** The application asks to commit: INITIAL → WAIT, PREPARE out (no participant: nothing to ask, COMMIT at once). */
export function coordCommit(c: CoordState, out: Out): void {
  if (c.phase !== 'INITIAL') return
  c.phase = 'WAIT'
  if (!c.participants.length) return coordDecide(c, 'COMMIT', '', out)
  if (c.topology !== 'centralized') out.log(c.site, c.tx, { role: 'coord', type: 'WAIT', force: true })
  if (c.topology === 'linear') out.send({ t: 'PREPARE', tx: c.tx, from: c.site, to: c.participants[0], votes: {} })
  else for (const p of c.participants) out.send({ t: 'PREPARE', tx: c.tx, from: c.site, to: p, votes: {} })
}

export function coordVote(c: CoordState, from: string, vote: Vote, votes: Record<string, Vote> | undefined, out: Out): void {
  if (c.phase !== 'WAIT') return
  if (votes) for (const k in votes) c.votes[k] = votes[k]
  c.votes[from] = vote
  if (Object.values(c.votes).includes('NO')) return coordDecide(c, 'ABORT', `${Object.keys(c.votes).find((k) => c.votes[k] === 'NO')} voted no`, out)
  if (c.participants.every((p) => agrees(c.votes[p]))) coordDecide(c, 'COMMIT', '', out)
}

/** WAIT timeout (all three topologies) or the application's abort / an execution failure in INITIAL. */
export function coordTimeout(c: CoordState, reason: string, out: Out): void {
  if (c.phase === 'INITIAL' || c.phase === 'WAIT') coordDecide(c, 'ABORT', reason, out)
}

function agrees(v: Vote | undefined): boolean { return v === 'YES' || v === 'RO' }

export function coordDecide(c: CoordState, d: Decision, reason: string, out: Out): void {
  if (c.phase === 'COMMIT' || c.phase === 'ABORT') return
  invariant(d === 'ABORT' || (c.phase === 'WAIT' && c.participants.every((p) => agrees(c.votes[p]))), `${c.tx}: COMMIT without every yes vote`)
  c.phase = d
  // a NO voter aborted on its own and a read-only voter finished when it voted: neither needs the decision
  c.owed = c.participants.filter((p) => c.votes[p] !== 'NO' && c.votes[p] !== 'RO')
  // a COMMIT nobody has to learn (every participant read only) needs no record: no one can be in doubt about it
  if (d === 'ABORT' || c.owed.length) out.log(c.site, c.tx, { role: 'coord', type: d, force: d === 'COMMIT' })
  out.answer(c.tx, d, reason)
  if (c.owed.length === 0) { c.ended = true; return }
  sendDecision(c, out)
}

function sendDecision(c: CoordState, out: Out): void {
  if (c.phase === 'COMMIT' && c.topology === 'linear') {
    // passed back along the chain, from its last member that takes part in phase two
    const last = c.owed[c.owed.length - 1]
    out.send({ t: 'DECISION', tx: c.tx, from: c.site, to: last, d: 'COMMIT' })
    return
  }
  for (const p of c.owed) out.send({ t: 'DECISION', tx: c.tx, from: c.site, to: p, d: c.phase as Decision })
}

/** Re-sends the decision (directly) to every participant that has not acknowledged it. */
export function coordResend(c: CoordState, out: Out, only?: string): void {
  if ((c.phase !== 'COMMIT' && c.phase !== 'ABORT') || c.ended) return
  for (const p of c.owed) if (!only || p === only) out.send({ t: 'DECISION', tx: c.tx, from: c.site, to: p, d: c.phase })
}

export function coordAck(c: CoordState, from: string, d: Decision, heuristic: Decision | undefined, out: Out): void {
  if (c.phase !== 'COMMIT' && c.phase !== 'ABORT') return
  invariant(d === c.phase, `${c.tx}: ${from} acknowledged ${d} but the decision is ${c.phase}`)
  if (heuristic !== undefined) out.heuristic?.({ tx: c.tx, site: from, heuristic, decision: c.phase, damage: heuristic !== c.phase })
  if (!c.owed.includes(from)) return
  c.owed = c.owed.filter((p) => p !== from)
  if (!c.owed.length && !c.ended) {
    c.ended = true
    out.log(c.site, c.tx, { role: 'coord', type: 'END', force: false })
  }
}

/** An in-doubt participant asks. WAIT: nothing to say yet (the WAIT timeout will decide). */
export function coordQuery(c: CoordState | undefined, tx: string, site: string, asker: string, out: Out): void {
  // no coordinator record: presumed abort (a COMMIT is always forced before anyone can learn it)
  const d: Decision | undefined = !c ? 'ABORT' : c.phase === 'COMMIT' || c.phase === 'ABORT' ? c.phase : undefined
  if (c && d === undefined) return
  out.send({ t: 'REPLY', tx, from: site, to: asker, d })
}

/** Recovery from the coordinator's log: a COMMIT record is re-sent; WAIT without a decision becomes ABORT. */
export function coordRecover(tx: string, site: string, topology: Topology, participants: string[], logged: 'WAIT' | 'COMMIT' | 'ABORT', out: Out): CoordState {
  const c = newCoord(tx, site, topology, participants)
  if (logged === 'WAIT') {
    c.phase = 'WAIT'
    coordDecide(c, 'ABORT', 'coordinator recovered in WAIT', out)
    return c
  }
  c.phase = logged
  c.owed = [...participants]
  for (const p of c.owed) out.send({ t: 'DECISION', tx, from: site, to: p, d: logged })
  return c
}

// ---- participant ---------------------------------------------------------------------------------

/** The chain member before this one that takes part in phase two (read-only members are skipped). */
function prevInChain(p: PartState): string | undefined {
  for (let i = p.participants.indexOf(p.site) - 1; i >= 0; i--) if (p.votes[p.participants[i]] !== 'RO') return p.participants[i]
  return undefined
}

/**
 * PREPARE: a participant that did its work force-writes READY and votes YES; one whose work wrote nothing
 * (`readOnly`) releases its locks and votes RO (an RO record forced where a peer may ask it later: linear and
 * distributed; none in the centralized topology); one that has no work (never began, aborted locally, or lost it in a crash) votes NO.
 * `p` undefined = nothing known here.
 */
export function partPrepare(p: PartState | undefined, tx: string, site: string, m: { from: string; coord: string; topology: Topology; participants: string[]; votes: Record<string, Vote> }, out: Out, readOnly = false): PartState {
  if (!p) p = { tx, site, coord: m.coord, topology: m.topology, participants: [...m.participants], phase: 'ABORT', votes: {} }
  p.participants = [...m.participants]
  p.topology = m.topology
  p.coord = m.coord
  for (const k in m.votes) p.votes[k] = m.votes[k]
  if (p.phase === 'INITIAL' && readOnly) {
    if (p.topology !== 'centralized') out.log(site, tx, { role: 'part', type: 'RO', force: true })
    p.phase = 'RO'
    out.release(site, tx)
  } else if (p.phase === 'INITIAL') {
    out.log(site, tx, { role: 'part', type: 'READY', force: true })
    p.phase = 'READY'
  }
  const vote: Vote = p.phase === 'RO' ? 'RO' : p.phase === 'READY' || (p.phase === 'COMMIT' && !p.heuristic) ? 'YES' : 'NO'
  p.votes[site] = vote
  castVote(p, vote, out)
  return p
}

function castVote(p: PartState, vote: Vote, out: Out): void {
  const { tx, site } = p
  if (p.topology === 'centralized') { out.send({ t: 'VOTE', tx, from: site, to: p.coord, vote }); return }
  if (p.topology === 'distributed') {
    out.send({ t: 'VOTE', tx, from: site, to: p.coord, vote })
    for (const q of p.participants) if (q !== site) out.send({ t: 'VOTE', tx, from: site, to: q, vote })
    return
  }
  // linear: YES (or RO) passes PREPARE on (with the votes so far); the last hands every vote to the coordinator.
  // NO goes to the coordinator and, as a peer vote, back to the chain members before (they may abort).
  const i = p.participants.indexOf(site)
  if (vote === 'NO') {
    out.send({ t: 'VOTE', tx, from: site, to: p.coord, vote })
    for (const q of p.participants.slice(0, i)) out.send({ t: 'VOTE', tx, from: site, to: q, vote })
    return
  }
  const next = p.participants[i + 1]
  if (next !== undefined) out.send({ t: 'PREPARE', tx, from: site, to: next, votes: { ...p.votes } })
  else out.send({ t: 'VOTE', tx, from: site, to: p.coord, vote, votes: { ...p.votes } })
}

/** A peer's vote (distributed, or a NO passed back along a linear chain): a NO means the outcome is ABORT. */
export function partPeerVote(p: PartState | undefined, from: string, vote: Vote, out: Out): void {
  if (!p) return
  p.votes[from] = vote
  if (vote === 'NO' && (p.phase === 'INITIAL' || p.phase === 'READY')) decideHere(p, 'ABORT', out)
}

function decideHere(p: PartState, d: Decision, out: Out): void {
  invariant(d === 'ABORT' || p.phase === 'READY', `${p.tx} at ${p.site}: COMMIT in ${p.phase}`)
  p.phase = d
  if (d === 'COMMIT') {
    out.log(p.site, p.tx, { role: 'part', type: 'COMMIT', force: true })
    out.apply(p.site, p.tx)
  } else out.log(p.site, p.tx, { role: 'part', type: 'ABORT', force: false })
  out.release(p.site, p.tx)
}

/** The coordinator's decision (or the chain's, passed back): decide, pass it on (linear COMMIT), acknowledge. */
export function partDecision(p: PartState | undefined, tx: string, site: string, coord: string, d: Decision, out: Out): PartState {
  if (!p) {
    // nothing known here: never prepared (or aborted before voting and lost in a crash); COMMIT is impossible
    invariant(d === 'ABORT', `${tx} at ${site}: COMMIT reached a participant that never voted yes`)
    p = { tx, site, coord, topology: 'centralized', participants: [], phase: 'ABORT', votes: {} }
  } else if (p.heuristic !== undefined) {
    out.heuristic?.({ tx, site, heuristic: p.heuristic, decision: d, damage: p.heuristic !== d })
    out.send({ t: 'ACK', tx, from: site, to: coord, d, heuristic: p.heuristic })
    return p
  } else if (p.phase === 'INITIAL' || p.phase === 'READY') {
    const wasReady = p.phase === 'READY'
    decideHere(p, d, out)
    if (wasReady && d === 'COMMIT' && p.topology === 'linear') {
      const prev = prevInChain(p)
      if (prev !== undefined) out.send({ t: 'DECISION', tx, from: site, to: prev, d })
    }
  } else if (p.phase === 'NONE') {
    invariant(d === 'ABORT', `${tx} at ${site}: COMMIT reached a participant that never voted yes`)
    p.phase = 'ABORT'
  } else if (p.phase === 'RO') {
    // a read-only voter has nothing to do in phase two (a linear chain or a re-send may still reach it)
  } else invariant(p.phase === d, `${tx} at ${site}: decision ${d} after ${p.phase}`)
  p.coord = coord
  out.send({ t: 'ACK', tx, from: site, to: coord, d })
  return p
}

/** INITIAL timeout (or a lock timeout, a failed statement): local abort, locks released. */
export function partLocalAbort(p: PartState, out: Out): void {
  if (p.phase === 'INITIAL') decideHere(p, 'ABORT', out)
}

/**
 * READY timeout: ask the coordinator and every peer (cooperative termination). `peers` false: the coordinator
 * only (a host may ask it alone first, e.g. in the centralized topology, where peers rarely know more).
 */
export function partInquire(p: PartState, out: Out, peers = true): void {
  if (p.phase !== 'READY' || p.heuristic !== undefined) return
  out.send({ t: 'QUERY', tx: p.tx, from: p.site, to: p.coord })
  if (peers) for (const q of p.participants) if (q !== p.site && q !== p.coord) out.send({ t: 'QUERY', tx: p.tx, from: p.site, to: q })
}

/**
 * A peer's question. A decision this participant holds as the coordinator's (learned, or ABORT from a NO
 * vote) is shared; a participant that has not voted aborts and says so (it will vote NO); READY knows
 * nothing; a heuristic decision is never taught.
 */
export function partQueried(p: PartState | undefined, tx: string, site: string, asker: string, out: Out): PartState {
  if (!p) p = { tx, site, coord: '', topology: 'centralized', participants: [], phase: 'NONE', votes: {} }
  if (p.heuristic !== undefined || p.phase === 'READY') return p
  // a read-only voter knows no decision (it is no participant of phase two): it says so
  if (p.phase === 'RO') { out.send({ t: 'REPLY', tx, from: site, to: asker }); return p }
  if (p.phase === 'INITIAL') decideHere(p, 'ABORT', out)
  else if (p.phase === 'NONE') p.phase = 'ABORT'
  out.send({ t: 'REPLY', tx, from: site, to: asker, d: p.phase as Decision })
  return p
}

export function partReply(p: PartState | undefined, d: Decision | undefined, out: Out): void {
  if (!p || p.phase !== 'READY' || p.heuristic !== undefined || d === undefined) return
  decideHere(p, d, out)
}

/** An administrator's hand resolution of an in-doubt participant: a heuristic decision. */
export function partHeuristic(p: PartState, d: Decision, out: Out): void {
  invariant(p.phase === 'READY', `${p.tx} at ${p.site} is not in doubt`)
  p.phase = d
  p.heuristic = d
  out.log(p.site, p.tx, { role: 'part', type: 'HEURISTIC', decision: d, force: true })
  if (d === 'COMMIT') out.apply(p.site, p.tx)
  out.release(p.site, p.tx)
}

/** Recovery from the participant's log: READY is in doubt again (locks re-acquired by the host). */
export function partRecover(tx: string, site: string, coord: string, topology: Topology, participants: string[], logged: 'READY' | 'COMMIT' | 'ABORT', heuristic?: Decision): PartState {
  const p = newPart(tx, site, coord, topology, participants)
  p.phase = logged
  p.votes[site] = 'YES'
  if (heuristic !== undefined) p.heuristic = heuristic
  return p
}
