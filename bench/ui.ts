/**
 * ui.* benchmarks, against the real browser host and the built renderer:
 *  - ui.time_to_interactive_ms: browser host start → the console's first screen ready for input in Chromium (a
 *    first start: the first-run screen asking for the HQ DBA's password, `[data-testid="first-run"]`, its submit
 *    enabled once typed in), median of 3 cold starts. Goal ≤ 1500. The runs then create the HQ DBA and wait for the
 *    topology chart (`[data-testid="topology-chart"][data-ready="true"]`; that waits for the initial data).
 *    ui.engine_ready_ms: in the same runs, host start → engine worker ready (cluster created), for comparison.
 *  - ui.ping_under_load_ms: p95 `system/ping` round trip over the WebSocket while a 3 s `jobs/busy`
 *    job keeps the engine worker busy, and while a 1M-row export runs (both are load). Goal ≤ 50.
 *    ui.ping_idle_ms: the same with the engine idle; ui.ping_during_export_ms: p95 during the export alone.
 *  - ui.export_1m_rows_ms: a query of 1,000,000 rows exported to CSV as the console does it (query/export,
 *    then every chunk fetched over the WebSocket), start to last byte. Goal ≤ 10,000.
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { startBrowserHost } from '../src-main/browser-host/server'
import { connectIpc, percentile, type IpcSocket } from '../src-main/browser-host/ws-client'
import { CHROMIUM_ARGS, findChromium } from '../scripts/find-chromium.mjs'
import type { BenchContext, BenchGroup } from './run'

const READY = '[data-testid="topology-chart"][data-ready="true"]'
const BENCH_PASSWORD = 'bench-hq-dba-pass'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Pings back to back (with `gapMs` between) until `until()` says stop; returns round-trip times in ms. */
export async function pingWhile(sock: IpcSocket, until: () => boolean, gapMs = 20): Promise<number[]> {
  const rtts: number[] = []
  while (!until()) {
    const t0 = performance.now()
    const r = await sock.call('system/ping', { sentAt: Date.now() })
    if (!r.ok) throw new Error(`ping failed: ${r.error.code} ${r.error.message}`)
    rtts.push(performance.now() - t0)
    await sleep(gapMs)
  }
  return rtts
}

/** Starts a `jobs/busy` job of `busyMs` and pings while it runs. */
export async function pingUnderLoad(sock: IpcSocket, busyMs: number): Promise<{ rtts: number[]; jobStatus: string }> {
  const started = await sock.call('jobs/busy', { ms: busyMs })
  if (!started.ok) throw new Error(`jobs/busy failed: ${started.error.message}`)
  const jobId = (started.value as { id: string }).id
  let status = 'running'
  const off = sock.onEvent((name, payload) => {
    const j = payload as { id: string; status: string }
    if (name === 'job/progress' && j.id === jobId) status = j.status
  })
  const rtts = await pingWhile(sock, () => status !== 'running')
  off()
  return { rtts, jobStatus: status }
}

/** Exports a query of `rows` rows to CSV over the socket (job, then its chunks); pings while it runs. */
export async function exportWhilePinging(sock: IpcSocket, rows: number): Promise<{ ms: number; bytes: number; rows: number; rtts: number[] }> {
  const count = async (sql: string) => {
    const r = await sock.call('query/run', { site: 'CMB', sql, maxRows: 1 })
    if (!r.ok) throw new Error(`${sql}: ${r.error.message}`)
    return Number((r.value as { rows: unknown[][] }).rows[0][0])
  }
  const sales = await count('SELECT COUNT(*) FROM SALES')
  const items = Math.ceil(rows / sales)
  if (items > await count('SELECT COUNT(*) FROM ITEMS')) throw new Error(`too few sales (${sales}) and items for ${rows} rows`)
  const sql = `SELECT s.INVNO, s.AMOUNT, i.ITEMNO FROM SALES s, (SELECT ITEMNO FROM ITEMS ORDER BY ITEMNO LIMIT ${items}) i LIMIT ${rows}`
  let done = false
  const t0 = performance.now()
  const pings = pingWhile(sock, () => done)
  try {
    const job = await sock.call('query/export', { site: 'CMB', sql, format: 'csv' })
    if (!job.ok) throw new Error(`query/export: ${job.error.message}`)
    const jobId = (job.value as { id: string }).id
    let bytes = 0, total = 0
    for (let i = 0, n = 1; i < n; i++) {
      const c = await sock.call('query/exportChunk', { jobId, index: i })
      if (!c.ok) throw new Error(`query/exportChunk ${i}: ${c.error.message}`)
      const v = c.value as { chunks: number; rows: number; data: string }
      n = v.chunks
      total = v.rows
      bytes += v.data.length
    }
    const ms = performance.now() - t0
    done = true
    return { ms, bytes, rows: total, rtts: await pings }
  } finally { done = true }
}

