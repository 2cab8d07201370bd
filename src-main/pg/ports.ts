/** Free loopback ports, for servers this process starts (tests' servers, a verification's scratch server). */
import { createServer } from 'node:net'

/** A free block of `n` consecutive loopback ports (checked by binding each). */
export async function freePorts(n: number, from = 30000): Promise<number> {
  const tryPort = (p: number) => new Promise<boolean>((res) => { const s = createServer(); s.once('error', () => res(false)); s.listen(p, '127.0.0.1', () => s.close(() => res(true))) })
  for (let base = from + (process.pid % 200) * 50; base < 60000; base += 97) {
    let ok = true
    for (let i = 0; i < n && ok; i++) ok = await tryPort(base + i)
    if (ok) return base
  }
  throw new Error('no free ports')
}
