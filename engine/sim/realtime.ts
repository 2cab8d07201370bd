/**
 * Drives a Simulator in real time × speed (the console). Speed 0 pauses. Each tick advances virtual
 * time by elapsed wall time × speed, bounded per tick so a slow machine does not stall the host.
 */
import type { Simulator } from './kernel'

export const SPEEDS = [0, 1, 60, 3600] as const

export class RealtimeDriver {
  private timer: ReturnType<typeof setInterval> | undefined
  private last = 0
  speed = 0
  constructor(private sim: Simulator, private onTick: () => void, private tickMs = 100, private maxEventsPerTick = 20_000) {}

  setSpeed(speed: number): void {
    this.speed = speed
    if (speed > 0 && !this.timer) {
      this.last = performance.now()
      this.timer = setInterval(() => this.tick(), this.tickMs)
    } else if (speed === 0 && this.timer) {
      clearInterval(this.timer)
      this.timer = undefined
    }
  }

  get running(): boolean { return this.speed > 0 }

  private tick(): void {
    const t = performance.now()
    const dt = (t - this.last) * this.speed
    this.last = t
    this.sim.advance(dt, this.maxEventsPerTick)
    this.onTick()
  }

  stop(): void { this.setSpeed(0) }
}