async function timeToInteractive(ctx: BenchContext, runs: number): Promise<{ times: number[]; engine: number[] }> {
  const chromiumPath = findChromium()
  if (!chromiumPath) throw new Error('no Chromium found (install Debian chromium or set IDDB_CHROMIUM)')
  if (!existsSync(join(ctx.root, 'out/renderer/index.html'))) throw new Error('renderer not built: run npm run build first')
  const { chromium } = await import('@playwright/test')
  const browser = await chromium.launch({ executablePath: chromiumPath, args: CHROMIUM_ARGS })
  const times: number[] = []
  const engine: number[] = []
  try {
    for (let i = 0; i < runs; i++) {
      const page = await browser.newPage()
      const t0 = performance.now()
      const host = await startBrowserHost({ rendererDir: join(ctx.root, 'out/renderer') })
      void host.ready.then(() => engine.push(performance.now() - t0), () => {})
      try {
        await page.goto(host.url)
        // a first start: the console opens on its first-run screen (create the HQ DBA), then draws the topology
        await page.waitForSelector('[data-testid="first-run"]', { timeout: 30_000 })
        await page.fill('[data-testid="login-password"]', BENCH_PASSWORD)
        await page.fill('[data-testid="login-confirm"]', BENCH_PASSWORD)
        await page.waitForSelector('[data-testid="login-submit"]:not([disabled])', { timeout: 30_000 })
        times.push(performance.now() - t0)
        await page.click('[data-testid="login-submit"]')
        await page.waitForSelector(READY, { timeout: 30_000 })
        ctx.log(`time to interactive run ${i + 1}: ${Math.round(times[i])} ms (engine ready after ${Math.round(engine[i] ?? NaN)} ms)`)
      } finally {
        await page.close()
        await host.close()
      }
    }
  } finally {
    await browser.close()
  }
  return { times, engine }
}

export const group: BenchGroup = {
  name: 'ui',
  async run(ctx) {
    const tti = await timeToInteractive(ctx, 3)
    process.env.IDDB_TEST_CALLS = '1' // the load for ui.ping_under_load_ms is the test-only jobs/busy (contract/testing.ts)
    const host = await startBrowserHost({ rendererDir: join(ctx.root, 'out/renderer') })
    try {
      await host.ready
      const sock = await connectIpc(host.wsUrl, host.token, host.origin)
      const setup = await sock.call('console/setup', { password: BENCH_PASSWORD }) // calls act as an identity
      if (!setup.ok) throw new Error(`console/setup failed: ${setup.error.message}`)
      const start = performance.now()
      const idle = await pingWhile(sock, () => performance.now() - start > 1000)
      const load = await pingUnderLoad(sock, 3000)
      if (load.jobStatus !== 'done') throw new Error(`busy job ended ${load.jobStatus}`)
      const exp = await exportWhilePinging(sock, 1_000_000)
      sock.close()
      if (exp.rows !== 1_000_000) throw new Error(`the export has ${exp.rows} rows, not 1,000,000`)
      ctx.log(`export: ${exp.rows} rows, ${(exp.bytes / 1e6).toFixed(1)} MB in ${Math.round(exp.ms)} ms; pings: ${idle.length} idle, ${load.rtts.length} under load, ${exp.rtts.length} during the export`)
      return {
        'ui.time_to_interactive_ms': Math.round(percentile(tti.times, 50)),
        'ui.engine_ready_ms': Math.round(percentile(tti.engine, 50)),
        'ui.ping_under_load_ms': Number(percentile([...load.rtts, ...exp.rtts], 95).toFixed(2)),
        'ui.ping_during_export_ms': Number(percentile(exp.rtts, 95).toFixed(2)),
        'ui.export_1m_rows_ms': Math.round(exp.ms),
        'ui.ping_idle_ms': Number(percentile(idle, 95).toFixed(2)),
      }
    } finally {
      await host.close()
    }
  },
}
