/**
 * The WAN's defences as the Security console sees them: each site router's firewall rule table (editable), the
 * intruder drill and the packet inspector. Calls: security/firewalls, security/setFirewallRules,
 * security/intruderDrill, security/packets. Nothing here ever holds a secret: the engine redacts the packets.
 */
import { defineStore } from 'pinia'
import { ref, shallowRef, type Ref } from 'vue'
import type { DrillReport, FirewallView, PacketView } from '../../../src-main/ipc/contract/security'
import type { FirewallRule } from '../../../engine/topology/types'
import { ipc } from '../ipc/client'
import { useActions } from '../composables/useAction'

export type { DrillReport, FirewallView, PacketView, FirewallRule }
export type WanAction = 'firewalls' | 'rules' | 'drill' | 'packets'

export const useWanDefenceStore = defineStore('wanDefence', () => {
  const firewalls = shallowRef<FirewallView[]>([])
  const drill = shallowRef<DrillReport | null>(null)
  const packets = shallowRef<PacketView[]>([])
  const packetLink = ref<string>('')
  const actions = useActions<WanAction>(['firewalls', 'rules', 'drill', 'packets'])
  const { errors } = actions
  const pending = actions.pending as Ref<WanAction | null>
  const act = async <T>(action: WanAction, fn: () => Promise<T>): Promise<T | null> => (await actions.run(action, fn)) ?? null

  async function loadFirewalls(): Promise<void> {
    const r = await act('firewalls', () => ipc().call('security/firewalls', {}))
    if (r) firewalls.value = r
  }

  async function setRules(site: string, rules: FirewallRule[]): Promise<boolean> {
    const r = await act('rules', () => ipc().call('security/setFirewallRules', { site, rules }))
    if (r) firewalls.value = firewalls.value.map((f) => (f.site === site ? r : f))
    return r !== null
  }

  async function loadPackets(link = packetLink.value): Promise<void> {
    packetLink.value = link
    const r = await act('packets', () => ipc().call('security/packets', link ? { link, limit: 40 } : { limit: 40 }))
    if (r) packets.value = r
  }

  async function runDrill(): Promise<DrillReport | null> {
    const r = await act('drill', () => ipc().call('security/intruderDrill', {}))
    if (r) { drill.value = r; await Promise.all([loadFirewalls(), loadPackets()]) }
    return r
  }

  return { firewalls, drill, packets, packetLink, pending, errors, loadFirewalls, setRules, loadPackets, runDrill }
})
