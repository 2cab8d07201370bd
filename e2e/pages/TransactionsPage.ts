/** The Transactions console as an administrator drives it: begin at a coordinator, statements, commit / abort. */
import { expect, type Locator, type Page } from '@playwright/test'

export class TransactionsPage {
  constructor(readonly page: Page) {}
  console(): Locator { return this.page.getByTestId('transactions-console') }
  beginButton(): Locator { return this.page.getByTestId('txn-begin') }
  gid(): Locator { return this.page.getByTestId('txn-gid') }
  outcome(): Locator { return this.page.getByTestId('txn-outcome') }
  error(): Locator { return this.page.getByTestId('txn-error') }
  results(): Locator { return this.page.getByTestId('txn-stmt-result') }
  timeline(): Locator { return this.page.getByTestId('txn-timeline') }
  sequence(): Locator { return this.page.getByTestId('txn-sequence') }

  /** Begins a transaction coordinated at `origin` and waits for its id. */
  async begin(origin = 'CMB'): Promise<string> {
    await this.page.getByTestId('txn-origin').selectOption(origin)
    await this.beginButton().click()
    await expect(this.gid()).toHaveText(new RegExp(`^${origin}-\\d+$`))
    return (await this.gid().textContent())!
  }

  /** Runs one statement ('' = global SQL, localized) and waits for its line in the session. */
  async statement(site: string, sql: string): Promise<void> {
    const before = await this.results().count()
    await this.page.getByTestId('txn-stmt-site').selectOption(site)
    await this.page.getByTestId('txn-stmt-sql').fill(sql)
    await this.page.getByTestId('txn-exec').click()
    await expect(this.results()).toHaveCount(before + 1)
  }

  /** Arms a crash of `site` at a 2PC step, the site restarting `restartMs` (virtual) later. */
  async armCrash(site: string, step: string, restartMs: number): Promise<void> {
    await this.page.getByTestId('txn-crash-site').selectOption(site)
    await this.page.getByTestId('txn-crash-step').selectOption(step)
    await this.page.getByTestId('txn-crash-restart').fill(String(restartMs))
    await this.page.getByTestId('txn-crash-arm').click()
    await expect(this.page.getByTestId('txn-crash-hook').filter({ hasText: `${site}@${step}` })).toHaveCount(1)
  }
  inDoubt(): Locator { return this.page.getByTestId('txn-indoubt') }
  inDoubtRow(gid: string, site: string): Locator { return this.page.getByTestId('indoubt-row').filter({ hasText: gid }).filter({ hasText: site }) }

  async commit(): Promise<void> { await this.page.getByTestId('txn-commit').click() }
  async abort(): Promise<void> { await this.page.getByTestId('txn-abort').click() }
}
