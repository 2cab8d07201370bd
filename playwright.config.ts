import { defineConfig } from '@playwright/test'
import { CHROMIUM_ARGS, findChromium } from './scripts/find-chromium.mjs'

/**
 * E2E suite: real Chromium against the browser host started once by e2e/global-setup.ts through the built
 * CLI (`node out/cli/iddb.cjs serve`). Tests read process.env.IDDB_URL (page URL with token), IDDB_ORIGIN,
 * IDDB_TOKEN and IDDB_WS_URL. The host (and its engine) is shared by all specs: one worker, specs run in order.
 */
export default defineConfig({
  testDir: './e2e',
  testMatch: '**/*.spec.ts',
  fullyParallel: false,
  workers: 1,
  retries: 0,
  timeout: 60_000,
  expect: { timeout: 10_000 },
  reporter: process.env.CI ? [['list']] : [['list'], ['html', { open: 'never' }]],
  outputDir: 'test-results',
  globalSetup: './e2e/global-setup.ts',
  use: {
    viewport: { width: 1400, height: 900 },
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
    launchOptions: { executablePath: findChromium() ?? '/usr/bin/chromium', args: CHROMIUM_ARGS },
  },
  projects: [{ name: 'chromium', use: { browserName: 'chromium' } }],
})
