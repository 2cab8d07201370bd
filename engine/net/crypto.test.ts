import { describe, expect, it } from 'vitest'
import { Simulator } from '../sim/kernel'
import { Network } from './network'
import { Cluster } from '../cluster'
import { defaultTopology, legacyTopology } from '../topology/default'
import { GCM_TAG_BYTES, ReplayWindow, exchangeLinkKeys, open, seal, sealInto } from '../security/crypto'
import { OUTER_HEADER_BYTES, readInner, readOuter, splitRecord } from './frame'

const SECRET = 'UNITPRICE=123456.78 for B42'

function net(seed = 7, topo = defaultTopology()) {
  const sim = new Simulator({ seed })
  return { sim, net: new Network(sim, topo) }
}

function sendOne(n: Network, sim: Simulator, body = SECRET, from = 'CMB', to = 'KDY') {
  const out: { delivered: boolean; dropped?: string } = { delivered: false }
  n.send({ from, to, kind: 'test.msg', payload: null, bytes: 40, wire: () => body, onDeliver: () => { out.delivered = true }, onDrop: (r) => { out.dropped = r } })
  sim.runUntilIdle(1_000_000)
  return out
}

describe('link keys and AES-256-GCM sealing', () => {
  it('the X25519 exchange is deterministic per seed, agrees at both ends and differs per link, direction and seed', () => {
    const k1 = exchangeLinkKeys(5, 'CMB-KDY', 'CMB', 'KDY', 0)
    const k2 = exchangeLinkKeys(5, 'CMB-KDY', 'CMB', 'KDY', 0)
    expect(k1.agreed).toBe(true)
    expect(k1.fingerprint).toBe(k2.fingerprint)
    expect(k1.ab.key.export().equals(k2.ab.key.export())).toBe(true)
    expect(k1.ab.key.export().equals(k1.ba.key.export())).toBe(false)
    expect(exchangeLinkKeys(6, 'CMB-KDY', 'CMB', 'KDY', 0).fingerprint).not.toBe(k1.fingerprint)
    expect(exchangeLinkKeys(5, 'CMB-MBI', 'CMB', 'MBI', 0).fingerprint).not.toBe(k1.fingerprint)
    expect(exchangeLinkKeys(5, 'CMB-KDY', 'CMB', 'KDY', 1).fingerprint).not.toBe(k1.fingerprint) // a new epoch re-keys
  })

  it('seal/open round-trips; a flipped byte, another counter or another header fails the tag', () => {
    const k = exchangeLinkKeys(1, 'L', 'A', 'B', 0).ab
    const aad = Buffer.from('header-0123456789')
    const plain = Buffer.from(SECRET)
    const ct = seal(k, 9, aad, plain)
    expect(ct.length).toBe(plain.length + GCM_TAG_BYTES)
    expect(ct.includes(plain)).toBe(false)
    expect(open(k, 9, aad, ct)?.toString()).toBe(SECRET)
    const bad = Buffer.from(ct); bad[3] ^= 1
    expect(open(k, 9, aad, bad)).toBeUndefined()
    expect(open(k, 10, aad, ct)).toBeUndefined()
    expect(open(k, 9, Buffer.from('header-0123456788'), ct)).toBeUndefined()
  })

  it('sealInto builds the frame in one buffer: header untouched, the same bytes as seal, opens, and every counter its own nonce', () => {
    const k = exchangeLinkKeys(3, 'CMB-KDY', 'CMB', 'KDY', 0).ab
    const body = Buffer.from(SECRET)
    const frame = Buffer.alloc(OUTER_HEADER_BYTES + body.length + GCM_TAG_BYTES)
    frame.write('ID-header-16byte', 0, 'latin1')
    const header = Buffer.from(frame.subarray(0, OUTER_HEADER_BYTES))
    sealInto(k, 5, frame, OUTER_HEADER_BYTES, body)
    expect(frame.subarray(0, OUTER_HEADER_BYTES).equals(header)).toBe(true)
    expect(frame.subarray(OUTER_HEADER_BYTES).equals(seal(k, 5, header, body))).toBe(true)
    expect(open(k, 5, header, frame.subarray(OUTER_HEADER_BYTES))?.toString()).toBe(SECRET)
    // the shared nonce buffer is rewritten per call: counters 5 and 6 give other ciphertext, and each opens only under its own
    const six = seal(k, 6, header, body)
    expect(six.equals(frame.subarray(OUTER_HEADER_BYTES))).toBe(false)
    expect(open(k, 5, header, six)).toBeUndefined()
    expect(open(k, 6, header, six)?.toString()).toBe(SECRET)
    frame[3] ^= 1 // the header is authenticated
    expect(open(k, 5, frame.subarray(0, OUTER_HEADER_BYTES), frame.subarray(OUTER_HEADER_BYTES))).toBeUndefined()
    expect(() => sealInto(k, 7, Buffer.alloc(10), OUTER_HEADER_BYTES, body)).toThrow(RangeError)
  })

  it('the replay window accepts each counter once, out of order within 64, and refuses what is older', () => {
    const w = new ReplayWindow()
    expect([0, 1, 3, 2, 3, 1].map((s) => w.accept(s))).toEqual([true, true, true, true, false, false])
    expect(w.accept(200)).toBe(true)
    expect(w.accept(100)).toBe(false) // more than 64 behind
    expect(w.accept(150)).toBe(true)
    expect(w.accept(150)).toBe(false)
  })
})

