import { describe, expect, it } from 'vitest'
import { buildTopologyOption, drawnLinkState, linkLabel, selectionFor } from './graph'
import { fixtureTopology } from '../../testing/fixtures'

type Series = { nodes: { id: string; link?: string; label: { formatter: string }; itemStyle: { color: string } }[]; edges: { link?: string; label?: { formatter: string }; lineStyle: { color: string; type: string } }[] }

describe('topology graph option', () => {
  it('draws every site and one WAN edge per link labelled with bandwidth and delay', () => {
    const v = fixtureTopology(['CMB', 'MBI', 'KDY', 'GAL'])
    const s = (buildTopologyOption(v, null).series as Series[])[0]
    for (const c of ['CMB', 'MBI', 'KDY', 'GAL']) expect(s.nodes.some((n) => n.id === `${c}.router`)).toBe(true)
    const wan = s.edges.filter((e) => e.link)
    expect(wan.map((e) => e.link)).toEqual(v.links.map((l) => l.id))
    const labels = s.nodes.filter((n) => n.link)
    expect(labels.map((n) => n.link)).toEqual(v.links.map((l) => l.id))
    expect(labels[0].label.formatter).toContain('T1 1.544 Mbit/s · 10 ms')
  })

  it('colours by state', () => {
    const v = fixtureTopology()
    v.sites[2].health = 'down'
    v.links[1].state = 'down'
    v.sites[0].servers[2].status = 'down'
    const s = (buildTopologyOption(v, null).series as Series[])[0]
    expect(s.nodes.find((n) => n.id === 'KDY.router')!.itemStyle.color).toBe('#d0312d')
    expect(s.nodes.find((n) => n.id === 'CMB.primary')!.itemStyle.color).toBe('#d0312d')
    const e = s.edges.find((x) => x.link === 'CMB-KDY')!
    expect(e.lineStyle.type).toBe('dashed')
    expect(linkLabel(v.links[1])).toContain('[DOWN]')
  })

  it('draws a link to a down site down, though the line itself is up', () => {
    const v = fixtureTopology()
    const kdyLinks = v.links.filter((l) => l.a === 'KDY' || l.b === 'KDY')
    expect(kdyLinks.length).toBeGreaterThan(0)
    v.sites.find((x) => x.code === 'KDY')!.health = 'down'
    for (const l of v.links) l.state = 'up'
    const s = (buildTopologyOption(v, null).series as Series[])[0]
    for (const l of v.links) {
      const toKdy = l.a === 'KDY' || l.b === 'KDY'
      expect(drawnLinkState(l, v)).toBe(toKdy ? 'down' : 'up')
      expect(s.edges.find((x) => x.link === l.id)!.lineStyle.color).toBe(toKdy ? '#d0312d' : '#1a9e4b')
    }
  })

  it('maps clicks to selections', () => {
    expect(selectionFor({ dataType: 'edge', data: { link: 'CMB-KDY' } })).toEqual({ kind: 'link', id: 'CMB-KDY' })
    expect(selectionFor({ dataType: 'node', data: { site: 'KDY' } })).toEqual({ kind: 'site', id: 'KDY' })
    expect(selectionFor({ dataType: 'node', data: { link: 'CMB-MBI', site: '' } })).toEqual({ kind: 'link', id: 'CMB-MBI' })
    expect(selectionFor({ dataType: 'edge', data: {} })).toBeNull()
  })
})
