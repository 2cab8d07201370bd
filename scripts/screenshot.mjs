#!/usr/bin/env node
/**
 * `npm run screenshot`: one picture per console of the running product, for the README and docs/.
 * Starts the browser host through the built CLI on a fresh data directory (`iddb serve --seed 1`), opens
 * it in Chromium at 1440×900, puts real content in each console (a query and its plan, a two-site
 * transaction, a ticket, the deadlock demo), and writes docs/screenshots/<console>.png. Not a test: it
 * fails (exit 1, naming the step) when the console does not show what it should, and never sleeps.
 */
import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { chromium } from '@playwright/test'
import { CHROMIUM_ARGS, findChromium } from './find-chromium.mjs'

const root = resolve(import.meta.dirname, '..')
const out = join(root, 'docs/screenshots')
const CONSOLES = ['topology', 'catalog', 'query', 'transactions', 'deadlocks', 'replication', 'security', 'tickets', 'events']
const T = { timeout: 30_000 }

async function startHost(dataDir) {
  const child = spawn(process.execPath, [join(root, 'out/cli/iddb.cjs'), 'serve', '--seed', '1', '--data', dataDir], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] })
  const url = await new Promise((ok, fail) => {
    let buf = ''
    child.stdout.on('data', (d) => { buf += d; const m = /https?:\/\/127\.0\.0\.1:\d+\/\?token=\S+/.exec(buf); if (m) ok(m[0]) })
    child.once('exit', (code) => fail(new Error(`iddb serve exited ${code} (run npm run build first)`)))
  })
  return { child, url }
}

/** Waits until the console is open and its title shows. */
async function open(page, id) {
  await page.getByTestId(`nav-${id}`).click()
  await page.locator(`[data-console="${id}"]`).waitFor(T)
}

/** Content for the consoles that are empty until used. */
const prepare = {
  async topology(page) {
    // let the simulation run past noon site time (replication and the noon copy refresh put bytes on the WAN)
    await page.getByTestId('speed-3600').click()
    await page.waitForFunction(() => Number(globalThis.document.querySelector('[data-testid=clock-time]')?.textContent?.slice(15, 17)) >= 12, null, T)
    await page.getByTestId('speed-0').click()
    await page.getByTestId('clock-paused').waitFor(T)
    await page.getByTestId('topology-chart').and(page.locator('[data-ready=true]')).waitFor(T)
    await page.getByTestId('site-CMB').click()
    await page.getByTestId('site-details').waitFor(T)
  },
  async query(page) {
    await page.getByTestId('sql-editor').locator('.cm-content').click()
    await page.keyboard.press('ControlOrMeta+a')
    await page.keyboard.insertText("SELECT e.NAME, SUM(s.AMOUNT) AS TOTAL\nFROM EMPLOYEES e JOIN SALES s ON s.EMPNO = e.EMPNO\nWHERE e.BRCODE = 'MBI'\nGROUP BY e.NAME ORDER BY TOTAL DESC")
    await page.keyboard.press('Escape') // close the completion list
    await page.getByTestId('query-site').selectOption('KDY')
    await page.getByTestId('query-run').click()
    await page.getByTestId('query-summary').waitFor(T)
    await page.getByTestId('query-tab-plan').click()
    await page.getByTestId('plan-diagram').locator('canvas').waitFor(T)
  },
  async transactions(page) {
    await page.getByTestId('txn-origin').selectOption('CMB')
    await page.getByTestId('txn-begin').click()
    for (const [site, sql] of [['CMB', 'UPDATE Stock_CMB SET QTY = QTY - 1 WHERE ITEMNO = 3'], ['KDY', 'UPDATE Stock_KDY SET QTY = QTY + 1 WHERE ITEMNO = 3']]) {
      await page.getByTestId('txn-stmt-site').selectOption(site)
      await page.getByTestId('txn-stmt-sql').fill(sql)
      await page.getByTestId('txn-exec').click()
      await page.getByTestId('txn-stmt-result').filter({ hasText: sql }).waitFor(T)
    }
    await page.getByTestId('txn-commit').click()
    await page.getByTestId('txn-outcome').filter({ hasText: 'COMMIT' }).waitFor(T)
    await page.getByTestId('txn-sequence').waitFor(T)
  },
  async deadlocks(page) {
    await page.getByTestId('dl-demo').click()
    await page.getByTestId('dl-demo-victim').waitFor(T)
  },
  async tickets(page) {
    await page.getByTestId('ticket-new').click()
    await page.getByTestId('ticket-concurrent-KDY').check()
    await page.getByTestId('ticket-submit-concurrent').click()
    await page.getByTestId('ticket-sequence').waitFor(T)
  },
}

const dataDir = mkdtempSync(join(tmpdir(), 'iddb-shots-'))
const { child, url } = await startHost(dataDir)
const browser = await chromium.launch({ executablePath: findChromium() ?? '/usr/bin/chromium', args: CHROMIUM_ARGS })
let step = 'open the console'
try {
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } })
  await page.goto(url)
  await page.getByTestId('status-bar').waitFor(T)
  mkdirSync(out, { recursive: true })
  for (const id of CONSOLES) {
    step = `the ${id} console`
    await open(page, id)
    await prepare[id]?.(page)
    const file = join(out, `${id}.png`)
    await page.screenshot({ path: file })
    console.log(`wrote ${file.slice(root.length + 1)}`)
  }
} catch (e) {
  console.error(`npm run screenshot: ${step} failed: ${e instanceof Error ? e.message : String(e)}`)
  process.exitCode = 1
} finally {
  await browser.close()
  child.kill('SIGTERM')
  await new Promise((r) => child.once('exit', r))
  rmSync(dataDir, { recursive: true, force: true })
}