describe('every WAN message is sealed on its link', () => {
  it('a message crossing CMB-KDY is ciphertext on the wire, charged its real frame size, and delivered', () => {
    const { sim, net: n } = net()
    expect(sendOne(n, sim).delivered).toBe(true)
    const [f] = n.captured('CMB-KDY')
    expect(f.sealed).toBe(true)
    expect(f.frame.includes(Buffer.from(SECRET))).toBe(false)
    expect(f.frame.includes(Buffer.from('test.msg'))).toBe(false) // the DDBMS header is inside the seal
    // outer header + (record length + DDBMS header + 40 declared bytes) + tag
    expect(f.bytes).toBe(16 + 4 + 48 + 40 + 16)
    expect(n.link('CMB-KDY').stats.bytes).toBe(f.bytes)
    expect(readOuter(f.frame)).toMatchObject({ sealed: true, seq: 0, length: 4 + 48 + 40 + 16 })
  })

  it('a tampered frame is rejected (not delivered), counted on the link and written to the event log', async () => {
    const c = new Cluster({ seed: 3 })
    c.net.tamperNext('CMB-KDY')
    const r = sendOne(c.net, c.sim)
    expect(r.delivered).toBe(false)
    expect(r.dropped).toMatch(/tampered frame rejected by KDY/)
    expect(c.net.link('CMB-KDY').stats.rejected).toBe(1)
    expect(c.topologyView().links.find((l) => l.id === 'CMB-KDY')!.rejected).toBe(1)
    expect(c.events.some((e) => e.kind === 'security' && /tampered frame #0 CMB→KDY rejected on CMB-KDY/.test(e.message))).toBe(true)
    expect(sendOne(c.net, c.sim).delivered).toBe(true) // the next frame is fine
  })

  it('a replayed frame is rejected by its counter and logged; the original was delivered once', () => {
    const c = new Cluster({ seed: 4 })
    expect(sendOne(c.net, c.sim).delivered).toBe(true)
    const frame = c.net.captured('CMB-KDY')[0]
    let outcome: [boolean, string?] | undefined
    c.net.replay('CMB-KDY', frame, (ok, why) => { outcome = [ok, why] })
    c.sim.runUntilIdle(1_000_000)
    expect(outcome).toEqual([false, 'replayed'])
    expect(c.net.link('CMB-KDY').stats.rejected).toBe(1)
    expect(c.events.some((e) => /replayed frame #0 CMB→KDY rejected/.test(e.message))).toBe(true)
  })

  it('the legacy network sends frames in clear: a reader decodes the header and the body, and a replay goes unnoticed', () => {
    const { sim, net: n } = net(7, legacyTopology())
    expect(sendOne(n, sim).delivered).toBe(true)
    const [f] = n.captured('CMB-KDY')
    expect(f.sealed).toBe(false)
    expect(f.bytes).toBe(16 + 4 + 48 + 40)
    const inner = readInner(splitRecord(f.frame.subarray(OUTER_HEADER_BYTES))[0])!
    expect(inner.header).toMatchObject({ from: 'CMB', to: 'KDY', kind: 'test.msg' })
    expect(inner.body.toString('utf8')).toContain(SECRET)
    let accepted: boolean | undefined
    n.replay('CMB-KDY', f, (ok) => { accepted = ok })
    sim.runUntilIdle(1_000_000)
    expect(accepted).toBe(true)
  })

  it('a message routed over two links is opened and sealed again per hop (each link its own keys)', () => {
    const { sim, net: n } = net()
    n.setLinkState('CMB-KDY', 'down')
    expect(sendOne(n, sim).delivered).toBe(true)
    expect(n.captured('CMB-MBI')).toHaveLength(1)
    expect(n.captured('MBI-KDY')).toHaveLength(1)
    const a = n.captured('CMB-MBI')[0].frame.subarray(16), b = n.captured('MBI-KDY')[0].frame.subarray(16)
    expect(a.length).toBe(b.length)
    expect(a.equals(b)).toBe(false)
  })

  it('messages that queue behind a busy transmitter cross in one sealed record, each delivered, in order', () => {
    const { sim, net: n } = net()
    const got: number[] = []
    for (let k = 0; k < 5; k++) n.send({ from: 'CMB', to: 'KDY', kind: 'test.msg', payload: k, bytes: 2000, onDeliver: () => got.push(k) })
    sim.runUntilIdle(1_000_000)
    expect(got).toEqual([0, 1, 2, 3, 4])
    const frames = n.captured('CMB-KDY')
    expect(frames.map((f) => f.messages)).toEqual([1, 4]) // the first goes at once; the four queued behind it share a record
    expect(frames[1].bytes).toBe(16 + 4 * (4 + 48 + 2000) + 16)
    // one while the link is busy with the first: the second waits and takes the next record
    n.send({ from: 'CMB', to: 'KDY', kind: 'a', payload: null, bytes: 20000, onDeliver: () => got.push(5) })
    sim.advance(1)
    n.send({ from: 'CMB', to: 'KDY', kind: 'b', payload: null, bytes: 10, onDeliver: () => got.push(6) })
    n.send({ from: 'CMB', to: 'KDY', kind: 'c', payload: null, bytes: 10, onDeliver: () => got.push(7) })
    sim.runUntilIdle(1_000_000)
    expect(got.slice(5)).toEqual([5, 6, 7])
    expect(n.captured('CMB-KDY').slice(2).map((f) => f.messages)).toEqual([1, 2])
  })

  it('determinism: the same seed and script give the same trace hash and the same ciphertext; another seed other ciphertext', () => {
    const run = (seed: number) => {
      const { sim, net: n } = net(seed)
      for (let i = 0; i < 5; i++) sendOne(n, sim, `${SECRET} #${i}`, i % 2 ? 'KDY' : 'CMB', i % 2 ? 'CMB' : 'KDY')
      return { hash: sim.traceHash, wire: Buffer.concat(n.captured('CMB-KDY').map((f) => f.frame)).toString('hex') }
    }
    const a = run(11), b = run(11), c = run(12)
    expect(a).toEqual(b)
    expect(c.wire).not.toBe(a.wire)
    expect(c.wire.length).toBe(a.wire.length)
  })
})

describe('records are bounded', () => {
  it('bulk messages queued together go in records of at most 16 KiB of messages, each arriving when its record has crossed', () => {
    const { sim, net: n } = net()
    const at: number[] = []
    const t0 = sim.now
    for (let k = 0; k < 3; k++) n.send({ from: 'CMB', to: 'KDY', kind: 'bulk', payload: null, bytes: 12_000, onDeliver: (d) => { at.push(d.deliveredAt - t0) } })
    sim.runUntilIdle(1_000_000)
    expect(n.captured('CMB-KDY').map((f) => f.messages)).toEqual([1, 1, 1])
    const one = ((16 + 4 + 48 + 12_000 + 16) * 8 * 1000) / 1_544_000
    expect(at[0]).toBeCloseTo(one + 4, 3)
    expect(at[2]).toBeCloseTo(3 * one + 4, 3)
  })
})
